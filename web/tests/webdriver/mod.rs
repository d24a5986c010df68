//! A small blocking WebDriver client (W3C WebDriver, https://www.w3.org/TR/webdriver2/) over
//! chromedriver and Debian's headless Chromium, for the end-to-end browser test.
//!
//! It speaks HTTP/1.1 with `Connection: close` over a std `TcpStream` and JSON with
//! serde_json: enough for navigation, finding elements, clicking, typing, reading text and
//! accessible names, answering prompts, sizing the window, running scripts and taking
//! screenshots. chromedriver and the browser are
//! stopped when the [`Browser`] is dropped.
// Shared by several test crates, each of which uses a part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use vsc_tests::{free_port, wait_until, ChildGuard};

/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium driven through chromedriver.
pub struct Browser {
    port: u16,
    session: String,
    _driver: ChildGuard,
}

/// An element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile in `profile_dir`,
    /// saving downloads to `download_dir`.
    pub fn start(profile_dir: &Path, download_dir: &Path, log: &Path) -> Browser {
        let port = free_port();
        let mut command = Command::new("/usr/bin/chromedriver");
        command.arg(format!("--port={port}"));
        let driver = ChildGuard::spawn(command, log);
        wait_until(Duration::from_secs(20), "chromedriver to answer", || {
            http(port, "GET", "/status", None)
                .map(|(_, v)| v["value"]["ready"] == json!(true))
                .unwrap_or(false)
        });
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    // Every prompt, the "Leave site?" of a beforeunload handler included, waits
                    // for the test to answer it. chromedriver honours the beforeUnload entry
                    // only with WebDriver BiDi on; otherwise it accepts those prompts itself.
                    "unhandledPromptBehavior": {"default": "ignore", "beforeUnload": "ignore"},
                    "webSocketUrl": true,
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--window-size=1280,1000",
                            "--lang=en-US",
                            format!("--user-data-dir={}", profile_dir.display()),
                        ],
                        "prefs": {
                            "download.default_directory": download_dir.display().to_string(),
                            "download.prompt_for_download": false,
                            "download.directory_upgrade": true,
                            "safebrowsing.enabled": false,
                        },
                    },
                },
            },
        });
        let (_, reply) = http(port, "POST", "/session", Some(&capabilities))
            .unwrap_or_else(|e| panic!("chromedriver did not start a session: {e}"));
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused a session: {reply}"))
            .to_owned();
        let browser = Browser {
            port,
            session,
            _driver: driver,
        };
        // Headless Chromium saves downloads only when told where (Chrome DevTools Protocol).
        browser.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": download_dir.display().to_string()}),
        );
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        match http(self.port, method, &path, body.as_ref()) {
            Ok((200, reply)) => reply["value"].clone(),
            Ok((status, reply)) => panic!("WebDriver {method} {path}: HTTP {status}: {reply}"),
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    fn try_call(&self, method: &str, path: &str, body: Value) -> Option<Value> {
        let path = format!("/session/{}{path}", self.session);
        match http(self.port, method, &path, Some(&body)) {
            Ok((200, reply)) => Some(reply["value"].clone()),
            _ => None,
        }
    }

    /// Runs a Chrome DevTools Protocol command.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    /// The element matching the CSS selector, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.try_find_by("css selector", css)
    }

    fn try_find_by(&self, using: &str, value: &str) -> Option<Element> {
        self.try_call("POST", "/element", json!({"using": using, "value": value}))
            .and_then(|v| v[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
    }

    /// The element matching the CSS selector; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches {css}"))
    }

    /// The button whose accessible name is exactly `name` (checked with the browser's
    /// accessibility tree, not only its text).
    pub fn button(&self, name: &str) -> Element {
        let element = self.named("button", "button", name);
        assert_eq!(self.role(&element), "button");
        element
    }

    /// The link whose text is exactly `name`.
    pub fn link(&self, name: &str) -> Element {
        self.named("a", "link", name)
    }

    /// The `tag` element whose text, and accessible name, is exactly `name`.
    fn named(&self, tag: &str, what: &str, name: &str) -> Element {
        let xpath = format!("//{tag}[normalize-space(.)={}]", xpath_literal(name));
        // The one shown, when several views have a control of that name.
        let shown = self.execute(
            "const found = document.evaluate(arguments[0], document, null, \
               XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null); \
             for (let i = 0; i < found.snapshotLength; i++) { \
               const e = found.snapshotItem(i); if (e.offsetParent !== null) return e; } \
             return null;",
            json!([xpath]),
        );
        let element = shown[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .or_else(|| self.try_find_by("xpath", &xpath))
            .unwrap_or_else(|| panic!("no {what} named {name:?}"));
        assert_eq!(self.accessible_name(&element), name);
        element
    }

    /// The form control labelled exactly `label` (through `<label for>`), with that
    /// accessible name; the shown one when several views have a control of that label.
    pub fn field(&self, label: &str) -> Element {
        let id: String = serde_json::from_value(self.execute(
            "const all = [...document.querySelectorAll('label')] \
               .filter((l) => l.textContent.trim() === arguments[0] && l.htmlFor); \
             const shown = all.find((l) => l.offsetParent !== null) || all[0]; \
             return shown ? shown.htmlFor : '';",
            json!([label]),
        ))
        .unwrap_or_default();
        assert!(!id.is_empty(), "no field labelled {label:?}");
        let element = self.find(&format!("#{id}"));
        assert_eq!(self.accessible_name(&element), label);
        element
    }

    /// The accessible name Chromium computed for the element.
    pub fn accessible_name(&self, element: &Element) -> String {
        let value = self.call(
            "GET",
            &format!("/element/{}/computedlabel", element.0),
            None,
        );
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The ARIA role Chromium computed for the element.
    pub fn role(&self, element: &Element) -> String {
        let value = self.call("GET", &format!("/element/{}/computedrole", element.0), None);
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the element.
    pub fn click(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Types `text` into the element (a file path for a file input).
    pub fn type_text(&self, element: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        );
    }

    /// Clears an input.
    pub fn clear(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/clear", element.0), None);
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        let value = self.call("GET", &format!("/element/{}/text", element.0), None);
        value.as_str().unwrap_or_default().to_owned()
    }

    /// A DOM property of the element (`value`, `disabled`, ...).
    pub fn property(&self, element: &Element, name: &str) -> Value {
        self.call(
            "GET",
            &format!("/element/{}/property/{name}", element.0),
            None,
        )
    }

    /// An attribute of the element, if present.
    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        let value = self.call(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        );
        value.as_str().map(str::to_owned)
    }

    /// Whether the element is displayed.
    pub fn displayed(&self, element: &Element) -> bool {
        self.call("GET", &format!("/element/{}/displayed", element.0), None) == json!(true)
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Saves a PNG screenshot of the whole page (beyond the viewport) to `path`.
    pub fn screenshot(&self, path: &Path) {
        let value = self.cdp(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(value["data"].as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot directory");
        }
        let temp = path.with_extension("png.tmp");
        std::fs::write(&temp, &png).expect("write the screenshot");
        std::fs::rename(&temp, path).expect("move the screenshot in place");
    }

    /// The text of the open user prompt (`alert`, `confirm`, the "Leave site?" question of a
    /// `beforeunload` handler), or `None` when none is open.
    pub fn prompt_text(&self) -> Option<String> {
        let path = format!("/session/{}/alert/text", self.session);
        match http(self.port, "GET", &path, None) {
            Ok((200, reply)) => Some(reply["value"].as_str().unwrap_or_default().to_owned()),
            _ => None,
        }
    }

    /// Waits for a user prompt and returns its text.
    pub fn wait_prompt(&self, timeout: Duration) -> String {
        let mut text = None;
        self.wait_for("a user prompt", timeout, || {
            text = self.prompt_text();
            text.is_some()
        });
        text.unwrap_or_default()
    }

    /// Answers the open user prompt: OK / Leave (`true`) or Cancel / Stay (`false`).
    pub fn answer_prompt(&self, accept: bool) {
        let verb = if accept { "accept" } else { "dismiss" };
        self.call("POST", &format!("/alert/{verb}"), None);
    }

    /// Sets the window's outer size in CSS pixels.
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Waits until `css` matches a displayed element and returns it.
    pub fn wait_displayed(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.try_find(css) {
                if self.displayed(&element) {
                    return element;
                }
            }
            if Instant::now() > deadline {
                panic!("{css} was not displayed within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until `predicate` holds, polling every 25 ms; panics naming `what` on timeout.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut predicate: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !predicate() {
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closes Chromium; chromedriver itself is killed by its guard.
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// An XPath string literal for `text` (which may contain either kind of quote).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// One HTTP/1.1 exchange with chromedriver on 127.0.0.1:`port`: the status and the JSON body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(180)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    // chromedriver keeps the connection open: read the headers, then exactly the body.
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream
            .read(&mut buffer)
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return Err("connection closed before the end of the HTTP headers".into());
        }
        raw.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut content = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let chunked = header("transfer-encoding:").is_some_and(|v| v.contains("chunked"));
    let length: Option<usize> = header("content-length:").and_then(|v| v.parse().ok());
    loop {
        let complete = match (chunked, length) {
            (true, _) => content.windows(5).any(|w| w == b"0\r\n\r\n"),
            (false, Some(length)) => content.len() >= length,
            (false, None) => false,
        };
        if complete {
            break;
        }
        let n = stream
            .read(&mut buffer)
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            break;
        }
        content.extend_from_slice(&buffer[..n]);
    }
    if chunked {
        content = dechunk(&content)?;
    }
    let value = if content.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&content).map_err(|e| format!("bad JSON from chromedriver: {e}"))?
    };
    Ok((status, value))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("short chunk")?);
        data = data.get(size + 2..).ok_or("short chunk")?;
    }
}
