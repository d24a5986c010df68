//! Workspace binaries, built on first use in the test's own profile and target directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The package that holds each workspace binary (a binary not listed here is assumed to live
/// in a package of the same name).
const PACKAGE_OF_BIN: &[(&str, &str)] = &[
    ("softcard", "softcard"),
    ("vsc", "vsc-cli"),
    ("vsc-bridge", "vsc-bridge"),
    ("vsc-issuer", "vsc-issuer"),
];

/// Path of a workspace binary (softcard, opcard-vpcd, vsc, vsc-bridge, vsc-issuer), built on
/// first use (once per process) in the same profile as the test, as it is usually built in
/// that profile, so that cargo finds it built: a debug build as part of the workspace's
/// (`cargo build --workspace --bin <name>`: the dependencies' features of `cargo build
/// --workspace --bins`, which `scripts/test` runs first), a release build as one program
/// (`cargo build --release -p <package> --bin <name>`, as the README, `scripts/run` and
/// `scripts/package` build it). Cargo resolves the dependencies' features for the packages a
/// command names, and compiles them again for another set.
///
/// Panics with cargo's exit status if the build fails (cargo's own output shows why).
pub fn cargo_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    // A panicking builder poisons the lock; the map itself is still consistent.
    let mut built = built
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let path = build(name);
    built.insert(name.to_owned(), path.clone());
    path
}

/// Variables cargo sets for the test or bench it runs (its package's name, manifest and
/// version, among others). Build scripts may read them and ask cargo to build again when they
/// change (ring's does): they are removed from the build below, which then sees the
/// environment of a plain `cargo build` and finds what that built.
fn is_set_by_cargo_for_the_test(var: &str) -> bool {
    var.starts_with("CARGO_PKG_")
        || var.starts_with("CARGO_MANIFEST_")
        || [
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .contains(&var)
}

fn build(name: &str) -> PathBuf {
    let profile_dir = profile_dir();
    let target_dir = profile_dir.parent().unwrap_or_else(|| {
        panic!(
            "test binary directory {} has no parent",
            profile_dir.display()
        )
    });
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace");
    let package = PACKAGE_OF_BIN
        .iter()
        .find(|(bin, _)| *bin == name)
        .map_or(name, |(_, package)| package);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--quiet", "--bin", name])
        .arg("--target-dir")
        .arg(target_dir);
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(is_set_by_cargo_for_the_test) {
            command.env_remove(var);
        }
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {
            command.arg("--workspace");
        }
        Some("release") => {
            command.args(["--release", "-p", package]);
        }
        Some(other) => {
            command.args(["--profile", other, "-p", package]);
        }
        None => panic!(
            "cannot tell the cargo profile from {}",
            profile_dir.display()
        ),
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build `{name}`: {e}; is cargo on PATH?"));
    assert!(
        status.success(),
        "`cargo build` of `{name}` failed ({status}); its errors are printed above"
    );
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "cargo built `{name}` but {} does not exist",
        path.display()
    );
    path
}

/// `target/<profile>`: the test executable lives in `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot find the running test executable: {e}"));
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable path {}", exe.display()))
        .to_path_buf()
}
