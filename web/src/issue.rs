//! The issuer clerk's side: validate holder data from a form or a CSV file, build and seal one
//! VSC per holder, and produce the two downloads (the sealed VSCs, and the password sheet for
//! the separate channel to the branch).
//!
//! Validation problems are data ([`FormCheck`], [`CsvCheck`]), so the page can list them next
//! to the inputs or rows; building refuses input that has any. A batch is built a slice at a
//! time ([`Issuer::build_next`]) so the page can move a progress bar between slices.
//!
//! Secrets: holder data of private fields and the generated passwords stay in zeroizing types
//! until the clerk downloads the password sheet; the sheet's bytes are wiped once handed over.
//!
//! What this module does not do: touch files or the DOM (the page saves the downloads).

use std::collections::BTreeMap;

use serde::Serialize;
use vsc_core::holder::{self, HolderData};
use vsc_core::profile::Profile;
use vsc_core::vsc::{SealedVsc, Vsc};
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

/// The result of checking a CSV file: how many holders it has, or every problem, by row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvCheck {
    /// Whether the file can be built.
    pub ok: bool,
    /// Number of holders when `ok`.
    pub count: usize,
    /// The problems, in file order.
    pub errors: Vec<RowProblem>,
}

/// A problem in one row (or the header) of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// Line of the file (the header is row 1).
    pub row: usize,
    /// The column at fault, or empty for the whole row.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

/// Checks one holder's form values (`column -> raw input`).
pub fn check_form(profile: &Profile, values: &BTreeMap<String, String>) -> FormCheck {
    match holder::validate_record(profile, values) {
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

/// Checks a CSV export.
pub fn check_csv(profile: &Profile, text: &str) -> CsvCheck {
    match holder::parse_csv(profile, text) {
        Ok(records) => CsvCheck {
            ok: true,
            count: records.len(),
            errors: Vec::new(),
        },
        Err(errors) => CsvCheck {
            ok: false,
            count: 0,
            errors: errors
                .into_iter()
                .map(|e| RowProblem {
                    row: e.row,
                    column: e.column,
                    reason: e.reason,
                })
                .collect(),
        },
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

/// A batch of holders being built into sealed VSCs.
#[derive(Debug)]
pub struct Issuer {
    profile: Profile,
    /// Holders not built yet, in reverse order (the next one is last).
    pending: Vec<HolderData>,
    built: Vec<Built>,
    /// One block source for the whole batch, so a call for 10 VSCs does not fetch (and
    /// wipe unused) a fresh 4 KiB block; what is left is wiped with the issuer.
    rng: BlockOsRng,
}

#[derive(Debug)]
struct Built {
    holder_name: String,
    sealed: SealedVsc,
}

impl Issuer {
    /// A batch of one holder from a form; refused with every problem when the form has any.
    pub fn from_form(
        profile: Profile,
        values: &BTreeMap<String, String>,
    ) -> Result<Issuer, WebError> {
        match holder::validate_record(&profile, values) {
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

    /// A batch from a CSV export; refused with every problem when the file has any.
    pub fn from_csv(profile: Profile, text: &str) -> Result<Issuer, WebError> {
        match holder::parse_csv(&profile, text) {
            Ok(records) => Ok(Issuer::new(profile, records)),
            Err(errors) => Err(WebError::new(
                Code::InvalidInput,
                format!(
                    "the CSV file has {} problem(s); nothing was built. Fix the file and load it again: {}",
                    errors.len(),
                    join(errors.iter().map(ToString::to_string))
                ),
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
            let sealed = Vsc::build_sealed(&self.profile, &holder, &mut self.rng).map_err(|e| {
                WebError::new(
                    Code::BuildFailed,
                    format!(
                        "the VSC for holder {} could not be built: {e}",
                        self.built.len() + 1
                    ),
                )
            })?;
            let holder_name = holder.value("holder_name").unwrap_or_default().to_owned();
            self.built.push(Built {
                holder_name,
                sealed,
            });
        }
        Ok(self.built.len())
    }

    /// The sealed VSCs: `<uid>.vsc` for one holder, a stored ZIP of them for a batch.
    pub fn vsc_download(&self) -> Result<Download, WebError> {
        self.check_done()?;
        if let [one] = self.built.as_slice() {
            return Ok(Download {
                name: vsc_file_name(&one.sealed),
                mime: VSC_MIME,
                bytes: Zeroizing::new(one.sealed.bytes.clone()),
            });
        }
        let entries: Vec<(String, &[u8])> = self
            .built
            .iter()
            .map(|b| (vsc_file_name(&b.sealed), b.sealed.bytes.as_slice()))
            .collect();
        let bytes =
            zip::write(&entries).map_err(|e| WebError::new(Code::BuildFailed, e.to_string()))?;
        Ok(Download {
            name: format!("vsc-batch-{}.zip", self.built.len()),
            mime: ZIP_MIME,
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The password sheet: a CSV with one row per VSC (`file`, `uid`, `holder_name`,
    /// `password`), for the channel to the branch that is separate from the VSC files.
    pub fn password_download(&self) -> Result<Download, WebError> {
        self.check_done()?;
        const HEADER: &str = "file,uid,holder_name,password\r\n";
        // Sized up front (a quoted cell at most doubles, plus its quotes): the sheet never
        // reallocates, so no copy of a password is left in freed memory.
        let capacity = HEADER.len()
            + self
                .built
                .iter()
                .map(|b| {
                    let file = vsc_file_name(&b.sealed).len() + 36;
                    2 * (file + b.holder_name.len() + b.sealed.password.expose().len()) + 16
                })
                .sum::<usize>();
        let mut text = Zeroizing::new(String::with_capacity(capacity));
        text.push_str(HEADER);
        for built in &self.built {
            for (i, cell) in [
                vsc_file_name(&built.sealed).as_str(),
                built.sealed.uid.to_string().as_str(),
                built.holder_name.as_str(),
                built.sealed.password.expose(),
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    text.push(',');
                }
                push_csv_cell(&mut text, cell);
            }
            text.push_str("\r\n");
        }
        debug_assert!(
            text.len() <= capacity,
            "the password sheet outgrew its buffer"
        );
        let name = match self.built.as_slice() {
            [one] => format!("{}-password.csv", one.sealed.uid),
            _ => format!("vsc-batch-{}-passwords.csv", self.built.len()),
        };
        Ok(Download {
            name,
            mime: CSV_MIME,
            bytes: Zeroizing::new(std::mem::take(&mut *text).into_bytes()),
        })
    }

    /// The UIDs built so far, in order.
    pub fn uids(&self) -> Vec<String> {
        self.built
            .iter()
            .map(|b| b.sealed.uid.to_string())
            .collect()
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

fn vsc_file_name(sealed: &SealedVsc) -> String {
    format!("{}.vsc", sealed.uid)
}

/// Appends one CSV cell (RFC 4180: quoted when it holds a comma, a quote or a line break).
/// A cell starting with `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet does not run
/// it as a formula; a generated password never starts with one of these.
fn push_csv_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '-', '@']);
    let quote = formula || cell.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("; ")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn generic() -> Profile {
        Profile::builtin("iso7816-generic").unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_form_builds_one_vsc_that_opens_with_its_password() {
        let values = form(&[
            ("holder_name", "Émile Nguyễn-Müller 田中"),
            ("holder_id", "E-1"),
            ("email", "emile@example.org"),
        ]);
        assert!(check_form(&generic(), &values).ok);
        let mut issuer = Issuer::from_form(generic(), &values).unwrap();
        assert!(issuer.vsc_download().is_err());
        assert_eq!(issuer.build_next(10).unwrap(), 1);
        let vsc = issuer.vsc_download().unwrap();
        assert!(vsc.name.ends_with(".vsc"));
        let sheet = issuer.password_download().unwrap();
        let sheet = String::from_utf8(sheet.bytes.to_vec()).unwrap();
        let row = sheet.lines().nth(1).unwrap();
        let password = row.rsplit(',').next().unwrap();
        let opened = Vsc::open(&vsc.bytes, password).unwrap();
        assert_eq!(
            opened.public_value("holder_name").as_deref(),
            Some("Émile Nguyễn-Müller 田中")
        );
        assert!(row.starts_with(&format!("{},{}", vsc.name, opened.uid())));
    }

    #[test]
    fn a_form_with_problems_reports_every_one_and_builds_nothing() {
        let values = form(&[("holder_name", ""), ("email", "not-an-email")]);
        let check = check_form(&generic(), &values);
        assert!(!check.ok);
        let columns: Vec<&str> = check.errors.iter().map(|e| e.column.as_str()).collect();
        assert!(columns.contains(&"holder_name"));
        assert!(columns.contains(&"holder_id"));
        assert!(columns.contains(&"email"));
        let error = Issuer::from_form(generic(), &values).unwrap_err();
        assert_eq!(error.code, "invalid_input");
        // A private value is never repeated in a message.
        assert!(!error.message.contains("not-an-email"));
    }

    #[test]
    fn a_csv_batch_becomes_a_zip_and_a_password_sheet() {
        let csv = "holder_name,holder_id\n\"Doe, Jane\",1\nBob,2\nAda,3\n";
        assert_eq!(check_csv(&generic(), csv).count, 3);
        let mut issuer = Issuer::from_csv(generic(), csv).unwrap();
        assert_eq!(issuer.build_next(2).unwrap(), 2);
        assert!(issuer.vsc_download().is_err(), "not done yet");
        assert_eq!(issuer.build_next(2).unwrap(), 3);
        let zip = issuer.vsc_download().unwrap();
        assert_eq!(zip.mime, ZIP_MIME);
        assert_eq!(&zip.bytes[..4], b"PK\x03\x04");
        let sheet = issuer.password_download().unwrap();
        let sheet = String::from_utf8(sheet.bytes.to_vec()).unwrap();
        assert_eq!(sheet.lines().count(), 4);
        assert!(sheet.contains(",\"Doe, Jane\","));
        for uid in issuer.uids() {
            assert!(sheet.contains(&uid));
        }
    }

    #[test]
    fn bad_csv_rows_are_listed_with_row_and_column() {
        let csv = "holder_name,holder_id,expiry_date\nAda,1,2030-02-30\n,2,\n";
        let check = check_csv(&generic(), csv);
        assert!(!check.ok);
        assert!(check
            .errors
            .iter()
            .any(|e| e.row == 2 && e.column == "expiry_date"));
        assert!(check
            .errors
            .iter()
            .any(|e| e.row == 3 && e.column == "holder_name"));
        assert_eq!(
            Issuer::from_csv(generic(), csv).unwrap_err().code,
            "invalid_input"
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        push_csv_cell(&mut out, "a\"b");
        out.push(',');
        push_csv_cell(&mut out, "=cmd()");
        out.push(',');
        push_csv_cell(&mut out, "plain");
        assert_eq!(out, "\"a\"\"b\",\"'=cmd()\",plain");
    }
}
