//! The personalization engine against a softcard behind a reader the fuzzer controls: each
//! exchange takes one control byte (and its arguments) from the input and may be garbled,
//! cut, padded, lost, answered by the reader, or preceded by a card reset
//! (`softcard::ChaosCard`). The engine must end, and report success only when the card,
//! looked at directly, holds the VSC and the PIN it reports.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use softcard::{Card, ChaosCard, Fault};
use vsc_core::date::Date;
use vsc_core::holder;
use vsc_core::perso::{self, Personalization};
use vsc_core::pin::Pin;
use vsc_core::transport::{Transport, TransportError};
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

/// More exchanges than any run may take: the engine gives up long before.
const APDU_LIMIT: usize = 5000;

struct Scripted<'a> {
    card: &'a mut ChaosCard,
    script: &'a [u8],
    apdus: usize,
}

impl Scripted<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.script.split_first() else {
            return 0;
        };
        self.script = rest;
        b
    }

    fn word(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn fault(&mut self) -> Fault {
        match self.byte() {
            0..=0x9F => Fault::None,
            0xA0..=0xAF => Fault::NotSent { sw: self.word() },
            0xB0..=0xBF => Fault::SwReplaced { sw: self.word() },
            0xC0..=0xCF => Fault::Truncated {
                len: usize::from(self.byte()),
            },
            0xD0..=0xDF => {
                let len = usize::from(self.byte());
                let take = len.min(self.script.len());
                let extra = self.script[..take].to_vec();
                self.script = &self.script[take..];
                Fault::Oversized { extra }
            }
            0xE0..=0xEF => Fault::Lost {
                executed: self.byte() & 1 == 1,
            },
            _ => Fault::ResetBefore,
        }
    }
}

impl Transport for Scripted<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        assert!(self.apdus <= APDU_LIMIT, "the engine does not give up");
        let fault = self.fault();
        self.card
            .transmit(apdu, &fault)
            .map_err(|e| TransportError::Failed(e.to_string()))
    }
}

fn vsc() -> &'static Vsc {
    static VSC: OnceLock<Vsc> = OnceLock::new();
    VSC.get_or_init(|| {
        let profile = vsc_fuzz::generic_profile();
        let mut values = BTreeMap::new();
        values.insert("holder_name".to_owned(), "Fuzz Holder".to_owned());
        values.insert("holder_id".to_owned(), "F-1".to_owned());
        values.insert("email".to_owned(), "fuzz@example.org".to_owned());
        values.insert("address".to_owned(), "1 Fuzz Lane, ".repeat(10));
        let today = Date::from_ymd(2026, 12, 1).expect("a real date");
        let holder = holder::validate_record(profile, &values, today).expect("valid holder");
        Vsc::build(profile, &holder, BUILT_AT_MS, &mut rand_core::OsRng)
            .expect("the VSC builds")
            .0
    })
}

fuzz_target!(|data: &[u8]| {
    let vsc = vsc();
    let mut chaos = ChaosCard::new(Card::blank());
    let pin = Pin::from_digits("246810").expect("six digits");
    let mut transport = Scripted {
        card: &mut chaos,
        script: data,
        apdus: 0,
    };
    let engine = Personalization::with_pin(vsc.clone(), pin.clone());
    if perso::run(engine, &mut transport, |_| {}, |_| true).is_ok() {
        let card = chaos.card();
        let p = vsc.profile().file_system().expect("a file-system profile");
        let aid = &p.df.aid;
        assert_eq!(
            card.life_cycle(aid, None),
            Some(0x05),
            "reported success, not activated"
        );
        let private = card
            .file_content(aid, p.private.fid)
            .expect("the private EF exists");
        assert!(
            private.starts_with(vsc.private_area().expose()),
            "reported success, wrong data"
        );
        let keys = card
            .file_content(aid, p.keys.fid)
            .expect("the keys EF exists");
        assert!(
            keys.starts_with(vsc.keys_area().expose()),
            "reported success, wrong keys"
        );
        assert!(
            card.credential_matches(aid, p.pin.reference, pin.expose().as_bytes()),
            "reported success, but the card has another PIN"
        );
    }
});
