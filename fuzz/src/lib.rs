//! What the fuzz targets share: the fixed VSC password, a repair step that lets mutated
//! sealed files past the checksum, and the split of one input into several messages.
//!
//! What it does not do: fuzz anything itself; each target in `fuzz_targets/` is one `[[bin]]`.
#![forbid(unsafe_code)]

use sha2::{Digest, Sha256};
use vsc_core::password::Password;
use vsc_core::seal::MAGIC;

/// The password every sealed seed is sealed with (a generated password, so opening uses HKDF
/// and stays fast; Argon2id headers are capped, see `seal_open`).
pub const PASSWORD: &str = "0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV";

/// [`PASSWORD`] as a [`Password`].
pub fn password() -> Password {
    Password::from_generated(PASSWORD).expect("PASSWORD is a valid generated password")
}

/// Bytes of the magic, version and the two length fields (docs/vsc-format.md).
const PREFIX_LEN: usize = 8 + 1 + 4 + 4;
/// Bytes of the SHA-256 checksum at the end of a sealed VSC.
const CHECKSUM_LEN: usize = 32;

/// `bytes` made into a file that passes the envelope checks of a sealed VSC: the magic and
/// version 1 in front, the length fields and the checksum rewritten to match. The fuzzer
/// cannot compute a SHA-256; with this, its mutations reach the header parser, the password
/// check and the decryption.
pub fn repaired(bytes: &[u8]) -> Vec<u8> {
    let body = bytes.get(PREFIX_LEN..).unwrap_or_default();
    let total = PREFIX_LEN + body.len() + CHECKSUM_LEN;
    let total_u32 = u32::try_from(total).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.push(1);
    out.extend_from_slice(&total_u32.to_be_bytes());
    out.extend_from_slice(&(!total_u32).to_be_bytes());
    out.extend_from_slice(body);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Splits `data` into messages: each is a 2-byte big-endian length then that many bytes (the
/// last one takes what is left when it is cut short). At most `max` messages.
pub fn messages(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && out.len() < max {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        rest = &rest[take..];
    }
    out
}

/// The shipped generic profile, parsed once (parsing it takes milliseconds under the
/// sanitizer, more than most targets' whole run).
pub fn generic_profile() -> &'static vsc_core::profile::Profile {
    static PROFILE: std::sync::OnceLock<vsc_core::profile::Profile> = std::sync::OnceLock::new();
    PROFILE.get_or_init(|| {
        vsc_core::profile::Profile::builtin("iso7816-generic").expect("the generic profile ships")
    })
}
