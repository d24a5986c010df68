//! Smoke test of the harness: pcscd, vpcd, a softcard and OpenSC as an independent client.

use std::time::Duration;

use vsc_tests::{opensc_apdus, wait_until, PcscStack, SoftcardOptions};

/// SELECT the MF by FID, no response data (ISO 7816-4 §11.2.2, P2 `0C`): `9000` on any card
/// following docs/card-os.md.
const SELECT_MF: &str = "00A4000C023F00";

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
    let responses = opensc_apdus(0, &[SELECT_MF]);
    assert_eq!(
        responses,
        vec![vec![0x90, 0x00]],
        "SELECT MF through opensc-tool"
    );

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
