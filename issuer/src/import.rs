//! The collecting program's validation: holder records checked by `vsc-core`'s holder rules,
//! the same ones `vsc build` and the page apply (encoding, delimiter, dates against today,
//! duplicate holder ids, file line numbers). [`validate`] is the only place this crate calls
//! them.

use std::collections::BTreeMap;

use vsc_core::date::Date;
use vsc_core::holder::{self, HolderData};
use vsc_core::holder_csv::{self, CsvError, CsvOptions};
use vsc_core::profile::Profile;
use vsc_core::text_encoding::TextEncoding;

use crate::error::RowProblem;

/// What is imported: a CSV file, or one record (column -> value) from a form or a client.
pub enum Input<'a> {
    /// A holder file's bytes, in `encoding` (UTF-8 unless the clerk named another).
    Csv(&'a [u8], TextEncoding),
    /// One record.
    Record(&'a BTreeMap<String, String>),
}

/// A validated record, as stored: values by column, public and private apart.
#[derive(Debug)]
pub struct ValidRecord {
    /// Who the holder is (the profile's `who.name` field), for lists and search.
    pub holder_name: String,
    /// The holder's id (the profile's `who.id` field), for lists and search.
    pub holder_id: String,
    /// Public values by column.
    pub public: BTreeMap<String, String>,
    /// Private values by column, as JSON text (secret until purged: never logged).
    pub private_json: zeroize::Zeroizing<String>,
}

/// Why an import was refused: the whole file, or these rows.
#[derive(Debug)]
pub enum Refused {
    /// The file as a whole (encoding, size, no header, no rows).
    File(String),
    /// Every bad row.
    Rows(Vec<RowProblem>),
}

/// Validates `input` against `profile` as of `today`: every record, or why not.
pub fn validate(
    profile: &Profile,
    input: Input<'_>,
    today: Date,
) -> Result<Vec<ValidRecord>, Refused> {
    let holders: Vec<HolderData> =
        match input {
            Input::Csv(bytes, encoding) => {
                holder_csv::read(profile, bytes, &CsvOptions { encoding, today })
                    .map_err(|e| match e {
                        CsvError::File(problem) => Refused::File(problem.to_string()),
                        CsvError::Rows(rows) => Refused::Rows(
                            rows.into_iter()
                                .map(|e| RowProblem {
                                    row: e.row,
                                    column: e.column,
                                    holder: e.holder,
                                    reason: e.reason,
                                })
                                .collect(),
                        ),
                        other => Refused::File(other.to_string()),
                    })?
                    .into_holders()
            }
            Input::Record(values) => vec![holder::validate_record(profile, values, today)
                .map_err(|errors| {
                    Refused::Rows(
                        errors
                            .into_iter()
                            .map(|e| RowProblem {
                                row: 1,
                                column: e.column,
                                holder: String::new(),
                                reason: e.reason,
                            })
                            .collect(),
                    )
                })?],
        };
    Ok(holders.iter().map(|h| stored(profile, h)).collect())
}

fn stored(profile: &Profile, holder: &HolderData) -> ValidRecord {
    let public: BTreeMap<String, String> = holder
        .public_values()
        .map(|(field, value)| (field.column.clone(), value.to_owned()))
        .collect();
    let private: BTreeMap<&str, &str> = holder
        .private_values()
        .map(|(field, value)| (field.column.as_str(), value))
        .collect();
    let who = &profile.who;
    ValidRecord {
        holder_name: holder.value(&who.name).unwrap_or("").to_owned(),
        holder_id: who
            .id
            .as_deref()
            .and_then(|id| holder.value(id))
            .unwrap_or("")
            .to_owned(),
        public,
        private_json: zeroize::Zeroizing::new(serde_json::to_string(&private).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::from_ymd(2026, 12, 1).unwrap()
    }

    fn profile() -> Profile {
        Profile::builtin("iso7816-generic").expect("the generic profile ships")
    }

    #[test]
    fn a_good_file_gives_every_record_and_a_bad_one_every_problem() {
        let good = "holder_name,holder_id,expiry_date,email\nAna,E-1,2031-12-31,ana@example.org\nBo,E-2,2031-12-31,\n";
        let records = validate(
            &profile(),
            Input::Csv(good.as_bytes(), TextEncoding::Utf8),
            today(),
        )
        .unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].holder_id, "E-1");
        assert!(records[0].private_json.contains("ana@example.org"));
        assert!(!records[0].public.contains_key("email"));

        let bad = "holder_name,holder_id,expiry_date\n,E-1,2031-12-31\nBo,E-2,2031-02-30\n";
        let Refused::Rows(problems) = validate(
            &profile(),
            Input::Csv(bad.as_bytes(), TextEncoding::Utf8),
            today(),
        )
        .unwrap_err() else {
            panic!("row problems expected")
        };
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
        let Refused::File(why) =
            validate(&profile(), Input::Csv(latin1, TextEncoding::Utf8), today()).unwrap_err()
        else {
            panic!("a file problem expected")
        };
        assert!(why.contains("UTF-8"), "{why}");
        let records = validate(
            &profile(),
            Input::Csv(latin1, TextEncoding::Windows1252),
            today(),
        )
        .unwrap();
        assert_eq!(records[0].holder_name, "Émile");
    }
}
