//! The page's build as the tests use it: where the repository and the target directory are,
//! and `web/pkg` (what `index.html` imports) built when it is missing or stale; and a
//! WebSocket to a bridge, as another program of the PC would open one.
// Shared by several test crates, each of which uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Cargo's target directory (CARGO_TARGET_DIR is honoured, as cargo does).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The repository's root: the nearest directory above the crate's that holds `index.html`
/// (the crate is `web/` or one of its benches' crates, `web/online-bench/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("index.html").is_file())
        .expect("the crate is inside the repository, whose root holds index.html")
        .to_path_buf()
}

/// Builds web/pkg (what index.html imports) when it is missing or older than its sources;
/// `scripts/test` builds it before the tests, so this only runs for a bare `cargo test`.
pub fn ensure_web_pkg(root: &Path) {
    let wasm = root.join("web/pkg/vsc_web_bg.wasm");
    let built = std::fs::metadata(&wasm).and_then(|m| m.modified()).ok();
    let newest_source = ["web/src", "vsc-core/src", "vsc-core/src/agent", "profiles"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).into_iter().flatten())
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if built.is_some_and(|built| built >= newest_source) {
        return;
    }
    eprintln!("building web/pkg (the page's wasm) for the browser test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "-p",
            "vsc-web",
            "--target",
            "wasm32-unknown-unknown",
            "--release",
        ])
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the wasm failed");
    let status = Command::new("wasm-bindgen")
        .current_dir(root)
        .args([
            "--target",
            "web",
            "--out-dir",
            "web/pkg",
            "target/wasm32-unknown-unknown/release/vsc_web.wasm",
        ])
        .status()
        .expect("run wasm-bindgen (scripts/test installs it)");
    assert!(status.success(), "wasm-bindgen failed");
}

/// A WebSocket to the bridge on `127.0.0.1:port` (`/v1`) sending `Origin: origin` (one the
/// bridge trusts, so no pairing), reads timing out after `timeout`.
pub fn bridge_socket(
    port: u16,
    origin: &str,
    timeout: std::time::Duration,
) -> tungstenite::WebSocket<std::net::TcpStream> {
    use tungstenite::client::IntoClientRequest;
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/v1")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    let (ws, _) = tungstenite::client(request, stream).expect("WebSocket handshake");
    ws
}
