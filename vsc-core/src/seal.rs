//! The sealed VSC container (format version 1): the file that carries a VSC from the issuer to
//! the personalization office.
//!
//! A sealed VSC is one byte string: a clear part (magic, version, length, UID, profile id and
//! hash, KDF and its parameters, salt, nonce, password check value, public area), the
//! AES-256-GCM encryption of the private, keys and password areas with the whole clear part as
//! associated data, and a SHA-256 checksum of everything before it. The byte layout, the key
//! derivation and test vectors are in `docs/vsc-format.md`.
//!
//! Keys come from the VSC password: HKDF-SHA256 for a generated password (140 bits, no slow KDF
//! needed, so batch sealing stays fast), Argon2id for a chosen one. The header records which.
//! Opening checks, in order: magic, version, length, checksum, header structure, profile,
//! password check value, GCM authentication, so damage, a wrong password, a wrong profile and
//! deliberate tampering each give their own [`OpenError`].
//!
//! What this module does not do: read or write files, encode areas (they arrive as BER-TLV
//! bytes) or hash profiles (the caller passes the profile's SHA-256).

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::password::{canonical_generated, Password, PasswordError};
use crate::secret::SecretBytes;

/// The 8 bytes every sealed VSC starts with.
pub const MAGIC: [u8; 8] = *b"\x89VSC\r\n\x1a\n";

/// The format version this module writes.
pub const FORMAT_VERSION: u8 = 1;

/// The format versions this module reads.
pub const SUPPORTED_VERSIONS: &[u8] = &[FORMAT_VERSION];

/// Largest area (public, private, keys or password) a VSC may hold, in bytes.
pub const MAX_AREA_LEN: usize = 1 << 20;

/// Largest profile id, in bytes (UTF-8).
pub const MAX_PROFILE_ID_LEN: usize = 64;

/// Largest Argon2id memory cost accepted, in KiB (256 MiB), so a hostile file cannot demand
/// an absurd allocation.
pub const MAX_ARGON2_M_KIB: u32 = 256 * 1024;

/// Largest Argon2id iteration count accepted.
pub const MAX_ARGON2_T: u32 = 64;

/// Largest Argon2id parallelism accepted.
pub const MAX_ARGON2_P: u32 = 16;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const CHECK_LEN: usize = 16;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
const LEN_FIELD: usize = 4;
/// Magic, version, length and its complement.
const PREFIX_LEN: usize = MAGIC.len() + 1 + 2 * LEN_FIELD;
/// Header bytes that do not depend on the profile id or public area lengths.
const FIXED_HEADER_LEN: usize =
    16 + 1 + 32 + 1 + 3 * LEN_FIELD + SALT_LEN + NONCE_LEN + CHECK_LEN + LEN_FIELD;
/// The three length prefixes inside the plaintext.
const PLAINTEXT_OVERHEAD: usize = 3 * LEN_FIELD;
/// The largest file the limits allow: no valid VSC declares a greater length.
const MAX_FILE_LEN: usize = PREFIX_LEN
    + FIXED_HEADER_LEN
    + MAX_PROFILE_ID_LEN
    + 4 * MAX_AREA_LEN
    + PLAINTEXT_OVERHEAD
    + TAG_LEN
    + CHECKSUM_LEN;
const KDF_ID_HKDF: u8 = 1;
const KDF_ID_ARGON2ID: u8 = 2;
/// HKDF info string: names the format version and what the output is for.
const KDF_INFO: &[u8] = b"VSC seal v1: AES-256-GCM key and password check";

/// The plain content of a VSC: its identity and its four areas (already BER-TLV encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VscImage {
    /// The VSC's unique identifier (the `uid` area).
    pub uid: uuid::Uuid,
    /// The id of the card profile the VSC was built from.
    pub profile_id: String,
    /// SHA-256 of the card profile's text, computed by the caller.
    pub profile_hash: [u8; 32],
    /// The public area, stored in clear.
    pub public: Vec<u8>,
    /// The private area, encrypted.
    pub private: SecretBytes,
    /// The keys area, encrypted.
    pub keys: SecretBytes,
    /// The password area, encrypted.
    pub password: SecretBytes,
}

/// How the sealing key is derived from the password; recorded in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// HKDF-SHA256 over the canonical form of a generated password.
    Hkdf,
    /// Argon2id (version 0x13) over a chosen password.
    Argon2id {
        /// Memory cost in KiB.
        m_kib: u32,
        /// Number of passes.
        t: u32,
        /// Degree of parallelism.
        p: u32,
    },
}

impl Kdf {
    /// Argon2id defaults for chosen passwords: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT_ARGON2ID: Kdf = Kdf::Argon2id {
        m_kib: 19456,
        t: 2,
        p: 1,
    };

    /// The KDF [`seal`] uses for `password`: HKDF if generated, default Argon2id if chosen.
    pub fn for_password(password: &Password) -> Kdf {
        if password.is_generated() {
            Kdf::Hkdf
        } else {
            Kdf::DEFAULT_ARGON2ID
        }
    }

    /// Checks Argon2id parameters against the limits; `None` if acceptable.
    fn problem(&self) -> Option<String> {
        let Kdf::Argon2id { m_kib, t, p } = *self else {
            return None;
        };
        if !(1..=MAX_ARGON2_P).contains(&p) {
            return Some(format!("Argon2id p={p}, expected 1..={MAX_ARGON2_P}"));
        }
        if !(1..=MAX_ARGON2_T).contains(&t) {
            return Some(format!("Argon2id t={t}, expected 1..={MAX_ARGON2_T}"));
        }
        if m_kib < 8 * p || m_kib > MAX_ARGON2_M_KIB {
            return Some(format!(
                "Argon2id m={m_kib} KiB, expected {}..={MAX_ARGON2_M_KIB}",
                8 * p
            ));
        }
        None
    }
}

/// The clear part of a sealed VSC, readable without the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version of the file.
    pub version: u8,
    /// The VSC's unique identifier.
    pub uid: uuid::Uuid,
    /// The id of the card profile the VSC was built for.
    pub profile_id: String,
    /// SHA-256 of that profile's text.
    pub profile_hash: [u8; 32],
    /// How the key is derived from the password.
    pub kdf: Kdf,
    /// The public area.
    pub public: Vec<u8>,
}

/// Why a VSC could not be sealed (the caller's input is at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// An area exceeds [`MAX_AREA_LEN`].
    #[error("the {area} area is {len} bytes; a VSC area may hold at most {max} bytes")]
    AreaTooLarge {
        /// Which area.
        area: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The profile id is empty, too long or contains control characters.
    #[error(
        "the profile id is invalid ({0}); it must be 1 to {MAX_PROFILE_ID_LEN} bytes of \
         printable text"
    )]
    InvalidProfileId(&'static str),
    /// The KDF does not fit the password kind (HKDF needs a generated password, Argon2id a
    /// chosen one).
    #[error(
        "the KDF does not fit the password: HKDF is only for generated passwords and Argon2id \
         only for chosen ones; use Kdf::for_password"
    )]
    KdfDoesNotFitPassword,
    /// Argon2id parameters out of the accepted range.
    #[error("invalid key derivation parameters: {0}")]
    InvalidKdfParameters(String),
    /// A generated password that is not in valid form.
    #[error("the generated password is invalid: {0}")]
    Password(#[from] PasswordError),
    /// The random number generator failed.
    #[error("the random number generator failed ({0}); retry, or check the platform's RNG")]
    Random(String),
    /// Key derivation or encryption failed inside the crypto library.
    #[error("sealing failed inside the crypto library: {0}")]
    Crypto(String),
}

/// Why a sealed VSC could not be read or opened. Messages name the cause and the fix and never
/// contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The bytes do not start with the VSC magic.
    #[error("this is not a sealed VSC file (it does not start with the VSC magic bytes)")]
    NotAVsc,
    /// The file's format version is not one this program reads.
    #[error(
        "this VSC file has format version {0}, which this program cannot read (it reads \
         version 1); use a program that supports it or ask the issuer to seal it as version 1"
    )]
    UnsupportedVersion(u8),
    /// The file is shorter than its header says.
    #[error(
        "the VSC file is truncated: it has {actual} bytes but needs {expected}; copy the \
         complete file again"
    )]
    Truncated {
        /// Bytes the file needs (its declared length, or the fixed prefix if even that is
        /// missing).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// Accidental damage: the length field or the checksum does not match.
    #[error("the VSC file is damaged ({0}); copy it again from the issuer's original")]
    Corrupted(&'static str),
    /// The checksum matches but the structure is invalid: written wrongly or altered on
    /// purpose.
    #[error(
        "the VSC file is malformed ({0}); it was written wrongly or altered on purpose, ask \
         the issuer for a new copy"
    )]
    Malformed(String),
    /// The VSC was built for another profile than the one the caller expects.
    #[error(
        "this VSC was built for profile '{profile_id}' (SHA-256 {}), not for the loaded \
         profile (SHA-256 {}); load the profile the VSC was built for",
        hex::encode(found_hash),
        hex::encode(expected_hash)
    )]
    ProfileMismatch {
        /// The profile id recorded in the file.
        profile_id: String,
        /// The profile hash recorded in the file.
        found_hash: [u8; 32],
        /// The hash the caller expected.
        expected_hash: [u8; 32],
    },
    /// The VSC uses a generated password and the one given is not in valid form.
    #[error("this VSC is sealed with a generated password, and the one given is invalid: {0}")]
    PasswordForm(#[from] PasswordError),
    /// The password check value does not match: wrong password.
    #[error("wrong password: it does not open this VSC; check it and try again")]
    WrongPassword,
    /// The password is right but authentication failed: altered after sealing.
    #[error(
        "the VSC file was altered after sealing (the password is right but authentication \
         failed); do not use it, ask the issuer for a new copy"
    )]
    Tampered,
}

/// Seals `image` under `password` with a fresh random salt and nonce and the KDF that fits the
/// password ([`Kdf::for_password`]).
pub fn seal(
    image: &VscImage,
    password: &Password,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SealError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.try_fill_bytes(&mut salt)
        .and_then(|()| rng.try_fill_bytes(&mut nonce))
        .map_err(|e| SealError::Random(e.to_string()))?;
    seal_with(image, password, salt, nonce)
}

/// Seals deterministically with the given salt and nonce and the KDF that fits the password.
/// For test vectors; production code uses [`seal`].
pub fn seal_with(
    image: &VscImage,
    password: &Password,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Result<Vec<u8>, SealError> {
    seal_with_kdf(image, password, Kdf::for_password(password), salt, nonce)
}

/// Seals deterministically with an explicit KDF (e.g. other Argon2id costs). The KDF must fit
/// the password: [`Kdf::Hkdf`] for a generated one, [`Kdf::Argon2id`] for a chosen one.
pub fn seal_with_kdf(
    image: &VscImage,
    password: &Password,
    kdf: Kdf,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Result<Vec<u8>, SealError> {
    check_image(image)?;
    if matches!(kdf, Kdf::Hkdf) != password.is_generated() {
        return Err(SealError::KdfDoesNotFitPassword);
    }
    if let Some(problem) = kdf.problem() {
        return Err(SealError::InvalidKdfParameters(problem));
    }
    let material = match kdf {
        Kdf::Hkdf => derive(kdf, canonical_generated(password.expose())?.expose(), &salt),
        Kdf::Argon2id { .. } => derive(kdf, password.expose(), &salt),
    }
    .map_err(SealError::Crypto)?;
    let (key, check) = material.split_at(KEY_LEN);

    let total = PREFIX_LEN
        + FIXED_HEADER_LEN
        + image.profile_id.len()
        + image.public.len()
        + PLAINTEXT_OVERHEAD
        + image.private.len()
        + image.keys.len()
        + image.password.len()
        + TAG_LEN
        + CHECKSUM_LEN;
    // Bounded by the area limits above, so it fits in u32.
    let total_u32 = u32::try_from(total)
        .map_err(|_| SealError::Crypto("the sealed VSC would not fit a 32-bit length".into()))?;

    // Exact capacity: the buffer never reallocates, so no plaintext copy is left behind, and
    // it is wiped if anything fails after the plaintext went in.
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&total_u32.to_be_bytes());
    out.extend_from_slice(&(!total_u32).to_be_bytes());
    out.extend_from_slice(image.uid.as_bytes());
    out.push(image.profile_id.len() as u8);
    out.extend_from_slice(image.profile_id.as_bytes());
    out.extend_from_slice(&image.profile_hash);
    let (kdf_id, params) = match kdf {
        Kdf::Hkdf => (KDF_ID_HKDF, [0, 0, 0]),
        Kdf::Argon2id { m_kib, t, p } => (KDF_ID_ARGON2ID, [m_kib, t, p]),
    };
    out.push(kdf_id);
    for value in params {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(check);
    push_area(&mut out, &image.public);
    let header_end = out.len();
    push_area(&mut out, image.private.expose());
    push_area(&mut out, image.keys.expose());
    push_area(&mut out, image.password.expose());

    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| SealError::Crypto(e.to_string()))?;
    let (aad, body) = out.split_at_mut(header_end);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(nonce), aad, body.into())
        .map_err(|_| SealError::Crypto("AES-256-GCM encryption failed".into()))?;
    out.extend_from_slice(&tag);
    let checksum = Sha256::digest(out.as_slice());
    out.extend_from_slice(&checksum);
    debug_assert_eq!(out.len(), total);
    Ok(std::mem::take(&mut *out))
}

/// Reads the clear part of a sealed VSC (UID, profile, KDF, public area) without the password,
/// after checking magic, version, length and checksum.
pub fn read_header(bytes: &[u8]) -> Result<Header, OpenError> {
    let body = check_envelope(bytes)?;
    Ok(parse(body)?.header)
}

/// Opens a sealed VSC: checks the file, that it was built for the profile whose SHA-256 is
/// `expected_profile_hash`, and the password, then decrypts the areas.
///
/// `password` is used as typed: for a generated password it is canonicalized first (case,
/// dashes, spaces, look-alikes, see [`canonical_generated`]); for a chosen one only a trailing
/// line break is removed.
pub fn open(
    bytes: &[u8],
    password: &str,
    expected_profile_hash: &[u8; 32],
) -> Result<VscImage, OpenError> {
    let body = check_envelope(bytes)?;
    let parsed = parse(body)?;
    let header = parsed.header;
    if &header.profile_hash != expected_profile_hash {
        return Err(OpenError::ProfileMismatch {
            profile_id: header.profile_id,
            found_hash: header.profile_hash,
            expected_hash: *expected_profile_hash,
        });
    }
    let material = match header.kdf {
        Kdf::Hkdf => derive(
            header.kdf,
            canonical_generated(password)?.expose(),
            parsed.salt,
        ),
        Kdf::Argon2id { .. } => derive(
            header.kdf,
            password.trim_end_matches(['\n', '\r']),
            parsed.salt,
        ),
    }
    .map_err(OpenError::Malformed)?;
    let (key, check) = material.split_at(KEY_LEN);
    if !bool::from(check.ct_eq(parsed.check)) {
        return Err(OpenError::WrongPassword);
    }

    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| OpenError::Malformed(e.to_string()))?;
    let (ciphertext, tag) = parsed.sealed.split_at(parsed.sealed.len() - TAG_LEN);
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    let nonce = Nonce::try_from(parsed.nonce)
        .map_err(|_| OpenError::Malformed("the nonce is not 12 bytes".into()))?;
    let tag = Tag::try_from(tag)
        .map_err(|_| OpenError::Malformed("the authentication tag is not 16 bytes".into()))?;
    cipher
        .decrypt_inout_detached(&nonce, parsed.aad, plain.as_mut_slice().into(), &tag)
        .map_err(|_| OpenError::Tampered)?;

    let mut reader = Reader::new(&plain);
    let private = SecretBytes::from_slice(reader.area("private area")?);
    let keys = SecretBytes::from_slice(reader.area("keys area")?);
    let password_area = SecretBytes::from_slice(reader.area("password area")?);
    reader.finish("encrypted areas")?;
    Ok(VscImage {
        uid: header.uid,
        profile_id: header.profile_id,
        profile_hash: header.profile_hash,
        public: header.public,
        private,
        keys,
        password: password_area,
    })
}

/// Checks the image's limits before sealing.
fn check_image(image: &VscImage) -> Result<(), SealError> {
    let id = &image.profile_id;
    if id.is_empty() {
        return Err(SealError::InvalidProfileId("it is empty"));
    }
    if id.len() > MAX_PROFILE_ID_LEN {
        return Err(SealError::InvalidProfileId("it is too long"));
    }
    if id.chars().any(char::is_control) {
        return Err(SealError::InvalidProfileId(
            "it contains a control character",
        ));
    }
    for (area, len) in [
        ("public", image.public.len()),
        ("private", image.private.len()),
        ("keys", image.keys.len()),
        ("password", image.password.len()),
    ] {
        if len > MAX_AREA_LEN {
            return Err(SealError::AreaTooLarge {
                area,
                len,
                max: MAX_AREA_LEN,
            });
        }
    }
    Ok(())
}

/// Appends a 4-byte big-endian length and the area (the caller checked the length).
fn push_area(out: &mut Vec<u8>, area: &[u8]) {
    out.extend_from_slice(&(area.len() as u32).to_be_bytes());
    out.extend_from_slice(area);
}

/// Derives the 32-byte AES key followed by the 16-byte password check value.
///
/// Step 1 makes a 32-byte pseudorandom key: HKDF-Extract(salt, canonical password) or
/// Argon2id(password, salt). Step 2 is HKDF-Expand(that key, [`KDF_INFO`], 48).
fn derive(
    kdf: Kdf,
    password: &str,
    salt: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN + CHECK_LEN]>, String> {
    let mut material = Zeroizing::new([0u8; KEY_LEN + CHECK_LEN]);
    let expander = match kdf {
        Kdf::Hkdf => Hkdf::<Sha256>::new(Some(salt), password.as_bytes()),
        Kdf::Argon2id { m_kib, t, p } => {
            let params = argon2::Params::new(m_kib, t, p, Some(32)).map_err(|e| e.to_string())?;
            let argon =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut prk = Zeroizing::new([0u8; 32]);
            argon
                .hash_password_into(password.as_bytes(), salt, prk.as_mut())
                .map_err(|e| e.to_string())?;
            Hkdf::<Sha256>::from_prk(prk.as_ref()).map_err(|e| e.to_string())?
        }
    };
    expander
        .expand(KDF_INFO, material.as_mut())
        .map_err(|e| e.to_string())?;
    Ok(material)
}

/// Checks magic, version, length and checksum; returns the bytes the checksum covers.
fn check_envelope(bytes: &[u8]) -> Result<&[u8], OpenError> {
    let magic_seen = bytes.len().min(MAGIC.len());
    if bytes[..magic_seen] != MAGIC[..magic_seen] {
        return Err(OpenError::NotAVsc);
    }
    if let Some(&version) = bytes.get(MAGIC.len()) {
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(OpenError::UnsupportedVersion(version));
        }
    }
    if bytes.len() < PREFIX_LEN {
        return Err(OpenError::Truncated {
            expected: PREFIX_LEN,
            actual: bytes.len(),
        });
    }
    let declared = be_u32(&bytes[MAGIC.len() + 1..]);
    let complement = be_u32(&bytes[MAGIC.len() + 1 + LEN_FIELD..]);
    if declared != !complement {
        return Err(OpenError::Corrupted("its length field is damaged"));
    }
    let declared = declared as usize;
    if declared > MAX_FILE_LEN {
        return Err(OpenError::Malformed(format!(
            "declared length {declared} exceeds the largest possible VSC ({MAX_FILE_LEN} bytes)"
        )));
    }
    if bytes.len() < declared {
        return Err(OpenError::Truncated {
            expected: declared,
            actual: bytes.len(),
        });
    }
    if bytes.len() > declared {
        return Err(OpenError::Corrupted("it has extra bytes after its end"));
    }
    let Some(covered_len) = declared
        .checked_sub(CHECKSUM_LEN)
        .filter(|&n| n >= PREFIX_LEN)
    else {
        return Err(OpenError::Malformed(format!(
            "declared length {declared} is too small for a VSC"
        )));
    };
    let (covered, checksum) = bytes.split_at(covered_len);
    if Sha256::digest(covered).as_slice() != checksum {
        return Err(OpenError::Corrupted(
            "its checksum does not match its content",
        ));
    }
    Ok(covered)
}

/// The parsed clear part plus the pieces needed to open the rest.
struct Parsed<'a> {
    header: Header,
    salt: &'a [u8],
    nonce: &'a [u8],
    check: &'a [u8],
    /// The associated data: from the magic to the end of the header.
    aad: &'a [u8],
    /// Ciphertext followed by the GCM tag.
    sealed: &'a [u8],
}

/// Parses the header of a checksum-verified body (everything before the checksum).
fn parse(body: &[u8]) -> Result<Parsed<'_>, OpenError> {
    let mut reader = Reader::new(body);
    reader.take(PREFIX_LEN, "prefix")?;
    let uid = uuid::Uuid::from_slice(reader.take(16, "UID")?)
        .map_err(|e| OpenError::Malformed(e.to_string()))?;
    let id_len = usize::from(reader.take(1, "profile id length")?[0]);
    if id_len == 0 || id_len > MAX_PROFILE_ID_LEN {
        return Err(OpenError::Malformed(format!(
            "profile id length {id_len}, expected 1..={MAX_PROFILE_ID_LEN}"
        )));
    }
    let profile_id = std::str::from_utf8(reader.take(id_len, "profile id")?)
        .map_err(|_| OpenError::Malformed("profile id is not UTF-8".into()))?
        .to_owned();
    if profile_id.chars().any(char::is_control) {
        return Err(OpenError::Malformed(
            "profile id has a control character".into(),
        ));
    }
    let mut profile_hash = [0u8; 32];
    profile_hash.copy_from_slice(reader.take(32, "profile hash")?);
    let kdf_id = reader.take(1, "KDF id")?[0];
    let params = reader.take(3 * LEN_FIELD, "KDF parameters")?;
    let (m_kib, t, p) = (be_u32(params), be_u32(&params[4..]), be_u32(&params[8..]));
    let kdf = match kdf_id {
        KDF_ID_HKDF if (m_kib, t, p) == (0, 0, 0) => Kdf::Hkdf,
        KDF_ID_HKDF => return Err(OpenError::Malformed("HKDF with nonzero parameters".into())),
        KDF_ID_ARGON2ID => Kdf::Argon2id { m_kib, t, p },
        other => return Err(OpenError::Malformed(format!("unknown KDF id {other}"))),
    };
    if let Some(problem) = kdf.problem() {
        return Err(OpenError::Malformed(problem));
    }
    let salt = reader.take(SALT_LEN, "salt")?;
    let nonce = reader.take(NONCE_LEN, "nonce")?;
    let check = reader.take(CHECK_LEN, "password check value")?;
    let public = reader.area("public area")?.to_vec();
    let header_end = reader.pos;
    let sealed = reader.rest();
    if sealed.len() < PLAINTEXT_OVERHEAD + TAG_LEN {
        return Err(OpenError::Malformed(format!(
            "encrypted part is {} bytes, at least {} expected",
            sealed.len(),
            PLAINTEXT_OVERHEAD + TAG_LEN
        )));
    }
    Ok(Parsed {
        header: Header {
            version: body[MAGIC.len()],
            uid,
            profile_id,
            profile_hash,
            kdf,
            public,
        },
        salt,
        nonce,
        check,
        aad: &body[..header_end],
        sealed,
    })
}

/// Reads a big-endian u32 from the first four bytes (the caller checked the length).
fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A bounds-checked cursor: running past the end is `Malformed`, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], OpenError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| OpenError::Malformed(format!("{what} runs past the end")))?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    /// A 4-byte length (at most [`MAX_AREA_LEN`]) and that many bytes.
    fn area(&mut self, what: &str) -> Result<&'a [u8], OpenError> {
        let len = be_u32(self.take(LEN_FIELD, what)?) as usize;
        if len > MAX_AREA_LEN {
            return Err(OpenError::Malformed(format!(
                "{what} length {len} exceeds the limit of {MAX_AREA_LEN} bytes"
            )));
        }
        self.take(len, what)
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        rest
    }

    fn finish(&self, what: &str) -> Result<(), OpenError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(OpenError::Malformed(format!(
                "{} unexpected bytes after the {what}",
                self.bytes.len() - self.pos
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn image() -> VscImage {
        VscImage {
            uid: uuid::Uuid::from_bytes([7; 16]),
            profile_id: "generic".into(),
            profile_hash: [9; 32],
            public: b"public".to_vec(),
            private: SecretBytes::from_slice(b"private"),
            keys: SecretBytes::from_slice(b"keys"),
            password: SecretBytes::from_slice(b"pw"),
        }
    }

    #[test]
    fn round_trip_with_a_generated_password() {
        let password = Password::generate(&mut OsRng);
        let sealed = seal(&image(), &password, &mut OsRng).unwrap();
        assert_eq!(open(&sealed, password.expose(), &[9; 32]).unwrap(), image());
        let header = read_header(&sealed).unwrap();
        assert_eq!(header.kdf, Kdf::Hkdf);
        assert_eq!(header.public, b"public");
        assert_eq!(header.version, FORMAT_VERSION);
    }

    #[test]
    fn two_seals_of_the_same_image_differ() {
        let password = Password::generate(&mut OsRng);
        let a = seal(&image(), &password, &mut OsRng).unwrap();
        let b = seal(&image(), &password, &mut OsRng).unwrap();
        assert_ne!(a, b, "fresh salt and nonce each time");
    }

    #[test]
    fn secrets_do_not_appear_in_clear() {
        let mut img = image();
        img.private = SecretBytes::from_slice(b"SECRET-PRIVATE-DATA");
        let password = Password::generate(&mut OsRng);
        let sealed = seal(&img, &password, &mut OsRng).unwrap();
        let found = sealed
            .windows(b"SECRET-PRIVATE-DATA".len())
            .any(|w| w == b"SECRET-PRIVATE-DATA");
        assert!(!found);
    }

    #[test]
    fn kdf_must_fit_the_password() {
        let generated = Password::generate(&mut OsRng);
        let chosen = Password::chosen("a chosen password".into()).unwrap();
        let argon = Kdf::Argon2id {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        assert_eq!(
            seal_with_kdf(&image(), &chosen, Kdf::Hkdf, [0; 16], [0; 12]),
            Err(SealError::KdfDoesNotFitPassword)
        );
        assert_eq!(
            seal_with_kdf(&image(), &generated, argon, [0; 16], [0; 12]),
            Err(SealError::KdfDoesNotFitPassword)
        );
        let absurd = Kdf::Argon2id {
            m_kib: u32::MAX,
            t: 1,
            p: 1,
        };
        assert!(matches!(
            seal_with_kdf(&image(), &chosen, absurd, [0; 16], [0; 12]),
            Err(SealError::InvalidKdfParameters(_))
        ));
    }

    #[test]
    fn limits_are_enforced_when_sealing() {
        let password = Password::generate(&mut OsRng);
        let mut img = image();
        img.keys = SecretBytes::new(vec![0; MAX_AREA_LEN + 1]);
        assert_eq!(
            seal(&img, &password, &mut OsRng),
            Err(SealError::AreaTooLarge {
                area: "keys",
                len: MAX_AREA_LEN + 1,
                max: MAX_AREA_LEN
            })
        );
        let mut img = image();
        img.profile_id = "p".repeat(MAX_PROFILE_ID_LEN + 1);
        assert!(matches!(
            seal(&img, &password, &mut OsRng),
            Err(SealError::InvalidProfileId(_))
        ));
        img.profile_id.clear();
        assert!(matches!(
            seal(&img, &password, &mut OsRng),
            Err(SealError::InvalidProfileId(_))
        ));
        let mut img = image();
        img.public = vec![1; MAX_AREA_LEN];
        let sealed = seal(&img, &password, &mut OsRng).unwrap();
        assert_eq!(open(&sealed, password.expose(), &[9; 32]).unwrap(), img);
    }

    #[test]
    fn errors_never_contain_the_password() {
        let password = Password::generate(&mut OsRng);
        let sealed = seal(&image(), &password, &mut OsRng).unwrap();
        let other = Password::generate(&mut OsRng);
        let err = open(&sealed, other.expose(), &[9; 32]).unwrap_err();
        assert_eq!(err, OpenError::WrongPassword);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&other.expose()[..9]), "{shown}");
    }
}
