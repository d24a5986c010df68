//! The page on the issuer service, in headless Chromium against a real `vsc-issuer`, on SQLite
//! and on PostgreSQL, with a real `vsc-bridge --sim` for the branch PC: Sign in (a wrong
//! password explained), each role seeing its views and nothing else, the clerk importing a CSV
//! file (a bad row listed, nothing stored; then the fixed file), searching the records and
//! refused an upload to a branch without an approved station, the operator pairing the Queue
//! with the bridge (the reader's card state live) and enrolling this station (its fingerprint
//! shown), the admin finding that fingerprint and approving the station and adding a branch and
//! a user, the clerk's "Upload to branch" building the VSCs in the page and sealing each
//! password for the station, the approver approving one prepared job, the operator claiming it
//! (the bridge opens its envelope, the page personalizes the simulated card, "Verified", the
//! result reported by the page), the auditor's log showing every step, filtered, and its chain
//! verified, and Sign out. Screenshots of each view go where the other browser test puts them
//! (`docs/screenshots/` with `VSC_UPDATE_SCREENSHOTS=1`).
#![cfg(not(target_arch = "wasm32"))]

mod page;
mod webdriver;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use page::{ensure_web_pkg, repo_root, target_dir};
use serde_json::json;
use vsc_tests::issuer::Client;
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
            Client::new(&service.base).get("/api/health").0 == 200
        });
        service
    }

    /// An API client signed in as `user` (the harness's client of `vsc_tests::issuer`).
    fn login(&self, user: &str) -> Client {
        let mut api = Client::new(&self.base);
        let pw = if user == "admin" { &self.admin_pw } else { PW };
        let (status, body) = api.post("/api/session", json!({"username": user, "password": pw}));
        assert_eq!(status, 200, "{body}");
        api
    }
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

    // The operator at the branch PC: the Queue pairs with the bridge, shows its reader's card
    // state live and its station key's fingerprint, and enrols the station.
    let (_bridge, bridge_address) = start_bridge(dir, &service.base);
    sign_in(&browser, "operator", PW, "view-queue");
    assert_eq!(nav_links(&browser), ["Queue"]);
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
    wait_text(&browser, "#op-bridge-status", "aired");
    wait_text(&browser, "#station-status", "not enrolled");
    let fingerprint = browser
        .text(&browser.find("#station-fingerprint"))
        .trim_start_matches("Fingerprint: ")
        .to_owned();
    assert!(!fingerprint.is_empty());
    let name = browser.field("Station name");
    browser.clear(&name);
    browser.type_text(&name, "Desk 2");
    browser.click(&browser.button("Enrol this station"));
    wait_text(&browser, "#station-status", "waits for an administrator");
    sign_out(&browser);

    // The admin: Administration only; the station's fingerprint, as the page showed it, to
    // approve; a branch and a user added.
    sign_in(&browser, "admin", &service.admin_pw, "view-admin");
    assert_eq!(nav_links(&browser), ["Administration"]);
    wait_text(&browser, "#stations-rows", &fingerprint);
    wait_text(&browser, "#stations-rows", "Desk 2");
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

    // The clerk: "Upload to branch" builds the 3 VSCs in the page and seals each password for
    // the approved station.
    sign_in(&browser, "clerk", PW, "view-records");
    wait_rows(&browser, "#rec-rows", 3);
    wait_text(&browser, "#rec-stations", "Desk 2");
    browser.click(&browser.button("Select all matching"));
    wait_text(&browser, "#rec-selected", "All 3 records");
    browser.click(&browser.button("Upload to branch"));
    wait_text(&browser, "#upload-status", "Uploaded 3 VSCs to b1");
    assert!(!browser.displayed(&browser.find("#records-error")));
    sign_out(&browser);
    let clerk = service.login("clerk");
    let (status, jobs) = clerk.get("/api/jobs?branch=b1");
    assert_eq!(status, 200, "{jobs}");
    let jobs = jobs["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 3, "{jobs:?}");

    // The approver: the prepared jobs, by holder; one approved.
    sign_in(&browser, "approver", PW, "view-approve");
    assert_eq!(nav_links(&browser), ["Approve jobs"]);
    wait_rows(&browser, "#approve-rows", 3);
    wait_text(&browser, "#approve-rows", "Émile Nguyễn-Müller 田中");
    shot("online-approve.png");
    browser.click(&browser.button("Approve"));
    wait_rows(&browser, "#approve-rows", 2);
    sign_out(&browser);
    let (_, queued) = clerk.get("/api/jobs?branch=b1&state=queued");
    let queued = queued["jobs"].as_array().unwrap().clone();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let job = queued[0]["id"].as_str().unwrap().to_owned();
    let holder = queued[0]["holder_name"].as_str().unwrap().to_owned();

    // The operator again: the bridge reconnects with its pairing kept; the station is approved;
    // Claim opens the job's envelope in the bridge and personalizes the simulated card with it,
    // and the page reports the result.
    sign_in(&browser, "operator", PW, "view-queue");
    browser.click(&browser.find("#op-connect"));
    wait_text(&browser, "#op-bridge-status", "aired");
    wait_text(&browser, "#op-reader-status", "Card present");
    wait_text(&browser, "#station-status", "is approved");
    wait_text(&browser, "#queue-rows", &holder);
    wait_text(&browser, "#queue-rows", &job);
    assert_eq!(rows(&browser, "#queue-rows"), 1, "only the approved job");
    shot("online-queue.png");
    browser.click(&browser.button("Claim"));
    wait_text(&browser, "#op-status", "Verified");
    wait_text(&browser, "#op-status", "done and reported");
    assert!(browser.text(&browser.find("#op-status")).contains(&holder));
    browser.wait_displayed("#next-card", WAIT);
    wait_text(&browser, "#queue-count", "The queue is empty");
    let (_, done) = clerk.get(&format!("/api/jobs/{job}"));
    assert_eq!(done["job"]["state"], "personalized", "{done}");
    assert_eq!(
        done["job"]["result"]["atr"].as_str().map(str::to_uppercase),
        Some(hex::encode_upper(softcard::Card::blank().atr()))
    );
    // Signing out with the card's PIN mailer not printed asks first (answered yes here).
    browser.execute(
        "window.vscAsked = []; window.confirm = (m) => { window.vscAsked.push(m); return true; };",
        json!([]),
    );
    sign_out(&browser);
    let asked = browser.execute("return window.vscAsked.join(' ');", json!([]));
    assert!(
        asked.as_str().is_some_and(|a| a.contains("PIN mailer")),
        "{asked}"
    );

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
        actions.len() == 6 && actions.iter().all(|a| a.starts_with("job."))
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
