//! The issuer clerk's side: validate holder data from a form or a CSV file, build and seal one
//! VSC per holder, and produce the downloads (the sealed VSCs, and the password sheet for the
//! separate channel to the branch, as a CSV file or a printable list).
//!
//! Validation is `vsc_core::holder` and `vsc_core::holder_csv`, the functions the CLI and the
//! issuer service call: given the same bytes, encoding and day, the page reaches the same
//! verdict. Problems are data ([`FormCheck`], [`CsvCheck`]), so the page can show them next to
//! the inputs or rows; building refuses input that has any. File names and the password sheet
//! are `vsc_core::batch`'s. A batch is built a slice at a time ([`Issuer::build_next`]) so the
//! page can move a progress bar between slices.
//!
//! Secrets: holder data of private fields and the generated passwords stay in zeroizing types
//! until the clerk downloads or prints the password sheet; the sheet's bytes are wiped once
//! handed over.
//!
//! What this module does not do: touch files or the DOM (the page saves the downloads).

use std::collections::BTreeMap;

use serde::Serialize;
use vsc_core::batch::{self, BatchEntry};
use vsc_core::date::Date;
use vsc_core::holder::{self, HolderData};
use vsc_core::holder_csv::{self, CsvError, CsvOptions};
use vsc_core::profile::Profile;
use vsc_core::text_encoding::TextEncoding;
use zeroize::Zeroizing;

use crate::error::{Code, WebError};
use crate::rng::BlockOsRng;
use crate::zip;

/// MIME type of a sealed VSC download.
pub const VSC_MIME: &str = "application/vnd.vsc.sealed";
/// MIME type of a batch download.
pub const ZIP_MIME: &str = "application/zip";
/// MIME type of the password sheet.
pub const CSV_MIME: &str = "text/csv;charset=utf-8";

/// The result of checking a form: `ok`, or every problem, by input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormCheck {
    /// Whether the form can be built.
    pub ok: bool,
    /// The problems, in profile order.
    pub errors: Vec<FieldProblem>,
}

/// A problem with one input of the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The input (CSV column name).
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

/// The result of checking a CSV file: how many holders it has, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvCheck {
    /// Whether the file can be built.
    pub ok: bool,
    /// Number of holders when `ok`.
    pub count: usize,
    /// The delimiter found (`"commas"`, `"semicolons"`, `"tabs"`) when `ok`.
    pub delimiter: Option<String>,
    /// A problem with the whole file (encoding, delimiter, empty): no row was checked.
    pub file_error: Option<String>,
    /// The problems of rows, in file order.
    pub errors: Vec<RowProblem>,
}

/// A problem in one row (or the header) of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// Line of the file (the header is line 1).
    pub row: usize,
    /// The column at fault, or empty for the whole row.
    pub column: String,
    /// Who the row is for (public values), or empty.
    pub holder: String,
    /// What is wrong.
    pub reason: String,
}

/// The day the page checks dates against, from the browser's local date (`YYYY-MM-DD`).
pub fn parse_today(text: &str) -> Result<Date, WebError> {
    Date::parse(text).ok_or_else(|| {
        WebError::new(
            Code::InvalidInput,
            format!("today's date {text:?} is not YYYY-MM-DD; this is a bug in the page"),
        )
    })
}

/// The encoding named by the page's "File encoding" choice.
pub fn parse_encoding(label: &str) -> Result<TextEncoding, WebError> {
    TextEncoding::from_label(label).ok_or_else(|| {
        WebError::new(
            Code::InvalidInput,
            format!(
                "unknown file encoding {label:?}; choose one of {}",
                TextEncoding::labels()
            ),
        )
    })
}

/// Checks one holder's form values (`column -> raw input`).
pub fn check_form(profile: &Profile, values: &BTreeMap<String, String>, today: Date) -> FormCheck {
    match holder::validate_record(profile, values, today) {
        Ok(_) => FormCheck {
            ok: true,
            errors: Vec::new(),
        },
        Err(errors) => FormCheck {
            ok: false,
            errors: errors
                .into_iter()
                .map(|e| FieldProblem {
                    column: e.column,
                    reason: e.reason,
                })
                .collect(),
        },
    }
}

/// Checks a CSV file's bytes, read as `encoding`.
pub fn check_csv(profile: &Profile, bytes: &[u8], encoding: TextEncoding, today: Date) -> CsvCheck {
    let mut check = CsvCheck {
        ok: false,
        count: 0,
        delimiter: None,
        file_error: None,
        errors: Vec::new(),
    };
    match holder_csv::read(profile, bytes, &CsvOptions { encoding, today }) {
        Ok(rows) => {
            check.ok = true;
            check.count = rows.rows.len();
            check.delimiter = Some(rows.delimiter.to_string());
        }
        Err(CsvError::Rows(errors)) => {
            check.errors = errors
                .into_iter()
                .map(|e| RowProblem {
                    row: e.row,
                    column: e.column,
                    holder: e.holder,
                    reason: e.reason,
                })
                .collect();
        }
        Err(other) => check.file_error = Some(file_error_text(&other)),
    }
    check
}

fn file_error_text(error: &CsvError) -> String {
    match error {
        CsvError::File(problem) => problem.to_string(),
        other => other.to_string(),
    }
}

/// A file for the page to save.
#[derive(Debug)]
pub struct Download {
    /// Suggested file name.
    pub name: String,
    /// MIME type.
    pub mime: &'static str,
    /// Content; wiped on drop (the password sheet is secret).
    pub bytes: Zeroizing<Vec<u8>>,
}

/// One line of the printable password sheet.
#[derive(Debug, Serialize)]
pub struct SheetRow {
    /// The VSC's file name in the batch.
    pub file: String,
    /// The VSC's UID.
    pub uid: String,
    /// Who the VSC is for.
    pub holder: String,
    /// The VSC password (secret: shown only on the printable sheet; wiped on drop).
    pub password: String,
}

impl Drop for SheetRow {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// A batch of holders being built into sealed VSCs.
#[derive(Debug)]
pub struct Issuer {
    profile: Profile,
    /// Holders not built yet, in reverse order (the next one is last).
    pending: Vec<HolderData>,
    built: Vec<BatchEntry>,
    /// One block source for the whole batch, so a call for 10 VSCs does not fetch (and
    /// wipe unused) a fresh 4 KiB block; what is left is wiped with the issuer.
    rng: BlockOsRng,
}

impl Issuer {
    /// A batch of one holder from a form; refused with every problem when the form has any.
    pub fn from_form(
        profile: Profile,
        values: &BTreeMap<String, String>,
        today: Date,
    ) -> Result<Issuer, WebError> {
        match holder::validate_record(&profile, values, today) {
            Ok(data) => Ok(Issuer::new(profile, vec![data])),
            Err(errors) => Err(WebError::new(
                Code::InvalidInput,
                format!(
                    "the form has {} problem(s); fix them and build again: {}",
                    errors.len(),
                    join(errors.iter().map(ToString::to_string))
                ),
            )),
        }
    }

    /// A batch from a CSV file's bytes; refused with every problem when the file has any.
    pub fn from_csv(
        profile: Profile,
        bytes: &[u8],
        encoding: TextEncoding,
        today: Date,
    ) -> Result<Issuer, WebError> {
        match holder_csv::read(&profile, bytes, &CsvOptions { encoding, today }) {
            Ok(rows) => Ok(Issuer::new(profile, rows.into_holders())),
            Err(CsvError::Rows(errors)) => Err(WebError::new(
                Code::InvalidInput,
                format!(
                    "the CSV file has {} problem(s); nothing was built. Fix the file and load it again: {}",
                    errors.len(),
                    join(errors.iter().map(ToString::to_string))
                ),
            )),
            Err(other) => Err(WebError::new(
                Code::InvalidInput,
                format!("the CSV file cannot be used; nothing was built: {}", file_error_text(&other)),
            )),
        }
    }

    fn new(profile: Profile, mut holders: Vec<HolderData>) -> Issuer {
        holders.reverse();
        Issuer {
            profile,
            built: Vec::with_capacity(holders.len()),
            pending: holders,
            rng: BlockOsRng::new(),
        }
    }

    /// Number of holders in the batch.
    pub fn total(&self) -> usize {
        self.pending.len() + self.built.len()
    }

    /// Number of VSCs built so far.
    pub fn built(&self) -> usize {
        self.built.len()
    }

    /// Whether every holder has been built.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Builds and seals up to `max` more VSCs; returns how many are built in all. Each
    /// holder's data is dropped (and wiped) once its VSC is sealed.
    pub fn build_next(&mut self, max: usize) -> Result<usize, WebError> {
        for _ in 0..max {
            let Some(holder) = self.pending.pop() else {
                break;
            };
            let entry = BatchEntry::build(
                &self.profile,
                &holder,
                crate::clock::now_ms(),
                &mut self.rng,
            )
            .map_err(|e| {
                WebError::new(
                    Code::BuildFailed,
                    format!(
                        "the VSC for {} could not be built: {e}",
                        holder.who(&self.profile.who)
                    ),
                )
            })?;
            self.built.push(entry);
        }
        Ok(self.built.len())
    }

    /// The sealed VSCs: one `.vsc` for one holder, a stored ZIP of them for a batch, each
    /// named by `vsc_core::batch`.
    pub fn vsc_download(&self) -> Result<Download, WebError> {
        self.check_done()?;
        if let [one] = self.built.as_slice() {
            return Ok(Download {
                name: one.file_name(),
                mime: VSC_MIME,
                bytes: Zeroizing::new(one.sealed.bytes.clone()),
            });
        }
        let entries: Vec<(String, &[u8])> = self
            .built
            .iter()
            .map(|b| (b.file_name(), b.sealed.bytes.as_slice()))
            .collect();
        let bytes =
            zip::write(&entries).map_err(|e| WebError::new(Code::BuildFailed, e.to_string()))?;
        Ok(Download {
            name: format!("vsc-batch-{}.zip", self.built.len()),
            mime: ZIP_MIME,
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The password sheet as a CSV file (`vsc_core::batch::password_sheet`), for the channel
    /// to the branch that is separate from the VSC files.
    pub fn password_download(&self) -> Result<Download, WebError> {
        self.check_done()?;
        let name = match self.built.as_slice() {
            [one] => format!("{}-password.csv", one.sealed.uid),
            _ => format!("vsc-batch-{}-passwords.csv", self.built.len()),
        };
        Ok(Download {
            name,
            mime: CSV_MIME,
            bytes: batch::password_sheet(&self.built),
        })
    }

    /// The password sheet's lines, for the printable page.
    pub fn password_rows(&self) -> Result<Vec<SheetRow>, WebError> {
        self.check_done()?;
        Ok(self
            .built
            .iter()
            .map(|b| SheetRow {
                file: b.file_name(),
                uid: b.sealed.uid.to_string(),
                holder: b.holder.clone(),
                password: b.sealed.password.expose().to_owned(),
            })
            .collect())
    }

    /// The UIDs built so far, in order.
    pub fn uids(&self) -> Vec<String> {
        self.built
            .iter()
            .map(|b| b.sealed.uid.to_string())
            .collect()
    }

    /// The file names of the VSCs built so far, in order.
    pub fn file_names(&self) -> Vec<String> {
        self.built.iter().map(BatchEntry::file_name).collect()
    }

    fn check_done(&self) -> Result<(), WebError> {
        if self.built.is_empty() || !self.is_done() {
            return Err(WebError::new(
                Code::NothingBuilt,
                format!(
                    "{} of {} VSCs are built; press Build and wait until it finishes before downloading",
                    self.built.len(),
                    self.total()
                ),
            ));
        }
        Ok(())
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("; ")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn generic() -> Profile {
        crate::profiles::find("iso7816-generic").unwrap()
    }

    fn today() -> Date {
        Date::from_ymd(2026, 12, 1).unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn from_csv(text: &str) -> Result<Issuer, WebError> {
        Issuer::from_csv(generic(), text.as_bytes(), TextEncoding::Utf8, today())
    }

    /// The password of the sheet's row for `uid`.
    fn password_in(sheet: &str, uid: &str) -> String {
        let row = sheet.lines().find(|l| l.contains(uid)).unwrap();
        row.split(',').nth(2).unwrap().to_owned()
    }

    #[test]
    fn a_form_builds_one_vsc_that_opens_with_its_password() {
        let values = form(&[
            ("holder_name", "Émile Nguyễn-Müller 田中"),
            ("holder_id", "E-1"),
            ("email", "emile@example.org"),
        ]);
        assert!(check_form(&generic(), &values, today()).ok);
        let mut issuer = Issuer::from_form(generic(), &values, today()).unwrap();
        assert!(issuer.vsc_download().is_err());
        assert_eq!(issuer.build_next(10).unwrap(), 1);
        let vsc = issuer.vsc_download().unwrap();
        assert!(
            vsc.name.starts_with("E-1_Émile_Nguyễn-Müller_田中_"),
            "{}",
            vsc.name
        );
        assert!(vsc.name.ends_with(".vsc"));
        let sheet = issuer.password_download().unwrap();
        let sheet = String::from_utf8(sheet.bytes.to_vec()).unwrap();
        let uid = &issuer.uids()[0];
        let opened = crate::vsc_file::open(&vsc.bytes, &password_in(&sheet, uid)).unwrap();
        assert_eq!(opened.holder_name(), "Émile Nguyễn-Müller 田中");
        assert_eq!(opened.issued_on().as_deref(), Some("2026-12-01"));
        assert!(sheet.contains(&format!("{},{}", vsc.name, opened.uid())));
    }

    #[test]
    fn a_form_with_problems_reports_every_one_and_builds_nothing() {
        let values = form(&[("holder_name", ""), ("email", "not-an-email")]);
        let check = check_form(&generic(), &values, today());
        assert!(!check.ok);
        let columns: Vec<&str> = check.errors.iter().map(|e| e.column.as_str()).collect();
        assert!(columns.contains(&"holder_name"));
        assert!(columns.contains(&"holder_id"));
        assert!(columns.contains(&"email"));
        let error = Issuer::from_form(generic(), &values, today()).unwrap_err();
        assert_eq!(error.code, "invalid_input");
        // A private value is never repeated in a message.
        assert!(!error.message.contains("not-an-email"));
    }

    #[test]
    fn an_impossible_or_past_expiry_is_a_problem_not_an_empty_field() {
        for (expiry, reason) in [
            (
                "02/30/2031",
                "'02/30/2031' is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)",
            ),
            (
                "2031-02-30",
                "'2031-02-30' is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)",
            ),
            (
                "2026-11-30",
                "'2026-11-30' is not after today (2026-12-01); it must be a future date",
            ),
        ] {
            let values = form(&[
                ("holder_name", "A"),
                ("holder_id", "1"),
                ("expiry_date", expiry),
            ]);
            let check = check_form(&generic(), &values, today());
            assert_eq!(check.errors.len(), 1, "{expiry}");
            assert_eq!(check.errors[0].column, "expiry_date");
            assert_eq!(check.errors[0].reason, reason);
        }
    }

    #[test]
    fn a_csv_batch_becomes_a_zip_and_a_password_sheet() {
        let csv = "holder_name,holder_id\n\"Doe, Jane\",1\nBob,2\nAda,3\n";
        let check = check_csv(&generic(), csv.as_bytes(), TextEncoding::Utf8, today());
        assert_eq!(
            (check.count, check.delimiter.as_deref()),
            (3, Some("commas"))
        );
        let mut issuer = from_csv(csv).unwrap();
        assert_eq!(issuer.build_next(2).unwrap(), 2);
        assert!(issuer.vsc_download().is_err(), "not done yet");
        assert_eq!(issuer.build_next(2).unwrap(), 3);
        let zip = issuer.vsc_download().unwrap();
        assert_eq!(zip.mime, ZIP_MIME);
        assert_eq!(&zip.bytes[..4], b"PK\x03\x04");
        let names = issuer.file_names();
        assert!(names[0].starts_with("1_Doe_Jane_"), "{names:?}");
        let sheet = issuer.password_download().unwrap();
        assert!(sheet
            .bytes
            .starts_with("\u{FEFF}file,uid,password,holder\r\n".as_bytes()));
        let sheet = String::from_utf8(sheet.bytes.to_vec()).unwrap();
        assert_eq!(sheet.lines().count(), 4);
        assert!(sheet.contains(",\"1 Doe, Jane\"\r\n"), "{sheet}");
        let rows = issuer.password_rows().unwrap();
        for (uid, row) in issuer.uids().iter().zip(&rows) {
            assert_eq!(&row.uid, uid);
            assert_eq!(password_in(&sheet, uid), row.password);
        }
    }

    #[test]
    fn bad_csv_rows_are_listed_with_row_column_and_holder() {
        let csv = "holder_name,holder_id,expiry_date\nAda,1,2030-02-30\n,2,\n";
        let check = check_csv(&generic(), csv.as_bytes(), TextEncoding::Utf8, today());
        assert!(!check.ok);
        assert!(check
            .errors
            .iter()
            .any(|e| e.row == 2 && e.column == "expiry_date" && e.holder == "1 Ada"));
        assert!(check
            .errors
            .iter()
            .any(|e| e.row == 3 && e.column == "holder_name" && e.holder == "2"));
        assert_eq!(from_csv(csv).unwrap_err().code, "invalid_input");
    }

    #[test]
    fn a_windows_1252_file_is_a_file_error_until_its_encoding_is_chosen() {
        let bytes = b"holder_name,holder_id\r\nSiobh\xE1n,1\r\n";
        let check = check_csv(&generic(), bytes, TextEncoding::Utf8, today());
        assert!(!check.ok && check.errors.is_empty());
        assert!(check
            .file_error
            .unwrap()
            .contains("CSV UTF-8 (Comma delimited)"));
        let check = check_csv(&generic(), bytes, TextEncoding::Windows1252, today());
        assert!(check.ok);
    }
}
