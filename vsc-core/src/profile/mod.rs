//! Card profiles: the human-written TOML that describes a card's logical file structure and
//! the data objects each area holds.
//!
//! A profile names the card agent, the card's APDU limits, the DF (FID and AID), one EF per
//! area (`uid`, `public`, `private`, `keys`) with its size and access conditions, the holder
//! PIN and the reset code, the holder-data fields (BER-TLV tag, CSV column, kind, limits) and
//! the secret key objects. [`Profile::parse`] checks all of it and reports every problem with
//! its line number, so an issuer can fix a profile in one pass. The format is documented in
//! `docs/profiles.md`; the shipped profiles are in `profiles/` and available through
//! [`Profile::builtin`].
//!
//! What this module does not do: read files (callers pass the text), validate holder data
//! (see [`crate::holder`]) or encode data objects (see [`crate::vsc`]).

use std::fmt;
use std::sync::Arc;

#[cfg(feature = "profile-text")]
mod text;

pub use crate::field::{DataArea, DateRange, FieldKind, FieldSpec, TODAY};

/// File identifiers a profile may not use: the MF (`3F00`), `3FFF` (reserved for path
/// selection) and `FFFF` (RFU), as listed in `docs/card-os.md`.
pub const RESERVED_FIDS: [u16; 3] = [0x3F00, 0x3FFF, 0xFFFF];

/// Largest transparent EF the card OS accepts, in bytes (`docs/card-os.md`).
pub const MAX_EF_SIZE: usize = 32767;

/// Size of the `uid` area's content: the VSC's UUID as 16 raw bytes.
pub const UID_LEN: usize = 16;

/// The shipped profiles, by id, with their source text.
#[cfg(feature = "profile-text")]
const BUILTIN: [(&str, &str); 2] = [
    (
        "iso7816-generic",
        include_str!("../../../profiles/iso7816-generic.toml"),
    ),
    (
        "openpgp-card",
        include_str!("../../../profiles/openpgp-card.toml"),
    ),
];

/// The ids of [`BUILTIN`], in the same order.
#[cfg(feature = "profile-text")]
const BUILTIN_IDS: [&str; 2] = ["iso7816-generic", "openpgp-card"];

/// A validated card profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Short identifier, lowercase letters, digits and `-` (e.g. `iso7816-generic`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// One or two sentences for the issuer (may be empty).
    pub description: String,
    /// The card type, and what of the card's structure the profile chooses.
    pub layout: Layout,
    /// What the card and reader accept at the APDU level (for a card that states its own
    /// limits, such as an OpenPGP card, a ceiling).
    pub card: CardCapabilities,
    /// The holder PIN.
    pub pin: PinSpec,
    /// The reset code that sets a new PIN when the holder forgot it.
    pub reset: ResetSpec,
    /// Holder-data fields, in profile order (the order of the data objects in each area);
    /// shared, not copied, by the [`crate::holder::HolderData`] checked against them.
    pub fields: Vec<Arc<FieldSpec>>,
    /// Key objects, in profile order.
    pub keys_objects: Vec<KeySpec>,
    /// The fields that say who a card is for.
    pub who: WhoSpec,
    /// SHA-256 of the exact source text.
    source_hash: [u8; 32],
}

/// The card type a profile is written for; it decides the card agent (`layout` in the text).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// The generic ISO 7816-4/-9 file-system card (`"iso7816-fs"`, `docs/card-os.md`): the
    /// profile chooses its DF, EFs, access conditions and credential references.
    FileSystem(FileSystemLayout),
    /// An OpenPGP card 3.4 application (`"openpgp-card"`): its data objects, key slots and
    /// passwords are fixed by the specification.
    OpenPgp,
}

impl Layout {
    /// The name used in profiles.
    pub fn as_str(&self) -> &'static str {
        match self {
            Layout::FileSystem(_) => "iso7816-fs",
            Layout::OpenPgp => "openpgp-card",
        }
    }

    /// The card type in words, for messages (`an OpenPGP card`).
    pub fn card_type(&self) -> &'static str {
        match self {
            Layout::FileSystem(_) => "an ISO 7816-4 file-system card of the VSC card OS",
            Layout::OpenPgp => "an OpenPGP card",
        }
    }
}

/// The structure of a file-system card: one DF holding one transparent EF per area, and the
/// references and retry counters of its two credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileSystemLayout {
    /// The DF that holds the areas.
    pub df: DfSpec,
    /// The EF holding the VSC's UUID.
    pub uid: EfSpec,
    /// The EF holding the public data objects.
    pub public: EfSpec,
    /// The EF holding the private data objects.
    pub private: EfSpec,
    /// The EF holding the secret key objects.
    pub keys: EfSpec,
    /// The holder PIN's reference and retries.
    pub pin: CredentialRef,
    /// The reset code's reference and retries.
    pub reset: CredentialRef,
}

impl FileSystemLayout {
    /// The EF of a data area.
    pub fn ef(&self, area: DataArea) -> &EfSpec {
        match area {
            DataArea::Public => &self.public,
            DataArea::Private => &self.private,
        }
    }
}

/// What an OpenPGP card fixes and a profile relies on (OpenPGP card 3.4: §4.4.1 for the data
/// objects, §4.3 for the passwords).
pub mod openpgp {
    /// Largest value of the Name data object `5B` (§4.4.3.2: 39 bytes).
    pub const NAME_MAX: usize = 39;
    /// Largest value of Language preferences `5F2D` (4 languages of 2 letters).
    pub const LANGUAGE_MAX: usize = 8;
    /// Largest value of the Sex data object `5F35` (one ISO 5218 digit).
    pub const SEX_MAX: usize = 1;
    /// Largest value this product writes to Login data `5E`, the URL `5F50` and the private
    /// use data objects `0101`-`0104` (the specification lets a card set the limit in its
    /// extended capabilities; 254 bytes is what the cards this product knows accept).
    pub const SPECIAL_DO_MAX: usize = 254;
    /// The data objects a public field may be stored in as itself, with their limits; any
    /// other public field goes in private use DO `0101`, any private field in `0103`.
    pub const STANDARD_DOS: [(&[u8], usize, &str); 5] = [
        (&[0x5B], NAME_MAX, "Name"),
        (&[0x5E], SPECIAL_DO_MAX, "Login data"),
        (&[0x5F, 0x2D], LANGUAGE_MAX, "Language preferences"),
        (&[0x5F, 0x35], SEX_MAX, "Sex"),
        (&[0x5F, 0x50], SPECIAL_DO_MAX, "URL"),
    ];
    /// Shortest PW1 (the holder PIN) the specification allows (§4.3: 6 characters).
    pub const MIN_PIN_LENGTH: u8 = 6;
}

/// APDU-level limits of the card and reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardCapabilities {
    /// Largest command data field (Lc) to send, 1 to 65535 (255 without extended APDUs).
    pub max_command_data: usize,
    /// Largest response data (Le) to ask for, 1 to 65536 (256 without extended APDUs).
    pub max_response_data: usize,
    /// Whether extended Lc/Le encodings (ISO 7816-4 §5.2) may be used.
    pub extended_apdus: bool,
}

/// The DF holding the areas.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DfSpec {
    /// File identifier.
    pub fid: u16,
    /// DF name (AID), 5 to 16 bytes.
    pub aid: Vec<u8>,
}

/// A transparent EF holding one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EfSpec {
    /// File identifier.
    pub fid: u16,
    /// Size in bytes, 1 to [`MAX_EF_SIZE`].
    pub size: usize,
    /// Access condition for READ BINARY once the file is activated.
    pub read: Access,
    /// Access condition for UPDATE BINARY once the file is activated.
    pub update: Access,
}

/// An access condition, as the card's compact security attributes express it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Access {
    /// Always allowed (`"always"`, security condition byte `00`).
    Always,
    /// Allowed once the holder PIN is verified (`"pin"`, security condition byte `10`).
    Pin,
    /// Never allowed (`"never"`, security condition byte `FF`).
    Never,
}

impl Access {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Always => "always",
            Access::Pin => "pin",
            Access::Never => "never",
        }
    }
}

/// The holder PIN the branch generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PinSpec {
    /// Number of digits of the generated PIN, 4 to 12 (at least 6 on an OpenPGP card).
    pub length: u8,
}

/// The reset code the VSC keeps, to set a new PIN later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResetSpec {
    /// Bytes of the generated reset code, 8 to 32.
    pub length: u8,
}

/// A credential's reference (P2 of VERIFY) and retry counter on a file-system card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CredentialRef {
    /// Reference (P2), e.g. `0x81`.
    pub reference: u8,
    /// Wrong tries before the card blocks it, 1 to 15.
    pub retries: u8,
}

/// The public fields that say who a card is for, by field name: the page's "This card is
/// for", the CLI's messages, batch file names, the problems of a CSV row and the PIN mailer
/// all name the holder through these, never through field names of their own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WhoSpec {
    /// The holder's name.
    pub name: String,
    /// The issuer's identifier for the holder; unique within a batch.
    pub id: Option<String>,
    /// The issuing organization's name, for the PIN mailer.
    pub issuer: Option<String>,
    /// The date the VSC was issued (a date field).
    pub issued_on: Option<String>,
}

/// One key object in the keys area, generated when the VSC is built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySpec {
    /// Identifier (`card_key`, `signature`).
    pub name: String,
    /// BER-TLV tag of the key object in the keys area (on an OpenPGP card, fixed by its slot:
    /// [`KeySlot::tag`]).
    pub tag: Vec<u8>,
    /// Key type.
    pub kind: KeyKind,
    /// On an OpenPGP card, the key's slot.
    pub slot: Option<KeySlot>,
}

impl KeySpec {
    /// Encoded size of the key object (tag, length, key bytes).
    pub fn encoded_len(&self) -> usize {
        crate::tlv::encoded_len(&self.tag, self.kind.object_len())
    }
}

/// Key types a profile can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeyKind {
    /// A random 256-bit AES key (`"aes256"`).
    Aes256,
    /// An Ed25519 signing key (`"ed25519"`, RFC 8032).
    Ed25519,
    /// An X25519 key agreement key (`"x25519"`, RFC 7748).
    X25519,
    /// A NIST P-256 key (`"p256"`, FIPS 186-5), for ECDSA or ECDH.
    P256,
}

impl KeyKind {
    /// Every kind, as profiles name them.
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Aes256,
        KeyKind::Ed25519,
        KeyKind::X25519,
        KeyKind::P256,
    ];

    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Aes256 => "aes256",
            KeyKind::Ed25519 => "ed25519",
            KeyKind::X25519 => "x25519",
            KeyKind::P256 => "p256",
        }
    }

    /// Bytes of the public key (`0` for a symmetric key): 32 for the 25519 curves, 65 for
    /// P-256 (uncompressed point, SEC 1 §2.3.3).
    pub fn public_len(self) -> usize {
        match self {
            KeyKind::Aes256 => 0,
            KeyKind::Ed25519 | KeyKind::X25519 => 32,
            KeyKind::P256 => 65,
        }
    }

    /// Bytes of the key object's value in the keys area: the 32 key bytes of an AES key; for
    /// a key pair, its creation time (4 bytes, seconds since 1970, big-endian), the 32-byte
    /// private key, then the public key.
    pub fn object_len(self) -> usize {
        match self {
            KeyKind::Aes256 => 32,
            asymmetric => 4 + 32 + asymmetric.public_len(),
        }
    }
}

/// The three key slots of an OpenPGP card (OpenPGP card 3.4 §4.4.3.7 and §7.2.14).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KeySlot {
    /// The signature key (`"signature"`; control reference template `B6`).
    Signature,
    /// The decryption key (`"decryption"`; template `B8`).
    Decryption,
    /// The authentication key (`"authentication"`; template `A4`).
    Authentication,
}

impl KeySlot {
    /// Every slot, in the card's order.
    pub const ALL: [KeySlot; 3] = [
        KeySlot::Signature,
        KeySlot::Decryption,
        KeySlot::Authentication,
    ];

    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySlot::Signature => "signature",
            KeySlot::Decryption => "decryption",
            KeySlot::Authentication => "authentication",
        }
    }

    /// The tag of the slot's key object in the VSC's keys area (private class, primitive).
    pub fn tag(self) -> [u8; 1] {
        match self {
            KeySlot::Signature => [0xC1],
            KeySlot::Decryption => [0xC2],
            KeySlot::Authentication => [0xC3],
        }
    }

    /// The key kinds the slot takes.
    pub fn kinds(self) -> &'static [KeyKind] {
        match self {
            KeySlot::Signature | KeySlot::Authentication => &[KeyKind::Ed25519, KeyKind::P256],
            KeySlot::Decryption => &[KeyKind::X25519, KeyKind::P256],
        }
    }
}

/// A profile that cannot be used, with every problem found. The profile's author must fix
/// the text; nothing was built from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the card profile has {} problem(s); fix the profile text:\n{}", .problems.len(), ProblemList(.problems))]
pub struct ProfileError {
    /// The problems, in the order of the text where possible.
    pub problems: Vec<ProfileProblem>,
}

/// One problem in a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ProfileProblem {
    /// 1-based line of the text the problem is at.
    pub line: usize,
    /// What is wrong and, where useful, what to write instead.
    pub message: String,
}

struct ProblemList<'a>(&'a [ProfileProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl Profile {
    /// SHA-256 of the exact source text the profile was parsed from.
    pub fn hash(&self) -> [u8; 32] {
        self.source_hash
    }

    /// A shipped profile by id, or `None` for an unknown id.
    #[cfg(feature = "profile-text")]
    pub fn builtin(id: &str) -> Option<Profile> {
        BUILTIN
            .iter()
            .find(|(builtin_id, _)| *builtin_id == id)
            .and_then(|(_, text)| Profile::parse(text).ok())
    }

    /// The ids of the shipped profiles.
    #[cfg(feature = "profile-text")]
    pub fn builtin_ids() -> &'static [&'static str] {
        &BUILTIN_IDS
    }

    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().map(Arc::as_ref).find(|f| f.name == name)
    }

    /// The fields of one area, in profile order.
    pub fn fields_in(&self, area: DataArea) -> impl Iterator<Item = &FieldSpec> + Clone {
        self.fields
            .iter()
            .map(Arc::as_ref)
            .filter(move |f| f.area == area)
    }

    /// The file-system layout, for a profile of that card type.
    pub fn file_system(&self) -> Option<&FileSystemLayout> {
        match &self.layout {
            Layout::FileSystem(fs) => Some(fs),
            Layout::OpenPgp => None,
        }
    }

    /// Bytes an area's data objects take when every field is at `max_len` (the sum of their
    /// TLV sizes); validation guarantees the card has room for it.
    pub fn worst_case_area_len(&self, area: DataArea) -> usize {
        self.fields_in(area).map(FieldSpec::max_encoded_len).sum()
    }

    /// The most bytes the card holds for an area's data objects: its EF on a file-system
    /// card; on an OpenPGP card, the private use data object its fields share (`0103` for
    /// the private area; for the public one, `0101` plus the standard data objects).
    pub fn area_capacity(&self, area: DataArea) -> usize {
        match (&self.layout, area) {
            (Layout::FileSystem(fs), area) => fs.ef(area).size,
            (Layout::OpenPgp, DataArea::Private) => openpgp::SPECIAL_DO_MAX,
            (Layout::OpenPgp, DataArea::Public) => {
                let standard: usize = openpgp::STANDARD_DOS
                    .iter()
                    .map(|(tag, max, _)| crate::tlv::encoded_len(tag, *max))
                    .sum();
                standard + openpgp::SPECIAL_DO_MAX
            }
        }
    }

    /// The most bytes the card holds for the key objects (a file-system card's keys EF; an
    /// OpenPGP card holds its keys in its slots, not as one object).
    pub fn keys_capacity(&self) -> Option<usize> {
        self.file_system().map(|fs| fs.keys.size)
    }

    /// Bytes the key objects take (the sum of their TLV sizes).
    pub fn keys_len(&self) -> usize {
        self.keys_objects.iter().map(KeySpec::encoded_len).sum()
    }
}

/// Why `tag` is not a valid BER-TLV tag under ISO 7816-4 §6.3 (at most three bytes; `00` and
/// `FF` invalid as first byte; subsequent bytes `1F`-`7F` for a two-byte tag, `81`-`FF` then
/// `00`-`7F` for a three-byte tag), or `None` if it is valid.
pub fn tag_problem(tag: &[u8]) -> Option<String> {
    let Some(&first) = tag.first() else {
        return Some("is empty".into());
    };
    if first == 0x00 || first == 0xFF {
        return Some(format!(
            "starts with {first:02X}, which is not a valid first tag byte (ISO 7816-4 uses 00 and FF as padding)"
        ));
    }
    let multi_byte = first & 0x1F == 0x1F;
    match (multi_byte, tag.len()) {
        (false, 1) => None,
        (false, n) => Some(format!(
            "has {n} bytes, but a first byte whose low five bits are not 1F makes a one-byte tag"
        )),
        (true, 1) => Some(format!(
            "is incomplete: a first byte of {first:02X} announces a tag of two or three bytes"
        )),
        (true, 2) if (0x1F..=0x7F).contains(&tag[1]) => None,
        (true, 2) => Some(format!(
            "has a second byte {:02X}; in a two-byte tag it must be 1F to 7F",
            tag[1]
        )),
        (true, 3) if tag[1] >= 0x81 && tag[2] <= 0x7F => None,
        (true, 3) => Some(format!(
            "has bytes {:02X} {:02X} after the first; in a three-byte tag they must be 81-FF then 00-7F",
            tag[1], tag[2]
        )),
        (true, n) => Some(format!(
            "has {n} bytes; ISO 7816-4 tags have at most three"
        )),
    }
}

/// Whether a (valid) tag is constructed (bit 6 of the first byte).
#[cfg(feature = "profile-text")]
fn is_constructed(tag: &[u8]) -> bool {
    tag.first().is_some_and(|b| b & 0x20 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ber_tags_follow_iso7816_4() {
        for valid in [
            &[0x5F, 0x20][..],
            &[0xC1],
            &[0x80],
            &[0x5F, 0x7F],
            &[0x9F, 0x81, 0x00],
        ] {
            assert_eq!(tag_problem(valid), None, "{valid:02X?}");
        }
        for invalid in [
            &[][..],
            &[0x00],
            &[0xFF],
            &[0x5F],
            &[0xDF, 0x01],
            &[0x5F, 0x80],
            &[0xC1, 0x01],
            &[0x9F, 0x81, 0x81],
            &[0x9F, 0x81, 0x81, 0x01],
        ] {
            assert!(tag_problem(invalid).is_some(), "{invalid:02X?}");
        }
        assert!(is_constructed(&[0x7F, 0x20]));
        assert!(!is_constructed(&[0x5F, 0x20]));
    }

    #[test]
    fn builtin_profiles_all_parse() {
        for id in Profile::builtin_ids() {
            let (_, text) = BUILTIN.iter().find(|(b, _)| b == id).expect("listed");
            let profile = Profile::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(profile.id, *id);
        }
        assert!(Profile::builtin("no-such-profile").is_none());
    }
}
