//! The Windows `vsc.exe`, cross-built for `x86_64-pc-windows-gnu`, run under Wine: `vsc build`
//! writes a batch with the Windows code paths of the shared atomic writer (temporary files
//! renamed with `MoveFileExW`, no-clobber renames, one `FlushFileBuffers` per file), and the
//! Linux `vsc inspect` opens what it wrote.
//!
//! Ignored by a plain `cargo test`, like the bridge's Wine test: `scripts/test` builds
//! `vsc.exe` and the Wine root (`scripts/wine-root`), then runs it with `--ignored` and
//! `VSC_WINDOWS_CLI` naming the `.exe`.

mod common;

use common::{file_names, ok, run, s, GOOD_CSV};
use vsc_tests::{under_wine, windows_program, wine_share};

#[test]
#[ignore = "needs the Wine root and vsc.exe: scripts/test runs it"]
fn the_windows_vsc_builds_a_batch_that_the_linux_vsc_opens() {
    let dir = tempfile::Builder::new()
        .prefix("vsc-wine-cli-")
        .tempdir_in(wine_share())
        .unwrap();
    let exe = windows_program("VSC_WINDOWS_CLI", dir.path());
    let csv = dir.path().join("holders.csv");
    std::fs::write(&csv, GOOD_CSV).unwrap();
    let out = dir.path().join("out");
    let build = under_wine(&exe)
        .args([
            "build",
            "--profile",
            "iso7816-generic",
            "--csv",
            s(&csv),
            "--out",
            s(&out),
        ])
        .output()
        .unwrap();
    ok(&build);

    let passwords = std::fs::read_to_string(out.join("passwords.csv")).unwrap();
    let rows: Vec<(&str, &str)> = passwords
        .lines()
        .skip(1)
        .map(|line| line.split_once(',').unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{passwords}");
    let names = file_names(&out);
    let mut expected: Vec<String> = rows.iter().map(|(uid, _)| format!("{uid}.vsc")).collect();
    expected.push("passwords.csv".into());
    expected.sort();
    assert_eq!(names, expected, "no temporary file is left");

    let (uid, password) = rows[0];
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let vsc = out.join(format!("{uid}.vsc"));
    let shown = ok(&run(&[
        "inspect",
        s(&vsc),
        "--password-file",
        s(&password_file),
    ]));
    assert!(shown.contains("Émile Nguyễn-Müller 🙂 田中"), "{shown}");
}
