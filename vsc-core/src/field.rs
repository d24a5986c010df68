//! Holder-data fields: what a profile says about one data object (name, label, area, tag,
//! CSV column, kind, limits, default, date range), and the checks a value must pass to be
//! stored in it. [`crate::profile`] describes fields; [`crate::holder`] validates values
//! against them; neither needs the other for this.
//!
//! What this module does not do: read holder files (see [`crate::holder_csv`]) or encode data
//! objects (see [`crate::vsc`]).

use crate::date::Date;

/// How many years after today a date with the range `after-today` may lie.
pub const MAX_YEARS_AHEAD: i32 = 50;

/// How many years before today a date with the range `before-today` or `up-to-today` may lie.
pub const MAX_YEARS_BACK: i32 = 150;

/// One holder-data field: a primitive BER-TLV data object in the public or private area.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Maximum length of a value in UTF-8 bytes, when the card's data object holds fewer
    /// than `max_len` characters of the kind can take (an OpenPGP card's Name holds 39).
    pub max_bytes: Option<usize>,
    /// For a date field, the dates it accepts relative to today (`None`: any real date).
    pub range: Option<DateRange>,
}

impl FieldSpec {
    /// Largest value in bytes (UTF-8): `max_len` times the bytes one character can take,
    /// or `max_bytes` when it is less.
    pub fn max_value_bytes(&self) -> usize {
        let by_chars = self.max_len * self.kind.max_bytes_per_char();
        self.max_bytes.map_or(by_chars, |bytes| bytes.min(by_chars))
    }

    /// Largest encoded data object (tag, length and value) in bytes.
    pub fn max_encoded_len(&self) -> usize {
        crate::tlv::encoded_len(&self.tag, self.max_value_bytes())
    }
}

/// The areas that hold holder-data fields.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
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

/// What a field's values look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FieldKind {
    /// Any UTF-8 text without control characters (line breaks allowed).
    Text,
    /// A real calendar date written `YYYY-MM-DD`, stored as that 10-character text.
    Date,
    /// A plausible email address.
    Email,
    /// ASCII digits only.
    Digits,
    /// One line of printable ASCII (letters without accents, digits, space, punctuation):
    /// for data objects that readers take as ASCII or ISO 8859-1, such as an OpenPGP card's
    /// Name, Login data and URL (OpenPGP card 3.4 §4.4.3.2; GnuPG writes ASCII only there).
    Ascii,
}

impl FieldKind {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Date => "date",
            FieldKind::Email => "email",
            FieldKind::Digits => "digits",
            FieldKind::Ascii => "ascii",
        }
    }

    /// Most UTF-8 bytes one character of this kind can take.
    pub fn max_bytes_per_char(self) -> usize {
        match self {
            FieldKind::Text | FieldKind::Email => 4,
            FieldKind::Date | FieldKind::Digits | FieldKind::Ascii => 1,
        }
    }
}

/// The default of a date field that means "the day the VSC is built".
pub const TODAY: &str = "today";

/// The dates a date field accepts, relative to the day the holder data is checked; each range
/// also has a sane outer bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DateRange {
    /// After today, and at most [`MAX_YEARS_AHEAD`] years ahead (an expiry
    /// date; `"after-today"`).
    AfterToday,
    /// Before today, and at most [`MAX_YEARS_BACK`] years back (a date of
    /// birth; `"before-today"`).
    BeforeToday,
    /// Today or before, and at most [`MAX_YEARS_BACK`] years back (an issue
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

/// Why a (trimmed, non-empty) value does not fit a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueProblem {
    Empty,
    ControlCharacter(char),
    TooLong { chars: usize, max: usize },
    TooManyBytes { bytes: usize, max: usize },
    NotDate,
    NotEmail,
    NotDigits,
    NotAscii(char),
    NotAfter { today: Date },
    NotBefore { today: Date },
    After { today: Date },
    TooFarAhead { years: i32 },
    TooFarBack { years: i32 },
}

impl ValueProblem {
    /// A sentence for the clerk. `echo` is the value to quote, or `None` to keep it out of
    /// the message (private fields).
    pub(crate) fn describe(self, echo: Option<&str>) -> String {
        let quoted = echo.map(|v| format!("{} ", quote(v))).unwrap_or_default();
        match self {
            ValueProblem::Empty => "is empty".into(),
            ValueProblem::ControlCharacter(c) => format!(
                "contains a control character (U+{:04X}); remove it",
                u32::from(c)
            ),
            ValueProblem::TooLong { chars, max } => {
                format!("is {chars} characters long; at most {max} fit on the card")
            }
            ValueProblem::TooManyBytes { bytes, max } => {
                format!("takes {bytes} bytes in UTF-8; at most {max} fit on the card")
            }
            ValueProblem::NotDate => {
                format!("{quoted}is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)")
            }
            ValueProblem::NotEmail => {
                format!("{quoted}is not a valid email address (e.g. name@example.org)")
            }
            ValueProblem::NotDigits => format!("{quoted}must contain only the digits 0-9"),
            ValueProblem::NotAscii(c) => {
                let which = if echo.is_some() {
                    format!("'{c}'")
                } else {
                    "a character".to_owned()
                };
                format!(
                    "{quoted}contains {which} this data object cannot hold: it takes plain ASCII \
                     only (letters without accents, digits, spaces, punctuation); write the value \
                     without accents, e.g. 'e' for 'é'"
                )
            }
            ValueProblem::NotAfter { today } => {
                format!("{quoted}is not after today ({today}); it must be a future date")
            }
            ValueProblem::NotBefore { today } => {
                format!("{quoted}is not before today ({today}); it must be a past date")
            }
            ValueProblem::After { today } => {
                format!("{quoted}is after today ({today}); it cannot be a future date")
            }
            ValueProblem::TooFarAhead { years } => {
                format!("{quoted}is more than {years} years after today; check the year")
            }
            ValueProblem::TooFarBack { years } => {
                format!("{quoted}is more than {years} years before today; check the year")
            }
        }
    }
}

/// Quotes a value for a message, shortened so a long value does not flood the report.
fn quote(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() > MAX {
        let head: String = value.chars().take(MAX).collect();
        format!("'{head}…'")
    } else {
        format!("'{value}'")
    }
}

/// Checks a trimmed value against a field's kind and length; `None` when it fits. (Date
/// ranges need today: [`date_problem`].)
pub(crate) fn value_problem(field: &FieldSpec, value: &str) -> Option<ValueProblem> {
    if value.is_empty() {
        return Some(ValueProblem::Empty);
    }
    let line_breaks_allowed = field.kind == FieldKind::Text;
    if let Some(c) = value
        .chars()
        .find(|&c| c.is_control() && !(line_breaks_allowed && (c == '\n' || c == '\r')))
    {
        return Some(ValueProblem::ControlCharacter(c));
    }
    let chars = value.chars().count();
    let format_ok = match field.kind {
        FieldKind::Text => true,
        FieldKind::Date => Date::parse(value).is_some(),
        FieldKind::Email => is_email(value),
        FieldKind::Digits => value.bytes().all(|b| b.is_ascii_digit()),
        FieldKind::Ascii => value.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
    };
    if !format_ok {
        return Some(match field.kind {
            FieldKind::Date => ValueProblem::NotDate,
            FieldKind::Email => ValueProblem::NotEmail,
            FieldKind::Ascii => ValueProblem::NotAscii(
                value
                    .chars()
                    .find(|&c| c != ' ' && !c.is_ascii_graphic())
                    .unwrap_or('?'),
            ),
            FieldKind::Text | FieldKind::Digits => ValueProblem::NotDigits,
        });
    }
    if chars > field.max_len {
        return Some(ValueProblem::TooLong {
            chars,
            max: field.max_len,
        });
    }
    if value.len() > field.max_value_bytes() {
        return Some(ValueProblem::TooManyBytes {
            bytes: value.len(),
            max: field.max_value_bytes(),
        });
    }
    None
}

/// Checks a date value (already known to be a real date) against its field's range.
pub(crate) fn date_problem(field: &FieldSpec, value: &str, today: Date) -> Option<ValueProblem> {
    let range = field.range?;
    let date = Date::parse(value)?;
    let ahead = today.add_years(MAX_YEARS_AHEAD);
    let back = today.add_years(-MAX_YEARS_BACK);
    match range {
        DateRange::AfterToday if date <= today => Some(ValueProblem::NotAfter { today }),
        DateRange::AfterToday if ahead.is_some_and(|limit| date > limit) => {
            Some(ValueProblem::TooFarAhead {
                years: MAX_YEARS_AHEAD,
            })
        }
        DateRange::BeforeToday if date >= today => Some(ValueProblem::NotBefore { today }),
        DateRange::UpToToday if date > today => Some(ValueProblem::After { today }),
        DateRange::BeforeToday | DateRange::UpToToday if back.is_some_and(|limit| date < limit) => {
            Some(ValueProblem::TooFarBack {
                years: MAX_YEARS_BACK,
            })
        }
        _ => None,
    }
}

/// A plausible email address: one `@`, a non-empty local part, a domain of non-empty
/// dot-separated labels with at least one dot, no spaces and none of the characters that
/// separate or quote addresses in mail headers.
fn is_email(value: &str) -> bool {
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
    {
        return false;
    }
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_plausible() {
        for good in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "émile@exemple.fr",
        ] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "plainaddress",
            "@example.org",
            "a@",
            "a@localhost",
            "a@@b.org",
            "a@b@c.org",
            "a b@c.org",
            "a@c..org",
            "a@.org",
            "a@org.",
            "a@b.org, c@d.org",
            "<a@b.org>",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn private_descriptions_never_quote_the_value() {
        let text = ValueProblem::NotEmail.describe(None);
        assert_eq!(text, "is not a valid email address (e.g. name@example.org)");
        let text = ValueProblem::NotDate.describe(Some("1990-13-01"));
        assert_eq!(
            text,
            "'1990-13-01' is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)"
        );
    }

    #[test]
    fn long_quotes_are_shortened() {
        let long = "x".repeat(100);
        assert_eq!(quote(&long).chars().count(), 40 + 3);
        assert_eq!(quote("abc"), "'abc'");
    }
}
