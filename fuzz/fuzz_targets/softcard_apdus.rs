//! The softcard's APDU handler over sequences of APDUs: the first byte sets the reader's
//! longest response (0: none), the rest is APDUs, each a 2-byte length then its bytes; an
//! empty one resets the card. Every response ends in a status word, and the card's state
//! stays one that a card could reach (it saves and loads again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use softcard::Card;
use vsc_fuzz::messages;

fuzz_target!(|data: &[u8]| {
    let Some((&max, rest)) = data.split_first() else {
        return;
    };
    let mut card = Card::blank();
    card.set_max_response((max != 0).then_some(usize::from(max)));
    for apdu in messages(rest, 256) {
        if apdu.is_empty() {
            card.reset();
            continue;
        }
        let response = card.transmit(apdu);
        assert!(response.len() >= 2, "a response without a status word");
    }
    Card::from_state(&card.to_state()).expect("the card's state is consistent");
});
