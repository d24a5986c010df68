//! What the CLI's benches share: one timed `vsc personalize` run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `vsc personalize FILE --password-file PASSWORD --reader READER --pin-mailer MAILER`:
/// its wall time, process start to verified, and the number of APDUs it reported. Panics, with
/// what `vsc` said, when it fails.
pub fn personalize(file: &Path, password: &Path, reader: &str, mailer: &Path) -> (Duration, usize) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_vsc"))
        .arg("personalize")
        .arg(file)
        .arg("--password-file")
        .arg(password)
        .args(["--reader", reader, "--pin-mailer"])
        .arg(mailer)
        .output()
        .expect("run vsc personalize");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "vsc personalize failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let apdus = stdout
        .split(" APDUs")
        .next()
        .and_then(|t| t.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no APDU count in {stdout:?}"));
    (elapsed, apdus)
}
