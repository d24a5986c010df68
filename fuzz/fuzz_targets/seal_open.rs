//! Reading the header of, and opening, a sealed VSC from another office: the bytes as they
//! come, and the same bytes with their length fields and checksum repaired (so that mutations
//! reach the header parser, the password check and the decryption).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::seal::{self, Kdf};
use vsc_core::vsc::Vsc;
use vsc_fuzz::{password, repaired, PASSWORD};

fuzz_target!(|data: &[u8]| {
    open(data);
    open(&repaired(data));
});

fn open(bytes: &[u8]) {
    let Ok(header) = seal::read_header(bytes) else {
        assert!(Vsc::open(bytes, PASSWORD).is_err());
        return;
    };
    // Argon2id runs before the password can be checked, at the costs the header names (capped
    // by seal::MAX_ARGON2_*: up to 256 MiB and 64 passes, seconds per try). That cost is by
    // design; the fuzzer skips all but the cheapest so it can go on exploring.
    if let Kdf::Argon2id { m_kib, t, .. } = header.kdf {
        if m_kib > 64 || t > 1 {
            return;
        }
    }
    if let Ok(vsc) = Vsc::open(bytes, PASSWORD) {
        // What opened seals again, and opens to the same VSC.
        let again = seal::seal_with(&vsc.image(), &password(), [0; 16], [0; 12])
            .expect("an opened VSC seals again");
        let reopened = Vsc::open(&again, PASSWORD).expect("a resealed VSC opens");
        assert_eq!(reopened.image(), vsc.image());
        assert_eq!(header.uid, vsc.uid());
    }
}
