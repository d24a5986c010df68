//! Smoke test of the harness: pcscd, vpcd, a softcard and OpenSC as an independent client.

use std::time::Duration;

use vsc_tests::{opensc_apdus, wait_until, PcscStack, SoftcardOptions};

/// SELECT the MF by FID, no response data (ISO 7816-4 §11.2.2, P2 `0C`): `9000` on any card
/// following docs/card-os.md.
const SELECT_MF: &str = "00A4000C023F00";
/// SELECT the MF returning its FCP (P2 `04`): data `62 ..` then `9000`.
const SELECT_MF_FCP: &str = "00A40004023F00";
/// P2 `00` is not offered by the card OS (docs/card-os.md): `6A86`.
const SELECT_MF_P2_00: &str = "00A40000023F00";

#[test]
fn softcard_appears_answers_and_disappears_in_vpcd_reader() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    assert_eq!(reader, "Virtual PCD 00 00");
    assert_eq!(stack.reader_name(1), "Virtual PCD 00 01");

    let mut card = stack.softcard(0, SoftcardOptions::new());
    assert!(
        stack.card_present(0),
        "the harness returned before the card appeared"
    );
    let responses = opensc_apdus(0, &[SELECT_MF, SELECT_MF_FCP, SELECT_MF_P2_00]);
    assert_eq!(responses[0], [0x90, 0x00], "SELECT MF through opensc-tool");
    let fcp = &responses[1];
    assert_eq!(
        fcp.first(),
        Some(&0x62),
        "FCP template expected: {fcp:02X?}"
    );
    assert_eq!(fcp[fcp.len() - 2..], [0x90, 0x00], "{fcp:02X?}");
    assert_eq!(
        usize::from(fcp[1]) + 4,
        fcp.len(),
        "FCP length byte: {fcp:02X?}"
    );
    assert_eq!(responses[2], [0x6A, 0x86], "SELECT with P2 00");

    card.kill();
    assert!(
        !stack.card_present(0),
        "kill() returned while pcscd still saw the card"
    );
    assert_eq!(
        card.wait_exit(Duration::from_secs(1)),
        Some(-9),
        "killed by SIGKILL"
    );

    let _card = stack.softcard(0, SoftcardOptions::new());
    assert!(stack.card_present(0));
    assert_eq!(opensc_apdus(0, &[SELECT_MF]), vec![vec![0x90, 0x00]]);
}

#[test]
fn softcard_without_waiting_is_seen_within_seconds() {
    let stack = PcscStack::start();
    let options = SoftcardOptions {
        wait_for_card: false,
        ..SoftcardOptions::new()
    };
    let _card = stack.softcard(1, options);
    wait_until(
        Duration::from_secs(15),
        "a card is present in slot 1",
        || stack.card_present(1),
    );
    assert_eq!(opensc_apdus(1, &[SELECT_MF]), vec![vec![0x90, 0x00]]);
}

#[test]
fn torn_softcard_exits_3_and_leaves_the_reader_empty() {
    let stack = PcscStack::start();
    let options = SoftcardOptions {
        tear_after: Some(0),
        ..SoftcardOptions::new()
    };
    let mut card = stack.softcard(0, options);
    // APDU 0 (counted from 0) is processed, then the card vanishes: opensc-tool may or may not get the
    // response, so only the softcard's exit and the reader's state are asserted.
    let _ = std::process::Command::new("opensc-tool")
        .args(["-c", "default", "-r", "0", "-s", SELECT_MF])
        .output();
    assert_eq!(
        card.wait_exit(Duration::from_secs(10)),
        Some(3),
        "exit code after a tear"
    );
    wait_until(Duration::from_secs(10), "the torn card is gone", || {
        !stack.card_present(0)
    });
}
