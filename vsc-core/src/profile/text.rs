//! Reading a profile's TOML text: syntax first, then every semantic check, each problem with
//! its line, so a profile's author can fix it in one pass.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::*;
use crate::date::DATE_LEN;
use crate::field::{DataArea, DateRange, FieldKind, FieldSpec, TODAY};

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
    layout: Spanned<String>,
    card: RawCard,
    #[serde(default)]
    df: Option<RawDf>,
    #[serde(default)]
    areas: Option<RawAreas>,
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
    #[serde(default)]
    reference: Option<Spanned<String>>,
    length: Spanned<i64>,
    #[serde(default)]
    retries: Option<Spanned<i64>>,
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
    max_bytes: Option<Spanned<i64>>,
    #[serde(default)]
    range: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    #[serde(default)]
    tag: Option<Spanned<String>>,
    kind: Spanned<String>,
    #[serde(default)]
    slot: Option<Spanned<String>>,
}

/// The card type named by `layout`, before the rest of the profile is checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayoutKind {
    FileSystem,
    OpenPgp,
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
        let layout_kind = self.layout(&raw.layout);
        let card = self.card(&raw.card);
        let min_pin = match layout_kind {
            Some(LayoutKind::OpenPgp) => openpgp::MIN_PIN_LENGTH,
            _ => crate::pin::MIN_PIN_LENGTH,
        };
        let pin_length = self.int(
            "pin.length",
            &raw.pin.length,
            i64::from(min_pin)..=i64::from(crate::pin::MAX_PIN_LENGTH),
            if min_pin == openpgp::MIN_PIN_LENGTH {
                "digits of the PIN; an OpenPGP card's PW1 has at least 6"
            } else {
                "digits of the PIN"
            },
        );
        let reset_length = self.int(
            "reset.length",
            &raw.reset.length,
            8..=32,
            "bytes of the reset code",
        );
        let fields = self.fields(&raw.fields);
        let keys_objects = self.keys(&raw.keys, layout_kind);
        let who = fields
            .as_deref()
            .and_then(|fields| self.who(&raw.who, fields));
        if let (Some(LayoutKind::FileSystem), Some(card), Some(pin), Some(reset)) =
            (layout_kind, &card, pin_length, reset_length)
        {
            // The longest credential command: RESET RETRY COUNTER or CHANGE REFERENCE DATA
            // carries the reset code or the card password, then the PIN, in one APDU.
            let need = crate::password::GENERATED_LEN.max(reset as usize) + pin as usize;
            if card.max_command_data < need {
                self.problem(
                    raw.card.max_command_data.span(),
                    format!(
                        "card.max_command_data {} is too small: setting the PIN sends {need} bytes in one command (the card password or reset code, then the PIN)",
                        card.max_command_data
                    ),
                );
            }
        }
        let layout = match layout_kind? {
            LayoutKind::FileSystem => self.file_system(raw).map(Layout::FileSystem),
            LayoutKind::OpenPgp => self
                .openpgp(raw, fields.as_deref())
                .then_some(Layout::OpenPgp),
        };

        let profile = Profile {
            id: id?,
            name: name?,
            description: raw
                .description
                .as_ref()
                .map(|d| d.get_ref().trim().to_owned())
                .unwrap_or_default(),
            layout: layout?,
            card: card?,
            pin: PinSpec {
                length: u8::try_from(pin_length?).ok()?,
            },
            reset: ResetSpec {
                length: u8::try_from(reset_length?).ok()?,
            },
            fields: fields?,
            keys_objects: keys_objects?,
            who: who?,
            source_hash,
        };
        if let (Some(areas), Layout::FileSystem(fs)) = (&raw.areas, &profile.layout) {
            self.capacity(&profile, fs, areas);
        }
        Some(profile)
    }

    /// The `layout` key: which card type the profile is for.
    fn layout(&mut self, v: &Spanned<String>) -> Option<LayoutKind> {
        match v.get_ref().as_str() {
            "iso7816-fs" => Some(LayoutKind::FileSystem),
            "openpgp-card" => Some(LayoutKind::OpenPgp),
            other => {
                self.problem(
                    v.span(),
                    format!("layout {other:?} is unknown; use \"iso7816-fs\" (the file-system card of docs/card-os.md) or \"openpgp-card\" (an OpenPGP card 3.4)"),
                );
                None
            }
        }
    }

    /// The structure a file-system card needs: `[df]`, `[areas.*]`, and the references and
    /// retry counters of `[pin]` and `[reset]`.
    fn file_system(&mut self, raw: &RawProfile) -> Option<FileSystemLayout> {
        let missing =
            |what: &str| format!("layout \"iso7816-fs\" needs {what}; see docs/profiles.md");
        let Some(df) = &raw.df else {
            self.problem(raw.layout.span(), missing("a [df] table (fid, aid)"));
            return None;
        };
        let Some(areas) = &raw.areas else {
            self.problem(
                raw.layout.span(),
                missing("[areas.uid], [areas.public], [areas.private] and [areas.keys]"),
            );
            return None;
        };
        let df_spec = self.df(df);
        let uid = self.ef("uid", &areas.uid);
        let public = self.ef("public", &areas.public);
        let private = self.ef("private", &areas.private);
        let keys = self.ef("keys", &areas.keys);
        self.unique_fids(df, areas);
        self.area_rules(areas, uid.as_ref(), private.as_ref(), keys.as_ref());
        let pin = self.credential("pin", &raw.pin);
        let reset = self.credential("reset", &raw.reset);
        if let (Some(pin), Some(reset)) = (&pin, &reset) {
            if pin.reference == reset.reference {
                let span = raw
                    .reset
                    .reference
                    .as_ref()
                    .map_or(raw.reset.length.span(), Spanned::span);
                self.problem(
                    span,
                    format!(
                        "reset.reference {:02X} is the same as pin.reference; the two credentials need different references",
                        reset.reference
                    ),
                );
                return None;
            }
        }
        Some(FileSystemLayout {
            df: df_spec?,
            uid: uid?,
            public: public?,
            private: private?,
            keys: keys?,
            pin: pin?,
            reset: reset?,
        })
    }

    /// What an OpenPGP card profile may not say (its structure is the specification's), and
    /// the room its fields need on the card.
    fn openpgp(&mut self, raw: &RawProfile, fields: Option<&[Arc<FieldSpec>]>) -> bool {
        let mut ok = true;
        let fixed = "the OpenPGP application's structure is fixed by the specification; remove it";
        if let Some(df) = &raw.df {
            self.problem(
                df.fid.span(),
                format!("layout \"openpgp-card\" has no [df]: {fixed}"),
            );
            ok = false;
        }
        if let Some(areas) = &raw.areas {
            self.problem(
                areas.uid.fid.span(),
                format!("layout \"openpgp-card\" has no [areas]: {fixed}"),
            );
            ok = false;
        }
        for (path, credential) in [("pin", &raw.pin), ("reset", &raw.reset)] {
            for (key, span) in [
                (
                    "reference",
                    credential.reference.as_ref().map(Spanned::span),
                ),
                ("retries", credential.retries.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    self.problem(
                        span,
                        format!("{path}.{key} does not apply to an OpenPGP card, whose PW1 and resetting code are fixed by the specification; remove it"),
                    );
                    ok = false;
                }
            }
        }
        let Some(fields) = fields else {
            return false;
        };
        let mut standard_used: BTreeMap<&[u8], &str> = BTreeMap::new();
        for (field, raw_field) in fields.iter().zip(&raw.fields) {
            let standard = openpgp::STANDARD_DOS
                .iter()
                .find(|(tag, _, _)| *tag == field.tag.as_slice());
            match (field.area, standard) {
                (DataArea::Public, Some((tag, max, what))) => {
                    if field.max_value_bytes() > *max {
                        self.problem(
                            raw_field.tag.span(),
                            format!(
                                "fields.{}: the {what} data object ({}) holds at most {max} bytes, but values of this field may take {} (max_len {} of {}); lower max_len, or set max_bytes = {max}",
                                field.name,
                                hex::encode_upper(tag),
                                field.max_value_bytes(),
                                field.max_len,
                                field.kind.as_str()
                            ),
                        );
                        ok = false;
                    }
                    if let Some(first) = standard_used.insert(tag, &field.name) {
                        self.problem(
                            raw_field.tag.span(),
                            format!(
                                "fields.{}: the {what} data object is already field {first:?}'s",
                                field.name
                            ),
                        );
                        ok = false;
                    }
                }
                (DataArea::Private, Some((_, _, what))) => {
                    self.problem(
                        raw_field.area.span(),
                        format!("fields.{}: the {what} data object is readable by anyone on an OpenPGP card; make the field public, or give it another tag (private fields are kept in DO 0103, readable with the PIN)", field.name),
                    );
                    ok = false;
                }
                _ => {}
            }
        }
        for (area, container) in [(DataArea::Public, "0101"), (DataArea::Private, "0103")] {
            let need: usize = fields
                .iter()
                .filter(|f| {
                    f.area == area
                        && !openpgp::STANDARD_DOS
                            .iter()
                            .any(|(tag, _, _)| *tag == f.tag.as_slice())
                })
                .map(|f| f.max_encoded_len())
                .sum();
            if need > openpgp::SPECIAL_DO_MAX {
                self.problem(
                    raw.layout.span(),
                    format!(
                        "the {} fields kept in private use data object {container} need up to {need} bytes with every value at max_len; the card holds {} there: lower max_len",
                        area.as_str(),
                        openpgp::SPECIAL_DO_MAX
                    ),
                );
                ok = false;
            }
        }
        ok
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
    fn unique_fids(&mut self, df: &RawDf, areas: &RawAreas) {
        let all = [
            ("df.fid", &df.fid),
            ("areas.uid.fid", &areas.uid.fid),
            ("areas.public.fid", &areas.public.fid),
            ("areas.private.fid", &areas.private.fid),
            ("areas.keys.fid", &areas.keys.fid),
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
        raw: &RawAreas,
        uid: Option<&EfSpec>,
        private: Option<&EfSpec>,
        keys: Option<&EfSpec>,
    ) {
        if let Some(uid) = uid.filter(|ef| ef.size < UID_LEN) {
            self.problem(
                raw.uid.size.span(),
                format!(
                    "areas.uid.size {} is too small: the UID is a {UID_LEN}-byte UUID",
                    uid.size
                ),
            );
        }
        if private.is_some_and(|ef| ef.read == Access::Always) {
            self.problem(
                raw.private.read.span(),
                "areas.private.read \"always\" would let anyone read personal data; use \"pin\" or \"never\"".into(),
            );
        }
        if keys.is_some_and(|ef| ef.read != Access::Never) {
            self.problem(
                raw.keys.read.span(),
                format!(
                    "areas.keys.read {:?} would let secret keys leave the card; use \"never\"",
                    raw.keys.read.get_ref()
                ),
            );
        }
    }

    /// A file-system credential's reference and retries. The reference is a P2
    /// reference-data qualifier (ISO 7816-4 §11.5.6, table "P2 of VERIFY"): `000xxxxx`
    /// global or `100xxxxx` specific, with a non-zero number.
    fn credential(&mut self, path: &str, raw: &RawCredential) -> Option<CredentialRef> {
        let needs = |key: &str| {
            format!("{path}.{key} is missing: a file-system card needs the credential's {key}")
        };
        let Some(reference_text) = &raw.reference else {
            self.problem(raw.length.span(), needs("reference"));
            return None;
        };
        let Some(retries_value) = &raw.retries else {
            self.problem(raw.length.span(), needs("retries"));
            return None;
        };
        let reference = self
            .hex(&format!("{path}.reference"), reference_text)
            .and_then(|bytes| match bytes[..] {
                [b] if b & 0x60 == 0 && b & 0x1F != 0 => Some(b),
                _ => {
                    self.problem(
                        reference_text.span(),
                        format!(
                            "{path}.reference {:?} is not a credential reference: write one byte 01-1F (global) or 81-9F (DF-specific), such as \"81\"",
                            reference_text.get_ref()
                        ),
                    );
                    None
                }
            });
        let retries = self.int(
            &format!("{path}.retries"),
            retries_value,
            1..=15,
            "the card reports tries left in one hex digit",
        );
        Some(CredentialRef {
            reference: reference?,
            retries: u8::try_from(retries?).ok()?,
        })
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

    fn fields(&mut self, raw: &[RawField]) -> Option<Vec<Arc<FieldSpec>>> {
        let mut fields = Vec::with_capacity(raw.len());
        let mut ok = true;
        for (index, raw_field) in raw.iter().enumerate() {
            match self.field(index, raw_field) {
                Some(field) => fields.push(Arc::new(field)),
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
            "ascii" => Some(FieldKind::Ascii),
            other => {
                self.problem(
                    raw.kind.span(),
                    format!("{prefix}.kind {other:?} is unknown; use \"text\", \"ascii\", \"date\", \"email\" or \"digits\""),
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
            max_bytes: None,
            range: range?,
        };
        if let Some(v) = &raw.max_bytes {
            let bytes = self
                .int(
                    &format!("{prefix}.max_bytes"),
                    v,
                    1..=MAX_EF_SIZE as i64,
                    "",
                )
                .and_then(|n| usize::try_from(n).ok())?;
            field.max_bytes = Some(bytes.min(field.max_value_bytes()));
        }
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
            if let Some(problem) = crate::field::value_problem(&field, value) {
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

    fn keys(&mut self, raw: &[RawKey], layout: Option<LayoutKind>) -> Option<Vec<KeySpec>> {
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
            let kind = match KeyKind::ALL
                .into_iter()
                .find(|k| k.as_str() == raw_key.kind.get_ref())
            {
                Some(kind) => Some(kind),
                None => {
                    let known: Vec<String> = KeyKind::ALL
                        .iter()
                        .map(|k| format!("{:?}", k.as_str()))
                        .collect();
                    self.problem(
                        raw_key.kind.span(),
                        format!(
                            "{prefix}.kind {:?} is unknown; use one of {}",
                            raw_key.kind.get_ref(),
                            known.join(", ")
                        ),
                    );
                    None
                }
            };
            let (tag, slot) = match (layout, &raw_key.tag, &raw_key.slot) {
                (Some(LayoutKind::FileSystem), Some(tag), None) => (
                    self.tag(&format!("{prefix}.tag"), tag)
                        .map(|t| (t, tag.span())),
                    None,
                ),
                (Some(LayoutKind::FileSystem), None, _) => {
                    self.problem(raw_key.name.span(), format!("{prefix}.tag is missing: give the key object's BER-TLV tag in the keys area"));
                    (None, None)
                }
                (Some(LayoutKind::FileSystem), Some(_), Some(slot)) => {
                    self.problem(
                        slot.span(),
                        format!("{prefix}.slot only applies to an OpenPGP card; remove it"),
                    );
                    (None, None)
                }
                (Some(LayoutKind::OpenPgp), None, Some(slot)) => {
                    match KeySlot::ALL
                        .into_iter()
                        .find(|s| s.as_str() == slot.get_ref())
                    {
                        Some(found) => {
                            if let Some(kind) = kind.filter(|k| !found.kinds().contains(k)) {
                                let allowed: Vec<&str> =
                                    found.kinds().iter().map(|k| k.as_str()).collect();
                                self.problem(
                                    raw_key.kind.span(),
                                    format!(
                                        "{prefix}: the {} slot does not take {} keys; use {}",
                                        found.as_str(),
                                        kind.as_str(),
                                        allowed.join(" or ")
                                    ),
                                );
                                (None, None)
                            } else {
                                (Some((found.tag().to_vec(), slot.span())), Some(found))
                            }
                        }
                        None => {
                            self.problem(slot.span(), format!("{prefix}.slot {:?} is unknown; use \"signature\", \"decryption\" or \"authentication\"", slot.get_ref()));
                            (None, None)
                        }
                    }
                }
                (Some(LayoutKind::OpenPgp), _, None) => {
                    self.problem(raw_key.name.span(), format!("{prefix}.slot is missing: an OpenPGP card holds keys in its \"signature\", \"decryption\" and \"authentication\" slots"));
                    (None, None)
                }
                (Some(LayoutKind::OpenPgp), Some(tag), Some(_)) => {
                    self.problem(tag.span(), format!("{prefix}.tag does not apply to an OpenPGP card: its slot decides where the key goes; remove it"));
                    (None, None)
                }
                (None, _, _) => (None, None),
            };
            if let Some((tag, span)) = &tag {
                let tag_line = self.line(span.start);
                if let Some((first, first_line)) = tags.get(tag) {
                    let what = if slot.is_some() { "slot" } else { "tag" };
                    self.problem(
                        span.clone(),
                        format!(
                            "{prefix}.{what} is already used by key {first:?} (line {first_line}); each {what} holds one key"
                        ),
                    );
                    ok = false;
                } else {
                    tags.insert(tag.clone(), (raw_key.name.get_ref().clone(), tag_line));
                }
            }
            match (name, tag, kind) {
                (Some(name), Some((tag, _)), Some(kind)) => keys.push(KeySpec {
                    name,
                    tag,
                    kind,
                    slot,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(keys)
    }

    /// The `[who]` table names public fields of the profile; `issued_on` names a date field.
    fn who(&mut self, raw: &RawWho, fields: &[Arc<FieldSpec>]) -> Option<WhoSpec> {
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
    fn capacity(&mut self, profile: &Profile, fs: &FileSystemLayout, raw: &RawAreas) {
        for (area, raw_ef) in [
            (DataArea::Public, &raw.public),
            (DataArea::Private, &raw.private),
        ] {
            let need = profile.worst_case_area_len(area);
            let size = fs.ef(area).size;
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
        if need > fs.keys.size {
            self.problem(
                raw.keys.size.span(),
                format!(
                    "areas.keys.size {} is too small: the key objects need {need} bytes",
                    fs.keys.size
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
}
