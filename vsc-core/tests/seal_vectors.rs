//! Test vectors and error cases for the sealed VSC container (docs/vsc-format.md).
//!
//! The vectors in `tests/vectors/` are checked twice: byte for byte against `seal_with`, and
//! field by field against an independent reading of the documented layout (offsets, KDF,
//! AES-256-GCM, checksum) written here with the crypto crates directly.

use std::time::Instant;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use vsc_core::password::Password;
use vsc_core::seal::{open, read_header, seal, seal_with, seal_with_kdf, Kdf, OpenError, VscImage};
use vsc_core::secret::SecretBytes;

/// The generated password of the HKDF vector.
const GENERATED: &str = "7K2M-Q9TD-4HXR-8WBN-31JC-ZE6P-0V1S";
/// The chosen password of the Argon2id vector.
const CHOSEN: &str = "correct horse battery staple";
/// Small Argon2id costs for the vector, so tests stay fast.
const SMALL_ARGON2: Kdf = Kdf::Argon2id {
    m_kib: 64,
    t: 1,
    p: 1,
};
const SALT: [u8; 16] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
];
const NONCE: [u8; 12] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
];
const HKDF_VECTOR: &str = include_str!("vectors/seal_v1_hkdf.hex");
const ARGON2ID_VECTOR: &str = include_str!("vectors/seal_v1_argon2id.hex");

/// The profile text whose SHA-256 the vector image records.
const PROFILE_TEXT: &[u8] = b"profile text for the VSC seal test vectors\n";

fn profile_hash() -> [u8; 32] {
    Sha256::digest(PROFILE_TEXT).into()
}

fn unhex(text: &str) -> Vec<u8> {
    let compact: String = text.split_whitespace().collect();
    hex::decode(compact).expect("vector file is hex")
}

/// The fixed image of both vectors (areas are small BER-TLV objects).
fn vector_image() -> VscImage {
    VscImage {
        uid: "3f2504e0-4f89-41d3-9a0c-0305e82c3301".parse().unwrap(),
        profile_id: "generic-iso7816".into(),
        profile_hash: profile_hash(),
        // 5F20 name "DOE/JOHN"
        public: unhex("5f2008444f452f4a4f484e"),
        // 5F2B date of birth "19700101"
        private: SecretBytes::new(unhex("5f2b083139373030313031")),
        // 8F (key object) 16 bytes 00..0F
        keys: SecretBytes::new(unhex("8f10000102030405060708090a0b0c0d0e0f")),
        // 80 initial card password "12345678"
        password: SecretBytes::new(unhex("80083132333435363738")),
    }
}

fn generated() -> Password {
    Password::from_generated(GENERATED).unwrap()
}

fn chosen() -> Password {
    Password::chosen(CHOSEN.into()).unwrap()
}

fn hkdf_sealed() -> Vec<u8> {
    unhex(HKDF_VECTOR)
}

fn argon2id_sealed() -> Vec<u8> {
    unhex(ARGON2ID_VECTOR)
}

/// Byte offsets of the fields of the vector files, as docs/vsc-format.md lays them out.
struct Layout {
    uid: usize,
    id_len: usize,
    id: usize,
    hash: usize,
    kdf_id: usize,
    params: usize,
    salt: usize,
    nonce: usize,
    check: usize,
    public_len: usize,
    public: usize,
    ciphertext: usize,
    tag: usize,
    checksum: usize,
    total: usize,
}

fn layout(image: &VscImage) -> Layout {
    let uid = 17;
    let id_len = uid + 16;
    let id = id_len + 1;
    let hash = id + image.profile_id.len();
    let kdf_id = hash + 32;
    let params = kdf_id + 1;
    let salt = params + 12;
    let nonce = salt + 16;
    let check = nonce + 12;
    let public_len = check + 16;
    let public = public_len + 4;
    let ciphertext = public + image.public.len();
    let tag = ciphertext + 12 + image.private.len() + image.keys.len() + image.password.len();
    let checksum = tag + 16;
    Layout {
        uid,
        id_len,
        id,
        hash,
        kdf_id,
        params,
        salt,
        nonce,
        check,
        public_len,
        public,
        ciphertext,
        tag,
        checksum,
        total: checksum + 32,
    }
}

/// Recomputes the trailing checksum after a deliberate change (what a tamperer would do).
fn fix_checksum(bytes: &mut [u8]) {
    let end = bytes.len() - 32;
    let digest = Sha256::digest(&bytes[..end]);
    bytes[end..].copy_from_slice(&digest);
}

fn assert_vector(name: &str, actual: &[u8], expected_hex: &str) {
    let expected = unhex(expected_hex);
    if actual != expected.as_slice() {
        let wrapped: Vec<String> = hex::encode(actual)
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        panic!(
            "{name}: sealed bytes differ from the vector; actual:\n{}",
            wrapped.join("\n")
        );
    }
}

#[test]
fn hkdf_vector_is_reproduced_and_opens() {
    let sealed = seal_with(&vector_image(), &generated(), SALT, NONCE).unwrap();
    assert_vector("HKDF", &sealed, HKDF_VECTOR);
    let opened = open(&hkdf_sealed(), GENERATED, &profile_hash()).unwrap();
    assert_eq!(opened, vector_image());
}

#[test]
fn argon2id_vector_is_reproduced_and_opens() {
    let sealed = seal_with_kdf(&vector_image(), &chosen(), SMALL_ARGON2, SALT, NONCE).unwrap();
    assert_vector("Argon2id", &sealed, ARGON2ID_VECTOR);
    let opened = open(&argon2id_sealed(), CHOSEN, &profile_hash()).unwrap();
    assert_eq!(opened, vector_image());
    // A trailing line break (password read from a file or a terminal) is ignored.
    let opened = open(&argon2id_sealed(), &format!("{CHOSEN}\n"), &profile_hash()).unwrap();
    assert_eq!(opened, vector_image());
}

/// Reads a vector with nothing but the documented layout and the crypto crates.
fn check_documented_layout(bytes: &[u8], ikm_to_prk: impl Fn(&[u8]) -> [u8; 32]) {
    let image = vector_image();
    let at = layout(&image);
    assert_eq!(bytes.len(), at.total);
    assert_eq!(&bytes[..8], b"\x89VSC\r\n\x1a\n");
    assert_eq!(bytes[8], 1);
    let total = u32::from_be_bytes(bytes[9..13].try_into().unwrap());
    let complement = u32::from_be_bytes(bytes[13..17].try_into().unwrap());
    assert_eq!(total as usize, at.total);
    assert_eq!(complement, !total);
    assert_eq!(&bytes[at.uid..at.id_len], image.uid.as_bytes());
    assert_eq!(usize::from(bytes[at.id_len]), image.profile_id.len());
    assert_eq!(&bytes[at.id..at.hash], image.profile_id.as_bytes());
    assert_eq!(&bytes[at.hash..at.kdf_id], &image.profile_hash);
    assert_eq!(&bytes[at.salt..at.nonce], &SALT);
    assert_eq!(&bytes[at.nonce..at.check], &NONCE);
    assert_eq!(
        u32::from_be_bytes(bytes[at.public_len..at.public].try_into().unwrap()) as usize,
        image.public.len()
    );
    assert_eq!(&bytes[at.public..at.ciphertext], image.public.as_slice());
    assert_eq!(
        &bytes[at.checksum..],
        Sha256::digest(&bytes[..at.checksum]).as_slice()
    );

    let prk = ikm_to_prk(&bytes[at.salt..at.nonce]);
    let mut okm = [0u8; 48];
    Hkdf::<Sha256>::from_prk(&prk)
        .unwrap()
        .expand(b"VSC seal v1: AES-256-GCM key and password check", &mut okm)
        .unwrap();
    assert_eq!(&okm[32..], &bytes[at.check..at.public_len], "check value");
    let cipher = Aes256Gcm::new_from_slice(&okm[..32]).unwrap();
    let mut plain = bytes[at.ciphertext..at.tag].to_vec();
    cipher
        .decrypt_inout_detached(
            &Nonce::from(NONCE),
            &bytes[..at.ciphertext],
            plain.as_mut_slice().into(),
            &Tag::try_from(&bytes[at.tag..at.checksum]).unwrap(),
        )
        .unwrap();
    let mut expected = Vec::new();
    for area in [&image.private, &image.keys, &image.password] {
        expected.extend_from_slice(&(area.len() as u32).to_be_bytes());
        expected.extend_from_slice(area.expose());
    }
    assert_eq!(plain, expected);
}

#[test]
fn hkdf_vector_follows_the_documented_layout() {
    let bytes = hkdf_sealed();
    let at = layout(&vector_image());
    assert_eq!(bytes[at.kdf_id], 1);
    assert_eq!(&bytes[at.params..at.salt], &[0u8; 12]);
    check_documented_layout(&bytes, |salt| {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), b"7K2MQ9TD4HXR8WBN31JCZE6P0V1S");
        prk.into()
    });
}

#[test]
fn argon2id_vector_follows_the_documented_layout() {
    let bytes = argon2id_sealed();
    let at = layout(&vector_image());
    assert_eq!(bytes[at.kdf_id], 2);
    assert_eq!(
        &bytes[at.params..at.salt],
        &[0, 0, 0, 64, 0, 0, 0, 1, 0, 0, 0, 1]
    );
    check_documented_layout(&bytes, |salt| {
        let params = argon2::Params::new(64, 1, 1, Some(32)).unwrap();
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut prk = [0u8; 32];
        argon
            .hash_password_into(CHOSEN.as_bytes(), salt, &mut prk)
            .unwrap();
        prk
    });
}

#[test]
fn read_header_needs_no_password() {
    let header = read_header(&hkdf_sealed()).unwrap();
    let image = vector_image();
    assert_eq!(header.version, 1);
    assert_eq!(header.uid, image.uid);
    assert_eq!(header.profile_id, image.profile_id);
    assert_eq!(header.profile_hash, image.profile_hash);
    assert_eq!(header.kdf, Kdf::Hkdf);
    assert_eq!(header.public, image.public);
    assert_eq!(read_header(&argon2id_sealed()).unwrap().kdf, SMALL_ARGON2);
}

#[test]
fn loosely_typed_generated_password_opens_the_same_file() {
    let bytes = hkdf_sealed();
    for typed in [
        "7k2m-q9td-4hxr-8wbn-31jc-ze6p-0v1s",
        "7K2MQ9TD4HXR8WBN31JCZE6P0V1S",
        "7k2m q9td 4hxr 8wbn 3ijc ze6p ovls\n",
        "7K2M-Q9TD-4HXR-8WBN-3LJC-ZE6P-OVIS\r\n",
    ] {
        assert_eq!(
            open(&bytes, typed, &profile_hash()).unwrap(),
            vector_image(),
            "{typed}"
        );
    }
}

#[test]
fn wrong_password_is_recognized() {
    let hash = profile_hash();
    assert_eq!(
        open(&hkdf_sealed(), "7K2M-Q9TD-4HXR-8WBN-31JC-ZE6P-0V1T", &hash),
        Err(OpenError::WrongPassword)
    );
    assert_eq!(
        open(&argon2id_sealed(), "correct horse battery stapler", &hash),
        Err(OpenError::WrongPassword)
    );
    // A mistyped generated password says what is wrong, not just "wrong password".
    let err = open(&hkdf_sealed(), "7K2M-Q9TD-4HXR-8WBN-31JC-ZE6P-0V1", &hash).unwrap_err();
    assert!(matches!(err, OpenError::PasswordForm(_)), "{err:?}");
    assert!(
        err.to_string().contains("has 27 characters, expected 28"),
        "{err}"
    );
    let err = open(&hkdf_sealed(), "7K2M-Q9TD-4HXR-8WBN-31JC-ZE6P-0V1U", &hash).unwrap_err();
    assert!(
        err.to_string().contains("character 'U'") && !err.to_string().contains("7K2M"),
        "{err}"
    );
}

#[test]
fn profile_mismatch_names_both_profiles() {
    let other = [0x42u8; 32];
    let err = open(&hkdf_sealed(), GENERATED, &other).unwrap_err();
    assert_eq!(
        err,
        OpenError::ProfileMismatch {
            profile_id: "generic-iso7816".into(),
            found_hash: profile_hash(),
            expected_hash: other,
        }
    );
    let message = err.to_string();
    assert!(message.contains("generic-iso7816"), "{message}");
    assert!(message.contains(&hex::encode(profile_hash())), "{message}");
    assert!(message.contains(&hex::encode(other)), "{message}");
}

#[test]
fn unknown_version_is_reported_with_the_supported_one() {
    for mut bytes in [hkdf_sealed(), argon2id_sealed()] {
        bytes[8] = 2;
        assert_eq!(read_header(&bytes), Err(OpenError::UnsupportedVersion(2)));
        fix_checksum(&mut bytes);
        let err = open(&bytes, GENERATED, &profile_hash()).unwrap_err();
        assert_eq!(err, OpenError::UnsupportedVersion(2));
        assert!(err.to_string().contains("reads version 1"), "{err}");
    }
}

#[test]
fn not_a_vsc() {
    for bytes in [
        &b"PK\x03\x04 a zip file"[..],
        b"{\"json\": true}",
        b"\x89VSCX",
    ] {
        assert_eq!(read_header(bytes), Err(OpenError::NotAVsc));
    }
}

#[test]
fn truncation_at_every_length_is_reported() {
    for sealed in [hkdf_sealed(), argon2id_sealed()] {
        for len in 0..sealed.len() {
            let expected = if len < 17 { 17 } else { sealed.len() };
            let err = open(&sealed[..len], GENERATED, &profile_hash()).unwrap_err();
            assert_eq!(
                err,
                OpenError::Truncated {
                    expected,
                    actual: len
                },
                "length {len}"
            );
            assert_eq!(read_header(&sealed[..len]).unwrap_err(), err);
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(matches!(read_header(&longer), Err(OpenError::Corrupted(_))));
    }
}

/// Every single-byte change, checksum left as is: magic, version, or damage.
#[test]
fn flipped_byte_at_every_offset_is_detected() {
    for (sealed, password) in [(hkdf_sealed(), GENERATED), (argon2id_sealed(), CHOSEN)] {
        for offset in 0..sealed.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bytes = sealed.clone();
                bytes[offset] ^= mask;
                let err = open(&bytes, password, &profile_hash()).unwrap_err();
                let expected = match offset {
                    0..=7 => OpenError::NotAVsc,
                    8 => OpenError::UnsupportedVersion(bytes[8]),
                    9..=16 => OpenError::Corrupted("its length field is damaged"),
                    _ => OpenError::Corrupted("its checksum does not match its content"),
                };
                assert_eq!(err, expected, "offset {offset} mask {mask:#04x}");
            }
        }
    }
}

/// Every single-byte change with the checksum recomputed, as a tamperer would: never Ok, never
/// a panic, and each field gives the error it should.
#[test]
fn tampered_byte_at_every_offset_is_detected() {
    use OpenError::*;
    let image = vector_image();
    let at = layout(&image);
    let sealed = hkdf_sealed();
    for offset in 0..at.checksum {
        for mask in [0x01u8, 0xff] {
            let mut bytes = sealed.clone();
            bytes[offset] ^= mask;
            fix_checksum(&mut bytes);
            let err = open(&bytes, GENERATED, &profile_hash()).unwrap_err();
            let fits = match offset {
                0..=7 => err == NotAVsc,
                8 => matches!(err, UnsupportedVersion(_)),
                9..=16 => matches!(err, Corrupted(_)),
                o if o < at.id_len => err == Tampered,
                o if o == at.id_len => matches!(err, Malformed(_) | ProfileMismatch { .. }),
                o if o < at.hash => matches!(err, Tampered | Malformed(_)),
                o if o < at.kdf_id => matches!(err, ProfileMismatch { .. }),
                o if o < at.salt => matches!(err, Malformed(_)),
                o if o < at.nonce => err == WrongPassword,
                o if o < at.check => err == Tampered,
                o if o < at.public_len => err == WrongPassword,
                o if o < at.public => matches!(err, Malformed(_) | Tampered),
                _ => err == Tampered,
            };
            assert!(fits, "offset {offset} mask {mask:#04x}: {err:?}");
        }
    }
}

#[test]
fn argon2id_parameters_are_authenticated_and_bounded() {
    let at = layout(&vector_image());
    let hash = profile_hash();
    // A hostile memory cost is refused before any allocation.
    let mut bytes = argon2id_sealed();
    bytes[at.params..at.params + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    fix_checksum(&mut bytes);
    assert!(matches!(
        open(&bytes, CHOSEN, &hash),
        Err(OpenError::Malformed(_))
    ));
    // A plausible but different cost derives another key: the check value catches it.
    let mut bytes = argon2id_sealed();
    bytes[at.params + 7] = 2;
    fix_checksum(&mut bytes);
    assert_eq!(open(&bytes, CHOSEN, &hash), Err(OpenError::WrongPassword));
}

#[test]
fn hostile_lengths_are_malformed_not_allocated() {
    let at = layout(&vector_image());
    for len in [u32::MAX, 0x0010_0001, 0x7fff_ffff] {
        let mut bytes = hkdf_sealed();
        bytes[at.public_len..at.public].copy_from_slice(&len.to_be_bytes());
        fix_checksum(&mut bytes);
        assert!(
            matches!(read_header(&bytes), Err(OpenError::Malformed(_))),
            "public length {len:#x}"
        );
    }
    for id_len in [0u8, 65, 255] {
        let mut bytes = hkdf_sealed();
        bytes[at.id_len] = id_len;
        fix_checksum(&mut bytes);
        assert!(matches!(read_header(&bytes), Err(OpenError::Malformed(_))));
    }
    // A length field that matches its complement but no VSC can have is malformed, not a
    // truncation: too large for the limits, or too small to hold a VSC.
    // The largest possible VSC is 4,194,555 bytes (docs/vsc-format.md, Limits).
    for (declared, too_large) in [
        (0x7fff_0000u32, true),
        (4_194_556, true),
        (4_194_555, false),
    ] {
        let mut bytes = hkdf_sealed();
        bytes[9..13].copy_from_slice(&declared.to_be_bytes());
        bytes[13..17].copy_from_slice(&(!declared).to_be_bytes());
        let err = read_header(&bytes).unwrap_err();
        if too_large {
            assert!(
                matches!(err, OpenError::Malformed(_)),
                "{declared}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, OpenError::Truncated { .. }),
                "{declared}: {err:?}"
            );
        }
    }
    let mut bytes = hkdf_sealed();
    bytes[9..13].copy_from_slice(&20u32.to_be_bytes());
    bytes[13..17].copy_from_slice(&(!20u32).to_be_bytes());
    bytes.truncate(20);
    assert!(matches!(read_header(&bytes), Err(OpenError::Malformed(_))));
}

#[test]
fn changed_ciphertext_with_recomputed_checksum_is_tampering() {
    let at = layout(&vector_image());
    let mut bytes = hkdf_sealed();
    bytes[at.ciphertext + 5] ^= 0x10;
    fix_checksum(&mut bytes);
    let err = open(&bytes, GENERATED, &profile_hash()).unwrap_err();
    assert_eq!(err, OpenError::Tampered);
    // The header is still readable: only the encrypted part fails.
    assert!(read_header(&bytes).is_ok());
    // Changing the public area (clear, but authenticated) is tampering too.
    let mut bytes = hkdf_sealed();
    bytes[at.public + 3] = b'X';
    fix_checksum(&mut bytes);
    assert_eq!(
        open(&bytes, GENERATED, &profile_hash()),
        Err(OpenError::Tampered)
    );
}

#[test]
fn generated_password_seal_round_trip() {
    for _ in 0..20 {
        let password = Password::generate(&mut OsRng);
        let sealed = seal(&vector_image(), &password, &mut OsRng).unwrap();
        assert_eq!(
            open(&sealed, &password.expose().to_lowercase(), &profile_hash()).unwrap(),
            vector_image()
        );
    }
}

#[test]
fn default_argon2id_round_trip() {
    let sealed = seal(&vector_image(), &chosen(), &mut OsRng).unwrap();
    assert_eq!(read_header(&sealed).unwrap().kdf, Kdf::DEFAULT_ARGON2ID);
    assert_eq!(
        open(&sealed, CHOSEN, &profile_hash()).unwrap(),
        vector_image()
    );
}

/// Measures sealing and opening a ~2 KB VSC with HKDF (printed, not asserted: timing depends
/// on the machine and the build profile).
#[test]
fn measure_hkdf_seal_of_a_2kb_vsc() {
    let image = VscImage {
        public: vec![0x5a; 600],
        private: SecretBytes::new(vec![0xa5; 900]),
        keys: SecretBytes::new(vec![0x3c; 400]),
        password: SecretBytes::new(vec![0x31; 64]),
        ..vector_image()
    };
    let password = Password::generate(&mut OsRng);
    let hash = profile_hash();
    let rounds = 2_000u32;
    let mut size = 0;
    for _ in 0..50 {
        size = seal(&image, &password, &mut OsRng).unwrap().len();
    }
    let start = Instant::now();
    let mut last = Vec::new();
    for _ in 0..rounds {
        last = seal(&image, &password, &mut OsRng).unwrap();
    }
    let seal_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        open(&last, password.expose(), &hash).unwrap();
    }
    let open_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!("HKDF seal of a {size}-byte VSC: {seal_us:.1} us; open: {open_us:.1} us");
}
