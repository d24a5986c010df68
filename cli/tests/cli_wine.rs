//! The Windows `vsc.exe`, cross-built for `x86_64-pc-windows-gnu`, run under Wine: `vsc build`
//! writes a batch with the Windows code paths of the shared atomic writer (temporary files
//! renamed with `MoveFileExW`, no-clobber renames, one `FlushFileBuffers` per file), and the
//! Linux `vsc inspect` opens what it wrote.
//!
//! Ignored by a plain `cargo test`, like the bridge's Wine test: `scripts/test` builds
//! `vsc.exe` and the Wine root (`scripts/wine-root`), then runs it with `--ignored` and
//! `VSC_WINDOWS_CLI` naming the `.exe`.

mod common;

use common::{build_batch_in, file_names, ok, run, s, GOOD_CSV, TEST_DAY_EPOCH};
use vsc_tests::{under_wine, windows_program, wine_share};

#[test]
#[ignore = "needs the Wine root and vsc.exe: scripts/test runs it"]
fn the_windows_vsc_builds_a_batch_that_the_linux_vsc_opens() {
    let dir = tempfile::Builder::new()
        .prefix("vsc-wine-cli-")
        .tempdir_in(wine_share())
        .unwrap();
    let exe = windows_program("VSC_WINDOWS_CLI", dir.path());
    let mut vsc = under_wine(&exe);
    vsc.env("SOURCE_DATE_EPOCH", TEST_DAY_EPOCH);
    let batch = build_batch_in(dir, vsc, GOOD_CSV);

    assert_eq!(batch.vscs.len(), 3);
    let mut expected: Vec<String> = batch
        .vscs
        .iter()
        .map(|v| v.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    expected.push("passwords.csv".into());
    expected.sort();
    assert_eq!(
        file_names(&batch.out),
        expected,
        "no temporary file is left"
    );

    let first = &batch.vscs[0];
    let shown = ok(&run(&[
        "inspect",
        s(&first.file),
        "--password-file",
        s(&first.password_file),
    ]));
    assert!(shown.contains("Émile Nguyễn-Müller 🙂 田中"), "{shown}");
}
