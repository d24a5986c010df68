//! The clerk's "Upload to branch" over several chunks, in headless Chromium against a real
//! `vsc-issuer` (SQLite): the page builds the next chunk while the service stores one, and
//! after a failed chunk it says exactly how many VSCs were stored, which the service confirms;
//! the records left are uploaded afterwards in one go.
//!
//! The failure is the network's: the page's `fetch` is wrapped to fail the second batch
//! upload (the service is real, it just never sees that request).
#![cfg(not(target_arch = "wasm32"))]

mod page;
mod webdriver;

use std::time::Duration;

use page::{ensure_web_pkg, repo_root};
use serde_json::json;
use vsc_tests::issuer::{Client, Issuer, PW};
use webdriver::Browser;

const WAIT: Duration = Duration::from_secs(120);
/// Records per chunk of the page's upload.
const CHUNK: usize = vsc_core::job_envelopes::JOBS_PER_BATCH;
/// Records: two full chunks and part of a third.
const RECORDS: usize = 2 * CHUNK + CHUNK * 2 / 5;

fn sign_in(browser: &Browser) {
    browser.wait_displayed("#view-signin", WAIT);
    let name = browser.field("Username");
    browser.clear(&name);
    browser.type_text(&name, "clerk");
    browser.type_text(&browser.field("Password"), PW);
    browser.click(&browser.button("Sign in"));
    browser.wait_displayed("#view-records", WAIT);
}

fn total(clerk: &Client, path: &str) -> i64 {
    let (status, body) = clerk.get(path);
    assert_eq!(status, 200, "{body}");
    body["total"].as_i64().expect("a total")
}

fn wait_status(browser: &Browser, css: &str, text: &str) {
    let element = browser.find(css);
    browser.wait_for(&format!("{css} to say {text:?}"), WAIT, || {
        browser.text(&element).contains(text)
    });
}

#[test]
fn a_failed_chunk_is_reported_exactly_and_the_rest_uploads_later() {
    let root = repo_root();
    ensure_web_pkg(&root);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/issuer.db", dir.path().display());
    let service = Issuer::start_on(&db, &[]);
    service.station("operator");
    let mut clerk = service.login("clerk");
    service.records(&mut clerk, RECORDS);

    let browser = Browser::start(
        &dir.path().join("chromium"),
        &dir.path().join("downloads"),
        &dir.path().join("chromedriver.log"),
    );
    browser.goto(&format!("{}/", service.server.base));
    browser.wait_displayed("body[data-ready='true'] #view-signin", WAIT);
    sign_in(&browser);
    wait_status(&browser, "#rec-stations", "approved station");
    // The second batch upload fails as a dropped connection would.
    browser.execute(
        "const real = window.fetch; let batches = 0;
         window.fetch = (url, init) => String(url).endsWith('/api/jobs/batch') && ++batches === 2
           ? Promise.reject(new TypeError('connection reset (test)'))
           : real(url, init);",
        json!([]),
    );
    browser.click(&browser.button("Select all matching"));
    wait_status(&browser, "#rec-selected", &format!("All {RECORDS}"));
    browser.click(&browser.button("Upload to branch"));
    wait_status(
        &browser,
        "#upload-status",
        &format!("{CHUNK} uploaded before the problem below; the rest were not."),
    );
    assert!(browser.displayed(&browser.find("#records-error")));
    assert!(browser
        .text(&browser.find("#records-error"))
        .contains("connection reset (test)"));
    assert_eq!(total(&clerk, "/api/jobs?branch=b1"), CHUNK as i64);
    assert_eq!(total(&clerk, "/api/records?state=built"), CHUNK as i64);

    // Every record again ("All", the uploaded ones too): a holder gets one card at a time,
    // so the first chunk is refused in words and nothing more is stored.
    browser.execute(
        "const s = document.querySelector('#rec-state'); s.value = '';
         s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    browser.click(&browser.button("Select all matching"));
    wait_status(&browser, "#rec-selected", &format!("All {RECORDS}"));
    browser.click(&browser.button("Upload to branch"));
    wait_status(&browser, "#upload-status", "Nothing was uploaded.");
    assert!(browser
        .text(&browser.find("#records-error"))
        .contains("has a job on its way to a card already"));
    assert_eq!(total(&clerk, "/api/jobs?branch=b1"), CHUNK as i64);
    // Typing a new search ends "all matching" at once, before the list follows: the
    // selection was the list shown.
    browser.click(&browser.button("Select all matching"));
    wait_status(&browser, "#rec-selected", &format!("All {RECORDS}"));
    let selected = browser.execute(
        "const q = document.querySelector('#rec-search'); q.value = 'Holder 1';
         q.dispatchEvent(new Event('input'));
         return document.querySelector('#rec-selected').textContent;",
        json!([]),
    );
    assert!(
        !selected.as_str().unwrap_or_default().contains("All"),
        "{selected}"
    );

    // The page again, fetch as it is: the records still pending go up in two chunks.
    let left = RECORDS - CHUNK;
    browser.goto(&format!("{}/", service.server.base));
    browser.wait_displayed("body[data-ready='true']", WAIT);
    if browser.displayed(&browser.find("#view-signin")) {
        sign_in(&browser);
    }
    browser.wait_displayed("#view-records", WAIT);
    browser.execute(
        "const s = document.querySelector('#rec-state'); s.value = 'pending';
         s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    wait_status(&browser, "#rec-rows", "Holder");
    browser.click(&browser.button("Select all matching"));
    wait_status(&browser, "#rec-selected", &format!("All {left}"));
    browser.click(&browser.button("Upload to branch"));
    wait_status(
        &browser,
        "#upload-status",
        &format!("Uploaded {left} VSCs to b1"),
    );
    assert!(!browser.displayed(&browser.find("#records-error")));
    assert_eq!(total(&clerk, "/api/jobs?branch=b1"), RECORDS as i64);
    assert_eq!(total(&clerk, "/api/records?state=pending"), 0);
}
