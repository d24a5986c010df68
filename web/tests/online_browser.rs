//! The page on the issuer service, in headless Chromium against a real `vsc-issuer`, on SQLite
//! and on PostgreSQL, with a real `vsc-bridge --sim` for the branch PC: Sign in (a wrong
//! password explained), each role seeing its views and nothing else, the clerk importing a CSV
//! file (a bad row listed, nothing stored; then the fixed file), searching the records and
//! refused an upload to a branch without an approved station, the approver approving a
//! prepared job, the admin seeing the station to approve and adding a branch and a user, the
//! operator pairing the Queue with the bridge (the reader's card state live, the queue naming
//! the holder), claiming the approved job and personalizing the simulated card with it
//! ("Verified", the PIN mailer), the auditor's log showing every step, filtered, and its chain
//! verified, and Sign out. Screenshots of each view go where the other browser test puts them
//! (`docs/screenshots/` with `VSC_UPDATE_SCREENSHOTS=1`).
//!
//! The password envelope (sealing in the page, opening in the bridge's station) is not part of
//! this build: the page says so where it is needed, and the test seals the jobs natively with
//! stand-in envelopes, claims through the service's API as the station would, and personalizes
//! the claimed VSC with its password in the page's Personalize view.
#![cfg(not(target_arch = "wasm32"))]

mod page;
mod webdriver;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use page::{ensure_web_pkg, repo_root, target_dir};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use vsc_core::batch::BatchEntry;
use vsc_core::profile::Profile;
use vsc_tests::{cargo_bin, free_port, wait_until, ChildGuard, PostgresCluster};
use webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);
const PW: &str = "a long demo password";
const ROLES: [(&str, Option<&str>); 4] = [
    ("clerk", None),
    ("approver", None),
    ("operator", Some("b1")),
    ("auditor", None),
];

fn screenshot_dir(root: &Path) -> PathBuf {
    if std::env::var_os("VSC_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        root.join("docs/screenshots")
    } else {
        target_dir(root).join("vsc-screenshots")
    }
}

/// A running `vsc-issuer` with branch b1 and one user per role (admin's password kept).
struct Service {
    _child: ChildGuard,
    base: String,
    admin_pw: String,
}

fn issuer(args: &[&str]) -> String {
    let out = Command::new(cargo_bin("vsc-issuer"))
        .args(args)
        .output()
        .expect("run vsc-issuer");
    assert!(
        out.status.success(),
        "vsc-issuer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Service {
    fn start(db: &str, dir: &Path) -> Service {
        let init = issuer(&["init", "--db", db]);
        let admin_pw = init
            .lines()
            .find_map(|l| l.strip_prefix("admin password (shown once; store it now): "))
            .expect("init prints the admin password")
            .to_owned();
        issuer(&["branches", "add", "b1", "--name", "Paris Opéra", "--db", db]);
        let pw_file = dir.join("pw");
        std::fs::write(&pw_file, format!("{PW}\n")).unwrap();
        for (user, branch) in ROLES {
            let mut args = vec!["users", "add", user, "--role", user, "--db", db];
            args.extend(["--password-file", pw_file.to_str().unwrap()]);
            if let Some(b) = branch {
                args.extend(["--branch", b]);
            }
            issuer(&args);
        }
        let port = free_port();
        let mut serve = Command::new(cargo_bin("vsc-issuer"));
        serve
            .args([
                "serve",
                "--db",
                db,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--page-dir")
            .arg(repo_root());
        let child = ChildGuard::spawn(serve, &dir.join("issuer.log"));
        wait_until(WAIT, "vsc-issuer to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let service = Service {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            admin_pw,
        };
        wait_until(WAIT, "vsc-issuer to be healthy", || {
            service.client().call("GET", "/api/health", None).0 == 200
        });
        service
    }

    fn client(&self) -> Api {
        Api {
            base: self.base.clone(),
            cookie: None,
        }
    }

    /// An API client signed in as `user`.
    fn login(&self, user: &str) -> Api {
        let mut api = self.client();
        let pw = if user == "admin" { &self.admin_pw } else { PW };
        let (status, body) = api.call(
            "POST",
            "/api/session",
            Some(json!({"username": user, "password": pw})),
        );
        assert_eq!(status, 200, "{body}");
        api
    }
}

/// The service's API as the test sets things up around the page.
struct Api {
    base: String,
    cookie: Option<String>,
}

impl Api {
    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .header("x-vsc-request", "1");
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        let bytes = match &body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let mut resp = agent
            .run(req.body(bytes).unwrap())
            .expect("the service answers");
        if let Some(c) = resp.headers().get("set-cookie") {
            self.cookie = Some(c.to_str().unwrap().split(';').next().unwrap().to_owned());
        }
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sign_in(browser: &Browser, user: &str, password: &str, view: &str) {
    browser.wait_displayed("#view-signin", WAIT);
    let name = browser.field("Username");
    browser.clear(&name);
    browser.type_text(&name, user);
    browser.type_text(&browser.field("Password"), password);
    browser.click(&browser.button("Sign in"));
    browser.wait_displayed(&format!("#{view}"), WAIT);
}

fn sign_out(browser: &Browser) {
    browser.click(&browser.button("Sign out"));
    browser.wait_displayed("#view-signin", WAIT);
}

/// The masthead's links shown now, in order.
fn nav_links(browser: &Browser) -> Vec<String> {
    let links = browser.execute(
        "return [...document.querySelectorAll('nav a')].filter((a) => a.offsetParent !== null).map((a) => a.textContent);",
        json!([]),
    );
    serde_json::from_value(links).unwrap()
}

fn rows(browser: &Browser, tbody: &str) -> usize {
    browser
        .execute(
            "return document.querySelectorAll(arguments[0] + ' tr').length;",
            json!([tbody]),
        )
        .as_u64()
        .unwrap() as usize
}

fn wait_rows(browser: &Browser, tbody: &str, n: usize) {
    browser.wait_for(&format!("{n} rows in {tbody}"), WAIT, || {
        rows(browser, tbody) == n
    });
}

fn wait_text(browser: &Browser, css: &str, text: &str) {
    browser.wait_for(&format!("{css} to say {text:?}"), WAIT, || {
        browser
            .try_find(css)
            .is_some_and(|e| browser.text(&e).contains(text))
    });
}

/// A job the test uploaded: its id and the password of its VSC.
struct Uploaded {
    id: String,
    password: String,
}

/// Uploads a job built natively for `record` with stand-in envelopes (the service checks their
/// shape, never their content): what the approver and the operator then see.
fn upload_job(clerk: &mut Api, record: &Value, station: &str) -> Uploaded {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let values: BTreeMap<String, String> =
        serde_json::from_value(record["values"].clone()).unwrap();
    // The service stamped the record with its own today (UTC): build as of that day.
    let today = vsc_core::date::Date::parse(&values["issue_date"]).expect("an issue date");
    let holder = vsc_core::holder::validate_record(&profile, &values, today).unwrap();
    let entry = BatchEntry::build(&profile, &holder, &mut OsRng).unwrap();
    let mut enc = [0u8; 32];
    let mut ciphertext = [0u8; 48];
    OsRng.fill_bytes(&mut enc);
    OsRng.fill_bytes(&mut ciphertext);
    let (status, body) = clerk.call(
        "POST",
        "/api/jobs",
        Some(json!({"record": record["id"], "branch": "b1", "vsc": b64(&entry.sealed.bytes),
                    "envelopes": [{"station": station, "enc": b64(&enc), "ciphertext": b64(&ciphertext)}]})),
    );
    assert_eq!(status, 201, "{body}");
    Uploaded {
        id: body["job"]["id"].as_str().unwrap().to_owned(),
        password: entry.sealed.password.expose().to_owned(),
    }
}

/// `vsc-bridge --sim` for the branch PC, allowing the service's origin (pairing needed); its
/// WebSocket address.
fn start_bridge(dir: &Path, origin: &str) -> (ChildGuard, String) {
    let port = free_port();
    let mut command = Command::new(cargo_bin("vsc-bridge"));
    command
        .args(["--sim", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--allow-origin", origin])
        .arg("--pairing-code-file")
        .arg(dir.join("pairing-code"))
        .arg("--config-dir")
        .arg(dir.join("bridge-config"));
    let child = ChildGuard::spawn(command, &dir.join("bridge.log"));
    wait_until(WAIT, "vsc-bridge to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (child, format!("ws://127.0.0.1:{port}/v1"))
}

fn run(db: &str, dir: &Path, screenshots: Option<&Path>) {
    let root = repo_root();
    let service = Service::start(db, dir);
    let browser = Browser::start(
        &dir.join("chromium-profile"),
        &dir.join("downloads"),
        &dir.join("chromedriver.log"),
    );
    let shot = |name: &str| {
        if let Some(dir) = screenshots {
            browser.screenshot(&dir.join(name));
        }
    };
    browser.goto(&format!("{}/", service.base));
    browser.wait_displayed("body[data-ready='true'] #view-signin", WAIT);
    assert_eq!(
        nav_links(&browser),
        ["Issue cards", "Personalize", "Sign in"],
        "signed out: Sign in, and the file mode"
    );

    // A wrong password is explained from the catalogue, and the password field is emptied.
    browser.type_text(&browser.field("Username"), "clerk");
    browser.type_text(&browser.field("Password"), "not the password");
    browser.click(&browser.button("Sign in"));
    let alert = browser.wait_displayed("#signin-error", WAIT);
    browser.wait_for("wrong_credentials", WAIT, || {
        browser.attribute(&alert, "data-code").as_deref() == Some("wrong_credentials")
    });
    assert!(browser.text(&alert).contains("Wrong username or password"));
    shot("online-sign-in.png");

    // The clerk: Records only.
    sign_in(&browser, "clerk", PW, "view-records");
    assert_eq!(nav_links(&browser), ["Records"]);
    browser.goto(&format!("{}/#admin", service.base));
    browser.wait_displayed("#view-records", WAIT);
    assert!(!browser.displayed(&browser.find("#view-admin")));

    let bad = dir.join("holders-bad.csv");
    std::fs::write(
        &bad,
        "holder_name,holder_id,expiry_date,email\nÉmile Nguyễn-Müller 田中,E-1,2031-12-31,emile@example.org\nBad Date,E-2,2031-02-30,bad@example.org\nSiobhán O'Brien,E-3,2031-12-31,siobhan@example.org\n",
    )
    .unwrap();
    browser.type_text(
        &browser.field("Holder file (CSV)"),
        &bad.display().to_string(),
    );
    browser.click(&browser.button("Import"));
    let problems = browser.wait_displayed("#rec-csv-problems", WAIT);
    let text = browser.text(&problems);
    assert!(
        text.contains("expiry_date") && text.contains("E-2 Bad Date"),
        "{text}"
    );
    assert_eq!(rows(&browser, "#rec-csv-problems tbody"), 1);
    assert_eq!(rows(&browser, "#rec-rows"), 0, "nothing was imported");
    shot("online-import-problems.png");
    let fixed = dir.join("holders.csv");
    std::fs::write(
        &fixed,
        std::fs::read_to_string(&bad)
            .unwrap()
            .replace("2031-02-30", "2031-02-28"),
    )
    .unwrap();
    browser.type_text(
        &browser.field("Holder file (CSV)"),
        &fixed.display().to_string(),
    );
    browser.click(&browser.button("Import"));
    wait_text(&browser, "#rec-import-status", "Imported 3 holders");
    assert!(!browser.displayed(&problems));
    wait_rows(&browser, "#rec-rows", 3);
    browser.type_text(&browser.field("Search records"), "siobh");
    wait_rows(&browser, "#rec-rows", 1);
    browser.clear(&browser.field("Search records"));
    browser.type_text(&browser.field("Search records"), " ");
    wait_rows(&browser, "#rec-rows", 3);
    browser.click(&browser.button("Select all matching"));
    wait_text(&browser, "#rec-selected", "All 3 records");
    browser.click(&browser.button("Upload to branch"));
    let alert = browser.wait_displayed("#records-error", WAIT);
    browser.wait_for("no_approved_station", WAIT, || {
        browser.attribute(&alert, "data-code").as_deref() == Some("no_approved_station")
    });
    shot("online-records.png");
    sign_out(&browser);

    // Around the page: a station enrolled and approved, two jobs uploaded.
    let mut operator = service.login("operator");
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    let (status, body) = operator.call(
        "POST",
        "/api/stations",
        Some(json!({"name": "Desk 2", "public_key": b64(&key)})),
    );
    assert_eq!(status, 201, "{body}");
    let station = body["station"]["id"].as_str().unwrap().to_owned();
    let fingerprint = body["station"]["fingerprint"].as_str().unwrap().to_owned();
    let mut clerk = service.login("clerk");
    let (_, list) = clerk.call("GET", "/api/records?q=e-", None);
    let ids: Vec<String> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].to_string())
        .collect();
    let (_, records) = clerk.call(
        "GET",
        &format!("/api/records/values?ids={}", ids.join(",")),
        None,
    );
    let records = records["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 3);

    // The admin: Administration only; the station's fingerprint; a branch and a user added.
    sign_in(&browser, "admin", &service.admin_pw, "view-admin");
    assert_eq!(nav_links(&browser), ["Administration"]);
    wait_text(&browser, "#stations-rows", &fingerprint);
    browser.type_text(&browser.field("Branch ID"), "b2");
    browser.type_text(&browser.field("Branch name"), "Lyon Part-Dieu");
    browser.click(&browser.button("Add branch"));
    wait_text(&browser, "#branches-rows", "Lyon Part-Dieu");
    browser.type_text(&browser.field("New user name"), "clerk2");
    browser.type_text(&browser.field("Initial password"), "another long password");
    browser.click(&browser.button("Add user"));
    wait_text(&browser, "#users-rows", "clerk2");
    shot("online-admin.png");
    browser.click(&browser.button("Approve"));
    wait_text(&browser, "#stations-rows", "approved");
    sign_out(&browser);
    let job_a = upload_job(&mut clerk, &records[0], &station);
    let job_b = upload_job(&mut clerk, &records[1], &station);

    // The approver: the prepared jobs, by holder; one approved.
    sign_in(&browser, "approver", PW, "view-approve");
    assert_eq!(nav_links(&browser), ["Approve jobs"]);
    wait_rows(&browser, "#approve-rows", 2);
    wait_text(&browser, "#approve-rows", "Émile Nguyễn-Müller 田中");
    shot("online-approve.png");
    browser.click(&browser.button("Approve"));
    wait_rows(&browser, "#approve-rows", 1);
    sign_out(&browser);

    // The operator: the Queue pairs with the bridge of the branch PC and shows its reader's
    // card state live; the queue names the holder and holds the approved job only.
    let (_bridge, bridge_address) = start_bridge(dir, &service.base);
    sign_in(&browser, "operator", PW, "view-queue");
    assert_eq!(nav_links(&browser), ["Queue"]);
    wait_text(&browser, "#queue-rows", "Émile Nguyễn-Müller 田中");
    wait_text(&browser, "#queue-rows", &job_a.id);
    assert!(!browser
        .text(&browser.find("#queue-rows"))
        .contains(&job_b.id));
    wait_text(&browser, "#station-status", "Connect to the bridge");
    browser.click(&browser.button("Claim"));
    let alert = browser.wait_displayed("#queue-error", WAIT);
    assert_eq!(
        browser.attribute(&alert, "data-code").as_deref(),
        Some("not_authenticated")
    );
    let address = browser.find("#op-bridge-address");
    browser.clear(&address);
    browser.type_text(&address, &bridge_address);
    browser.click(&browser.find("#op-connect"));
    browser.wait_displayed("#op-pairing", WAIT);
    let code_file = dir.join("pairing-code");
    wait_until(WAIT, "the bridge to write the pairing code", || {
        std::fs::read_to_string(&code_file).is_ok_and(|c| !c.trim().is_empty())
    });
    let code = std::fs::read_to_string(&code_file).unwrap();
    browser.type_text(&browser.find("#op-pairing-code"), code.trim());
    browser.click(&browser.find("#op-pair"));
    wait_text(&browser, "#op-reader-status", "Card present");
    wait_text(&browser, "#op-bridge-status", "Paired");
    // This bridge cannot be a station in this build: the page says why, and claims nothing.
    let alert = browser.wait_displayed("#queue-error", WAIT);
    browser.wait_for("unsupported_protocol", WAIT, || {
        browser.attribute(&alert, "data-code").as_deref() == Some("unsupported_protocol")
    });
    assert!(
        browser.text(&alert).contains("station key"),
        "{}",
        browser.text(&alert)
    );
    browser.click(&browser.button("Claim"));
    browser.wait_for("station_not_approved", WAIT, || {
        browser.attribute(&alert, "data-code").as_deref() == Some("station_not_approved")
    });
    wait_text(&browser, "#queue-rows", "queued");
    sign_out(&browser);

    // The claim, as the station makes it through the service's API; the card personalized with
    // the claimed VSC in the page, through the same bridge (its pairing kept); the result
    // reported.
    let (status, claimed) = operator.call(
        "POST",
        "/api/queue/claim",
        Some(json!({"station": station})),
    );
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["job"]["id"].as_str(), Some(job_a.id.as_str()));
    assert_eq!(
        claimed["envelope"]["station"].as_str(),
        Some(station.as_str())
    );
    let vsc_path = dir.join("claimed.vsc");
    std::fs::write(
        &vsc_path,
        base64::engine::general_purpose::STANDARD
            .decode(claimed["vsc"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    browser.click(&browser.link("Personalize"));
    browser.wait_displayed("#view-personalize", WAIT);
    let address = browser.field("Bridge address");
    browser.clear(&address);
    browser.type_text(&address, &bridge_address);
    browser.click(&browser.button("Connect"));
    wait_text(&browser, "#bridge-status", "This page is paired");
    wait_text(&browser, "#reader-status", "Card present");
    browser.type_text(&browser.field("VSC file"), &vsc_path.display().to_string());
    wait_text(&browser, "#vsc-summary", "Émile Nguyễn-Müller 田中");
    browser.type_text(&browser.field("Password"), &job_a.password);
    browser.click(&browser.button("Personalize"));
    let verified = browser.wait_displayed("#verified", WAIT);
    assert!(browser.text(&verified).contains("Verified"));
    assert_eq!(
        browser.text(&browser.find("#mailer-holder")),
        "Émile Nguyễn-Müller 田中"
    );
    // What the station reports: the simulated card is a blank softcard.
    let atr = hex::encode_upper(softcard::Card::blank().atr());
    browser.click(&browser.button("Done, clear the PIN"));
    browser.wait_displayed("#view-personalize", WAIT);
    let (status, body) = operator.call(
        "POST",
        &format!("/api/jobs/{}/result", job_a.id),
        Some(json!({"outcome": "personalized", "atr": atr, "apdus": 1, "read_back_ok": true})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["job"]["state"], "personalized");

    // The auditor: every step in the log, filtered; the chain verified.
    browser.click(&browser.link("Sign in"));
    sign_in(&browser, "auditor", PW, "view-audit");
    assert_eq!(nav_links(&browser), ["Audit log"]);
    wait_text(&browser, "#audit-verify-result", "The chain verifies");
    for action in [
        "records.import",
        "station.enrol",
        "station.approve",
        "job.upload",
        "job.approve",
        "job.claim",
        "envelope.release",
        "job.report-personalized",
    ] {
        wait_text(&browser, "#audit-rows", action);
    }
    browser.type_text(&browser.field("Action starts with"), "job.");
    browser.click(&browser.button("Filter"));
    browser.wait_for("only job rows", WAIT, || {
        let actions = browser.execute(
            "return [...document.querySelectorAll('#audit-rows tr td:nth-child(6)')].map((td) => td.textContent);",
            json!([]),
        );
        let actions: Vec<String> = serde_json::from_value(actions).unwrap();
        actions.len() == 5 && actions.iter().all(|a| a.starts_with("job."))
    });
    shot("online-audit.png");
    sign_out(&browser);
    assert_eq!(
        nav_links(&browser),
        ["Issue cards", "Personalize", "Sign in"]
    );
    let _ = root;
}

#[test]
fn the_page_on_the_issuer_service_on_sqlite() {
    let root = repo_root();
    ensure_web_pkg(&root);
    let dir = tempfile::tempdir().unwrap();
    let screenshots = screenshot_dir(&root);
    std::fs::create_dir_all(&screenshots).unwrap();
    let db = format!("sqlite://{}/issuer.db", dir.path().display());
    run(&db, dir.path(), Some(&screenshots));
}

#[test]
fn the_page_on_the_issuer_service_on_postgres() {
    let root = repo_root();
    ensure_web_pkg(&root);
    let dir = tempfile::tempdir().unwrap();
    let pg = PostgresCluster::start();
    let db = pg.create_database("online_page");
    run(&db, dir.path(), None);
}
