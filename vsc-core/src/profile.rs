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

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

/// File identifiers a profile may not use: the MF (`3F00`), `3FFF` (reserved for path
/// selection) and `FFFF` (RFU), as listed in `docs/card-os.md`.
pub const RESERVED_FIDS: [u16; 3] = [0x3F00, 0x3FFF, 0xFFFF];

/// Largest transparent EF the card OS accepts, in bytes (`docs/card-os.md`).
pub const MAX_EF_SIZE: usize = 32767;

/// Size of the `uid` area's content: the VSC's UUID as 16 raw bytes.
pub const UID_LEN: usize = 16;

/// The shipped profiles, by id, with their source text.
const BUILTIN: [(&str, &str); 1] = [(
    "iso7816-generic",
    include_str!("../../profiles/iso7816-generic.toml"),
)];

/// The ids of [`BUILTIN`], in the same order.
const BUILTIN_IDS: [&str; 1] = ["iso7816-generic"];

/// A validated card profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Short identifier, lowercase letters, digits and `-` (e.g. `iso7816-generic`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// One or two sentences for the issuer (may be empty).
    pub description: String,
    /// The card agent that personalizes this card.
    pub agent: AgentKind,
    /// What the card and reader accept at the APDU level.
    pub card: CardCapabilities,
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
    /// The holder PIN.
    pub pin: PinSpec,
    /// The reset code that unblocks the PIN.
    pub reset: CredentialSpec,
    /// Holder-data fields, in profile order (the order of the data objects in each area).
    pub fields: Vec<FieldSpec>,
    /// Secret key objects, in profile order.
    pub keys_objects: Vec<KeySpec>,
    /// The fields that say who a card is for.
    pub who: WhoSpec,
    /// SHA-256 of the exact source text.
    source_hash: [u8; 32],
}

/// The card agent a profile is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    /// The generic ISO 7816-4/-9 file-system card (`"iso7816-fs"`, `docs/card-os.md`).
    Iso7816Fs,
}

impl AgentKind {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Iso7816Fs => "iso7816-fs",
        }
    }
}

/// APDU-level limits of the card and reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCapabilities {
    /// Largest command data field (Lc) to send, 1 to 65535 (255 without extended APDUs).
    pub max_command_data: usize,
    /// Largest response data (Le) to ask for, 1 to 65536 (256 without extended APDUs).
    pub max_response_data: usize,
    /// Whether extended Lc/Le encodings (ISO 7816-4 §5.2) may be used.
    pub extended_apdus: bool,
}

/// The DF holding the areas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfSpec {
    /// File identifier.
    pub fid: u16,
    /// DF name (AID), 5 to 16 bytes.
    pub aid: Vec<u8>,
}

/// A transparent EF holding one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// The holder PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinSpec {
    /// Reference (P2 of VERIFY), e.g. `0x81`.
    pub reference: u8,
    /// Number of digits of the generated PIN, 4 to 12.
    pub length: u8,
    /// Wrong tries before the card blocks the PIN, 1 to 15.
    pub retries: u8,
}

/// The reset code (PUK-like credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialSpec {
    /// Reference (P2), e.g. `0x82`.
    pub reference: u8,
    /// Bytes of the generated reset code, 8 to 32.
    pub length: u8,
    /// Wrong tries before the card blocks it, 1 to 15.
    pub retries: u8,
}

/// One holder-data field: a primitive BER-TLV data object in the public or private area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Identifier used by code (`holder_name`).
    pub name: String,
    /// Label shown to people (`Cardholder name`).
    pub label: String,
    /// The area that holds it.
    pub area: DataArea,
    /// BER-TLV tag bytes.
    pub tag: Vec<u8>,
    /// The CSV column (and form input) that feeds it.
    pub column: String,
    /// What values look like.
    pub kind: FieldKind,
    /// Whether a value must be given.
    pub required: bool,
    /// Value used when an optional field is left empty.
    pub default: Option<String>,
    /// Maximum length of a value, in characters.
    pub max_len: usize,
    /// For a date field, the dates it accepts relative to today (`None`: any real date).
    pub range: Option<DateRange>,
}

impl FieldSpec {
    /// Largest value in bytes (UTF-8): `max_len` times the bytes one character can take.
    pub fn max_value_bytes(&self) -> usize {
        self.max_len * self.kind.max_bytes_per_char()
    }

    /// Largest encoded data object (tag, length and value) in bytes.
    pub fn max_encoded_len(&self) -> usize {
        tlv_len(self.tag.len(), self.max_value_bytes())
    }
}

/// The areas that hold holder-data fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataArea {
    /// Plain data, readable without a PIN.
    Public,
    /// Personal data: encrypted in the VSC, PIN-protected on the card.
    Private,
}

impl DataArea {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            DataArea::Public => "public",
            DataArea::Private => "private",
        }
    }
}

/// What a field's values look like; [`crate::holder`] enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// Any UTF-8 text without control characters (line breaks allowed).
    Text,
    /// A real calendar date written `YYYY-MM-DD`, stored as that 10-character text.
    Date,
    /// A plausible email address.
    Email,
    /// ASCII digits only.
    Digits,
}

impl FieldKind {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Date => "date",
            FieldKind::Email => "email",
            FieldKind::Digits => "digits",
        }
    }

    /// Most UTF-8 bytes one character of this kind can take.
    pub fn max_bytes_per_char(self) -> usize {
        match self {
            FieldKind::Text | FieldKind::Email => 4,
            FieldKind::Date | FieldKind::Digits => 1,
        }
    }
}

pub use crate::date::DATE_LEN;

/// The default of a date field that means "the day the VSC is built".
pub const TODAY: &str = "today";

/// The dates a date field accepts, relative to the day the holder data is checked; each range
/// also has a sane outer bound ([`crate::holder`] enforces them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateRange {
    /// After today, and at most [`crate::holder::MAX_YEARS_AHEAD`] years ahead (an expiry
    /// date; `"after-today"`).
    AfterToday,
    /// Before today, and at most [`crate::holder::MAX_YEARS_BACK`] years back (a date of
    /// birth; `"before-today"`).
    BeforeToday,
    /// Today or before, and at most [`crate::holder::MAX_YEARS_BACK`] years back (an issue
    /// date; `"up-to-today"`).
    UpToToday,
}

impl DateRange {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            DateRange::AfterToday => "after-today",
            DateRange::BeforeToday => "before-today",
            DateRange::UpToToday => "up-to-today",
        }
    }
}

/// The public fields that say who a card is for, by field name: the page's "This card is
/// for", the CLI's messages, batch file names, the problems of a CSV row and the PIN mailer
/// all name the holder through these, never through field names of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// One secret key object in the keys area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Identifier (`card_key`).
    pub name: String,
    /// BER-TLV tag bytes.
    pub tag: Vec<u8>,
    /// Key type.
    pub kind: KeyKind,
}

impl KeySpec {
    /// Encoded size of the key object (tag, length, key bytes).
    pub fn encoded_len(&self) -> usize {
        tlv_len(self.tag.len(), self.kind.key_len())
    }
}

/// Key types a profile can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A random 256-bit AES key (`"aes256"`).
    Aes256,
}

impl KeyKind {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            KeyKind::Aes256 => 32,
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
    /// Parses and validates a profile. On failure every problem found is reported, each with
    /// its line; syntax errors and unknown or mistyped keys are reported before the checks
    /// that need the whole profile.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_of(text, span.start));
            ProfileError {
                problems: vec![ProfileProblem {
                    line,
                    message: syntax_message(e.message()),
                }],
            }
        })?;
        let mut checker = Checker {
            breaks: text.match_indices('\n').map(|(at, _)| at).collect(),
            problems: Vec::new(),
        };
        let profile = checker.profile(&raw, Sha256::digest(text.as_bytes()).into());
        let mut problems = checker.problems;
        match profile {
            Some(profile) if problems.is_empty() => Ok(profile),
            _ => {
                problems.sort_by_key(|p| p.line);
                Err(ProfileError { problems })
            }
        }
    }

    /// SHA-256 of the exact source text the profile was parsed from.
    pub fn hash(&self) -> [u8; 32] {
        self.source_hash
    }

    /// A shipped profile by id, or `None` for an unknown id.
    pub fn builtin(id: &str) -> Option<Profile> {
        BUILTIN
            .iter()
            .find(|(builtin_id, _)| *builtin_id == id)
            .and_then(|(_, text)| Profile::parse(text).ok())
    }

    /// The ids of the shipped profiles.
    pub fn builtin_ids() -> &'static [&'static str] {
        &BUILTIN_IDS
    }

    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields of one area, in profile order.
    pub fn fields_in(&self, area: DataArea) -> impl Iterator<Item = &FieldSpec> + Clone {
        self.fields.iter().filter(move |f| f.area == area)
    }

    /// The EF of a data area.
    pub fn ef(&self, area: DataArea) -> &EfSpec {
        match area {
            DataArea::Public => &self.public,
            DataArea::Private => &self.private,
        }
    }

    /// Bytes an area's data objects take when every field is at `max_len` (the sum of their
    /// TLV sizes); validation guarantees it fits the area's EF.
    pub fn worst_case_area_len(&self, area: DataArea) -> usize {
        self.fields_in(area).map(FieldSpec::max_encoded_len).sum()
    }

    /// Bytes the key objects take (the sum of their TLV sizes).
    pub fn keys_len(&self) -> usize {
        self.keys_objects.iter().map(KeySpec::encoded_len).sum()
    }
}

/// Size of a BER-TLV data object with a tag of `tag_len` bytes and `value_len` value bytes
/// (definite length: one byte below 128, `81 xx` below 256, `82 xx xx` below 65536;
/// ISO 7816-4 §6.3).
fn tlv_len(tag_len: usize, value_len: usize) -> usize {
    let len_len = match value_len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        _ => 4,
    };
    tag_len + len_len + value_len
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
fn is_constructed(tag: &[u8]) -> bool {
    tag.first().is_some_and(|b| b & 0x20 != 0)
}

/// One line of text for a TOML or structure error, with a hint where the parser's own words
/// are obscure.
fn syntax_message(message: &str) -> String {
    let message = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    if message.contains("invalid type: map, expected a string") {
        format!("{message} (write this value in quotes; an unquoted date is not a string)")
    } else if message.starts_with("invalid type") {
        format!("{message} (text goes in quotes, numbers and true/false do not)")
    } else {
        message
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

// ---------------------------------------------------------------------------------------
// The text as written. Scalars keep their spans so later checks can name the line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    id: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    description: Option<Spanned<String>>,
    agent: Spanned<String>,
    card: RawCard,
    df: RawDf,
    areas: RawAreas,
    pin: RawCredential,
    reset: RawCredential,
    #[serde(default)]
    fields: Vec<RawField>,
    #[serde(default)]
    keys: Vec<RawKey>,
    who: RawWho,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWho {
    name: Spanned<String>,
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    issuer: Option<Spanned<String>>,
    #[serde(default)]
    issued_on: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCard {
    max_command_data: Spanned<i64>,
    max_response_data: Spanned<i64>,
    extended_apdus: Spanned<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDf {
    fid: Spanned<String>,
    aid: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAreas {
    uid: RawEf,
    public: RawEf,
    private: RawEf,
    keys: RawEf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEf {
    fid: Spanned<String>,
    size: Spanned<i64>,
    read: Spanned<String>,
    update: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    reference: Spanned<String>,
    length: Spanned<i64>,
    retries: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    label: Spanned<String>,
    area: Spanned<String>,
    tag: Spanned<String>,
    column: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    required: Option<Spanned<bool>>,
    #[serde(default)]
    default: Option<Spanned<String>>,
    #[serde(default)]
    max_len: Option<Spanned<i64>>,
    #[serde(default)]
    range: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    tag: Spanned<String>,
    kind: Spanned<String>,
}

// ---------------------------------------------------------------------------------------
// Semantic checks. Each check records its problems and returns `None` on failure, so one
// pass reports everything.

struct Checker {
    /// Where the text's line breaks are, so that naming a span's line takes a binary search,
    /// not a scan of the text (a scan per field made long profiles take quadratic time).
    breaks: Vec<usize>,
    problems: Vec<ProfileProblem>,
}

impl Checker {
    /// The line of byte `offset`, as [`line_of`] counts it.
    fn line(&self, offset: usize) -> usize {
        self.breaks.partition_point(|&at| at < offset) + 1
    }

    fn problem(&mut self, span: Range<usize>, message: String) {
        let line = self.line(span.start);
        self.problems.push(ProfileProblem { line, message });
    }

    fn profile(&mut self, raw: &RawProfile, source_hash: [u8; 32]) -> Option<Profile> {
        let id = self.id(&raw.id);
        let name = self.non_empty("name", &raw.name);
        let agent = self.agent(&raw.agent);
        let card = self.card(&raw.card);
        let df = self.df(&raw.df);
        let uid = self.ef("uid", &raw.areas.uid);
        let public = self.ef("public", &raw.areas.public);
        let private = self.ef("private", &raw.areas.private);
        let keys = self.ef("keys", &raw.areas.keys);
        self.unique_fids(raw);
        self.area_rules(raw, uid.as_ref(), private.as_ref(), keys.as_ref());
        let pin = self.credential("pin", &raw.pin, 4..=12);
        let reset = self.credential("reset", &raw.reset, 8..=32);
        if pin.is_some()
            && reset.is_some()
            && raw.pin.reference.get_ref() == raw.reset.reference.get_ref()
        {
            self.problem(
                raw.reset.reference.span(),
                format!(
                    "reset.reference {} is the same as pin.reference; the two credentials need different references",
                    raw.reset.reference.get_ref().trim()
                ),
            );
        }
        let fields = self.fields(&raw.fields);
        let keys_objects = self.keys(&raw.keys);
        let who = fields
            .as_deref()
            .and_then(|fields| self.who(&raw.who, fields));

        let profile = Profile {
            id: id?,
            name: name?,
            description: raw
                .description
                .as_ref()
                .map(|d| d.get_ref().trim().to_owned())
                .unwrap_or_default(),
            agent: agent?,
            card: card?,
            df: df?,
            uid: uid?,
            public: public?,
            private: private?,
            keys: keys?,
            pin: pin.map(|(reference, length, retries)| PinSpec {
                reference,
                length,
                retries,
            })?,
            reset: reset.map(|(reference, length, retries)| CredentialSpec {
                reference,
                length,
                retries,
            })?,
            fields: fields?,
            keys_objects: keys_objects?,
            who: who?,
            source_hash,
        };
        self.capacity(&profile, &raw.areas);
        Some(profile)
    }

    fn id(&mut self, v: &Spanned<String>) -> Option<String> {
        let id = v.get_ref().as_str();
        let valid = !id.is_empty()
            && id.len() <= 64
            && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Some(id.to_owned())
        } else {
            self.problem(
                v.span(),
                format!("id {id:?} is not valid: use 1 to 64 lowercase letters, digits and '-', starting with a letter or digit"),
            );
            None
        }
    }

    fn non_empty(&mut self, path: &str, v: &Spanned<String>) -> Option<String> {
        let text = v.get_ref().trim();
        if text.is_empty() {
            self.problem(v.span(), format!("{path} is empty"));
            return None;
        }
        if text.chars().any(char::is_control) {
            self.problem(v.span(), format!("{path} contains a control character"));
            return None;
        }
        Some(text.to_owned())
    }

    fn agent(&mut self, v: &Spanned<String>) -> Option<AgentKind> {
        match v.get_ref().as_str() {
            "iso7816-fs" => Some(AgentKind::Iso7816Fs),
            other => {
                self.problem(
                    v.span(),
                    format!("agent {other:?} is unknown; the known card agent is \"iso7816-fs\""),
                );
                None
            }
        }
    }

    fn int(
        &mut self,
        path: &str,
        v: &Spanned<i64>,
        range: std::ops::RangeInclusive<i64>,
        hint: &str,
    ) -> Option<i64> {
        let value = *v.get_ref();
        let message = if value > *range.end() {
            format!("{path} {value} exceeds {}", range.end())
        } else if value < *range.start() {
            format!("{path} {value} is below the minimum {}", range.start())
        } else {
            return Some(value);
        };
        let message = if hint.is_empty() {
            message
        } else {
            format!("{message} ({hint})")
        };
        self.problem(v.span(), message);
        None
    }

    fn card(&mut self, raw: &RawCard) -> Option<CardCapabilities> {
        let extended = *raw.extended_apdus.get_ref();
        let command = self.int(
            "card.max_command_data",
            &raw.max_command_data,
            1..=65535,
            "",
        );
        let response = self.int(
            "card.max_response_data",
            &raw.max_response_data,
            1..=65536,
            "",
        );
        if !extended {
            if let Some(n) = command.filter(|&n| n > 255) {
                self.problem(
                    raw.max_command_data.span(),
                    format!("card.max_command_data {n} exceeds 255, the most a short APDU carries; set card.extended_apdus = true if card and reader accept extended APDUs"),
                );
                return None;
            }
            if let Some(n) = response.filter(|&n| n > 256) {
                self.problem(
                    raw.max_response_data.span(),
                    format!("card.max_response_data {n} exceeds 256, the most a short APDU returns; set card.extended_apdus = true if card and reader accept extended APDUs"),
                );
                return None;
            }
        }
        Some(CardCapabilities {
            max_command_data: usize::try_from(command?).ok()?,
            max_response_data: usize::try_from(response?).ok()?,
            extended_apdus: extended,
        })
    }

    fn hex(&mut self, path: &str, v: &Spanned<String>) -> Option<Vec<u8>> {
        let digits: String = v.get_ref().chars().filter(|c| !c.is_whitespace()).collect();
        match hex::decode(&digits) {
            Ok(bytes) if !bytes.is_empty() => Some(bytes),
            _ => {
                self.problem(
                    v.span(),
                    format!(
                        "{path} {:?} is not hex bytes: write pairs of hex digits such as \"5F20\" or \"F0 56 53\"",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn fid(&mut self, path: &str, v: &Spanned<String>) -> Option<u16> {
        let bytes = self.hex(path, v)?;
        let [hi, lo] = bytes[..] else {
            self.problem(
                v.span(),
                format!(
                    "{path} {:?} is not a file identifier: write exactly 2 bytes (4 hex digits) such as \"5001\"",
                    v.get_ref()
                ),
            );
            return None;
        };
        let fid = u16::from_be_bytes([hi, lo]);
        if RESERVED_FIDS.contains(&fid) {
            self.problem(
                v.span(),
                format!("{path} {fid:04X} is reserved (3F00 is the MF; 3FFF and FFFF are reserved); choose another FID"),
            );
            return None;
        }
        Some(fid)
    }

    fn df(&mut self, raw: &RawDf) -> Option<DfSpec> {
        let fid = self.fid("df.fid", &raw.fid);
        let aid = self.hex("df.aid", &raw.aid);
        let aid = match aid {
            Some(aid) if !(5..=16).contains(&aid.len()) => {
                self.problem(
                    raw.aid.span(),
                    format!(
                        "df.aid has {} bytes; an AID has 5 to 16 bytes (ISO/IEC 7816-5)",
                        aid.len()
                    ),
                );
                None
            }
            other => other,
        };
        Some(DfSpec {
            fid: fid?,
            aid: aid?,
        })
    }

    fn access(&mut self, path: &str, v: &Spanned<String>) -> Option<Access> {
        match v.get_ref().as_str() {
            "always" => Some(Access::Always),
            "pin" => Some(Access::Pin),
            "never" => Some(Access::Never),
            other => {
                self.problem(
                    v.span(),
                    format!("{path} {other:?} is not an access condition; use \"always\", \"pin\" or \"never\""),
                );
                None
            }
        }
    }

    fn ef(&mut self, area: &str, raw: &RawEf) -> Option<EfSpec> {
        let prefix = format!("areas.{area}");
        let fid = self.fid(&format!("{prefix}.fid"), &raw.fid);
        let size = self.int(
            &format!("{prefix}.size"),
            &raw.size,
            1..=MAX_EF_SIZE as i64,
            "",
        );
        let read = self.access(&format!("{prefix}.read"), &raw.read);
        let update = self.access(&format!("{prefix}.update"), &raw.update);
        Some(EfSpec {
            fid: fid?,
            size: usize::try_from(size?).ok()?,
            read: read?,
            update: update?,
        })
    }

    /// FIDs must be unique within the DF, and differ from the DF's own FID.
    fn unique_fids(&mut self, raw: &RawProfile) {
        let all = [
            ("df.fid", &raw.df.fid),
            ("areas.uid.fid", &raw.areas.uid.fid),
            ("areas.public.fid", &raw.areas.public.fid),
            ("areas.private.fid", &raw.areas.private.fid),
            ("areas.keys.fid", &raw.areas.keys.fid),
        ];
        let mut seen: Vec<(u16, &str, usize)> = Vec::new();
        for (path, v) in all {
            let Some(fid) = parse_fid_quiet(v.get_ref()) else {
                continue;
            };
            if let Some((_, first, line)) = seen.iter().find(|(f, _, _)| *f == fid) {
                let message =
                    format!("{path} {fid:04X} is already used by {first} (line {line}); FIDs must be unique");
                self.problem(v.span(), message);
            } else {
                seen.push((fid, path, self.line(v.span().start)));
            }
        }
    }

    /// Rules tying areas to their purpose: the UID fits, private data needs the PIN, and
    /// secret keys never leave the card.
    fn area_rules(
        &mut self,
        raw: &RawProfile,
        uid: Option<&EfSpec>,
        private: Option<&EfSpec>,
        keys: Option<&EfSpec>,
    ) {
        if let Some(uid) = uid.filter(|ef| ef.size < UID_LEN) {
            self.problem(
                raw.areas.uid.size.span(),
                format!(
                    "areas.uid.size {} is too small: the UID is a {UID_LEN}-byte UUID",
                    uid.size
                ),
            );
        }
        if private.is_some_and(|ef| ef.read == Access::Always) {
            self.problem(
                raw.areas.private.read.span(),
                "areas.private.read \"always\" would let anyone read personal data; use \"pin\" or \"never\"".into(),
            );
        }
        if keys.is_some_and(|ef| ef.read != Access::Never) {
            self.problem(
                raw.areas.keys.read.span(),
                format!(
                    "areas.keys.read {:?} would let secret keys leave the card; use \"never\"",
                    raw.areas.keys.read.get_ref()
                ),
            );
        }
    }

    /// A credential's reference, length and retries. The reference is a P2 reference-data
    /// qualifier (ISO 7816-4 §11.5.6, table "P2 of VERIFY"): `000xxxxx` global or
    /// `100xxxxx` specific, with a non-zero number.
    fn credential(
        &mut self,
        path: &str,
        raw: &RawCredential,
        lengths: std::ops::RangeInclusive<i64>,
    ) -> Option<(u8, u8, u8)> {
        let reference = self
            .hex(&format!("{path}.reference"), &raw.reference)
            .and_then(|bytes| match bytes[..] {
                [b] if b & 0x60 == 0 && b & 0x1F != 0 => Some(b),
                _ => {
                    self.problem(
                        raw.reference.span(),
                        format!(
                            "{path}.reference {:?} is not a credential reference: write one byte 01-1F (global) or 81-9F (DF-specific), such as \"81\"",
                            raw.reference.get_ref()
                        ),
                    );
                    None
                }
            });
        let hint = if path == "pin" {
            "digits of the PIN"
        } else {
            "bytes of the reset code"
        };
        let length = self.int(&format!("{path}.length"), &raw.length, lengths, hint);
        let retries = self.int(
            &format!("{path}.retries"),
            &raw.retries,
            1..=15,
            "the card reports tries left in one hex digit",
        );
        Some((
            reference?,
            u8::try_from(length?).ok()?,
            u8::try_from(retries?).ok()?,
        ))
    }

    fn identifier(&mut self, path: &str, v: &Spanned<String>) -> Option<String> {
        let name = v.get_ref().as_str();
        let valid = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Some(name.to_owned())
        } else {
            self.problem(
                v.span(),
                format!("{path} {name:?} is not valid: use 1 to 64 lowercase letters, digits and '_', starting with a letter"),
            );
            None
        }
    }

    fn tag(&mut self, path: &str, v: &Spanned<String>) -> Option<Vec<u8>> {
        let tag = self.hex(path, v)?;
        if let Some(problem) = tag_problem(&tag) {
            self.problem(
                v.span(),
                format!(
                    "{path} {} is not a valid BER-TLV tag: it {problem}",
                    hex::encode_upper(&tag)
                ),
            );
            return None;
        }
        if is_constructed(&tag) {
            self.problem(
                v.span(),
                format!(
                    "{path} {} is a constructed tag (bit 6 of the first byte is set); a value needs a primitive tag",
                    hex::encode_upper(&tag)
                ),
            );
            return None;
        }
        Some(tag)
    }

    fn fields(&mut self, raw: &[RawField]) -> Option<Vec<FieldSpec>> {
        let mut fields = Vec::with_capacity(raw.len());
        let mut ok = true;
        for (index, raw_field) in raw.iter().enumerate() {
            match self.field(index, raw_field) {
                Some(field) => fields.push(field),
                None => ok = false,
            }
        }
        // Names, columns and per-area tags must be unique; report the later occurrence.
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut columns: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut tags: BTreeMap<(DataArea, Vec<u8>), (String, usize)> = BTreeMap::new();
        for (index, raw_field) in raw.iter().enumerate() {
            let name = raw_field.name.get_ref().as_str();
            let line = self.line(raw_field.name.span().start);
            if let Some(first) = names.get(name) {
                self.problem(
                    raw_field.name.span(),
                    format!("fields[{}].name {name:?} is already used (line {first}); field names must be unique", index + 1),
                );
                ok = false;
            } else {
                names.insert(name, line);
            }
            let column = raw_field.column.get_ref().trim();
            let column_line = self.line(raw_field.column.span().start);
            match columns.get(&column.to_lowercase()) {
                Some((first, first_line)) => {
                    self.problem(
                        raw_field.column.span(),
                        format!("fields.{name}.column {column:?} is already used by field {first:?} (line {first_line}); column names must be unique (ignoring case)"),
                    );
                    ok = false;
                }
                None => {
                    columns.insert(column.to_lowercase(), (name.to_owned(), column_line));
                }
            }
            let area = match raw_field.area.get_ref().as_str() {
                "public" => DataArea::Public,
                "private" => DataArea::Private,
                _ => continue,
            };
            let Some(tag) = parse_hex_quiet(raw_field.tag.get_ref()) else {
                continue;
            };
            let tag_line = self.line(raw_field.tag.span().start);
            match tags.get(&(area, tag.clone())) {
                Some((first, first_line)) => {
                    self.problem(
                        raw_field.tag.span(),
                        format!(
                            "fields.{name}.tag {} is already used by field {first:?} (line {first_line}) in the {} area; tags must be unique per area",
                            hex::encode_upper(&tag),
                            area.as_str()
                        ),
                    );
                    ok = false;
                }
                None => {
                    tags.insert((area, tag), (name.to_owned(), tag_line));
                }
            }
        }
        if raw.is_empty() {
            self.problems.push(ProfileProblem {
                line: 1,
                message: "the profile has no [[fields]]; add at least one holder-data field".into(),
            });
            ok = false;
        }
        ok.then_some(fields)
    }

    fn field(&mut self, index: usize, raw: &RawField) -> Option<FieldSpec> {
        let name = self.identifier(&format!("fields[{}].name", index + 1), &raw.name);
        let prefix = match &name {
            Some(name) => format!("fields.{name}"),
            None => format!("fields[{}]", index + 1),
        };
        let label = self.non_empty(&format!("{prefix}.label"), &raw.label);
        let area = match raw.area.get_ref().as_str() {
            "public" => Some(DataArea::Public),
            "private" => Some(DataArea::Private),
            other => {
                self.problem(
                    raw.area.span(),
                    format!(
                        "{prefix}.area {other:?} cannot hold fields; use \"public\" or \"private\""
                    ),
                );
                None
            }
        };
        let tag = self.tag(&format!("{prefix}.tag"), &raw.tag);
        let column = self.column(&prefix, &raw.column);
        let kind = match raw.kind.get_ref().as_str() {
            "text" => Some(FieldKind::Text),
            "date" => Some(FieldKind::Date),
            "email" => Some(FieldKind::Email),
            "digits" => Some(FieldKind::Digits),
            other => {
                self.problem(
                    raw.kind.span(),
                    format!("{prefix}.kind {other:?} is unknown; use \"text\", \"date\", \"email\" or \"digits\""),
                );
                None
            }
        };
        let required = raw.required.as_ref().is_some_and(|r| *r.get_ref());
        let max_len = match (kind, &raw.max_len) {
            (Some(FieldKind::Date), None) => Some(DATE_LEN),
            (Some(FieldKind::Date), Some(v)) if *v.get_ref() != DATE_LEN as i64 => {
                self.problem(
                    v.span(),
                    format!("{prefix}.max_len {} does not fit a date: a date is always {DATE_LEN} characters (YYYY-MM-DD); remove max_len", v.get_ref()),
                );
                None
            }
            (_, Some(v)) => self
                .int(&format!("{prefix}.max_len"), v, 1..=MAX_EF_SIZE as i64, "")
                .and_then(|n| usize::try_from(n).ok()),
            (Some(_), None) => {
                self.problem(
                    raw.kind.span(),
                    format!("{prefix}.max_len is missing: give the longest value allowed, in characters"),
                );
                None
            }
            (None, None) => None,
        };
        let range = match (&raw.range, kind) {
            (None, _) => Some(None),
            (Some(v), Some(FieldKind::Date)) => match v.get_ref().as_str() {
                "after-today" => Some(Some(DateRange::AfterToday)),
                "before-today" => Some(Some(DateRange::BeforeToday)),
                "up-to-today" => Some(Some(DateRange::UpToToday)),
                other => {
                    self.problem(
                        v.span(),
                        format!("{prefix}.range {other:?} is unknown; use \"after-today\", \"before-today\" or \"up-to-today\""),
                    );
                    None
                }
            },
            (Some(v), _) => {
                self.problem(
                    v.span(),
                    format!(
                        "{prefix}.range only applies to date fields (kind = \"date\"); remove it"
                    ),
                );
                None
            }
        };
        let mut field = FieldSpec {
            name: name?,
            label: label?,
            area: area?,
            tag: tag?,
            column: column?,
            kind: kind?,
            required,
            default: None,
            max_len: max_len?,
            range: range?,
        };
        if let Some(default) = &raw.default {
            let value = default.get_ref().trim();
            if field.kind == FieldKind::Date && value == TODAY && !required {
                if let Some(range @ (DateRange::AfterToday | DateRange::BeforeToday)) = field.range
                {
                    self.problem(
                        default.span(),
                        format!("{prefix}.default \"today\" is outside the field's range {:?}; remove one of them", range.as_str()),
                    );
                    return None;
                }
                field.default = Some(TODAY.to_owned());
                return Some(field);
            }
            if required {
                self.problem(
                    default.span(),
                    format!("{prefix}.default is set on a required field; a required field has no default (remove the default or set required = false)"),
                );
                return None;
            }
            if let Some(problem) = crate::holder::value_problem(&field, value) {
                self.problem(
                    default.span(),
                    format!(
                        "{prefix}.default {value:?} is not a valid value: {}",
                        problem.describe(None)
                    ),
                );
                return None;
            }
            if !value.is_empty() {
                field.default = Some(value.to_owned());
            }
        }
        Some(field)
    }

    fn column(&mut self, prefix: &str, v: &Spanned<String>) -> Option<String> {
        let column = v.get_ref().as_str();
        if column.trim().is_empty() {
            self.problem(v.span(), format!("{prefix}.column is empty"));
            None
        } else if column.trim() != column || column.chars().any(char::is_control) {
            self.problem(
                v.span(),
                format!("{prefix}.column {column:?} has surrounding spaces or control characters"),
            );
            None
        } else {
            Some(column.to_owned())
        }
    }

    fn keys(&mut self, raw: &[RawKey]) -> Option<Vec<KeySpec>> {
        let mut keys = Vec::with_capacity(raw.len());
        let mut ok = true;
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut tags: BTreeMap<Vec<u8>, (String, usize)> = BTreeMap::new();
        for (index, raw_key) in raw.iter().enumerate() {
            let name = self.identifier(&format!("keys[{}].name", index + 1), &raw_key.name);
            let prefix = match &name {
                Some(name) => format!("keys.{name}"),
                None => format!("keys[{}]", index + 1),
            };
            let line = self.line(raw_key.name.span().start);
            if let Some(first) = names.get(raw_key.name.get_ref().as_str()) {
                self.problem(
                    raw_key.name.span(),
                    format!(
                        "{prefix}.name is already used (line {first}); key names must be unique"
                    ),
                );
                ok = false;
            } else {
                names.insert(raw_key.name.get_ref(), line);
            }
            let tag = self.tag(&format!("{prefix}.tag"), &raw_key.tag);
            if let Some(tag) = &tag {
                let tag_line = self.line(raw_key.tag.span().start);
                if let Some((first, first_line)) = tags.get(tag) {
                    self.problem(
                        raw_key.tag.span(),
                        format!(
                            "{prefix}.tag {} is already used by key {first:?} (line {first_line}); tags must be unique in the keys area",
                            hex::encode_upper(tag)
                        ),
                    );
                    ok = false;
                } else {
                    tags.insert(tag.clone(), (raw_key.name.get_ref().clone(), tag_line));
                }
            }
            let kind = match raw_key.kind.get_ref().as_str() {
                "aes256" => Some(KeyKind::Aes256),
                other => {
                    self.problem(
                        raw_key.kind.span(),
                        format!("{prefix}.kind {other:?} is unknown; the supported key kind is \"aes256\""),
                    );
                    None
                }
            };
            match (name, tag, kind) {
                (Some(name), Some(tag), Some(kind)) => keys.push(KeySpec { name, tag, kind }),
                _ => ok = false,
            }
        }
        ok.then_some(keys)
    }

    /// The `[who]` table names public fields of the profile; `issued_on` names a date field.
    fn who(&mut self, raw: &RawWho, fields: &[FieldSpec]) -> Option<WhoSpec> {
        let mut ok = true;
        let mut check = |key: &str, v: &Spanned<String>, date: bool| -> Option<String> {
            let name = v.get_ref().trim();
            let problem = match fields.iter().find(|f| f.name == name) {
                None => Some(format!(
                    "who.{key} {name:?} is not a field of this profile; name one of its [[fields]]"
                )),
                Some(f) if f.area != DataArea::Public => Some(format!(
                    "who.{key} {name:?} is a private field; it must be a public one, since it names the card before the VSC is opened"
                )),
                Some(f) if date && f.kind != FieldKind::Date => Some(format!(
                    "who.{key} {name:?} is not a date field (kind = \"date\")"
                )),
                Some(_) => None,
            };
            match problem {
                Some(message) => {
                    self.problem(v.span(), message);
                    ok = false;
                    None
                }
                None => Some(name.to_owned()),
            }
        };
        let name = check("name", &raw.name, false);
        let id = raw.id.as_ref().map(|v| check("id", v, false));
        let issuer = raw.issuer.as_ref().map(|v| check("issuer", v, false));
        let issued_on = raw.issued_on.as_ref().map(|v| check("issued_on", v, true));
        if !ok {
            return None;
        }
        Some(WhoSpec {
            name: name?,
            id: id.flatten(),
            issuer: issuer.flatten(),
            issued_on: issued_on.flatten(),
        })
    }

    /// Every area's worst-case content must fit its EF.
    fn capacity(&mut self, profile: &Profile, raw: &RawAreas) {
        for (area, raw_ef) in [
            (DataArea::Public, &raw.public),
            (DataArea::Private, &raw.private),
        ] {
            let need = profile.worst_case_area_len(area);
            let size = profile.ef(area).size;
            if need > size {
                self.problem(
                    raw_ef.size.span(),
                    format!(
                        "areas.{0}.size {size} is too small: the {0} fields need up to {need} bytes with every value at max_len (text counts 4 bytes per character); raise the size or lower max_len",
                        area.as_str()
                    ),
                );
            }
        }
        let need = profile.keys_len();
        if need > profile.keys.size {
            self.problem(
                raw.keys.size.span(),
                format!(
                    "areas.keys.size {} is too small: the key objects need {need} bytes",
                    profile.keys.size
                ),
            );
        }
    }
}

fn parse_hex_quiet(text: &str) -> Option<Vec<u8>> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).ok()
}

fn parse_fid_quiet(text: &str) -> Option<u16> {
    match parse_hex_quiet(text)?[..] {
        [hi, lo] => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
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
    fn tlv_sizes_use_the_shortest_length_field() {
        assert_eq!(tlv_len(1, 0), 2);
        assert_eq!(tlv_len(1, 127), 129);
        assert_eq!(tlv_len(2, 128), 132);
        assert_eq!(tlv_len(2, 256), 261);
    }

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn the_checker_names_the_lines_line_of_names() {
        let text = "a\nbb\n\nccc\n";
        let checker = Checker {
            breaks: text.match_indices('\n').map(|(at, _)| at).collect(),
            problems: Vec::new(),
        };
        for offset in 0..text.len() + 3 {
            assert_eq!(
                checker.line(offset),
                line_of(text, offset),
                "offset {offset}"
            );
        }
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
