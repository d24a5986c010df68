//! The shared PC/SC layer against a real pcscd with vpcd's two readers: a softcard in slot 0,
//! slot 1 empty.

use std::time::Duration;

use vsc_core::transport::Transport;
use vsc_pcsc::pcsc::ShareMode;
use vsc_pcsc::{CardTransport, Fault};
use vsc_tests::{PcscStack, SoftcardOptions};

/// SELECT MF by FID, no response data (ISO 7816-4 §11.2.2).
const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];

#[test]
fn lists_connects_classifies_and_transmits() {
    let stack = PcscStack::start();
    let (with_card, empty) = (stack.reader_name(0), stack.reader_name(1));
    let _softcard = stack.softcard(0, SoftcardOptions::new());
    let context = vsc_pcsc::establish().expect("pcscd answers");

    let names = vsc_pcsc::reader_names(&context).expect("pcscd lists its readers");
    let statuses = vsc_pcsc::reader_statuses(&context, &names).expect("reader states");
    let status = |name: &str| {
        statuses
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name:?} not in {statuses:?}"))
    };
    assert!(status(&with_card).card_present() && !status(&with_card).atr.is_empty());
    assert!(status(&empty).empty() && !status(&empty).card_present());

    // Waiting on a reader that does not change times out.
    let mut states = [vsc_pcsc::reader_state(&empty).expect("a reader state")];
    assert!(vsc_pcsc::wait_for_change(&context, &mut states, Duration::ZERO).expect("first read"));
    states[0].sync_current_state();
    assert!(
        !vsc_pcsc::wait_for_change(&context, &mut states, Duration::from_millis(100))
            .expect("wait")
    );

    let fault = |reader: &str| {
        vsc_pcsc::connect(&context, reader, ShareMode::Exclusive)
            .err()
            .unwrap_or_else(|| panic!("connecting to {reader:?} should fail"))
    };
    assert!(matches!(fault("No Such Reader"), Fault::UnknownReader(_)));
    assert!(matches!(fault("No\0Such"), Fault::UnknownReader(_)));
    assert!(matches!(fault(&empty), Fault::NoCard(_)));

    let card = vsc_pcsc::connect(&context, &with_card, ShareMode::Exclusive).expect("connect");
    assert!(matches!(fault(&with_card), Fault::Busy(_)));
    assert!(vsc_pcsc::card_left(&card).is_none());
    let mut transport = CardTransport::new(&card);
    assert_eq!(
        transport.transmit(&SELECT_MF).expect("SELECT MF"),
        [0x90, 0x00]
    );
}
