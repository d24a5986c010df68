//! Opening a sealed VSC whose encrypted areas hold anything: the fuzzer's bytes are sealed
//! under the fixed password, so they get past the decryption and meet the area checks, the
//! accessors the page shows, and a personalization of a blank softcard.
#![no_main]

use libfuzzer_sys::fuzz_target;
use softcard::Card;
use vsc_core::perso::{self, Personalization};
use vsc_core::pin::Pin;
use vsc_core::seal::{self, VscImage};
use vsc_core::secret::SecretBytes;
use vsc_core::transport::{Transport, TransportError};
use vsc_core::vsc::Vsc;
use vsc_fuzz::{messages, password, PASSWORD};

struct InProcess<'a>(&'a mut Card);

impl Transport for InProcess<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.transmit(apdu))
    }
}

fuzz_target!(|data: &[u8]| {
    let areas = messages(data, 4);
    let area = |i: usize| areas.get(i).copied().unwrap_or_default();
    let profile = vsc_fuzz::generic_profile();
    let image = VscImage {
        uid: uuid::Uuid::from_bytes([0x42; 16]),
        profile_id: profile.id.clone(),
        profile_hash: profile.hash(),
        public: area(0).to_vec(),
        private: SecretBytes::from_slice(area(1)),
        keys: SecretBytes::from_slice(area(2)),
        password: SecretBytes::from_slice(area(3)),
    };
    let sealed = seal::seal_with(&image, &password(), [1; 16], [2; 12]).expect("small areas seal");
    let Ok(vsc) = Vsc::open_with_profile(&sealed, PASSWORD, profile) else {
        return;
    };
    let _ = (
        vsc.public_fields(),
        vsc.private_fields(),
        vsc.key_fingerprints(),
    );
    let _ = (
        vsc.holder(),
        vsc.holder_name(),
        vsc.issuer_name(),
        vsc.issued_on(),
    );
    let mut card = Card::blank();
    let pin = Pin::from_digits("123456").expect("six digits");
    let engine = Personalization::with_pin(vsc, pin);
    let _ = perso::run(engine, &mut InProcess(&mut card), |_| {}, |_| true);
});
