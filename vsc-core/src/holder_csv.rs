//! Holder files: the bytes of a CSV export turned into validated holder data, or every
//! problem with it, in one verdict that the page, the CLI and the issuer service share.
//!
//! [`read`] decides, in this order, and stops at the first whole-file problem:
//!
//! 1. the size ([`MAX_CSV_BYTES`]);
//! 2. the encoding: UTF-8 with or without a byte order mark, or the encoding the clerk named
//!    explicitly ([`crate::text_encoding`]); anything else is refused with advice;
//! 3. the delimiter: a first line `sep=;` (as Excel writes it) names it; otherwise it is
//!    detected from the header row as the one of `,` `;` and tab that splits it into the most
//!    column names of the profile (`,` on a tie); a header in which no delimiter finds a column
//!    of the profile is refused up front, with the columns expected;
//! 4. then every row, each problem reported with the file's own line number (the header is
//!    line 1; a value spanning lines counts them all), the column, the holder the row is for
//!    ([`crate::profile::WhoSpec`]), and a reason; a holder id (`who.id`) that appears twice
//!    in the batch is a problem of the later row. At most [`MAX_PROBLEMS`] are listed; the
//!    last then says that the file was not checked further.
//!
//! Rows whose values are all empty are skipped. On success the holders are in file order.
//!
//! What this module does not do: open files (callers pass bytes), or build VSCs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use zeroize::Zeroizing;

use crate::date::Date;
use crate::holder::{check_record, column_list, who_label, HolderData};
use crate::profile::Profile;
use crate::text_encoding::{self, DecodeError, TextEncoding};

/// Largest holder file accepted, in bytes (about 500,000 holders of typical size).
pub const MAX_CSV_BYTES: u64 = 256 << 20;

/// Most problems listed for one file. Past it the file is not checked further and the last
/// problem says so: a clerk fixes a thousand before reading on, and a file of one-character
/// rows would otherwise need hundreds of bytes of messages per byte it holds.
pub const MAX_PROBLEMS: usize = 1000;

/// How to read a holder file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// The file's encoding: UTF-8 unless the clerk named another.
    pub encoding: TextEncoding,
    /// The day date ranges are checked against (the caller's local date).
    pub today: Date,
}

/// The character between values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delimiter {
    /// `,` (RFC 4180; Excel's "CSV (Comma delimited)" in most locales).
    Comma,
    /// `;` (Excel's CSV where the decimal separator is a comma).
    Semicolon,
    /// A tab.
    Tab,
}

impl Delimiter {
    /// Every delimiter, in the order ties are broken.
    const ALL: [Delimiter; 3] = [Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab];

    /// The byte.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }

    fn from_char(c: char) -> Option<Delimiter> {
        Delimiter::ALL
            .into_iter()
            .find(|d| char::from(d.byte()) == c)
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delimiter::Comma => "commas",
            Delimiter::Semicolon => "semicolons",
            Delimiter::Tab => "tabs",
        })
    }
}

/// The holders of a valid file.
#[derive(Debug)]
pub struct HolderRows {
    /// One entry per holder, in file order.
    pub rows: Vec<HolderRow>,
    /// The delimiter the file uses.
    pub delimiter: Delimiter,
    /// The encoding the file was read in.
    pub encoding: TextEncoding,
}

impl HolderRows {
    /// The holders' data, in file order.
    pub fn into_holders(self) -> Vec<HolderData> {
        self.rows.into_iter().map(|row| row.data).collect()
    }
}

/// One holder of a file.
#[derive(Debug)]
pub struct HolderRow {
    /// The file line where the holder's record starts.
    pub line: usize,
    /// The validated data.
    pub data: HolderData,
}

/// Why a holder file was refused. Nothing of it may be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The file as a whole cannot be read; no row was checked.
    #[error("{0}")]
    File(FileProblem),
    /// These rows (the header included) have problems; every one is listed.
    #[error("{} problem(s) in the file: {}", .0.len(), RowList(.0))]
    Rows(Vec<RowError>),
}

/// A problem with the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileProblem {
    /// Larger than [`MAX_CSV_BYTES`].
    #[error("the file is {bytes} bytes, more than the {max} bytes a batch may have: split it into several files")]
    TooLarge {
        /// The file's size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes are not text in the expected encoding.
    #[error(transparent)]
    Encoding(#[from] DecodeError),
    /// Nothing but whitespace.
    #[error("the file is empty; it needs a header row with the columns {expected}, then one row per holder")]
    Empty {
        /// The profile's columns.
        expected: String,
    },
    /// The header row names no column of the profile, whichever delimiter splits it.
    #[error("the first line does not name the columns of profile {profile}: it reads {header}. The first line must be a header row with the columns {expected}, separated by commas (or semicolons, or tabs)")]
    NoHeader {
        /// The profile id.
        profile: String,
        /// The first line, quoted and shortened.
        header: String,
        /// The profile's columns.
        expected: String,
    },
    /// A header, but no holder.
    #[error("the file has a header row but no holder rows; add one row per holder")]
    NoRows,
}

/// A problem in one row (or the header) of a holder file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file line where the record starts (the header is line 1).
    pub row: usize,
    /// The column at fault, or empty when the problem concerns the whole row.
    pub column: String,
    /// Who the row is for (public values only; empty for the header or when unknown).
    pub holder: String,
    /// What is wrong, for the clerk who prepared the file.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if !self.holder.is_empty() {
            write!(f, " ({})", self.holder)?;
        }
        if !self.column.is_empty() {
            write!(f, ", column {}", self.column)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for RowError {}

struct RowList<'a>(&'a [RowError]);

impl fmt::Display for RowList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Reads a holder file: decodes it, finds its delimiter, and validates every row.
pub fn read(profile: &Profile, bytes: &[u8], options: &CsvOptions) -> Result<HolderRows, CsvError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_CSV_BYTES {
        return Err(CsvError::File(FileProblem::TooLarge {
            bytes: size,
            max: MAX_CSV_BYTES,
        }));
    }
    let text = text_encoding::decode(bytes, options.encoding)
        .map_err(|e| CsvError::File(FileProblem::Encoding(e)))?;
    let (rows, delimiter) = parse(profile, &text, options.today)?;
    Ok(HolderRows {
        rows,
        delimiter,
        encoding: options.encoding,
    })
}

fn parse(
    profile: &Profile,
    text: &str,
    today: Date,
) -> Result<(Vec<HolderRow>, Delimiter), CsvError> {
    if text.trim().is_empty() {
        return Err(CsvError::File(FileProblem::Empty {
            expected: column_list(profile),
        }));
    }
    let (delimiter, body, first_line) = delimiter_of(profile, text)?;
    let mut records = Records::new(body, delimiter);
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut absent = BTreeSet::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(line) = records.next_record() {
        let row = line + first_line - 1;
        if errors.len() >= MAX_PROBLEMS - 1 {
            stop_listing(&mut errors, row);
            break;
        }
        let record = records.fields();
        let Some(columns) = &header else {
            let columns: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
            absent = check_header(profile, &columns, row, &mut errors);
            header = Some(columns);
            if errors.len() >= MAX_PROBLEMS - 1 {
                stop_listing(&mut errors, row);
                break;
            }
            continue;
        };
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let lookup = |column: &str| {
            columns
                .iter()
                .position(|c| c == column)
                .and_then(|i| record.get(i).copied())
        };
        let public = |field: &str| {
            profile
                .field(field)
                .and_then(|f| lookup(&f.column))
                .map(str::trim)
        };
        let holder = printable(&who_label(&profile.who, public));
        if record.len() != columns.len() {
            errors.push(RowError {
                row,
                column: String::new(),
                holder,
                reason: format!(
                    "has {} values but the header has {} columns; check for a missing or extra {}, or an unquoted {} inside a value",
                    record.len(),
                    columns.len(),
                    separator_name(delimiter),
                    separator_name(delimiter),
                ),
            });
            continue;
        }
        if let Some(duplicate) = duplicate_id(profile, &public, row, &mut ids) {
            errors.push(RowError {
                holder: holder.clone(),
                ..duplicate
            });
        }
        match check_record(profile, lookup, &absent, today) {
            Ok(data) => rows.push(HolderRow { line: row, data }),
            Err(field_errors) => errors.extend(field_errors.into_iter().map(|e| RowError {
                row,
                column: e.column,
                holder: holder.clone(),
                reason: e.reason,
            })),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(CsvError::Rows(errors));
    }
    if rows.is_empty() {
        return Err(CsvError::File(FileProblem::NoRows));
    }
    Ok((rows, delimiter))
}

/// Ends the list at [`MAX_PROBLEMS`], the last one saying that the file was not checked from
/// `row` on.
fn stop_listing(errors: &mut Vec<RowError>, row: usize) {
    errors.truncate(MAX_PROBLEMS - 1);
    errors.push(RowError {
        row,
        column: String::new(),
        holder: String::new(),
        reason: format!(
            "the file has more than {} problems and was not checked from this row on; fix the problems listed and load it again",
            MAX_PROBLEMS - 1
        ),
    });
}

/// `who.id` of a row, when it was already the id of an earlier row.
fn duplicate_id<'v>(
    profile: &Profile,
    public: &impl Fn(&str) -> Option<&'v str>,
    row: usize,
    ids: &mut BTreeMap<String, usize>,
) -> Option<RowError> {
    let field = profile.who.id.as_deref()?;
    let id = public(field).filter(|v| !v.is_empty())?;
    match ids.get(id) {
        Some(&first) => Some(RowError {
            row,
            column: profile.field(field)?.column.clone(),
            holder: String::new(),
            reason: format!(
                "'{id}' is already the holder ID on row {first}; each holder may appear only once in a batch"
            ),
        }),
        None => {
            ids.insert(id.to_owned(), row);
            None
        }
    }
}

/// The file's delimiter, the text from its header on, and the header's line number.
fn delimiter_of<'t>(
    profile: &Profile,
    text: &'t str,
) -> Result<(Delimiter, &'t str, usize), CsvError> {
    // Blank lines before the header do not count as rows, but do count as lines.
    let start = text.len() - text.trim_start_matches(['\r', '\n']).len();
    let skipped = text[..start].matches('\n').count();
    let text = &text[start..];
    let first = text.lines().next().unwrap_or_default();
    // Excel's `sep=X` line, as written (a tab is a delimiter too: nothing is trimmed).
    if let Some(named) = first
        .strip_prefix("sep=")
        .and_then(|rest| rest.chars().next())
        .and_then(Delimiter::from_char)
    {
        let body = text.split_once('\n').map_or("", |(_, rest)| rest);
        return Ok((named, body, skipped + 2));
    }
    let known = |delimiter: Delimiter| -> usize {
        let mut header = Records::new(first, delimiter);
        if header.next_record().is_none() {
            return 0;
        }
        header
            .fields()
            .iter()
            .filter(|c| profile.fields.iter().any(|f| f.column == c.trim()))
            .count()
    };
    let mut best = (Delimiter::Comma, 0);
    for delimiter in Delimiter::ALL {
        let count = known(delimiter);
        if count > best.1 {
            best = (delimiter, count);
        }
    }
    if best.1 == 0 {
        return Err(CsvError::File(FileProblem::NoHeader {
            profile: profile.id.clone(),
            header: quote_line(first),
            expected: column_list(profile),
        }));
    }
    Ok((best.0, text, skipped + 1))
}

/// The first line, quoted for a message and shortened. A header line holds column names,
/// not holder data; a file without a header may show a holder's public or private values
/// here, so only the first 40 characters are shown.
fn quote_line(line: &str) -> String {
    const MAX: usize = 40;
    let line = printable(line.trim());
    if line.chars().count() > MAX {
        format!("'{}…'", line.chars().take(MAX).collect::<String>())
    } else {
        format!("'{line}'")
    }
}

/// Text from the file as a message may echo it: control characters (a line break inside a
/// column name, a tab in a name) written as escapes, so that one problem stays one line.
fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn separator_name(delimiter: Delimiter) -> &'static str {
    match delimiter {
        Delimiter::Comma => "comma",
        Delimiter::Semicolon => "semicolon",
        Delimiter::Tab => "tab",
    }
}

/// Checks the header row and returns the profile columns it lacks (whose problems are
/// reported once here rather than on every row).
fn check_header(
    profile: &Profile,
    columns: &[String],
    row: usize,
    errors: &mut Vec<RowError>,
) -> BTreeSet<String> {
    let header_error = |column: &str, reason: String| RowError {
        row,
        column: printable(column),
        holder: String::new(),
        reason,
    };
    let mut seen = BTreeSet::new();
    for (index, column) in columns.iter().enumerate() {
        if errors.len() >= MAX_PROBLEMS - 1 {
            // The caller ends the list with a word on why.
            break;
        }
        if column.is_empty() {
            errors.push(header_error(
                "",
                format!(
                    "header column {} has no name; name it or delete the empty column",
                    index + 1
                ),
            ));
        } else if !profile.fields.iter().any(|f| &f.column == column) {
            errors.push(header_error(
                column,
                format!(
                    "is not a column of profile {}; expected {}",
                    profile.id,
                    column_list(profile)
                ),
            ));
        } else if !seen.insert(column.as_str()) {
            errors.push(header_error(
                column,
                "appears more than once in the header".into(),
            ));
        }
    }
    let mut absent = BTreeSet::new();
    for field in &profile.fields {
        if !seen.contains(field.column.as_str()) {
            if field.required {
                errors.push(header_error(
                    &field.column,
                    format!(
                        "required column is missing from the header ({})",
                        field.label
                    ),
                ));
            }
            absent.insert(field.column.clone());
        }
    }
    absent
}

/// The records of CSV text (RFC 4180 quoting; lines end in LF, CRLF or CR), each with the
/// line it starts on. Unquoted values are taken as they are; the text never fails to parse.
/// Field data lands in buffers that are wiped when they grow or are dropped, since it is
/// private holder data.
struct Records<'t> {
    parser: csv_core::Reader,
    input: &'t str,
    /// Bytes of `input` consumed so far.
    at: usize,
    /// The line `at` is on.
    line: usize,
    output: Zeroizing<Vec<u8>>,
    ends: Vec<usize>,
    fields: usize,
}

impl<'t> Records<'t> {
    fn new(input: &'t str, delimiter: Delimiter) -> Records<'t> {
        Records {
            parser: csv_core::ReaderBuilder::new()
                .delimiter(delimiter.byte())
                .build(),
            input,
            at: 0,
            line: 1,
            output: Zeroizing::new(vec![0; 1024]),
            ends: vec![0; 32],
            fields: 0,
        }
    }

    /// Reads the next record; returns the line it starts on, or `None` at the end.
    fn next_record(&mut self) -> Option<usize> {
        // Blank lines between records are skipped by the parser; the record starts after them.
        let bytes = self.input.as_bytes();
        let blank = bytes[self.at..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let start_line = self.line + line_breaks(bytes, self.at..self.at + blank);
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            let (result, read, written, ended) = self.parser.read_record(
                &bytes[self.at..],
                &mut self.output[out_len..],
                &mut self.ends[ends_len..],
            );
            self.line += line_breaks(bytes, self.at..self.at + read);
            self.at += read;
            out_len += written;
            ends_len += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    // A bigger buffer; the old one is wiped as it is dropped.
                    let mut bigger = Zeroizing::new(vec![0; self.output.len() * 2]);
                    bigger[..out_len].copy_from_slice(&self.output[..out_len]);
                    self.output = bigger;
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.ends.resize(self.ends.len() * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.fields = ends_len;
                    return Some(start_line);
                }
                csv_core::ReadRecordResult::End => return None,
            }
        }
    }

    /// The fields of the record last read. Fields are cut at ASCII delimiters and quotes of
    /// UTF-8 text, so each is UTF-8; one that were not would read as empty.
    fn fields(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends[..self.fields]
            .iter()
            .map(|&end| {
                let field = std::str::from_utf8(&self.output[start..end]).unwrap_or_default();
                start = end;
                field
            })
            .collect()
    }
}

/// Line ends in `bytes[range]`: LF, CRLF (counted at its LF) and a CR on its own (old Mac
/// files).
fn line_breaks(bytes: &[u8], range: std::ops::Range<usize>) -> usize {
    range
        .filter(|&i| bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}
