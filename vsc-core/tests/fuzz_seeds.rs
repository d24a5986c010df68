//! The fuzz targets' seeds (fuzz/seeds/) are what they claim to be, so the fuzzer starts from
//! inputs that reach deep: the sealed VSC of the `seal_open` target is the one this test
//! seals for the shipped generic profile under the targets' fixed password. When the profile
//! changes (its hash is in the file), `VSC_UPDATE_FIXTURES=1` writes the seed again.

use vsc_core::profile::Profile;
use vsc_core::seal::{self, VscImage};
use vsc_core::secret::SecretBytes;
use vsc_core::tlv;
use vsc_core::vsc::Vsc;

/// The fuzz targets' fixed password (`vsc_fuzz::PASSWORD` in fuzz/src/lib.rs).
const FUZZ_PASSWORD: &str = "0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV";
/// The seed, relative to this crate.
const SEED: &str = "../fuzz/seeds/seal_open/fixed-password.vsc";

fn sealed_seed() -> Vec<u8> {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let area = |objects: &[(&[u8], &[u8])]| tlv::encode_all(objects.iter().copied());
    let image = VscImage {
        uid: uuid::Uuid::from_bytes(
            *b"\x0f\x0e\x0d\x0c\x0b\x0a\x49\x08\x87\x06\x05\x04\x03\x02\x01\x00",
        ),
        profile_id: profile.id.clone(),
        profile_hash: profile.hash(),
        public: area(&[
            (&[0x5F, 0x20], "Siobhán O'Brien".as_bytes()),
            (&[0xC1], b"E-1002"),
            (&[0xC2], b"VSC Demo Issuer"),
            (&[0xC7], b"2026-11-30"),
        ])
        .expose()
        .to_vec(),
        private: area(&[
            (&[0xC4], b"siobhan@example.org"),
            (&[0x5F, 0x42], b"12 Harbour Road, Cork"),
        ]),
        keys: area(&[(&[0xC6], &(0..32).collect::<Vec<u8>>())]),
        password: SecretBytes::new(
            area(&[
                (&[0x80], b"0123456789ABCDEFGHJKMNPQRSTV"),
                (&[0x81], &(0..16).collect::<Vec<u8>>()),
            ])
            .expose()
            .to_vec(),
        ),
    };
    let password = vsc_core::password::Password::from_generated(FUZZ_PASSWORD).unwrap();
    let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
    let nonce: [u8; 12] = std::array::from_fn(|i| 100 + i as u8);
    seal::seal_with(&image, &password, salt, nonce).unwrap()
}

#[test]
fn the_sealed_seed_opens_with_the_fuzz_password() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SEED);
    let expected = sealed_seed();
    let on_disk = std::fs::read(&path).unwrap_or_default();
    if on_disk != expected {
        if std::env::var_os("VSC_UPDATE_FIXTURES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        } else {
            panic!(
                "{} is not the seed for the current generic profile; write it again with \
                 VSC_UPDATE_FIXTURES=1 cargo test -p vsc-core --test fuzz_seeds",
                path.display()
            );
        }
    }
    let vsc = Vsc::open(&expected, FUZZ_PASSWORD).expect("the seed opens");
    assert_eq!(vsc.holder_name(), "Siobhán O'Brien");
    assert_eq!(
        vsc.card_password().expose(),
        b"0123456789ABCDEFGHJKMNPQRSTV"
    );
}
