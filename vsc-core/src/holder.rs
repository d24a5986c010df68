//! Holder data: one cardholder's values, validated against a profile's fields.
//!
//! Values come from a form ([`validate_record`]) or a CSV file ([`crate::holder_csv`]), keyed
//! by the profile's column names. Every value is trimmed of surrounding whitespace and checked
//! against its field: required, at most `max_len` characters, no control characters (line
//! breaks are allowed in text), and the kind's format (a real `YYYY-MM-DD` date, a plausible
//! email address, digits only). A date field with a range is checked against `today`, which
//! the caller supplies (the core has no clock): an expiry date must lie after today and at
//! most [`MAX_YEARS_AHEAD`] years ahead, a date of birth before today and at most
//! [`MAX_YEARS_BACK`] years back. An empty optional field takes its default (`today` for a
//! date field whose default is [`TODAY`]) or is left out. Every problem is reported, not just
//! the first, in words a clerk can act on; values of private fields are never repeated in a
//! message.
//!
//! The page, the CLI and the issuer service all validate through this module, so the same
//! input and the same `today` get the same verdict everywhere.
//!
//! What this module does not do: read files (see [`crate::holder_csv`]), normalize Unicode,
//! or encode data objects (see [`crate::vsc`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::date::Date;
use crate::profile::{DataArea, DateRange, FieldKind, FieldSpec, Profile, WhoSpec, TODAY};
use crate::secret::SecretString;

/// How many years after today a date with the range `after-today` may lie.
pub const MAX_YEARS_AHEAD: i32 = 50;

/// How many years before today a date with the range `before-today` or `up-to-today` may lie.
pub const MAX_YEARS_BACK: i32 = 150;

/// One cardholder's validated values, in profile order. Private values are held in
/// [`SecretString`]s (zeroized on drop, redacted in `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderData {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    field: FieldSpec,
    value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Public(String),
    Private(SecretString),
}

impl Value {
    fn as_str(&self) -> &str {
        match self {
            Value::Public(text) => text,
            Value::Private(secret) => secret.expose(),
        }
    }
}

impl HolderData {
    /// The value of the field with this profile field name; `None` when the field is unknown
    /// or was left empty without a default. Private values are secret: do not log them.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.field.name == field)
            .map(|e| e.value.as_str())
    }

    /// The public fields that have a value, in profile order.
    pub fn public_values(&self) -> impl Iterator<Item = (&FieldSpec, &str)> + Clone {
        self.values_in(DataArea::Public)
    }

    /// The private fields that have a value, in profile order. The values are secret: do not
    /// log them.
    pub fn private_values(&self) -> impl Iterator<Item = (&FieldSpec, &str)> + Clone {
        self.values_in(DataArea::Private)
    }

    /// Who these data are for, as people read it: the `who.id` value, then the `who.name`
    /// value (`E-1002 Siobhán O'Brien`); empty when the profile's fields for it are empty.
    pub fn who(&self, who: &WhoSpec) -> String {
        who_label(who, |field| self.value(field))
    }

    fn values_in(&self, area: DataArea) -> impl Iterator<Item = (&FieldSpec, &str)> + Clone {
        self.entries
            .iter()
            .filter(move |e| e.field.area == area)
            .map(|e| (&e.field, e.value.as_str()))
    }
}

/// A problem with one input of a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {reason}")]
pub struct FieldError {
    /// The column (input name) at fault.
    pub column: String,
    /// What is wrong, for the clerk who entered it.
    pub reason: String,
}

/// The holder label of [`HolderData::who`] from any source of public values by field name.
pub fn who_label<V: AsRef<str>>(who: &WhoSpec, value: impl Fn(&str) -> Option<V>) -> String {
    let parts = [who.id.as_deref(), Some(who.name.as_str())];
    let values: Vec<V> = parts.into_iter().flatten().filter_map(value).collect();
    values
        .iter()
        .map(|v| v.as_ref().trim())
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Validates one record entered in a form. `values` maps column names to raw input; a
/// missing key is the same as an empty input; date ranges are checked against `today`.
/// Returns every problem found.
pub fn validate_record(
    profile: &Profile,
    values: &BTreeMap<String, String>,
    today: Date,
) -> Result<HolderData, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = values
        .keys()
        .filter(|column| !profile.fields.iter().any(|f| &f.column == *column))
        .map(|column| FieldError {
            column: column.clone(),
            reason: format!(
                "is not an input of profile {}; expected {}",
                profile.id,
                column_list(profile)
            ),
        })
        .collect();
    let lookup = |column: &str| values.get(column).map(String::as_str);
    match check_record(profile, lookup, &BTreeSet::new(), today) {
        Ok(data) if errors.is_empty() => Ok(data),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            Err(errors)
        }
    }
}

/// The profile's columns, comma-separated, for messages.
pub(crate) fn column_list(profile: &Profile) -> String {
    profile
        .fields
        .iter()
        .map(|f| f.column.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates one record; `lookup` gives the raw value of a column. Columns in `absent` are
/// known to be missing (already reported) and get no "required" error of their own.
pub(crate) fn check_record<'v>(
    profile: &Profile,
    lookup: impl Fn(&str) -> Option<&'v str>,
    absent: &BTreeSet<String>,
    today: Date,
) -> Result<HolderData, Vec<FieldError>> {
    let mut entries = Vec::with_capacity(profile.fields.len());
    let mut errors = Vec::new();
    let today_text = today.to_string();
    for field in &profile.fields {
        let value = lookup(&field.column).unwrap_or("").trim();
        let value = if value.is_empty() {
            if field.required && absent.contains(&field.column) {
                continue;
            }
            match (&field.default, field.required) {
                (Some(default), _) if field.kind == FieldKind::Date && default == TODAY => {
                    today_text.as_str()
                }
                (Some(default), _) => default.as_str(),
                (None, true) => {
                    errors.push(FieldError {
                        column: field.column.clone(),
                        reason: format!("is required but empty ({})", field.label),
                    });
                    continue;
                }
                (None, false) => continue,
            }
        } else {
            value
        };
        let problem = value_problem(field, value).or_else(|| date_problem(field, value, today));
        if let Some(problem) = problem {
            let echo = (field.area == DataArea::Public).then_some(value);
            errors.push(FieldError {
                column: field.column.clone(),
                reason: problem.describe(echo),
            });
            continue;
        }
        let value = match field.area {
            DataArea::Public => Value::Public(value.to_owned()),
            DataArea::Private => Value::Private(SecretString::from(value)),
        };
        entries.push(Entry {
            field: field.clone(),
            value,
        });
    }
    if errors.is_empty() {
        Ok(HolderData { entries })
    } else {
        Err(errors)
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

/// Checks a trimmed value against a field; `None` when it fits. Also used by
/// [`crate::profile`] to check defaults.
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
    };
    if !format_ok {
        return Some(match field.kind {
            FieldKind::Date => ValueProblem::NotDate,
            FieldKind::Email => ValueProblem::NotEmail,
            _ => ValueProblem::NotDigits,
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
fn date_problem(field: &FieldSpec, value: &str, today: Date) -> Option<ValueProblem> {
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
