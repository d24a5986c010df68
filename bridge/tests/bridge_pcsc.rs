//! End-to-end tests of `vsc-bridge` over the real PC/SC stack: pcscd, vpcd, and `softcard`
//! processes as cards (the harness in `vsc-tests` starts them).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use vsc_tests::{PcscStack, SoftcardOptions};

const AID: &[u8] = b"\xA0\x00\x00\x05\x27VSCPCSC";

fn trusted_client(bridge: &Bridge) -> Client {
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);
    client
}

fn reader_entry(readers: &serde_json::Value, name: &str) -> serde_json::Value {
    readers
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no reader {name} in {readers}"))
        .clone()
}

#[test]
fn readers_connect_transmit_disconnect_and_events() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let mut card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut client = trusted_client(&bridge);
    let mut watcher = trusted_client(&bridge);

    let readers = client.ok("readers", json!({}));
    let entry = reader_entry(&readers["readers"], &reader);
    assert_eq!(entry["card_present"], true);
    assert!(
        entry["atr"].as_str().unwrap().starts_with("3B8A8001"),
        "{entry}"
    );

    let connected = client.ok("connect", json!({"reader": reader}));
    assert_eq!(connected["protocol"], "T1");
    assert_eq!(connected["atr"], entry["atr"]);
    let session = connected["session"].clone();
    let reply = client.ok(
        "transmit",
        json!({"session": session, "apdus": ["00A4000C023F00", "00B0000001", "00A4000C023F00"],
               "expect": ["9000", "9000"]}),
    );
    assert_eq!(reply["stopped_at"], 1);
    assert_eq!(sw(&reply["responses"][0]), "9000");
    assert_eq!(sw(&reply["responses"][1]), "6986");
    client.ok("disconnect", json!({"session": session}));

    // The card leaves with a session open: card_removed to its owner, readers_changed to all.
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    card.kill();
    let event = client.wait_event("card_removed", Duration::from_secs(10), |_| true);
    assert_eq!(event["session"], session);
    let event = watcher.wait_event("readers_changed", Duration::from_secs(10), |e| {
        reader_entry(&e["readers"], &reader)["card_present"] == false
    });
    assert!(reader_entry(&event["readers"], &reader)
        .get("atr")
        .is_none());
    assert_eq!(
        client.err(
            "transmit",
            json!({"session": session, "apdus": ["00A4000C"]})
        ),
        "unknown_session"
    );
    assert_eq!(client.err("connect", json!({"reader": reader})), "no_card");

    // It comes back.
    let _card = stack.softcard(0, SoftcardOptions::new());
    watcher.wait_event("readers_changed", Duration::from_secs(10), |e| {
        reader_entry(&e["readers"], &reader)["card_present"] == true
    });
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    assert_eq!(
        sw(&client.transmit(&session, &["00A4000C023F00"])["responses"][0]),
        "9000"
    );
}

#[test]
fn unauthenticated_requests_never_reach_the_card() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let logs = tempfile::tempdir().unwrap();
    let apdu_log = logs.path().join("apdus.log");
    let mut options = SoftcardOptions::new();
    options.apdu_log = Some(apdu_log.clone());
    let _card = stack.softcard(0, options);
    let bridge = Bridge::start(&[]);
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], false);
    assert_eq!(client.err("readers", json!({})), "not_authenticated");
    assert_eq!(
        client.err("connect", json!({"reader": reader})),
        "not_authenticated"
    );
    assert_eq!(
        client.err(
            "transmit",
            json!({"session": 1, "apdus": ["00A4000C023F00"]})
        ),
        "not_authenticated"
    );
    std::thread::sleep(Duration::from_millis(300));
    let seen = std::fs::read_to_string(&apdu_log).unwrap_or_default();
    assert!(seen.trim().is_empty(), "the card saw APDUs: {seen}");

    // Control: once paired, the same APDU reaches the card.
    let _token = bridge.pair(&mut client);
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    client.transmit(&session, &["00A4000C023F00"]);
    wait_file(&apdu_log, "the card logs the APDU", |t| {
        t.contains("00 A4 00 0C") || t.contains("00A4000C")
    });
}

#[test]
fn busy_reader_and_reset_when_a_client_vanishes() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);

    let mut first = trusted_client(&bridge);
    session_with_verified_pin(&mut first, &reader, AID);

    let mut second = trusted_client(&bridge);
    assert_eq!(second.err("connect", json!({"reader": reader})), "busy");

    drop(first);
    let session = connect_when_free(&mut second, &reader);
    assert_pin_not_verified(&mut second, &session, AID);
}

#[test]
fn stopping_the_bridge_resets_the_cards_of_open_sessions() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let mut bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut client = trusted_client(&bridge);
    session_with_verified_pin(&mut client, &reader, AID);

    assert_eq!(bridge.child.terminate(Duration::from_secs(10)), Some(0));
    assert!(
        bridge.log().contains("the bridge is stopping"),
        "{}",
        bridge.log()
    );

    // The next program to open the card finds the PIN no longer verified.
    let next = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut client = trusted_client(&next);
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    assert_pin_not_verified(&mut client, &session, AID);
}

#[test]
fn card_pulled_mid_batch_is_reported_cleanly() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let mut options = SoftcardOptions::new();
    options.tear_before = Some(3);
    let mut card = stack.softcard(0, options);
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut client = trusted_client(&bridge);
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    let select = "00A4000C023F00";
    let reply = client.request(
        "transmit",
        json!({"session": session, "apdus": [select, select, select, select]}),
    );
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "card_removed", "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains(" of 4 APDUs"),
        "{reply}"
    );
    assert_eq!(card.wait_exit(Duration::from_secs(10)), Some(3));
    // The session is over, and the bridge still serves.
    assert_eq!(
        client.err("transmit", json!({"session": session, "apdus": [select]})),
        "unknown_session"
    );
    client.ok("readers", json!({}));
}

#[test]
fn a_long_batch_holds_up_no_other_socket() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut busy = trusted_client(&bridge);
    let mut other = trusted_client(&bridge);
    let session = busy.ok("connect", json!({"reader": reader}))["session"].clone();

    // 20,000 APDUs take the card at least 0.4 s through pcscd and vpcd (about 22 us each at
    // best); the bridge's PC/SC calls block for that long.
    let count = 20_000;
    let apdus = vec!["00A4000C023F00"; count];
    busy.send_text(
        &json!({"id": 1, "op": "transmit", "session": session, "apdus": apdus}).to_string(),
    );
    std::thread::sleep(Duration::from_millis(50));
    let asked = std::time::Instant::now();
    // The batch's reply is awaited on a thread of its own, so each reply is timed as it arrives.
    let (reply, batch_answered, other_answered) = std::thread::scope(|scope| {
        let batch = scope.spawn(|| {
            let reply = busy.reply_to(Some(1));
            (reply, std::time::Instant::now())
        });
        other.ok("readers", json!({}));
        let other_answered = std::time::Instant::now();
        let (reply, batch_answered) = batch.join().unwrap();
        (reply, batch_answered, other_answered)
    });
    assert_eq!(reply["ok"], true, "{}", reply["error"]);
    let responses = reply["responses"].as_array().unwrap();
    assert_eq!(responses.len(), count);
    assert!(responses.iter().all(|r| sw(r) == "9000"));
    // Served while the batch runs, the other socket's answer comes well before the batch's
    // (its own PC/SC call takes milliseconds); had it waited for the batch, not before the end.
    let (other_took, batch_took) = (other_answered - asked, batch_answered - asked);
    assert!(
        other_took < batch_took / 2,
        "another socket waited for the batch: answered after {other_took:?}, the batch after {batch_took:?}"
    );
}

#[test]
fn bridge_log_holds_no_pin_over_pcsc() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let pin = b"Qm8Yz2";
    let new_pin = b"Jw5Nc7";
    let mut client = trusted_client(&bridge);
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    let mut apdus = setup_pin_apdus(AID, pin);
    // CHANGE REFERENCE DATA P1=00 (ISO 7816-4 §11.5.7): old PIN followed by the new one.
    apdus.push(format!(
        "00240081{:02X}{}{}",
        pin.len() + new_pin.len(),
        hex::encode_upper(pin),
        hex::encode_upper(new_pin)
    ));
    apdus.push(verify_apdu(new_pin));
    let apdus: Vec<&str> = apdus.iter().map(String::as_str).collect();
    let reply = client.transmit(&session, &apdus);
    for r in reply["responses"].as_array().unwrap() {
        assert_eq!(sw(r), "9000", "{reply}");
    }
    client.ok("disconnect", json!({"session": session}));
    let log = bridge.log();
    assert!(
        log.contains("00 24 00 81"),
        "APDU headers are logged: {log}"
    );
    for secret in [
        String::from_utf8_lossy(pin).into_owned(),
        hex::encode_upper(pin),
        hex::encode(pin),
        String::from_utf8_lossy(new_pin).into_owned(),
        hex::encode_upper(new_pin),
        hex::encode(new_pin),
    ] {
        assert!(!log.contains(&secret), "the log holds {secret}:\n{log}");
    }
}

#[test]
fn doctor_lists_the_readers_the_pairings_and_the_station_key() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start(&[]);
    let mut client = bridge.connect();
    bridge.pair(&mut client);
    // The station ops work over pcscd as with --sim.
    let station = client.ok("station_key", json!({}));
    let key =
        vsc_core::envelope::StationPublicKey::from_hex(station["public_key"].as_str().unwrap())
            .unwrap();
    let binding = vsc_core::envelope::Binding::new("job-1", "b1", b"vsc").unwrap();
    let sealed =
        vsc_core::envelope::seal("a chosen password", &key, &binding, &mut rand_core::OsRng)
            .unwrap();
    let opened = client.ok(
        "open_envelope",
        json!({"enc": hex::encode(sealed.enc), "ciphertext": hex::encode(&sealed.ciphertext),
               "aad": hex::encode(binding.to_aad())}),
    );
    assert_eq!(
        opened["plaintext"].as_str().unwrap(),
        hex::encode_upper("a chosen password")
    );
    let (_, list) = bridge.pairings(&["list"]);
    let id = list.split_whitespace().next().unwrap().to_owned();

    let listen = format!("127.0.0.1:{}", bridge.port);
    let (ok, text) = bridge.subcommand(
        std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge")),
        &["doctor", "--allow-origin", ORIGIN, "--listen", &listen],
    );
    assert!(ok, "nothing to fix:\n{text}");
    assert!(text.contains("nothing to fix"), "{text}");
    assert!(
        text.contains(&format!("{reader}: card present, ATR 3B8A8001")),
        "{text}"
    );
    assert!(
        text.contains("PC/SC service: answers, 2 reader(s)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pairings: 1\n  {id}  {ORIGIN}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("listening port: {listen} is in use")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "station key: fingerprint {}",
            station["fingerprint"].as_str().unwrap()
        )),
        "{text}"
    );
}
