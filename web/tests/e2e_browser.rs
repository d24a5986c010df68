//! End to end through the real stack, in headless Chromium: `pcscd` with a `softcard` behind
//! its vpcd reader, `vsc-bridge --serve <repository>` (no `--sim`), and the page.
//!
//! The browser builds a VSC for "Émile Nguyễn-Müller 田中", downloads it and its password,
//! switches to Personalize, pairs with the code the bridge writes to its pairing-code file,
//! loads the VSC, personalizes the card, sees "Verified" and the PIN mailer; then OpenSC, a
//! PC/SC client independent of this workspace, reads the holder name back from the card.
//! Along the way it checks the accessible names the issue lists, the explanations of a bridge
//! that is not running, a refused origin, a reader held by another client, a card that
//! already holds a VSC and a card pulled mid-run, that the pairing token is kept, that the downloaded VSC opens natively and with
//! `vsc inspect`, saves a screenshot of each view to `docs/screenshots/`, and prints the
//! budgets: click-to-Verified time and building 1,000 VSCs in the page against natively.
#![cfg(not(target_arch = "wasm32"))]

mod webdriver;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use rand_core::OsRng;
use serde_json::json;
use vsc_core::profile::Profile;
use vsc_core::vsc::Vsc;
use vsc_tests::{
    cargo_bin, free_port, opensc_apdus, wait_until, ChildGuard, PcscStack, SoftcardOptions,
};
use webdriver::Browser;

const HOLDER: &str = "Émile Nguyễn-Müller 田中";
/// The origin of the test's own WebSocket client, trusted by the bridge (no pairing).
const HOLDING_CLIENT_ORIGIN: &str = "http://reader-holder.test";
const WAIT: Duration = Duration::from_secs(30);

/// Where the page's build time is left for `benches/native_build.rs`, under the target dir.
const PAGE_BUILD_FIGURE: &str = "page-build-1000-ms.txt";
/// Builds of the 1,000-row batch timed after the first one; the page's figure is the best.
const PAGE_BUILD_ROUNDS: usize = 5;

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("web/ is inside the repository")
        .to_path_buf()
}

/// Builds web/pkg (what index.html imports) when it is missing or older than its sources;
/// `scripts/test` builds it before the tests, so this only runs for a bare `cargo test`.
fn ensure_web_pkg(root: &Path) {
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

/// Waits for a finished download whose name ends with `suffix`.
fn wait_download(dir: &Path, suffix: &str) -> PathBuf {
    let mut found = None;
    let mut last_len = None;
    wait_until(
        WAIT,
        &format!("a complete downloaded *{suffix} file"),
        || {
            let entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
            // Chromium may show the final name before the content is all there: wait until no
            // download is in progress and the file's length held still between two looks.
            let in_progress = entries
                .iter()
                .any(|p| p.to_string_lossy().ends_with(".crdownload"));
            found = entries
                .into_iter()
                .find(|p| p.to_string_lossy().ends_with(suffix));
            let len = found
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len());
            let settled = !in_progress && len.is_some_and(|n| n > 0) && len == last_len;
            last_len = len;
            settled
        },
    );
    found.expect("found")
}

/// The entries of a ZIP whose entries are all stored (what the page writes), read from their
/// local headers (APPNOTE 6.3.10 §4.3.7): `(name, content)` in archive order.
fn stored_zip_entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let le16 = |at: usize| usize::from(u16::from_le_bytes([zip[at], zip[at + 1]]));
    let le32 = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap());
    let mut entries = Vec::new();
    let mut at = 0;
    while le32(at) == 0x0403_4b50 {
        assert_eq!(le16(at + 8), 0, "stored, not compressed");
        let size = le32(at + 18) as usize;
        let name_len = le16(at + 26);
        let extra_len = le16(at + 28);
        let name = String::from_utf8(zip[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let start = at + 30 + name_len + extra_len;
        entries.push((name, zip[start..start + size].to_vec()));
        at = start + size;
    }
    entries
}

/// A sealed VSC of `web/tests/fixtures` and its password.
fn sealed_fixture(root: &Path, name: &str) -> (PathBuf, String) {
    let fixtures = root.join("web/tests/fixtures");
    let password = std::fs::read_to_string(fixtures.join(format!("{name}.password"))).unwrap();
    (fixtures.join(format!("{name}.vsc")), password)
}

/// Loads `vsc`, types its password and presses Personalize.
fn start_run(browser: &Browser, vsc: &Path, password: &str) {
    browser.type_text(&browser.field("VSC file"), &vsc.display().to_string());
    browser.wait_displayed("#vsc-summary", WAIT);
    browser.type_text(&browser.field("Password"), password);
    browser.click(&browser.button("Personalize"));
}

/// Waits for the run to fail with the error `code` and returns the explanation shown.
fn run_failure(browser: &Browser, code: &str) -> String {
    let alert = browser.wait_displayed("#perso-error", WAIT);
    browser.wait_for(&format!("the {code} explanation"), WAIT, || {
        browser.attribute(&alert, "data-code").as_deref() == Some(code)
    });
    browser.text(&alert)
}

/// A WebSocket client of the bridge (trusted origin) holding a session on `reader` until it is
/// dropped, as another tab or program would.
fn hold_reader(port: u16, reader: &str) -> tungstenite::WebSocket<TcpStream> {
    use tungstenite::client::IntoClientRequest;
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/v1")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", HOLDING_CLIENT_ORIGIN.parse().unwrap());
    let (mut ws, _) = tungstenite::client(request, stream).expect("WebSocket handshake");
    let mut ask = |id: u32, request: serde_json::Value| -> serde_json::Value {
        ws.send(tungstenite::Message::text(request.to_string()))
            .unwrap();
        loop {
            let frame = ws.read().expect("a reply from the bridge");
            if let tungstenite::Message::Text(text) = frame {
                let reply: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                if reply["id"] == id {
                    assert_eq!(reply["ok"], true, "{reply}");
                    return reply;
                }
            }
        }
    };
    ask(
        1,
        json!({"id": 1, "op": "hello", "protocol": vsc_core::protocol::PROTOCOL_VERSION}),
    );
    ask(2, json!({"id": 2, "op": "connect", "reader": reader}));
    ws
}

/// The duration the page measured and left in the element's `data-ms`.
fn milliseconds(browser: &Browser, element: &webdriver::Element) -> f64 {
    browser
        .attribute(element, "data-ms")
        .and_then(|ms| ms.parse().ok())
        .expect("the page records the duration in data-ms")
}

#[test]
fn clerk_builds_and_personalizes_a_card_through_the_real_stack() {
    let root = repo_root();
    ensure_web_pkg(&root);
    let temp = tempfile::tempdir().expect("temp dir");
    let downloads = temp.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let screenshots = root.join("docs/screenshots");

    let stack = PcscStack::start();
    let _card = stack.softcard(0, SoftcardOptions::new());
    let reader = stack.reader_name(0);

    let port = free_port();
    let code_file = temp.path().join("pairing-code");
    let mut bridge_command = Command::new(cargo_bin("vsc-bridge"));
    bridge_command
        .arg("--serve")
        .arg(&root)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--pairing-code-file")
        .arg(&code_file)
        .args(["--trust-origin", HOLDING_CLIENT_ORIGIN])
        .arg("--config-dir")
        .arg(temp.path().join("bridge-config"));
    let mut bridge = ChildGuard::spawn(bridge_command, &temp.path().join("bridge.log"));
    wait_until(WAIT, "vsc-bridge to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let browser = Browser::start(
        &temp.path().join("chromium-profile"),
        &downloads,
        &temp.path().join("chromedriver.log"),
    );
    let page = format!("http://127.0.0.1:{port}/");
    browser.goto(&format!("{page}#issue"));
    browser.wait_displayed("body[data-ready='true'] #view-issue", WAIT);

    // Each accessible name the issue lists is checked in Chromium's accessibility tree where
    // its control is shown: `button()`, `field()` and `link()` assert the computed name.

    // Issue cards: one holder from the form, validated as typed.
    let profile = browser.field("Profile");
    assert_eq!(
        browser.property(&profile, "value"),
        json!("iso7816-generic")
    );
    let name = browser.find("#field-holder_name");
    assert_eq!(browser.accessible_name(&name), "Cardholder name");
    let email = browser.find("#field-email");
    browser.type_text(&email, "not-an-email");
    browser.click(&name);
    browser.wait_displayed("#field-email-error", WAIT);
    assert!(browser
        .text(&browser.find("#field-email-error"))
        .contains("not a valid email address"));
    browser.clear(&email);
    browser.type_text(&email, "emile@example.org");
    browser.type_text(&name, HOLDER);
    browser.type_text(&browser.find("#field-holder_id"), "E-2024-0042");
    browser.type_text(&browser.find("#field-expiry_date"), "12312030");
    // The keyboard works: Enter on the focused Build button builds.
    browser.type_text(&browser.button("Build"), "\u{E007}");
    browser.wait_displayed("#downloads", WAIT);
    assert_eq!(
        browser.execute("return document.activeElement.textContent", json!([])),
        json!("Download VSC")
    );
    browser.screenshot(&screenshots.join("issue-cards.png"));
    browser.click(&browser.button("Download VSC"));
    let vsc_path = wait_download(&downloads, ".vsc");
    browser.click(&browser.button("Download passwords"));
    let sheet_path = wait_download(&downloads, "-password.csv");
    let sheet = std::fs::read_to_string(&sheet_path).unwrap();
    let row = sheet.lines().nth(1).expect("one VSC row");
    let password = row.rsplit(',').next().unwrap().to_owned();
    assert!(row.contains(HOLDER), "the sheet names the holder: {row}");

    // A VSC sealed in the page opens natively, and with `vsc inspect`.
    let vsc_bytes = std::fs::read(&vsc_path).unwrap();
    let opened = Vsc::open(&vsc_bytes, &password).expect("the page's VSC opens natively");
    assert_eq!(opened.public_value("holder_name").as_deref(), Some(HOLDER));
    assert!(opened
        .private_fields()
        .iter()
        .any(|(name, value)| name == "email" && value.expose() == "emile@example.org"));
    if std::env::var_os("VSC_UPDATE_FIXTURES").is_some() {
        // The page-sealed fixture that `tests/sealed_fixtures.rs` opens natively.
        let fixtures = root.join("web/tests/fixtures");
        std::fs::write(fixtures.join("page-sealed.vsc"), &vsc_bytes).unwrap();
        std::fs::write(fixtures.join("page-sealed.password"), &password).unwrap();
    }
    let password_file = temp.path().join("password.txt");
    std::fs::write(&password_file, &password).unwrap();
    let inspect = Command::new(cargo_bin("vsc"))
        .arg("inspect")
        .arg(&vsc_path)
        .arg("--password-file")
        .arg(&password_file)
        .output()
        .expect("run vsc inspect");
    let inspect_text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.status.success() && inspect_text.contains(HOLDER),
        "vsc inspect: {inspect_text}{}",
        String::from_utf8_lossy(&inspect.stderr)
    );

    // Personalize: first a bridge that is not running is explained.
    browser.click(&browser.link("Personalize"));
    browser.wait_displayed("#view-personalize", WAIT);
    for name in ["Connect", "Personalize"] {
        browser.button(name);
    }
    for label in ["VSC file", "Password", "Bridge address", "Reader"] {
        browser.field(label);
    }
    let address = browser.field("Bridge address");
    assert_eq!(
        browser.property(&address, "value"),
        json!(format!("ws://127.0.0.1:{port}/v1")),
        "a page served by the bridge defaults to that bridge"
    );
    browser.clear(&address);
    browser.type_text(&address, &format!("ws://127.0.0.1:{}/v1", free_port()));
    browser.click(&browser.button("Connect"));
    let alert = browser.wait_displayed("#perso-error", WAIT);
    assert_eq!(
        browser.attribute(&alert, "data-code").as_deref(),
        Some("bridge_not_running")
    );
    assert!(browser.text(&alert).contains("The bridge is not running"));

    // A page from an origin the bridge was not told about is refused, and that is explained:
    // a second bridge (simulated reader) serves the same page on another port.
    let other_port = free_port();
    let mut other_command = Command::new(cargo_bin("vsc-bridge"));
    other_command
        .args(["--sim", "--serve"])
        .arg(&root)
        .args(["--listen", &format!("127.0.0.1:{other_port}")])
        .arg("--config-dir")
        .arg(temp.path().join("other-bridge-config"));
    let mut other_bridge = ChildGuard::spawn(other_command, &temp.path().join("other-bridge.log"));
    wait_until(WAIT, "the second vsc-bridge to listen", || {
        TcpStream::connect(("127.0.0.1", other_port)).is_ok()
    });
    browser.goto(&format!("http://127.0.0.1:{other_port}/#personalize"));
    browser.wait_displayed("body[data-ready='true'] #view-personalize", WAIT);
    let other_address = browser.field("Bridge address");
    browser.clear(&other_address);
    browser.type_text(&other_address, &format!("ws://127.0.0.1:{port}/v1"));
    browser.click(&browser.button("Connect"));
    let alert = browser.wait_displayed("#perso-error", WAIT);
    assert_eq!(
        browser.attribute(&alert, "data-code").as_deref(),
        Some("bridge_refused")
    );
    assert!(browser
        .text(&alert)
        .contains(&format!("--allow-origin http://127.0.0.1:{other_port}")));
    other_bridge.kill();
    // A stale address (#mailer with no mailer, e.g. a bookmark or Back) shows Personalize; the
    // mailer must still appear after this run.
    browser.goto(&format!("{page}#mailer"));
    browser.wait_displayed("body[data-ready='true'] #view-personalize", WAIT);
    let address = browser.field("Bridge address");

    // Connect and pair with the code the bridge shows.
    browser.clear(&address);
    browser.type_text(&address, &format!("ws://127.0.0.1:{port}/v1"));
    browser.click(&browser.button("Connect"));
    browser.wait_displayed("#pairing", WAIT);
    wait_until(WAIT, "the bridge to write the pairing code", || {
        std::fs::read_to_string(&code_file).is_ok_and(|c| !c.trim().is_empty())
    });
    let code = std::fs::read_to_string(&code_file).unwrap();
    let code_input = browser.field("Pairing code");
    browser.type_text(&code_input, code.trim());
    browser.click(&browser.button("Pair"));
    let reader_status = browser.find("#reader-status");
    browser.wait_for("the card to show as present", WAIT, || {
        browser.text(&reader_status).contains("Card present")
    });
    let reader_select = browser.field("Reader");
    assert_eq!(browser.property(&reader_select, "value"), json!(reader));
    browser.click(&browser.find(&format!("#reader option[value='{reader}']")));

    // Load the VSC: who the card is for shows before the password is typed.
    browser.type_text(&browser.field("VSC file"), &vsc_path.display().to_string());
    let summary = browser.wait_displayed("#vsc-summary", WAIT);
    assert!(browser.text(&summary).contains(HOLDER));
    browser.type_text(&browser.field("Password"), &password.to_lowercase());
    browser.screenshot(&screenshots.join("personalize.png"));

    let clicked = Instant::now();
    browser.click(&browser.button("Personalize"));
    let verified = browser.wait_displayed("#verified", WAIT);
    let wall = clicked.elapsed();
    assert!(browser.text(&verified).contains("Verified"));
    let page_ms = milliseconds(&browser, &verified);
    assert_eq!(browser.text(&browser.find("#mailer-holder")), HOLDER);
    let pin = browser.text(&browser.find("#mailer-pin"));
    assert!(
        pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()),
        "PIN {pin:?}"
    );
    browser.button("Print PIN mailer");
    assert_eq!(
        browser.property(&browser.find("#password"), "value"),
        json!(""),
        "the password is cleared once used"
    );
    browser.screenshot(&screenshots.join("pin-mailer.png"));
    browser.cdp("Emulation.setEmulatedMedia", json!({"media": "print"}));
    browser.screenshot(&screenshots.join("pin-mailer-print.png"));
    browser.cdp("Emulation.setEmulatedMedia", json!({"media": ""}));
    println!(
        "budget: click \"Personalize\" to \"Verified\" on the softcard through pcscd: {page_ms:.0} ms in the page, {} ms seen by WebDriver (goal < 500 ms)",
        wall.as_millis()
    );

    // Leaving the mailer clears it.
    browser.click(&browser.button("Done, clear the PIN"));
    browser.wait_displayed("#view-personalize", WAIT);
    assert_eq!(
        browser.execute(
            "return document.getElementById('mailer-pin').textContent",
            json!([])
        ),
        json!("")
    );

    // The token is kept: after a reload, Connect needs no pairing.
    browser.goto(&format!("{page}#personalize"));
    browser.wait_displayed("body[data-ready='true'] #view-personalize", WAIT);
    browser.click(&browser.button("Connect"));
    let bridge_status = browser.find("#bridge-status");
    browser.wait_for("a paired connection", WAIT, || {
        browser.text(&bridge_status).contains("This page is paired")
    });
    assert!(!browser.displayed(&browser.find("#pairing")));

    let reader_status = browser.find("#reader-status");
    browser.wait_for("the card to show as present", WAIT, || {
        browser.text(&reader_status).contains("Card present")
    });

    // A reader held by another client (another tab, another program) is explained; once that
    // client lets go, the reader is free again.
    let holding_client = hold_reader(port, &reader);
    start_run(&browser, &vsc_path, &password);
    let explained = run_failure(&browser, "busy");
    assert!(
        explained.contains("The reader is busy")
            && explained.contains("in use by another program or another browser tab"),
        "{explained}"
    );
    drop(holding_client);

    // A card that already holds another VSC is explained, not crashed on: the natively sealed
    // fixture is another holder's VSC.
    let (fixture, fixture_password) = sealed_fixture(&root, "native-sealed");
    start_run(&browser, &fixture, &fixture_password);
    let explained = run_failure(&browser, "foreign_card");
    assert!(
        explained.contains("This card already belongs to another VSC")
            && explained.contains("use a blank card"),
        "{explained}"
    );
    assert_eq!(
        browser.property(&browser.find("#password"), "value"),
        json!(""),
        "the password is cleared once the VSC is open, also when the run fails"
    );
    browser.screenshot(&screenshots.join("personalize-foreign-card.png"));

    // A card pulled in the middle of the run: a second blank softcard, in the second reader,
    // leaves before its 9th APDU (in the write step). The page says so and what to do.
    let torn_reader = stack.reader_name(1);
    let mut torn_card = stack.softcard(
        1,
        SoftcardOptions {
            tear_before: Some(8),
            ..SoftcardOptions::new()
        },
    );
    browser.wait_for("the second reader to list its card", WAIT, || {
        browser
            .try_find(&format!("#reader option[value='{torn_reader}']"))
            .is_some()
    });
    // The list is re-rendered on every reader event, so choose by value rather than by
    // clicking an option element that may be replaced in between.
    browser.execute(
        "const select = document.getElementById('reader');
         select.value = arguments[0];
         select.dispatchEvent(new Event('change', { bubbles: true }));",
        json!([torn_reader]),
    );
    assert_eq!(
        browser.property(&browser.field("Reader"), "value"),
        json!(torn_reader)
    );
    browser.wait_for("the second card to show as present", WAIT, || {
        browser.text(&reader_status).contains("Card present")
    });
    let (page_sealed, page_sealed_password) = sealed_fixture(&root, "page-sealed");
    start_run(&browser, &page_sealed, &page_sealed_password);
    let explained = run_failure(&browser, "card_removed");
    assert!(
        explained.contains("The card was removed")
            && explained.contains("put it back in the reader and run again with the same VSC"),
        "{explained}"
    );
    assert_eq!(
        torn_card.wait_exit(WAIT),
        Some(3),
        "the softcard left at its tear point"
    );

    // Budget: 1,000 VSCs built in the page against natively.
    let rows = 1000;
    let mut csv = String::from("holder_name,holder_id,email\n");
    for i in 0..rows {
        csv.push_str(&format!("Holder {i},ID-{i},h{i}@example.org\n"));
    }
    let csv_path = temp.path().join("holders.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    browser.click(&browser.link("Issue cards"));
    browser.wait_displayed("#view-issue", WAIT);
    browser.click(&browser.find("input[name='source'][value='csv']"));
    browser.type_text(&browser.field("CSV file"), &csv_path.display().to_string());
    let csv_status = browser.find("#csv-status");
    browser.wait_for("the CSV check", WAIT, || {
        browser.text(&csv_status).contains("1000 holders ready")
    });
    browser.click(&browser.button("Build"));
    browser.wait_displayed("#downloads", Duration::from_secs(300));
    let build_status = browser.find("#build-status");
    let page_build_ms = milliseconds(&browser, &build_status);
    browser.click(&browser.button("Download VSC"));
    let zip = wait_download(&downloads, "vsc-batch-1000.zip");
    browser.click(&browser.button("Download passwords"));
    let sheet =
        std::fs::read_to_string(wait_download(&downloads, "vsc-batch-1000-passwords.csv")).unwrap();
    // Every VSC in the ZIP opens natively with its row of the password sheet.
    let entries = stored_zip_entries(&std::fs::read(&zip).unwrap());
    assert_eq!(entries.len(), rows);
    assert_eq!(sheet.lines().count(), rows + 1);
    for (line, (name, bytes)) in sheet.lines().skip(1).zip(&entries) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], name, "the sheet lists the files in ZIP order");
        let vsc = Vsc::open(bytes, cells[3]).expect("a batch VSC opens with its password");
        assert_eq!(vsc.uid().to_string(), cells[1]);
        assert_eq!(vsc.public_value("holder_name").as_deref(), Some(cells[2]));
    }
    if let Ok(output) = Command::new("unzip").arg("-tq").arg(&zip).output() {
        assert!(output.status.success(), "unzip -t: {output:?}");
    }

    // The native figure is the best of several rounds in a warm process; time the page the
    // same way: the first build above also pays for compiling the wasm functions it runs.
    let first_build_ms = page_build_ms;
    let mut page_build_ms = f64::INFINITY;
    for _ in 0..PAGE_BUILD_ROUNDS {
        browser.execute(
            "document.querySelector('#build-status').removeAttribute('data-ms')",
            json!([]),
        );
        browser.click(&browser.button("Build"));
        browser.wait_for(
            "the batch to be built again",
            Duration::from_secs(300),
            || browser.attribute(&build_status, "data-ms").is_some(),
        );
        page_build_ms = page_build_ms.min(milliseconds(&browser, &build_status));
    }

    let profile = Profile::builtin("iso7816-generic").unwrap();
    let options = vsc_core::holder_csv::CsvOptions {
        encoding: vsc_core::text_encoding::TextEncoding::Utf8,
        today: vsc_tests::test_day(),
    };
    let holders = vsc_core::holder_csv::read(&profile, csv.as_bytes(), &options)
        .unwrap()
        .into_holders();
    let started = Instant::now();
    for holder in &holders {
        Vsc::build_sealed(&profile, holder, &mut OsRng).unwrap();
    }
    let native_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "bench: building {rows} VSCs: {page_build_ms:.1} ms in the page (release wasm, best of {PAGE_BUILD_ROUNDS} after a first build of {first_build_ms:.1} ms), {native_ms:.0} ms natively in this test's profile; `cargo bench -p vsc-web` prints the ratio against a native release build"
    );
    // For the benchmark's ratio (scripts/test runs the benchmarks after the tests).
    let figures = target_dir(&root).join("vsc-web");
    std::fs::create_dir_all(&figures).unwrap();
    std::fs::write(
        figures.join(PAGE_BUILD_FIGURE),
        format!("{page_build_ms}\n"),
    )
    .unwrap();
    drop(browser);

    // OpenSC, independent of this workspace, reads the holder name back from the card.
    bridge.kill();
    let responses = opensc_apdus(
        0,
        &[
            "00A4040C06F05653430001", // SELECT the DF by name (ISO 7816-4 §11.2.2)
            "00A4000C025002",         // SELECT the public EF by FID
            "00B0000000",             // READ BINARY, up to 256 bytes (ISO 7816-4 §11.3.3)
        ],
    );
    for response in &responses {
        assert_eq!(&response[response.len() - 2..], [0x90, 0x00]);
    }
    let public = &responses[2];
    let name_bytes = HOLDER.as_bytes();
    assert!(
        public.windows(name_bytes.len()).any(|w| w == name_bytes),
        "the card's public EF holds the holder name"
    );
}
