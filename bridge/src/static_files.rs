//! Serving the page's static files (`--serve DIR`): `GET`/`HEAD` of a file under DIR.
//!
//! Refused: any path with `..`, `%`, a backslash or a NUL, dot-files, and anything that
//! resolves (through symlinks) outside DIR. `/` serves `index.html`. It does not list
//! directories, negotiate ranges or compress.

use std::path::{Path, PathBuf};

/// Largest file served (bytes).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What to answer to a static-file request.
#[derive(Debug, PartialEq, Eq)]
pub enum StaticAnswer {
    /// 200 with this content type and body.
    File {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The file's bytes.
        body: Vec<u8>,
    },
    /// 404: not there, or not allowed to say.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
}

/// The content type for a file name, by extension.
pub fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html") | Some("htm") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file under `root`, refusing traversal; `None` when refused.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let relative = request_path.strip_prefix('/')?;
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    if relative.contains(['%', '\\', '\0']) {
        return None;
    }
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment.starts_with('.') {
            return None;
        }
        path.push(segment);
    }
    let canonical_root = root.canonicalize().ok()?;
    let canonical = path.canonicalize().ok()?;
    (canonical.starts_with(&canonical_root) && canonical.is_file()).then_some(canonical)
}

/// Answers `method request_path` from `root` (blocking file I/O: call off the runtime).
pub fn answer(root: &Path, method: &str, request_path: &str) -> StaticAnswer {
    if method != "GET" && method != "HEAD" {
        return StaticAnswer::MethodNotAllowed;
    }
    let Some(path) = resolve(root, request_path) else {
        return StaticAnswer::NotFound;
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.len() <= MAX_FILE_BYTES => {}
        _ => return StaticAnswer::NotFound,
    }
    match std::fs::read(&path) {
        Ok(body) => StaticAnswer::File {
            content_type: content_type(&path),
            body,
        },
        Err(_) => StaticAnswer::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_files_and_refuses_traversal() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(root.join("pkg/web_bg.wasm"), [0, 0x61, 0x73, 0x6D]).unwrap();
        std::fs::write(root.join(".secret"), "no").unwrap();
        std::fs::write(dir.path().join("outside.txt"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("link.txt")).unwrap();

        assert_eq!(
            answer(&root, "GET", "/"),
            StaticAnswer::File {
                content_type: "text/html; charset=utf-8",
                body: b"<p>hi</p>".to_vec()
            }
        );
        match answer(&root, "HEAD", "/pkg/web_bg.wasm") {
            StaticAnswer::File { content_type, .. } => assert_eq!(content_type, "application/wasm"),
            other => panic!("{other:?}"),
        }
        for bad in [
            "/../outside.txt",
            "/pkg/../../outside.txt",
            "/%2e%2e/outside.txt",
            "/.secret",
            "/link.txt",
            "/pkg",
            "/pkg/",
            "/missing.js",
            "//etc/passwd",
            "relative",
            "/pkg\\web_bg.wasm",
        ] {
            assert_eq!(answer(&root, "GET", bad), StaticAnswer::NotFound, "{bad}");
        }
        assert_eq!(answer(&root, "POST", "/"), StaticAnswer::MethodNotAllowed);
    }

    #[test]
    fn content_types_by_extension() {
        for (name, ty) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.wasm", "application/wasm"),
            ("a.PNG", "image/png"),
            ("a.svg", "image/svg+xml"),
            ("a.bin", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), ty);
        }
    }
}
