//! Bridge benchmark (prints figures and ratios; asserts nothing).
//!
//! Against a `softcard` behind pcscd + vpcd, in one run:
//! - 1000 UPDATE BINARY APDUs as one bridge `transmit` batch vs a direct `pcsc` transmit loop
//!   (goal: ratio <= 1.05);
//! - one-APDU round trips through the bridge vs direct (goal: <= 2x);
//! - the bridge's resident memory when idle (goal: <= 15 MB), from /proc/<pid>/status.
//!
//! Run with `cargo bench -p vsc-bridge --bench bridge_bench` (`VSC_BENCH_QUICK=1`: fewer rounds).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Bridge, Client, ORIGIN};
use pcsc::{Card, Context, Disposition, Protocols, Scope, ShareMode};
use serde_json::json;
use std::ffi::CString;
use std::time::{Duration, Instant};
use vsc_tests::{PcscStack, SoftcardOptions};

const AID: &[u8] = b"\xA0\x00\x00\x05\x27VSCBENCH";
const BATCH: usize = 1000;

/// Rounds and single round trips per round: fewer with `VSC_BENCH_QUICK=1` (scripts/test).
fn sizes() -> (usize, usize) {
    if std::env::var_os("VSC_BENCH_QUICK").is_some() {
        (3, 100)
    } else {
        (7, 300)
    }
}

/// CREATE FILE (ISO 7816-9 §7.1) of a DF with `AID`, then of a 4 KiB transparent EF 0101 in it.
fn setup_apdus() -> Vec<String> {
    let mut df = vec![
        0x82,
        0x01,
        0x38,
        0x83,
        0x02,
        0xDF,
        0x01,
        0x84,
        AID.len() as u8,
    ];
    df.extend_from_slice(AID);
    let ef = [
        0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x01, 0x80, 0x02, 0x10, 0x00,
    ];
    let create = |fcp: &[u8]| {
        let mut apdu = vec![
            0x00,
            0xE0,
            0x00,
            0x00,
            (fcp.len() + 2) as u8,
            0x62,
            fcp.len() as u8,
        ];
        apdu.extend_from_slice(fcp);
        hex::encode_upper(apdu)
    };
    vec![create(&df), create(&ef)]
}

/// SELECT the DF by name, then the EF by FID (ISO 7816-4 §11.2.2).
fn select_apdus() -> Vec<String> {
    vec![
        format!("00A4040C{:02X}{}", AID.len(), hex::encode_upper(AID)),
        "00A4000C020101".to_owned(),
    ]
}

/// 1000 UPDATE BINARY (ISO 7816-4 §11.3.5) of 64 bytes at offsets within the 4 KiB EF.
fn update_apdus() -> Vec<Vec<u8>> {
    (0..BATCH)
        .map(|i| {
            let offset = ((i * 64) % 4096) as u16;
            let mut apdu = vec![0x00, 0xD6, (offset >> 8) as u8, offset as u8, 64];
            apdu.extend(std::iter::repeat_n(i as u8, 64));
            apdu
        })
        .collect()
}

fn direct_transmit(card: &Card, apdu: &[u8]) -> Vec<u8> {
    let mut buffer = [0u8; 300];
    let response = card.transmit(apdu, &mut buffer).expect("direct transmit");
    response.to_vec()
}

fn direct_connect(context: &Context, reader: &str) -> Card {
    let name = CString::new(reader).unwrap();
    let card = context
        .connect(&name, ShareMode::Exclusive, Protocols::ANY)
        .expect("direct connect");
    for apdu in select_apdus() {
        let response = direct_transmit(&card, &hex::decode(apdu).unwrap());
        assert_eq!(response, [0x90, 0x00]);
    }
    card
}

/// The best of the rounds: the machine is shared, so the minimum is the least noisy estimate
/// of what each path costs.
fn best(values: Vec<Duration>) -> Duration {
    values.into_iter().min().unwrap_or_default()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn main() {
    let (rounds, singles) = sizes();
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start_logging("info", &["--trust-origin", ORIGIN]);
    std::thread::sleep(Duration::from_millis(500));
    let rss_fresh = vm_rss_kib(bridge.child.pid());

    let context = Context::establish(Scope::User).expect("pcsc context");
    // Give the card its DF and EF once.
    {
        let name = CString::new(reader.as_str()).unwrap();
        let card = context
            .connect(&name, ShareMode::Exclusive, Protocols::ANY)
            .unwrap();
        for apdu in setup_apdus() {
            assert_eq!(
                direct_transmit(&card, &hex::decode(apdu).unwrap()),
                [0x90, 0x00]
            );
        }
        card.disconnect(Disposition::ResetCard)
            .map_err(|(_, e)| e)
            .unwrap();
    }

    let updates = update_apdus();
    let updates_hex: Vec<String> = updates.iter().map(hex::encode_upper).collect();
    let select = select_apdus();
    let read_one = "00B0000001";

    let mut client: Client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);

    let (mut direct_batch, mut bridge_batch) = (Vec::new(), Vec::new());
    let mut direct_tx_batch = Vec::new();
    let (mut direct_single, mut bridge_single) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Direct: a plain transmit loop.
        let card = direct_connect(&context, &reader);
        let start = Instant::now();
        for apdu in &updates {
            let response = direct_transmit(&card, apdu);
            assert_eq!(response, [0x90, 0x00]);
        }
        direct_batch.push(start.elapsed());
        // Direct, inside one transaction and with the bridge's 64 KiB receive buffer.
        let mut card = card;
        {
            let transaction = card.transaction().expect("transaction");
            let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
            let start = Instant::now();
            for apdu in &updates {
                let response = transaction.transmit(apdu, &mut buffer).expect("transmit");
                assert_eq!(response, [0x90, 0x00]);
            }
            direct_tx_batch.push(start.elapsed());
            transaction
                .end(Disposition::LeaveCard)
                .map_err(|(_, e)| e)
                .unwrap();
        }
        let start = Instant::now();
        let read_one_bytes = hex::decode(read_one).unwrap();
        for _ in 0..singles {
            direct_transmit(&card, &read_one_bytes);
        }
        direct_single.push(start.elapsed() / singles as u32);
        card.disconnect(Disposition::ResetCard)
            .map_err(|(_, e)| e)
            .unwrap();

        // Through the bridge: one transmit batch.
        let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
        client.ok(
            "transmit",
            json!({"session": session, "apdus": select, "expect": ["9000", "9000"]}),
        );
        // The request text is built before the clock starts, as the direct loop's APDUs are.
        let id = 1_000_000 + bridge_batch.len() as u32;
        let request = json!({"id": id, "op": "transmit", "session": session,
                             "apdus": updates_hex, "expect": vec!["9000"; BATCH]})
        .to_string();
        let start = Instant::now();
        client.send_text(&request);
        let reply = client.reply_to(Some(id));
        bridge_batch.push(start.elapsed());
        assert_eq!(reply["ok"], true, "{}", reply["error"]);
        assert!(reply.get("stopped_at").is_none(), "{}", reply["stopped_at"]);
        assert_eq!(reply["responses"].as_array().unwrap().len(), BATCH);
        let start = Instant::now();
        for _ in 0..singles {
            client.ok("transmit", json!({"session": session, "apdus": [read_one]}));
        }
        bridge_single.push(start.elapsed() / singles as u32);
        client.ok("disconnect", json!({"session": session}));
    }
    drop(client);
    std::thread::sleep(Duration::from_millis(500));
    // The bridge's own view of each big batch: time spent inside the PC/SC transaction.
    let inside: Vec<String> = bridge
        .log()
        .lines()
        .filter(|l| l.contains("batch done") && l.contains(&format!("apdus={BATCH} ")))
        .filter_map(|l| l.split("elapsed_ms=").nth(1))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        .collect();
    let inside = inside[..inside.len().min(rounds)].to_vec();
    let rss_after = vm_rss_kib(bridge.child.pid());

    let (db, bb) = (best(direct_batch), best(bridge_batch));
    let (ds, bs) = (best(direct_single), best(bridge_single));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("bridge benchmark (softcard behind pcscd + vpcd; best of {rounds} rounds)");
    println!(
        "  {BATCH} x UPDATE BINARY (64 B): direct loop {:.1} ms, bridge batch {:.1} ms, ratio {:.3} (goal <= 1.05)",
        ms(db),
        ms(bb),
        bb.as_secs_f64() / db.as_secs_f64()
    );
    println!(
        "    direct loop inside one transaction, 64 KiB receive buffer: {:.1} ms",
        ms(best(direct_tx_batch))
    );
    println!(
        "    of which inside the bridge's PC/SC transaction (ms, per round): {}",
        inside.join(", ")
    );
    println!(
        "  one-APDU round trip ({singles} x READ BINARY): direct {:.3} ms, bridge {:.3} ms, ratio {:.2} (goal <= 2)",
        ms(ds),
        ms(bs),
        bs.as_secs_f64() / ds.as_secs_f64()
    );
    println!(
        "  bridge idle RSS: {:.1} MB fresh, {:.1} MB after the runs (goal <= 15 MB)",
        rss_fresh as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
}
