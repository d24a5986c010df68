//! One verdict for the same holder file, wherever a clerk loads it: a property test that
//! feeds the same bytes to the page's entry point (the page's own WebAssembly, `web/pkg`, run
//! in Node.js by `tests/node/page-entry.mjs`: `checkCsv`, then `Issuer.fromCsv` as the Build
//! button does) and to the CLI's (`vsc build`, the binary), with the same encoding choice and
//! the same day, and expects the same verdict (built, or refused with the same problems) and
//! the same sealed values (every VSC opened with its password holds the same data objects,
//! under the same file name but for the random UID).
//!
//! The files are CSV exports as spreadsheets write them: any of the three delimiters, an
//! Excel `sep=` line or not, a byte order mark or not, LF or CRLF, quoted values, accented and
//! CJK names, impossible and out-of-range dates, duplicate holder ids, a column the profile
//! does not have, sometimes saved in Windows-1252, sometimes with one byte damaged.
#![cfg(not(target_arch = "wasm32"))]

mod page;

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use vsc_core::vsc::Vsc;

/// The day both sides check dates against: 2026-12-01 (noon UTC, for the CLI's
/// `SOURCE_DATE_EPOCH`).
const TODAY: &str = "2026-12-01";
const TODAY_EPOCH: &str = "1796126400";

/// Generated files per run.
const CASES: u32 = 96;

/// The page's entry point, running in Node.js.
struct PageEntry {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl PageEntry {
    fn start(root: &Path) -> PageEntry {
        page::ensure_web_pkg(root);
        let mut child = Command::new("node")
            .arg(root.join("web/tests/node/page-entry.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node (scripts/test installs nodejs)");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        PageEntry {
            child,
            input,
            output,
        }
    }

    fn ask(&mut self, bytes: &[u8], encoding: &str) -> Value {
        let job = json!({
            "csv": base64::engine::general_purpose::STANDARD.encode(bytes),
            "encoding": encoding,
            "today": TODAY,
        });
        writeln!(self.input, "{job}").expect("write to the page entry");
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .expect("read the page entry's answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("page entry answered {line:?}: {e}"))
    }
}

impl Drop for PageEntry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one side made of a file.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Built: per VSC, its file name without the UID, and its data objects as opened.
    Built(Vec<(String, Vec<(String, String)>)>),
    /// The whole file refused, with this explanation.
    File(String),
    /// Rows refused, each problem as `row R (holder), column C: reason`.
    Rows(Vec<String>),
}

/// A VSC's file name without its random UID, and what it holds (public and private fields).
fn sealed_values(file: &str, vsc_bytes: &[u8], password: &str) -> (String, Vec<(String, String)>) {
    let vsc = Vsc::open(vsc_bytes, password).expect("a built VSC opens with its password");
    let uid = vsc.uid().to_string();
    let stem = file.replace(&uid, "");
    let mut values = vsc.public_fields();
    values.extend(
        vsc.private_fields()
            .into_iter()
            .map(|(name, value)| (name, value.expose().to_owned())),
    );
    (stem, values)
}

fn page_verdict(answer: &Value) -> Verdict {
    let check = &answer["check"];
    assert!(answer.get("error").is_none(), "the page threw: {answer}");
    if check["ok"] == json!(true) {
        let built = answer["built"].as_array().expect("built VSCs");
        return Verdict::Built(
            built
                .iter()
                .map(|b| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b["vsc"].as_str().unwrap())
                        .unwrap();
                    sealed_values(
                        b["file"].as_str().unwrap(),
                        &bytes,
                        b["password"].as_str().unwrap(),
                    )
                })
                .collect(),
        );
    }
    if let Some(problem) = check["file_error"].as_str() {
        return Verdict::File(problem.to_owned());
    }
    Verdict::Rows(
        check["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut line = format!("row {}", e["row"]);
                let holder = e["holder"].as_str().unwrap();
                if !holder.is_empty() {
                    line.push_str(&format!(" ({holder})"));
                }
                let column = e["column"].as_str().unwrap();
                if !column.is_empty() {
                    line.push_str(&format!(", column {column}"));
                }
                line.push_str(&format!(": {}", e["reason"].as_str().unwrap()));
                line
            })
            .collect(),
    )
}

fn cli_verdict(vsc: &Path, bytes: &[u8], encoding: &str) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("holders.csv");
    std::fs::write(&csv, bytes).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(vsc)
        .env("SOURCE_DATE_EPOCH", TODAY_EPOCH)
        .args([
            "build",
            "--profile",
            "iso7816-generic",
            "--encoding",
            encoding,
        ])
        .arg("--csv")
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run vsc build");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        let sheet = std::fs::read_to_string(out.join("passwords.csv")).unwrap();
        return Verdict::Built(
            sheet
                .lines()
                .skip(1)
                .map(|line| {
                    let cells: Vec<&str> = line.splitn(4, ',').collect();
                    let bytes = std::fs::read(out.join(cells[0])).unwrap();
                    sealed_values(cells[0], &bytes, cells[2])
                })
                .collect(),
        );
    }
    assert_eq!(
        output.status.code(),
        Some(2),
        "bad input is exit code 2: {stderr}"
    );
    let prefix = format!("{}: ", csv.display());
    let rows: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter(|line| line.starts_with("row "))
        .map(str::to_owned)
        .collect();
    if rows.is_empty() {
        Verdict::File(stderr)
    } else {
        Verdict::Rows(rows)
    }
}

/// The columns a generated file may have: good values, then values with a problem.
const COLUMNS: &[(&str, &[&str], &[&str])] = &[
    (
        "holder_name",
        &[
            "Ada Lovelace",
            "Émile Nguyễn-Müller 田中",
            "Siobhán O'Brien",
            "José Álvarez",
            "Zoë \"Z\" Smith",
            "Ünïcödé, with a comma; and a semicolon",
        ],
        &[
            "",
            "Tab\tinside",
            "A name far too long to fit on the card, which holds at most sixty-four of them",
        ],
    ),
    // Good holder ids are made unique per row (see `value`); these repeat.
    ("holder_id", &["E-", "=1+", "Z-"], &["", "E-1", "E-1"]),
    ("issuer_name", &["", "Banque Étoile"], &[]),
    (
        "expiry_date",
        &["", "2031-12-31", "2076-12-01", "2026-12-02"],
        &[
            "2020-01-01",
            "02/30/2031",
            "2031-02-30",
            "2090-01-01",
            "2026-12-01",
        ],
    ),
    (
        "issue_date",
        &["", "2026-12-01", "2020-05-05"],
        &["2026-12-02"],
    ),
    ("email", &["", "a@b.example"], &["not-an-email"]),
    (
        "date_of_birth",
        &["", "1990-01-31", "1876-12-01"],
        &["2027-01-01", "1800-01-01", "2026-12-01"],
    ),
    (
        "address",
        &["", "1 Main St", "Flat 2\nDublin", "rue de l'Église; Paris"],
        &[],
    ),
    ("phone", &[], &["", "555"]),
];

/// The value of column `column` in row `row`: a good one unless `pick` falls on a bad one
/// (about one cell in forty).
fn value(column: usize, row: usize, pick: usize) -> String {
    let (name, good, bad) = COLUMNS[column];
    if pick % 40 == 0 && !bad.is_empty() {
        return bad[pick / 40 % bad.len()].to_owned();
    }
    if good.is_empty() {
        return String::new();
    }
    let chosen = good[pick % good.len()];
    if name == "holder_id" {
        format!("{chosen}{row}")
    } else {
        chosen.to_owned()
    }
}

/// A value as a spreadsheet writes it: quoted when it must be (or when `always`).
fn cell(value: &str, delimiter: char, always: bool) -> String {
    let needs = value.contains([delimiter, '"', '\n', '\r']);
    if needs || always {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// Latin-1 bytes of `text` (what Windows-1252 writes for these characters), if every
/// character has one.
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| match u32::from(c) {
            n @ (0..=0x7F | 0xA0..=0xFF) => Some(n as u8),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone)]
struct File {
    bytes: Vec<u8>,
    encoding: &'static str,
}

fn holder_file() -> impl Strategy<Value = File> {
    // Mostly the two required columns and some others; sometimes one of them is missing, or a
    // column the profile does not know is there.
    let columns = (
        proptest::sample::subsequence((2..COLUMNS.len() - 1).collect::<Vec<_>>(), 0..=6),
        proptest::bool::weighted(0.9),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(others, required, unknown)| {
            let mut columns: Vec<usize> = if required { vec![0, 1] } else { vec![0] };
            columns.extend(others);
            if unknown {
                columns.push(COLUMNS.len() - 1);
            }
            columns
        })
        .prop_shuffle();
    let rows =
        proptest::collection::vec(proptest::collection::vec(0usize..4000, COLUMNS.len()), 1..5);
    let shape = (
        any::<bool>(),                  // a byte order mark
        proptest::bool::weighted(0.2),  // an Excel sep= line
        any::<bool>(),                  // every value quoted
        proptest::bool::weighted(0.15), // saved as Windows-1252
        proptest::bool::weighted(0.05), // no header row
    );
    (
        columns,
        rows,
        prop_oneof![Just(','), Just(';'), Just('\t')],
        shape,
        prop_oneof![Just("\n"), Just("\r\n")],
        proptest::bool::weighted(0.2),
        proptest::option::weighted(0.05, (any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(
            |(columns, rows, delimiter, shape, eol, name_encoding, damage)| {
                let (bom, sep_line, quote_all, latin, no_header) = shape;
                let mut text = String::new();
                if bom {
                    text.push('\u{FEFF}');
                }
                if sep_line {
                    text.push_str(&format!("sep={delimiter}{eol}"));
                }
                let separator = delimiter.to_string();
                if !no_header {
                    let header: Vec<String> = columns
                        .iter()
                        .map(|&c| cell(COLUMNS[c].0, delimiter, quote_all))
                        .collect();
                    text.push_str(&header.join(&separator));
                    text.push_str(eol);
                }
                for (number, picks) in rows.iter().enumerate() {
                    let values: Vec<String> = columns
                        .iter()
                        .map(|&c| cell(&value(c, number, picks[c]), delimiter, quote_all))
                        .collect();
                    text.push_str(&values.join(&separator));
                    text.push_str(eol);
                }
                let windows = latin
                    .then(|| latin1(text.trim_start_matches('\u{FEFF}')))
                    .flatten();
                // The clerk names Windows-1252 for most files saved so, and sometimes for
                // others, by mistake.
                let encoding = if windows.is_some() != name_encoding {
                    "windows-1252"
                } else {
                    "utf-8"
                };
                let mut bytes = windows.unwrap_or_else(|| text.into_bytes());
                if let Some((at, byte)) = damage {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
                File { bytes, encoding }
            },
        )
}

#[test]
fn the_page_and_the_cli_reach_the_same_verdict_and_seal_the_same_values() {
    let root = page::repo_root();
    let vsc = vsc_tests::cargo_bin("vsc");
    let page_entry = RefCell::new(PageEntry::start(&root));
    let (built, refused) = (Cell::new(0), Cell::new(0));
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&holder_file(), |file| {
        let page = page_verdict(&page_entry.borrow_mut().ask(&file.bytes, file.encoding));
        let cli = cli_verdict(&vsc, &file.bytes, file.encoding);
        match (&page, &cli) {
            (Verdict::File(page_problem), Verdict::File(cli_message)) => {
                prop_assert!(
                    cli_message.contains(page_problem.as_str()),
                    "the page said {page_problem:?}; the CLI said {cli_message:?}"
                );
            }
            _ => prop_assert_eq!(&page, &cli),
        }
        let counter = if matches!(page, Verdict::Built(_)) {
            &built
        } else {
            &refused
        };
        counter.set(counter.get() + 1);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("the page and the CLI disagree: {failure}");
    }
    println!(
        "same verdict in the page (wasm) and the CLI for {CASES} generated holder files: {} built, {} refused",
        built.get(),
        refused.get()
    );
    assert!(
        built.get() > 0 && refused.get() > 0,
        "the files cover both verdicts"
    );
}
