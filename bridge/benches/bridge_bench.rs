//! Bridge benchmark (prints figures and ratios; asserts nothing).
//!
//! Against a `softcard` behind pcscd + vpcd, in one run:
//! - 1000 UPDATE BINARY APDUs as one bridge `transmit` batch vs a direct `pcsc` transmit loop
//!   (goal: ratio <= 1.05);
//! - one-APDU round trips through the bridge vs direct (goal: <= 2x);
//! - the bridge's resident memory when idle (goal: <= 15 MB), from /proc/<pid>/status.
//!
//! The machine is shared, so each round measures the direct path and the bridge right after
//! each other (alternating which goes first) and the report gives medians over the rounds, and
//! the median of the per-round ratios.
//!
//! Run with `cargo bench -p vsc-bridge --bench bridge_bench` (`VSC_BENCH_QUICK=1`: fewer rounds;
//! `VSC_BENCH_ROUNDS=n` and `VSC_BENCH_SINGLES=n` override the counts). With
//! `VSC_BENCH_ONE_CPU=1` (unset, empty or `0`: off) the bench first moves itself to CPU 0
//! (`taskset`), so pcscd, the softcard and the bridge it starts run there too: on a VM, where
//! waking a thread on an idle second vCPU costs tens of microseconds, that measures what the
//! bridge itself costs rather than how often the scheduler spreads the hops over vCPUs. A
//! pcscd already running when the bench starts is not moved.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{create_df_apdu, create_file_apdu, select_aid_apdu, Bridge, Client, ORIGIN};
use pcsc::{Card, Context, Disposition, Protocols, Scope, ShareMode};
use serde_json::{json, Value};
use std::ffi::CString;
use std::time::{Duration, Instant};
use vsc_tests::{PcscStack, SoftcardOptions};

const AID: &[u8] = b"\xA0\x00\x00\x05\x27VSCBENCH";
const BATCH: usize = 1000;

/// Rounds and single round trips per round: fewer with `VSC_BENCH_QUICK=1` (scripts/test),
/// or as `VSC_BENCH_ROUNDS` and `VSC_BENCH_SINGLES` say.
fn sizes() -> (usize, usize) {
    let (rounds, singles) = if std::env::var_os("VSC_BENCH_QUICK").is_some() {
        (5, 200)
    } else {
        (15, 500)
    };
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(default)
    };
    (
        var("VSC_BENCH_ROUNDS", rounds),
        var("VSC_BENCH_SINGLES", singles),
    )
}

/// CREATE FILE (ISO 7816-9 §7.1) of a DF with `AID`, then of a 4 KiB transparent EF 0101 in it.
fn setup_apdus() -> Vec<String> {
    let ef = [
        0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x01, 0x80, 0x02, 0x10, 0x00,
    ];
    vec![create_df_apdu(AID), create_file_apdu(&ef)]
}

/// SELECT the DF by name, then the EF by FID (ISO 7816-4 §11.2.2).
fn select_apdus() -> Vec<String> {
    vec![select_aid_apdu(AID), "00A4000C020101".to_owned()]
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

/// The only READ BINARY of the single round trips: 1 byte at offset 0 (ISO 7816-4 §11.3.3).
const READ_ONE: &str = "00B0000001";

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

/// What each round measured.
#[derive(Default)]
struct Figures {
    /// The direct loop inside one transaction (begin and end included) with the bridge's
    /// 64 KiB receive buffer: what the bridge does for a batch, minus the bridge.
    direct_batch: Vec<Duration>,
    /// A plain direct loop, no transaction, 300-byte buffer.
    direct_plain_batch: Vec<Duration>,
    /// The transaction loop from a fresh thread with a fresh PC/SC context, as a new client
    /// (or a bridge session) starts; see `fresh_client_round`.
    direct_fresh_batch: Vec<Duration>,
    /// One READ BINARY from that fresh client, averaged.
    direct_fresh_single: Vec<Duration>,
    /// The batch through the bridge: from sending the request frame to having the reply frame.
    bridge_batch: Vec<Duration>,
    /// One direct READ BINARY, averaged over the round's singles.
    direct_single: Vec<Duration>,
    /// One READ BINARY through the bridge (request frame out, reply frame in), averaged.
    bridge_single: Vec<Duration>,
    /// One WebSocket ping answered by the bridge's pong, averaged: the socket hop alone, the
    /// floor under a bridge round trip.
    bridge_ping: Vec<Duration>,
    /// The bridge's CPU time (user + system) per single round trip.
    bridge_single_cpu: Vec<Duration>,
    /// The bridge's context switches (all threads) per single round trip.
    bridge_single_switches: Vec<f64>,
}

/// CPU time and context switches of a process's live threads so far, from
/// /proc/<pid>/task/*/schedstat (time on a CPU, in nanoseconds) and .../status.
#[derive(Clone, Copy)]
struct Usage {
    cpu: Duration,
    switches: u64,
}

fn usage(pid: u32) -> Usage {
    let mut cpu_ns = 0u64;
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let schedstat =
                std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            cpu_ns += schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Usage {
        cpu: Duration::from_nanos(cpu_ns),
        switches,
    }
}

/// The direct half of a round: the two batch loops and the single round trips.
fn direct_round(
    context: &Context,
    reader: &str,
    updates: &[Vec<u8>],
    singles: usize,
    f: &mut Figures,
) {
    let mut card = direct_connect(context, reader);
    let start = Instant::now();
    for apdu in updates {
        assert_eq!(direct_transmit(&card, apdu), [0x90, 0x00]);
    }
    f.direct_plain_batch.push(start.elapsed());

    f.direct_batch.push(timed_batch(&mut card, updates));
    f.direct_single.push(timed_single(&card, singles));
    card.disconnect(Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .unwrap();

    let (batch, single) = fresh_client_round(reader.to_owned(), updates.to_vec(), singles);
    f.direct_fresh_batch.push(batch);
    f.direct_fresh_single.push(single);
}

/// The batch's direct loop inside one PC/SC transaction (begin and end included), with the
/// bridge's 64 KiB receive buffer: what the bridge does for a batch, minus the bridge.
fn timed_batch(card: &mut Card, updates: &[Vec<u8>]) -> Duration {
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let start = Instant::now();
    let transaction = card.transaction().expect("transaction");
    for apdu in updates {
        let response = transaction.transmit(apdu, &mut buffer).expect("transmit");
        assert_eq!(response, [0x90, 0x00]);
    }
    transaction
        .end(Disposition::LeaveCard)
        .map_err(|(_, e)| e)
        .unwrap();
    start.elapsed()
}

/// `singles` direct READ BINARY round trips; the average of one.
fn timed_single(card: &Card, singles: usize) -> Duration {
    let read_one = hex::decode(READ_ONE).unwrap();
    let mut buffer = [0u8; 300];
    let start = Instant::now();
    for _ in 0..singles {
        let response = card.transmit(&read_one, &mut buffer).expect("transmit");
        assert_eq!(response.len(), 3);
    }
    start.elapsed() / singles as u32
}

/// The direct transaction loop again, from a new thread with its own new PC/SC context, as
/// the bridge runs each session (pcscd serves every context on a thread of its own). On a VM
/// the scheduler tends to keep the bench's long-lived thread and its context's pcscd thread
/// on one vCPU, which a fresh client does not get (docs/benchmarks.md).
fn fresh_client_round(
    reader: String,
    updates: Vec<Vec<u8>>,
    singles: usize,
) -> (Duration, Duration) {
    std::thread::spawn(move || {
        let context = Context::establish(Scope::User).expect("pcsc context");
        let mut card = direct_connect(&context, &reader);
        let batch = timed_batch(&mut card, &updates);
        let single = timed_single(&card, singles);
        card.disconnect(Disposition::ResetCard)
            .map_err(|(_, e)| e)
            .unwrap();
        (batch, single)
    })
    .join()
    .expect("the fresh client's thread")
}

/// Sends `request` and returns the text of the reply frame (events are skipped), unparsed.
fn exchange(client: &mut Client, request: &str) -> String {
    client.send_text(request);
    loop {
        match client.ws.read().expect("reply frame") {
            tungstenite::Message::Text(text) if !text.as_str().starts_with("{\"event\"") => {
                return text.as_str().to_owned()
            }
            tungstenite::Message::Close(frame) => panic!("the bridge closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// The bridge half of a round. Request texts are built before the clock starts (as the direct
/// loop's APDUs are) and replies are parsed after it stops: the figures are the bridge's.
fn bridge_round(
    pid: u32,
    client: &mut Client,
    reader: &str,
    batch: &BatchRequest,
    singles: usize,
    f: &mut Figures,
) {
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    client.ok(
        "transmit",
        json!({"session": session, "apdus": select_apdus(), "expect": ["9000", "9000"]}),
    );
    let request = json!({"id": 7, "op": "transmit", "session": session,
                         "apdus": batch.apdus, "expect": vec!["9000"; BATCH]})
    .to_string();
    let start = Instant::now();
    let reply = exchange(client, &request);
    f.bridge_batch.push(start.elapsed());
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["ok"], true, "{}", reply["error"]);
    assert!(reply.get("stopped_at").is_none(), "{}", reply["stopped_at"]);
    assert_eq!(reply["responses"].as_array().unwrap().len(), BATCH);

    let requests: Vec<String> = (0..singles)
        .map(|i| {
            json!({"id": 100 + i, "op": "transmit", "session": session, "apdus": [READ_ONE]})
                .to_string()
        })
        .collect();
    let mut replies = Vec::with_capacity(singles);
    let before = usage(pid);
    let start = Instant::now();
    for request in &requests {
        replies.push(exchange(client, request));
    }
    f.bridge_single.push(start.elapsed() / singles as u32);
    let after = usage(pid);
    f.bridge_single_cpu
        .push(after.cpu.saturating_sub(before.cpu) / singles as u32);
    f.bridge_single_switches
        .push(after.switches.saturating_sub(before.switches) as f64 / singles as f64);
    for (i, reply) in replies.iter().enumerate() {
        let reply: Value = serde_json::from_str(reply).unwrap();
        assert_eq!(reply["id"], 100 + i, "{reply}");
        assert_eq!(reply["ok"], true, "{reply}");
    }
    client.ok("disconnect", json!({"session": session}));

    let start = Instant::now();
    for _ in 0..singles {
        client
            .ws
            .send(tungstenite::Message::Ping(Vec::new().into()))
            .expect("ping");
        while !matches!(
            client.ws.read().expect("pong"),
            tungstenite::Message::Pong(_)
        ) {}
    }
    f.bridge_ping.push(start.elapsed() / singles as u32);
}

/// The batch's APDUs as the page sends them.
struct BatchRequest {
    apdus: Vec<String>,
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The median over rounds of bridge / direct, each round's pair measured back to back.
fn ratio(bridge: &[Duration], direct: &[Duration]) -> f64 {
    median_f64(
        bridge
            .iter()
            .zip(direct)
            .map(|(b, d)| b.as_secs_f64() / d.as_secs_f64())
            .collect(),
    )
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
    let one_cpu = std::env::var("VSC_BENCH_ONE_CPU").is_ok_and(|v| !v.is_empty() && v != "0");
    if one_cpu {
        // Before any child starts: they inherit the affinity.
        if let Err(why) = vsc_tests::pin_to_cpu(std::process::id(), 0) {
            panic!("VSC_BENCH_ONE_CPU: {why}");
        }
    }
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
    let batch = BatchRequest {
        apdus: updates.iter().map(hex::encode_upper).collect(),
    };
    let mut client: Client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);

    let mut f = Figures::default();
    for round in 0..rounds {
        if round % 2 == 0 {
            direct_round(&context, &reader, &updates, singles, &mut f);
            bridge_round(
                bridge.child.pid(),
                &mut client,
                &reader,
                &batch,
                singles,
                &mut f,
            );
        } else {
            bridge_round(
                bridge.child.pid(),
                &mut client,
                &reader,
                &batch,
                singles,
                &mut f,
            );
            direct_round(&context, &reader, &updates, singles, &mut f);
        }
    }
    drop(client);
    std::thread::sleep(Duration::from_millis(500));
    // The bridge's own view of each big batch: time spent between parsing and replying.
    let inside: Vec<Duration> = bridge
        .log()
        .lines()
        .filter(|l| l.contains("batch done") && l.contains(&format!("apdus={BATCH} ")))
        .filter_map(|l| l.split("elapsed_ms=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .take(rounds)
        .collect();
    let rss_after = vm_rss_kib(bridge.child.pid());

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "bridge benchmark (softcard behind pcscd + vpcd; medians of {rounds} interleaved rounds; {})",
        if one_cpu {
            "bench, pcscd, softcard and bridge on CPU 0"
        } else {
            "processes on any CPU"
        }
    );
    println!(
        "  {BATCH} x UPDATE BINARY (64 B): direct loop in one transaction {:.2} ms, bridge batch {:.2} ms, ratio {:.3} (goal <= 1.05)",
        ms(median(&f.direct_batch)),
        ms(median(&f.bridge_batch)),
        ratio(&f.bridge_batch, &f.direct_batch),
    );
    println!(
        "    plain direct loop (no transaction, 300-byte buffer) {:.2} ms, ratio to it {:.3}; inside the bridge's transmit {:.2} ms",
        ms(median(&f.direct_plain_batch)),
        ratio(&f.bridge_batch, &f.direct_plain_batch),
        ms(median(&inside)),
    );
    println!(
        "    direct loop from a fresh thread and PC/SC context (as a bridge session) {:.2} ms, ratio to it {:.3}",
        ms(median(&f.direct_fresh_batch)),
        ratio(&f.bridge_batch, &f.direct_fresh_batch),
    );
    println!(
        "  one-APDU round trip ({singles} x READ BINARY per round): direct {:.1} us, bridge {:.1} us, ratio {:.2} (goal <= 2)",
        median(&f.direct_single).as_secs_f64() * 1e6,
        median(&f.bridge_single).as_secs_f64() * 1e6,
        ratio(&f.bridge_single, &f.direct_single),
    );
    println!(
        "    direct from a fresh thread and PC/SC context (as a bridge session) {:.1} us, ratio to it {:.2}",
        median(&f.direct_fresh_single).as_secs_f64() * 1e6,
        ratio(&f.bridge_single, &f.direct_fresh_single),
    );
    println!(
        "    WebSocket ping/pong with the bridge (the socket hop alone) {:.1} us",
        median(&f.bridge_ping).as_secs_f64() * 1e6,
    );
    println!(
        "    bridge CPU per round trip {:.1} us, context switches per round trip {:.1}",
        median(&f.bridge_single_cpu).as_secs_f64() * 1e6,
        median_f64(f.bridge_single_switches.clone()),
    );
    println!(
        "  bridge idle RSS: {:.1} MB fresh, {:.1} MB after the runs (goal <= 15 MB)",
        rss_fresh as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
}
