//! Helpers shared by the `vsc` integration tests: running the binary and building batches.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// Holders whose names must survive intact: accents, Vietnamese, emoji, CJK, an apostrophe,
/// and a multi-line address.
pub const GOOD_CSV: &str = "\
holder_name,holder_id,issuer_name,expiry_date,email,date_of_birth,address
Émile Nguyễn-Müller 🙂 田中,E-1,Banque Étoile,2031-12-31,emile@example.org,1980-02-29,\"1 rue de l'Église
75001 Paris\"
O'Brien,E-2,,,,,
Ada Lovelace,E-3,,2030-01-01,ada@example.com,1915-12-10,
";

/// 2026-12-01, as seconds since 1970 (noon UTC): the day holder dates are checked against.
pub const TEST_DAY_EPOCH: &str = "1796126400";

/// The `vsc` binary, checking dates against the tests' fixed day.
pub fn vsc() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vsc"));
    command.env("SOURCE_DATE_EPOCH", TEST_DAY_EPOCH);
    command
}

/// Runs `vsc` with `args` and no standard input; returns its output.
pub fn run(args: &[&str]) -> Output {
    vsc()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vsc")
}

/// Runs `vsc` with `args` and `input` on standard input.
pub fn run_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = vsc()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vsc");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for vsc")
}

/// Standard output and standard error as text.
pub fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts success, showing both streams otherwise; returns standard output.
pub fn ok(output: &Output) -> String {
    let (stdout, stderr) = texts(output);
    assert!(
        output.status.success(),
        "vsc failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

/// One built VSC: its file and password.
#[derive(Debug, Clone)]
pub struct Built {
    /// The UID.
    pub uid: String,
    /// Who it is for, as the password sheet says.
    pub holder: String,
    /// The `.vsc` file.
    pub file: PathBuf,
    /// The password from passwords.csv.
    pub password: String,
    /// A file holding the password.
    pub password_file: PathBuf,
}

/// A batch built by `vsc build` in a temporary directory.
pub struct Batch {
    /// Keeps the directory alive.
    pub dir: TempDir,
    /// The output directory.
    pub out: PathBuf,
    /// The VSCs in CSV order.
    pub vscs: Vec<Built>,
}

/// Builds `csv` with the generic profile; panics if the build fails.
pub fn build_batch(csv: &str) -> Batch {
    build_batch_with_profile("iso7816-generic", csv)
}

/// Builds `csv` with the shipped profile `profile`; panics if the build fails.
pub fn build_batch_with_profile(profile: &str, csv: &str) -> Batch {
    let dir = tempfile::tempdir().expect("temporary directory");
    build_batch_in_with_profile(dir, vsc(), profile, csv)
}

/// Builds `csv` with the generic profile in `dir`, running `vsc` (the `vsc` binary, or a
/// launcher of another build of it, with the tests' day); panics if the build fails.
pub fn build_batch_in(dir: TempDir, vsc: Command, csv: &str) -> Batch {
    build_batch_in_with_profile(dir, vsc, "iso7816-generic", csv)
}

/// [`build_batch_in`] with the shipped profile `profile`.
pub fn build_batch_in_with_profile(
    dir: TempDir,
    mut vsc: Command,
    profile: &str,
    csv: &str,
) -> Batch {
    let csv_path = dir.path().join("holders.csv");
    std::fs::write(&csv_path, csv).expect("write csv");
    let out = dir.path().join("out");
    ok(&vsc
        .args([
            "build",
            "--profile",
            profile,
            "--csv",
            csv_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run vsc"));
    let passwords = std::fs::read_to_string(out.join("passwords.csv")).expect("passwords.csv");
    let mut lines = passwords.lines();
    assert_eq!(
        lines.next(),
        Some("\u{FEFF}file,uid,password,holder"),
        "a UTF-8 BOM, so Excel reads it as UTF-8"
    );
    let vscs = lines
        .enumerate()
        .map(|(i, line)| {
            let mut cells = line.splitn(4, ',');
            let mut cell = || cells.next().expect("file,uid,password,holder").to_owned();
            let (file, uid, password, holder) = (cell(), cell(), cell(), cell());
            let password_file = dir.path().join(format!("password-{i}"));
            std::fs::write(&password_file, format!("{password}\n")).expect("password file");
            Built {
                uid,
                holder: holder.trim_matches('"').to_owned(),
                file: out.join(file),
                password,
                password_file,
            }
        })
        .collect();
    Batch { dir, out, vscs }
}

/// The PIN printed on a PIN mailer page.
pub fn pin_of(mailer: &Path) -> String {
    let html = std::fs::read_to_string(mailer).expect("PIN mailer written");
    html.split("aria-label=\"PIN\">")
        .nth(1)
        .expect("PIN element")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// The names of the entries of `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The path as `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
