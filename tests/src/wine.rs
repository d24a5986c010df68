//! Windows programs under Wine, through `scripts/wine-root` (a cached Debian 13 root with Wine;
//! `scripts/test` builds it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wine-root")
}

/// The host directory Windows programs under Wine can see (at the same path): put the `.exe`
/// and its files in a temporary directory under it.
pub fn wine_share() -> PathBuf {
    let out = Command::new(launcher())
        .arg("share")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", launcher().display()));
    assert!(
        out.status.success(),
        "scripts/wine-root share failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A command running the Windows program `exe` (under [`wine_share`]) under Wine; its process
/// is the Windows program's (signals reach it: SIGINT is a console Ctrl-C).
pub fn under_wine(exe: &Path) -> Command {
    let mut command = Command::new(launcher());
    command.arg("run").arg(exe);
    command
}

/// The cross-built Windows program named by the environment variable `var` (which
/// `scripts/test` sets), copied into `dir`; its new path.
pub fn windows_program(var: &str, dir: &Path) -> PathBuf {
    let exe = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} must name a cross-built .exe (scripts/test sets it)"));
    let name = exe
        .file_name()
        .unwrap_or_else(|| panic!("{var}={} names no file", exe.display()));
    let copy = dir.join(name);
    std::fs::copy(&exe, &copy)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", exe.display(), copy.display()));
    copy
}
