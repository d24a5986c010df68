//! A batch of sealed VSCs as the issuer hands it out: one file per VSC, named so a person can
//! tell them apart, and the password sheet that goes to the branch by another channel. The
//! CLI (`vsc build`) and the page build, name and list batches through this module alone, so
//! both write the same files and the same sheet.
//!
//! File names: `<holder id>_<holder name>_<uid>.vsc` (the profile's `who` fields), reduced
//! to letters, digits, `-` and `_` so that every file system and ZIP tool takes them;
//! `<uid>.vsc` when the holder has neither.
//!
//! The password sheet: CSV (RFC 4180, CRLF) starting with a UTF-8 byte order mark, so that
//! Excel opens it as UTF-8; columns `file,uid,password,holder`, one row per VSC in batch
//! order. A cell starting with `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet does
//! not run it as a formula. The sheet is written by hand into one buffer sized up front
//! (rather than with the `csv` crate's writer, whose internal buffer is not wiped): it holds
//! every password of the batch, and must leave no copy behind.
//!
//! What this module does not do: write files or ZIP archives (the CLI and the page do).

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::holder::HolderData;
use crate::profile::Profile;
use crate::vsc::{BuildError, SealedVsc, Vsc};

/// The password sheet's header row.
pub const PASSWORD_SHEET_HEADER: &str = "file,uid,password,holder";

/// Characters that never go into a file name: path and drive separators, wildcards, quotes,
/// shell metacharacters and punctuation.
const SEPARATORS: &str = "/\\:*?\"<>|'`.,;!#$%&()[]{}=+~^@";

/// Longest holder part of a file name, in characters.
const MAX_NAME_CHARS: usize = 64;

/// One built VSC of a batch, with who it is for.
#[derive(Debug)]
pub struct BatchEntry {
    /// Who the VSC is for (the profile's `who` fields: `E-1002 Siobhán O'Brien`).
    pub holder: String,
    /// The sealed VSC and its password.
    pub sealed: SealedVsc,
}

impl BatchEntry {
    /// Builds and seals the VSC of one holder at `built_at_ms` (see [`Vsc::build`]).
    pub fn build(
        profile: &Profile,
        holder: &HolderData,
        built_at_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<BatchEntry, BuildError> {
        let sealed = Vsc::build_sealed(profile, holder, built_at_ms, rng)?;
        Ok(BatchEntry {
            holder: holder.who(&profile.who),
            sealed,
        })
    }

    /// The file name of this VSC in the batch.
    pub fn file_name(&self) -> String {
        vsc_file_name(&self.holder, self.sealed.uid)
    }
}

/// `<holder>_<uid>.vsc`, the holder part reduced to characters every file system takes.
pub fn vsc_file_name(holder: &str, uid: uuid::Uuid) -> String {
    let mut name = String::with_capacity(holder.len() + 42);
    let mut pending_separator = false;
    for c in holder.chars().take(MAX_NAME_CHARS) {
        // Letters and digits of any script are kept; what separates words, quotes, or means
        // something to a file system, a shell or an archive tool is not. A leading `-` would
        // read as an option on a command line. (A deny list rather than `is_alphanumeric`,
        // whose Unicode tables the page's WebAssembly would carry.)
        let separator = c.is_control()
            || c.is_whitespace()
            || SEPARATORS.contains(c)
            || (c == '-' && name.is_empty());
        if !separator {
            if pending_separator && !name.is_empty() {
                name.push('_');
            }
            pending_separator = false;
            name.push(c);
        } else {
            pending_separator = true;
        }
    }
    if !name.is_empty() {
        name.push('_');
    }
    name.push_str(&uid.to_string());
    name.push_str(".vsc");
    name
}

/// The password sheet of a batch (see the module documentation), wiped on drop.
pub fn password_sheet(entries: &[BatchEntry]) -> Zeroizing<Vec<u8>> {
    const BOM: &str = "\u{FEFF}";
    let names: Vec<String> = entries.iter().map(BatchEntry::file_name).collect();
    // A quoted cell at most doubles, plus its quotes and a formula prefix; plus separators.
    let capacity = BOM.len()
        + PASSWORD_SHEET_HEADER.len()
        + 2
        + entries
            .iter()
            .zip(&names)
            .map(|(entry, name)| {
                let cells = name.len() + 36 + entry.sealed.password.expose().len();
                2 * (cells + entry.holder.len()) + 4 * 3 + 3 + 2
            })
            .sum::<usize>();
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    text.push_str(BOM);
    text.push_str(PASSWORD_SHEET_HEADER);
    text.push_str("\r\n");
    for (entry, name) in entries.iter().zip(&names) {
        let uid = entry.sealed.uid.to_string();
        let cells = [
            name.as_str(),
            uid.as_str(),
            entry.sealed.password.expose(),
            entry.holder.as_str(),
        ];
        for (i, cell) in cells.into_iter().enumerate() {
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
    Zeroizing::new(std::mem::take(&mut *text).into_bytes())
}

/// Appends one CSV cell (RFC 4180: quoted when it holds a comma, a quote or a line break;
/// a leading formula character defused with `'`).
///
/// Written here rather than with `csv-core`'s writer (which this crate uses to read holder
/// files): that writer has no formula defusing, and its quoting style is set per writer, not
/// per cell, while a defused cell is quoted and a plain one is not.
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

#[cfg(test)]
mod tests {
    use super::*;

    const UID: uuid::Uuid = uuid::uuid!("0e8b4b35-7a0c-4d6e-9f1a-2b3c4d5e6f70");

    #[test]
    fn file_names_start_with_the_holder_and_end_with_the_uid() {
        assert_eq!(
            vsc_file_name("E-1002 Siobhán O'Brien", UID),
            "E-1002_Siobhán_O_Brien_0e8b4b35-7a0c-4d6e-9f1a-2b3c4d5e6f70.vsc"
        );
        assert_eq!(
            vsc_file_name("", UID),
            "0e8b4b35-7a0c-4d6e-9f1a-2b3c4d5e6f70.vsc"
        );
        // Nothing a file system or an archive tool would read as a path or a device.
        let name = vsc_file_name("../..\\C:/x<y>|z?*\" \u{7}田中", UID);
        assert_eq!(
            name,
            "C_x_y_z_田中_0e8b4b35-7a0c-4d6e-9f1a-2b3c4d5e6f70.vsc"
        );
        assert!(vsc_file_name("-rf", UID).starts_with("rf_"));
        let long = vsc_file_name(&"a".repeat(500), UID);
        assert_eq!(long.len(), MAX_NAME_CHARS + 1 + 36 + 4);
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        push_csv_cell(&mut out, "a\"b");
        out.push(',');
        push_csv_cell(&mut out, "=cmd()");
        out.push(',');
        push_csv_cell(&mut out, "plain");
        assert_eq!(out, "\"a\"\"b\",\"'=cmd()\",plain");
    }
}
