//! A blocking WebDriver client over chromedriver and Debian's headless Chromium, for the
//! end-to-end browser tests.
//!
//! The protocol (W3C WebDriver, https://www.w3.org/TR/webdriver2/) is spoken by `fantoccini`,
//! a maintained async WebDriver client, built without TLS (chromedriver listens on plain HTTP on
//! 127.0.0.1). [`Browser`] owns a current-thread tokio runtime and blocks on each command, so
//! the tests stay plain synchronous code. The few commands fantoccini has no method for (the
//! computed accessible name and role, a DOM property as JSON, Chrome DevTools Protocol through
//! chromedriver) go through its raw command hook ([`Client::issue_cmd`]).
//!
//! It does navigation, finding elements, clicking, typing, reading text and accessible names,
//! answering prompts, sizing the window, running scripts and taking screenshots. It does not
//! download or install a browser: chromedriver and Chromium are Debian's, started here and
//! stopped when the [`Browser`] is dropped.
// Shared by several test crates, each of which uses a part of it.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::elements::ElementRef;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use vsc_tests::{free_port, wait_until, ChildGuard};

/// A headless Chromium driven through chromedriver.
pub struct Browser {
    client: Client,
    runtime: tokio::runtime::Runtime,
    _driver: ChildGuard,
}

/// The W3C element reference key (WebDriver §12.1), in scripts' answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

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
        wait_until(Duration::from_secs(20), "chromedriver to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let capabilities = json!({
            "browserName": "chrome",
            // Every prompt, the "Leave site?" of a beforeunload handler included, waits for the
            // test to answer it. chromedriver honours the beforeUnload entry only with WebDriver
            // BiDi on; otherwise it accepts those prompts itself.
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
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("the capabilities are a JSON object")
        };
        let capabilities: Capabilities = capabilities;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime for the WebDriver client");
        let client = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("chromedriver did not start a session: {e}"));
        let browser = Browser {
            client,
            runtime,
            _driver: driver,
        };
        // Headless Chromium saves downloads only when told where (Chrome DevTools Protocol).
        browser.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": download_dir.display().to_string()}),
        );
        browser
    }

    /// Runs `what` on the runtime and returns its result; panics naming `doing` on an error.
    fn run<T, E: std::fmt::Display>(
        &self,
        doing: &str,
        what: impl std::future::Future<Output = Result<T, E>>,
    ) -> T {
        self.runtime
            .block_on(what)
            .unwrap_or_else(|e| panic!("WebDriver {doing}: {e}"))
    }

    /// The crate's handle on `element`.
    fn handle(&self, element: &Element) -> fantoccini::elements::Element {
        fantoccini::elements::Element::from_element_id(
            self.client.clone(),
            ElementRef::from(element.0.clone()),
        )
    }

    /// Sends a command of this session that fantoccini has no method for; `path` is relative
    /// to the session's URL.
    fn raw(&self, method: http::Method, path: String, body: Option<Value>) -> Value {
        let doing = format!("{method} {path}");
        self.run(
            &doing,
            self.client.issue_cmd(SessionCommand { method, path, body }),
        )
    }

    /// Runs a Chrome DevTools Protocol command.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.raw(
            http::Method::POST,
            "goog/cdp/execute".to_owned(),
            Some(json!({"cmd": cmd, "params": params})),
        )
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client.goto(url));
    }

    /// The element matching the CSS selector, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.try_find_by(Locator::Css(css))
    }

    fn try_find_by(&self, locator: Locator<'_>) -> Option<Element> {
        let found = self.runtime.block_on(self.client.find(locator)).ok()?;
        Some(Element(found.element_id().to_string()))
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
            .or_else(|| self.try_find_by(Locator::XPath(&xpath)))
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
        let path = format!("element/{}/computedlabel", element.0);
        let value = self.raw(http::Method::GET, path, None);
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The ARIA role Chromium computed for the element.
    pub fn role(&self, element: &Element) -> String {
        let path = format!("element/{}/computedrole", element.0);
        let value = self.raw(http::Method::GET, path, None);
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the element.
    pub fn click(&self, element: &Element) {
        self.run("click", self.handle(element).click());
    }

    /// Types `text` into the element (a file path for a file input).
    pub fn type_text(&self, element: &Element, text: &str) {
        self.run("type", self.handle(element).send_keys(text));
    }

    /// Clears an input.
    pub fn clear(&self, element: &Element) {
        self.run("clear", self.handle(element).clear());
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        self.run("read the text", self.handle(element).text())
    }

    /// A DOM property of the element (`value`, `disabled`, ...).
    pub fn property(&self, element: &Element, name: &str) -> Value {
        // As JSON: fantoccini's `prop` turns every property into a string.
        let path = format!("element/{}/property/{name}", element.0);
        self.raw(http::Method::GET, path, None)
    }

    /// An attribute of the element, if present.
    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.run(
            &format!("read the attribute {name}"),
            self.handle(element).attr(name),
        )
    }

    /// Whether the element is displayed.
    pub fn displayed(&self, element: &Element) -> bool {
        self.run("check displayed", self.handle(element).is_displayed())
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        let Value::Array(args) = args else {
            panic!("the arguments of a script are a JSON array, not {args}")
        };
        self.run("run a script", self.client.execute(script, args))
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
        self.runtime.block_on(self.client.get_alert_text()).ok()
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
        if accept {
            self.run("accept the prompt", self.client.accept_alert());
        } else {
            self.run("dismiss the prompt", self.client.dismiss_alert());
        }
    }

    /// Sets the window's outer size in CSS pixels.
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.run(
            "set the window size",
            self.client.set_window_size(width, height),
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
        let _ = self.runtime.block_on(self.client.clone().close());
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

/// A command of the session, for what fantoccini has no method for: `method` on `path`
/// (relative to the session's URL) with a JSON `body`.
#[derive(Debug)]
struct SessionCommand {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        // chromedriver wants a JSON body on every POST, `{}` when there is nothing to say.
        let body = match (&self.body, self.method == http::Method::POST) {
            (Some(body), _) => Some(body.to_string()),
            (None, true) => Some("{}".to_owned()),
            (None, false) => None,
        };
        (self.method.clone(), body)
    }
}
