//! Holder data: one cardholder's values, validated against a profile's fields.
//!
//! Values come from a form ([`validate_record`]) or a CSV export ([`parse_csv`]), keyed by
//! the profile's column names. Every value is trimmed of surrounding whitespace and checked
//! against its field: required, at most `max_len` characters, no control characters (line
//! breaks are allowed in text), and the kind's format (a real `YYYY-MM-DD` date, a plausible
//! email address, digits only). An empty optional field takes its default or is left out.
//! Every problem is reported, not just the first, in words a clerk can act on; values of
//! private fields are never repeated in a message.
//!
//! What this module does not do: read files (callers pass the text), normalize Unicode, or
//! encode data objects (see [`crate::vsc`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::profile::{DataArea, FieldKind, FieldSpec, Profile, DATE_LEN};
use crate::secret::SecretString;

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

/// A problem in a CSV file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {}{reason}", column_prefix(.column))]
pub struct RowError {
    /// Line number in the CSV file where the record starts (the header is row 1).
    pub row: usize,
    /// The column at fault, or empty when the problem concerns the whole row or file.
    pub column: String,
    /// What is wrong, for the clerk who prepared the file.
    pub reason: String,
}

fn column_prefix(column: &str) -> String {
    if column.is_empty() {
        String::new()
    } else {
        format!("{column}: ")
    }
}

/// Validates one record entered in a form. `values` maps column names to raw input; a
/// missing key is the same as an empty input. Returns every problem found.
pub fn validate_record(
    profile: &Profile,
    values: &BTreeMap<String, String>,
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
    match check_record(profile, lookup, &BTreeSet::new()) {
        Ok(data) if errors.is_empty() => Ok(data),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            Err(errors)
        }
    }
}

/// Parses and validates a CSV export: a header row naming the columns, then one record per
/// holder. Every row is checked and all problems are returned together; on success the
/// records are in file order. Rows whose values are all empty are skipped.
pub fn parse_csv(profile: &Profile, text: &str) -> Result<Vec<HolderData>, Vec<RowError>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![RowError {
            row: 1,
            column: String::new(),
            reason: format!(
                "the file is empty; it needs a header row with the columns {} and one row per holder",
                column_list(profile)
            ),
        }]);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let mut records = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut absent = BTreeSet::new();
    for result in reader.records() {
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                errors.push(RowError {
                    row: e.position().map_or(1, |p| line_number(p.line())),
                    column: String::new(),
                    reason: format!("cannot be read as CSV: {e}"),
                });
                continue;
            }
        };
        let row = record.position().map_or(1, |p| line_number(p.line()));
        let Some(columns) = &header else {
            let columns: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
            absent = check_header(profile, &columns, row, &mut errors);
            header = Some(columns);
            continue;
        };
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if record.len() != columns.len() {
            errors.push(RowError {
                row,
                column: String::new(),
                reason: format!(
                    "has {} values but the header has {} columns; check for a missing or extra comma, or an unquoted comma inside a value",
                    record.len(),
                    columns.len()
                ),
            });
            continue;
        }
        let lookup = |column: &str| {
            columns
                .iter()
                .position(|c| c == column)
                .and_then(|i| record.get(i))
        };
        match check_record(profile, lookup, &absent) {
            Ok(data) => records.push(data),
            Err(field_errors) => errors.extend(field_errors.into_iter().map(|e| RowError {
                row,
                column: e.column,
                reason: e.reason,
            })),
        }
    }
    if records.is_empty() && errors.is_empty() {
        errors.push(RowError {
            row: 1,
            column: String::new(),
            reason: "the file has a header row but no data rows; add one row per holder".into(),
        });
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// The csv crate counts lines from 1; keep the header at row 1 even for odd inputs.
fn line_number(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX).max(1)
}

/// Checks the header row and returns the profile columns it lacks (whose problems are
/// reported once here rather than on every row).
fn check_header(
    profile: &Profile,
    columns: &[String],
    row: usize,
    errors: &mut Vec<RowError>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (index, column) in columns.iter().enumerate() {
        if column.is_empty() {
            errors.push(RowError {
                row,
                column: String::new(),
                reason: format!(
                    "header column {} has no name; name it or delete the empty column",
                    index + 1
                ),
            });
        } else if !profile.fields.iter().any(|f| &f.column == column) {
            let separator_hint = match [';', '\t'].into_iter().find(|&c| column.contains(c)) {
                Some(';') => {
                    "; the file seems to use ';' between values: save it as comma-separated CSV"
                }
                Some(_) => {
                    "; the file seems to use tabs between values: save it as comma-separated CSV"
                }
                None => "",
            };
            errors.push(RowError {
                row,
                column: column.clone(),
                reason: format!(
                    "is not a column of profile {}; expected {}{separator_hint}",
                    profile.id,
                    column_list(profile)
                ),
            });
        } else if !seen.insert(column.as_str()) {
            errors.push(RowError {
                row,
                column: column.clone(),
                reason: "appears more than once in the header".into(),
            });
        }
    }
    let mut absent = BTreeSet::new();
    for field in &profile.fields {
        if !seen.contains(field.column.as_str()) {
            if field.required {
                errors.push(RowError {
                    row,
                    column: field.column.clone(),
                    reason: format!(
                        "required column is missing from the header ({})",
                        field.label
                    ),
                });
            }
            absent.insert(field.column.clone());
        }
    }
    absent
}

fn column_list(profile: &Profile) -> String {
    profile
        .fields
        .iter()
        .map(|f| f.column.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates one record; `lookup` gives the raw value of a column. Columns in `absent` are
/// known to be missing (already reported) and get no "required" error of their own.
fn check_record<'v>(
    profile: &Profile,
    lookup: impl Fn(&str) -> Option<&'v str>,
    absent: &BTreeSet<String>,
) -> Result<HolderData, Vec<FieldError>> {
    let mut entries = Vec::with_capacity(profile.fields.len());
    let mut errors = Vec::new();
    for field in &profile.fields {
        let value = lookup(&field.column).unwrap_or("").trim();
        let value = if value.is_empty() {
            if field.required && absent.contains(&field.column) {
                continue;
            }
            match (&field.default, field.required) {
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
        if let Some(problem) = value_problem(field, value) {
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
        FieldKind::Date => is_date(value),
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

/// A real calendar date written `YYYY-MM-DD` (years 0001 to 9999, proleptic Gregorian).
fn is_date(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() != DATE_LEN || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &value[range];
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days_in_month).contains(&day)
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
    fn dates_are_real_calendar_dates() {
        for good in [
            "1990-01-31",
            "2024-02-29",
            "2000-02-29",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert!(is_date(good), "{good}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "1990-13-01",
            "1990-00-10",
            "1990-04-31",
            "1990-01-00",
            "0000-01-01",
            "1990-1-01",
            "1990/01/01",
            "01-01-1990",
            "1990-01-01T",
            "+990-01-01",
            "１９９０-01-01",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

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
