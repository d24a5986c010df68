//! The fuzz targets' seeds (fuzz/seeds/) are what they claim to be, so the fuzzer starts from
//! inputs that reach deep: the sealed VSC made for the `seal_open` target opens with the
//! targets' fixed password (it was sealed by an independent implementation of
//! docs/vsc-format.md, so this is also a cross-check of the format).

use vsc_core::seal::{self, Kdf};
use vsc_core::vsc::Vsc;

/// The fuzz targets' fixed password (`vsc_fuzz::PASSWORD` in fuzz/src/lib.rs).
const FUZZ_PASSWORD: &str = "0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV";

#[test]
fn the_sealed_seed_opens_with_the_fuzz_password() {
    let bytes = include_bytes!("../../fuzz/seeds/seal_open/fixed-password.vsc");
    let header = seal::read_header(bytes).unwrap();
    assert_eq!(header.kdf, Kdf::Hkdf);
    let vsc = Vsc::open(bytes, FUZZ_PASSWORD).expect("the seed opens");
    assert_eq!(vsc.holder_name(), "Siobhán O'Brien");
    assert_eq!(
        vsc.card_password().expose(),
        b"0123456789ABCDEFGHJKMNPQRSTV"
    );
}
