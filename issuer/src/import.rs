//! The collecting program's validation: holder records checked by `vsc-core`'s holder rules,
//! the same ones `vsc build` and the page apply. [`validate`] is the only place this crate
//! calls them.

use std::collections::BTreeMap;

use vsc_core::holder::{self, HolderData};
use vsc_core::profile::Profile;

use crate::error::RowProblem;

/// What is imported: a CSV file, or one record (column -> value) from a form or a client.
pub enum Input<'a> {
    /// A CSV file's bytes (UTF-8, a header row, one row per holder).
    Csv(&'a [u8]),
    /// One record.
    Record(&'a BTreeMap<String, String>),
}

/// A validated record, as stored: values by column, public and private apart.
#[derive(Debug)]
pub struct ValidRecord {
    /// The holder's name (the profile's `holder_name` field), for lists and search.
    pub holder_name: String,
    /// The holder's id (the profile's `holder_id` field), for lists and search.
    pub holder_id: String,
    /// Public values by column.
    pub public: BTreeMap<String, String>,
    /// Private values by column, as JSON text (secret until purged: never logged).
    pub private_json: zeroize::Zeroizing<String>,
}

/// Validates `input` against `profile`: every record, or every problem (row, column, reason).
pub fn validate(profile: &Profile, input: Input<'_>) -> Result<Vec<ValidRecord>, Vec<RowProblem>> {
    let holders: Vec<HolderData> = match input {
        Input::Csv(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                vec![RowProblem {
                    row: 1 + bytes[..e.valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count(),
                    column: String::new(),
                    reason: "is not UTF-8 text: export the file as CSV UTF-8".into(),
                }]
            })?;
            holder::parse_csv(profile, text).map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| RowProblem {
                        row: e.row,
                        column: e.column,
                        reason: e.reason,
                    })
                    .collect::<Vec<_>>()
            })?
        }
        Input::Record(values) => {
            vec![holder::validate_record(profile, values).map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| RowProblem {
                        row: 1,
                        column: e.column,
                        reason: e.reason,
                    })
                    .collect::<Vec<_>>()
            })?]
        }
    };
    if holders.is_empty() {
        return Err(vec![RowProblem {
            row: 2,
            column: String::new(),
            reason: "the file has a header but no holder rows: nothing to import".into(),
        }]);
    }
    Ok(holders.iter().map(stored).collect())
}

fn stored(holder: &HolderData) -> ValidRecord {
    let public: BTreeMap<String, String> = holder
        .public_values()
        .map(|(field, value)| (field.column.clone(), value.to_owned()))
        .collect();
    let private: BTreeMap<&str, &str> = holder
        .private_values()
        .map(|(field, value)| (field.column.as_str(), value))
        .collect();
    ValidRecord {
        holder_name: holder.value("holder_name").unwrap_or("").to_owned(),
        holder_id: holder.value("holder_id").unwrap_or("").to_owned(),
        public,
        private_json: zeroize::Zeroizing::new(serde_json::to_string(&private).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile::builtin("iso7816-generic").expect("the generic profile ships")
    }

    #[test]
    fn a_good_file_gives_every_record_and_a_bad_one_every_problem() {
        let good = "holder_name,holder_id,expiry_date,email\nAna,E-1,2031-12-31,ana@example.org\nBo,E-2,2031-12-31,\n";
        let records = validate(&profile(), Input::Csv(good.as_bytes())).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].holder_id, "E-1");
        assert!(records[0].private_json.contains("ana@example.org"));
        assert!(!records[0].public.contains_key("email"));

        let bad = "holder_name,holder_id,expiry_date\n,E-1,2031-12-31\nBo,E-2,2031-02-30\n";
        let problems = validate(&profile(), Input::Csv(bad.as_bytes())).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            (problems[0].row, problems[0].column.as_str()),
            (2, "holder_name")
        );
        assert_eq!(
            (problems[1].row, problems[1].column.as_str()),
            (3, "expiry_date")
        );

        let latin1 = b"holder_name,holder_id\n\xc9mile,E-1\n";
        let problems = validate(&profile(), Input::Csv(latin1)).unwrap_err();
        assert_eq!(problems[0].row, 2);
        assert!(problems[0].reason.contains("UTF-8"), "{problems:?}");
    }
}
