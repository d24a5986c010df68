//! Holder data: one cardholder's values, validated against a profile's fields.
//!
//! Values come from a form ([`validate_record`]) or a CSV file ([`crate::holder_csv`]), keyed
//! by the profile's column names. Every value is trimmed of surrounding whitespace and checked
//! against its field: required, at most `max_len` characters, no control characters (line
//! breaks are allowed in text), and the kind's format (a real `YYYY-MM-DD` date, a plausible
//! email address, digits only). A date field with a range is checked against `today`, which
//! the caller supplies (the core has no clock): an expiry date must lie after today and at
//! most [`MAX_YEARS_AHEAD`](crate::field::MAX_YEARS_AHEAD) years ahead, a date of birth before today and at most
//! [`MAX_YEARS_BACK`](crate::field::MAX_YEARS_BACK) years back. An empty optional field takes its default (`today` for a
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
use std::sync::Arc;

use crate::date::Date;
use crate::field::{date_problem, value_problem, DataArea, FieldKind, FieldSpec, TODAY};
use crate::profile::{Profile, WhoSpec};
use crate::secret::SecretString;

/// One cardholder's validated values, in profile order. Private values are held in
/// [`SecretString`]s (zeroized on drop, redacted in `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderData {
    entries: Vec<Entry>,
    checked_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    field: Arc<FieldSpec>,
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
    /// The day these data were checked: the day the VSC built from them is issued (its key
    /// pairs are created at midnight UTC of it).
    pub fn checked_on(&self) -> Date {
        self.checked_on
    }

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
            .map(|e| (&*e.field, e.value.as_str()))
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
            field: Arc::clone(field),
            value,
        });
    }
    if errors.is_empty() {
        Ok(HolderData {
            entries,
            checked_on: today,
        })
    } else {
        Err(errors)
    }
}
