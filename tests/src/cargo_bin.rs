//! Workspace binaries, built on first use in the test's own profile and target directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Path of a workspace binary (softcard, opcard-vpcd, vsc, vsc-bridge, vsc-issuer), built on
/// first use with `cargo build --workspace --bin <name>` (once per process) in the same profile
/// as the test. With `--workspace`, its dependencies have the features of the whole
/// workspace's build (`cargo build --workspace --bins`, which `scripts/test` runs first), so
/// nothing is compiled again; `-p <package>` would resolve them anew for that package alone.
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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--quiet", "--workspace", "--bin", name])
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(other) => {
            command.args(["--profile", other]);
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
        "`cargo build --workspace --bin {name}` failed ({status}); its errors are printed above"
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
