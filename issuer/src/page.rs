//! The page's static files (index.html, app.js, style.css, the modules under js/, web/pkg/*),
//! loaded once at start,
//! kept gzip-compressed (the wasm too), and served with an `ETag` so browsers revalidate
//! instead of downloading again (`Cache-Control: no-cache`, answered by 304).
//!
//! What it does not do: serve anything else from the directory, list it, or follow requests
//! outside the listed files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

/// One file, ready to serve.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    plain: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
}

/// The page's files, by URL path.
#[derive(Debug, Default)]
pub struct Page {
    assets: BTreeMap<String, Asset>,
}

const TOP_FILES: [&str; 3] = ["index.html", "app.js", "style.css"];

impl Page {
    /// Loads the page from `dir` (index.html, app.js, style.css and web/pkg/*). Missing files
    /// are left out; the caller says what is missing.
    pub fn load(dir: &Path) -> std::io::Result<Page> {
        let mut page = Page::default();
        for name in TOP_FILES {
            let path = dir.join(name);
            if path.is_file() {
                page.add(&format!("/{name}"), &std::fs::read(&path)?);
            }
        }
        page.add_dir(dir, "web/pkg", None)?;
        page.add_dir(dir, "js", Some("js"))?;
        Ok(page)
    }

    /// Adds the files of `dir/sub` (and, one level down, of its sub-directories), or only
    /// those ending with `.{extension}` when given. Dot-files are left out.
    fn add_dir(&mut self, dir: &Path, sub: &str, extension: Option<&str>) -> std::io::Result<()> {
        let mut pending = vec![(dir.join(sub), sub.to_owned(), 0)];
        while let Some((path, url, depth)) = pending.pop() {
            if !path.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with('.') {
                    continue;
                }
                let kind = entry.file_type()?;
                if kind.is_dir() && depth == 0 {
                    pending.push((entry.path(), format!("{url}/{name}"), depth + 1));
                } else if kind.is_file()
                    && extension.is_none_or(|ext| name.rsplit('.').next() == Some(ext))
                {
                    self.add(&format!("/{url}/{name}"), &std::fs::read(entry.path())?);
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, url_path: &str, bytes: &[u8]) {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        let gzip = encoder
            .write_all(bytes)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let digest = Sha256::digest(bytes);
        self.assets.insert(
            url_path.to_owned(),
            Asset {
                content_type: content_type(url_path),
                plain: bytes.to_vec(),
                gzip,
                etag: format!("\"{}\"", hex::encode(&digest[..16])),
            },
        );
    }

    /// Whether the page's index.html was found.
    pub fn has_index(&self) -> bool {
        self.assets.contains_key("/index.html")
    }

    /// The URL paths served.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.assets.keys().map(String::as_str)
    }

    /// Answers a GET or HEAD of `path`.
    pub fn answer(&self, path: &str, headers: &HeaderMap, head: bool) -> Response {
        let path = if path == "/" { "/index.html" } else { path };
        let Some(asset) = self.assets.get(path) else {
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        };
        let mut response = Response::builder()
            .header(header::CONTENT_TYPE, asset.content_type)
            .header(header::ETAG, &asset.etag)
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::VARY, "Accept-Encoding");
        let matches_etag = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == asset.etag || t.trim() == "*")
            });
        if matches_etag {
            return response
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_default();
        }
        let gzip_ok = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(accepts_gzip);
        let bytes = if gzip_ok {
            response = response.header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            &asset.gzip
        } else {
            &asset.plain
        };
        response = response.header(header::CONTENT_LENGTH, bytes.len());
        let body = if head {
            Body::empty()
        } else {
            Body::from(bytes.clone())
        };
        response.body(body).unwrap_or_default()
    }
}

fn accepts_gzip(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut pieces = part.split(';');
        let coding = pieces.next().unwrap_or("").trim();
        let q_zero = pieces.any(|p| {
            let p = p.trim();
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_negotiated_and_etags_revalidate() {
        let mut page = Page::default();
        page.add(
            "/index.html",
            &b"<html>hello hello hello hello</html>".repeat(50),
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        let r = page.answer("/", &headers, false);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let etag = r.headers()[header::ETAG].clone();
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            page.answer("/index.html", &headers, false).status(),
            StatusCode::NOT_MODIFIED
        );
        assert!(!accepts_gzip("gzip;q=0, identity"));
        assert!(accepts_gzip("*"));
        assert_eq!(
            page.answer("/secret.txt", &HeaderMap::new(), false)
                .status(),
            StatusCode::NOT_FOUND
        );
    }
}
