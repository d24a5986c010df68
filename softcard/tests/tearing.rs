//! `FaultyCard`: power loss before or after a chosen APDU.

mod common;

use common::*;
use softcard::{Card, FaultyCard, Tear, Torn};

fn personalization_script() -> Vec<Vec<u8>> {
    vec![
        apdu(0xE0, 0x00, 0x00, &df_fcp(DF_FID, AID), None), // 0
        apdu(0xE0, 0x00, 0x00, &ef_fcp(0x0101, 4, NEVER, ALWAYS), None), // 1
        apdu(0xD6, 0x00, 0x00, &[1, 2, 3, 4], None),        // 2
        apdu(0x44, 0x00, 0x00, &[], None),                  // 3
        apdu(0x24, 0x01, 0x81, PIN, None),                  // 4
        apdu(0x24, 0x01, 0x82, RESET_CODE, None),           // 5
        apdu(0xA4, 0x00, 0x0C, &DF_FID.to_be_bytes(), None), // 6
        apdu(0x44, 0x00, 0x00, &[], None),                  // 7
    ]
}

#[test]
fn before_k_does_not_execute_apdu_k() {
    let script = personalization_script();
    let mut card = FaultyCard::new(Card::blank(), Tear::Before(2));
    assert_eq!(card.transmit(&script[0]), Ok(vec![0x90, 0x00]));
    assert_eq!(card.transmit(&script[1]), Ok(vec![0x90, 0x00]));
    assert!(!card.is_torn());
    assert_eq!(card.transmit(&script[2]), Err(Torn { at: 2 }));
    assert!(card.is_torn());
    assert_eq!(card.transmit(&script[3]), Err(Torn { at: 2 }));
    let card = card.into_card();
    assert_eq!(
        card.file_content(AID, 0x0101),
        Some(vec![0; 4]),
        "UPDATE not executed"
    );
    assert_eq!(
        card.life_cycle(AID, Some(0x0101)),
        Some(0x01),
        "later APDUs not executed"
    );
}

#[test]
fn after_k_executes_apdu_k_and_loses_its_response() {
    let script = personalization_script();
    let mut card = FaultyCard::new(Card::blank(), Tear::After(2));
    for apdu in &script[..2] {
        assert_eq!(card.transmit(apdu), Ok(vec![0x90, 0x00]));
    }
    assert_eq!(card.transmit(&script[2]), Err(Torn { at: 2 }));
    assert_eq!(card.transmit(&script[3]), Err(Torn { at: 2 }));
    let card = card.into_card();
    assert_eq!(card.file_content(AID, 0x0101), Some(vec![1, 2, 3, 4]));
    assert_eq!(card.life_cycle(AID, Some(0x0101)), Some(0x01));
}

#[test]
fn tear_resets_the_volatile_state() {
    let script = personalization_script();
    let mut faulty = FaultyCard::new(Card::blank(), Tear::After(8));
    for apdu in &script {
        assert_eq!(faulty.transmit(apdu), Ok(vec![0x90, 0x00]));
    }
    // APDU 8: VERIFY is executed, then power is lost.
    assert!(faulty.transmit(&apdu(0x20, 0x00, 0x81, PIN, None)).is_err());
    let mut t = Tester {
        card: faulty.into_card(),
    };
    // The MF is current again and the PIN is no longer verified.
    assert_eq!(t.select(0x0101), 0x6A82);
    assert_eq!(t.select_name(AID), 0x9000);
    assert_eq!(t.verify(0x81, &[]), 0x63C3);
    assert_eq!(t.card.life_cycle(AID, None), Some(0x05));
}

#[test]
fn every_tear_point_leaves_a_card_the_script_can_resume() {
    let script = personalization_script();
    for k in 0..script.len() as u64 {
        for tear in [Tear::Before(k), Tear::After(k)] {
            let mut faulty = FaultyCard::new(Card::blank(), tear);
            let mut done = 0;
            for apdu in &script {
                if faulty.transmit(apdu).is_err() {
                    break;
                }
                done += 1;
            }
            assert_eq!(done, k as usize);
            let card = faulty.into_card();
            let executed = match tear {
                Tear::Before(_) => k,
                Tear::After(_) => k + 1,
            };
            // The DF exists exactly when APDU 0 ran, the content exactly when APDU 2 ran.
            assert_eq!(card.is_blank(), executed == 0, "{tear:?}");
            if executed >= 2 {
                let expected = if executed >= 3 {
                    vec![1, 2, 3, 4]
                } else {
                    vec![0; 4]
                };
                assert_eq!(card.file_content(AID, 0x0101), Some(expected), "{tear:?}");
            }
            assert_eq!(
                card.life_cycle(AID, None),
                (executed >= 1).then_some(if executed == 8 { 0x05 } else { 0x01 }),
                "{tear:?}"
            );
        }
    }
}
