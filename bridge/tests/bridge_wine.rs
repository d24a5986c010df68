//! The Windows bridge, cross-built for `x86_64-pc-windows-gnu`, run under Wine against the
//! host's pcscd with a `softcard` in a vpcd reader, and driven by the same protocol client as
//! the Linux bridge: hello, pair, readers, connect, transmit, disconnect; then its `pairings`
//! and `doctor` subcommands, and a Ctrl-C that stops it cleanly.
//!
//! Wine comes from a Debian 13 root (`scripts/wine-root`; Debian 12's Wine cannot run it), so
//! this test is ignored by a plain `cargo test`: `scripts/test` builds `vsc-bridge.exe` and the
//! root, then runs it with `--ignored` and `VSC_WINDOWS_BRIDGE` naming the `.exe`.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use vsc_tests::{under_wine, windows_program, wine_share, PcscStack, SoftcardOptions};

#[test]
#[ignore = "needs the Wine root and vsc-bridge.exe: scripts/test runs it"]
fn the_windows_bridge_under_wine_pairs_and_reaches_a_card() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let shared = tempfile::Builder::new()
        .prefix("vsc-wine-test-")
        .tempdir_in(wine_share())
        .unwrap();
    let exe = windows_program("VSC_WINDOWS_BRIDGE", shared.path());
    let mut bridge = Bridge::start_in(shared.path(), under_wine(&exe), "debug", "", &[]);

    // Pairing: the code file and the pairings file are written by the Windows build.
    let mut client = bridge.connect();
    let token = bridge.pair(&mut client);
    let mut client = bridge.connect();
    let hello = client.ok("hello", json!({"protocol": 1, "token": token}));
    assert_eq!(hello["paired"], true);
    assert_eq!(
        hello["bridge"],
        format!("vsc-bridge {}", env!("CARGO_PKG_VERSION"))
    );

    // PC/SC through Wine's winscard to the host's pcscd.
    let readers = client.ok("readers", json!({}));
    let entry = readers["readers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == reader.as_str())
        .unwrap_or_else(|| panic!("no {reader} in {readers}"))
        .clone();
    assert_eq!(entry["card_present"], true, "{entry}");
    assert!(
        entry["atr"].as_str().unwrap().starts_with("3B8A8001"),
        "{entry}"
    );
    let connected = client.ok("connect", json!({"reader": reader}));
    assert_eq!(connected["protocol"], "T1");
    let session = connected["session"].clone();
    let reply = client.ok(
        "transmit",
        json!({"session": session, "apdus": ["00A4000C023F00", "00B0000001", "00A4000C023F00"],
               "expect": ["9000", "9000"]}),
    );
    assert_eq!(sw(&reply["responses"][0]), "9000", "{reply}");
    assert_eq!(sw(&reply["responses"][1]), "6986", "{reply}");
    assert_eq!(reply["stopped_at"], 1, "{reply}");
    client.ok("disconnect", json!({"session": session}));

    // The subcommands of the Windows build read what it wrote.
    let (ok, list) = bridge.subcommand(under_wine(&exe), &["pairings", "list"]);
    assert!(ok && list.contains(ORIGIN), "{list}");
    let (_, doctor) = bridge.subcommand(under_wine(&exe), &["doctor", "--allow-origin", ORIGIN]);
    assert!(
        doctor.contains(&format!("{reader}: card present")),
        "{doctor}"
    );
    assert!(doctor.contains("pairings: 1"), "{doctor}");

    // Ctrl-C (Wine turns SIGINT into a console Ctrl-C event): a clean stop.
    let pid = bridge.child.pid().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(status.success());
    assert_eq!(
        bridge.child.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        bridge.log()
    );
    assert!(
        bridge.log().contains("stopping: resetting open sessions"),
        "{}",
        bridge.log()
    );
}
