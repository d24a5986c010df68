//! Budgets of the page on the issuer service, measured in headless Chromium against a real
//! `vsc-issuer` (SQLite) on this machine; printed, never asserted.
//!
//! - The page alone: N holders of a CSV file built and sealed in the file mode ("Issue cards"),
//!   the median of [`ALONE_RUNS`] runs after one to warm up: the first build of a page runs
//!   the wasm before V8 has optimized it and takes about twice as long, and the upload, which
//!   runs after, is compared with warm code.
//! - Clerk: the same N records built, sealed for the branch's station and uploaded from the
//!   page ("Upload to branch"), over the page alone; goal: ratio <= 2 (the network and the
//!   service cost no more than the build).
//! - Memory: the peak JS heap during the upload of N records over the peak during the upload
//!   of N/10 (sampled through the DevTools protocol every 100 ms, in uploads of their own: the
//!   samples take the page's thread, so the timed upload has none); goal: <= 1.5 (memory does
//!   not grow with the batch: the page streams chunks).
//! - Where the upload's time went, as the page measures it: listing the ids, waiting for the
//!   records' values, building and sealing, waiting for the service to store a chunk.
//! - What the parts cost on their own: the service's time per chunk as the browser's Resource
//!   Timing sees it (request sent to the answer's first byte), and one chunk built and sealed
//!   by the page's uploader with nothing else running (after the upload, warm). Their sums
//!   over the build alone say how far overlapping the service with the page can bring the
//!   ratio on this machine.
//!
//! When the page refuses the upload, the upload's budgets print `SKIPPED:` with the page's
//! reason.
//!
//! N is 10,000 (`VSC_BENCH_QUICK=1`: 2,000, against 200). The wasm bundle's size budget is
//! measured by `scripts/test` on the optimized build, not here.
//!
//! `VSC_BENCH_SPLIT_CPUS=1` gives the service a CPU of its own (CPU 1) and the browser and the
//! bench the other (CPU 0), as when the service runs on a server of its own: on a machine of
//! two cores the service and the page otherwise compete for both, so the ratio then also
//! measures how the scheduler shares them. Both the page alone and the upload run so.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../../tests/page/mod.rs"]
mod page;
#[path = "../../tests/webdriver/mod.rs"]
mod webdriver;

use std::path::Path;
use std::time::{Duration, Instant};

use page::{ensure_web_pkg, repo_root};
use serde_json::json;
use vsc_tests::issuer::{run_ok, Server};
use webdriver::Browser;

const PW: &str = "a long bench password";
const WAIT: Duration = Duration::from_secs(60);
/// The longest an upload or a build of the bench may take.
const LONG: Duration = Duration::from_secs(1800);

/// A fresh service with a branch, a clerk, and `n` holder records; its base URL.
struct Service {
    _server: Server,
    base: String,
}

fn holders_csv(n: usize) -> String {
    let mut csv = String::from("holder_name,holder_id,expiry_date,email\n");
    for i in 0..n {
        csv.push_str(&format!("Holder {i},ID-{i},2031-12-31,h{i}@example.org\n"));
    }
    csv
}

fn start_service(dir: &Path, n: usize, csv_file: &Path) -> Service {
    let db = format!("sqlite://{}/issuer.db", dir.display());
    run_ok(&["init", "--db", &db]);
    run_ok(&[
        "branches",
        "add",
        "b1",
        "--name",
        "Bench branch",
        "--db",
        &db,
    ]);
    let pw = dir.join("pw");
    std::fs::write(&pw, format!("{PW}\n")).unwrap();
    for (user, role, branch) in [
        ("clerk", "clerk", None),
        ("operator", "operator", Some("b1")),
    ] {
        let mut args = vec!["users", "add", user, "--role", role, "--db", &db];
        args.extend(["--password-file", pw.to_str().unwrap()]);
        if let Some(b) = branch {
            args.extend(["--branch", b]);
        }
        run_ok(&args);
    }
    // A second admin whose password the bench knows (init's is printed once).
    run_ok(&[
        "users",
        "add",
        "bench-admin",
        "--role",
        "admin",
        "--password-file",
        pw.to_str().unwrap(),
        "--db",
        &db,
    ]);
    let server = Server::start_logged(&db, &[], &dir.join("issuer.log"));
    if split_cpus() {
        if let Err(why) = vsc_tests::pin_to_cpu(server.child.pid(), 1) {
            panic!("VSC_BENCH_SPLIT_CPUS: {why}");
        }
    }
    let mut operator = server.login("operator", PW);
    let key = bench_station_key();
    let (status, station) =
        operator.post("/api/stations", json!({"name": "bench", "public_key": key}));
    assert_eq!(status, 201, "{station}");
    let id = station["station"]["id"]
        .as_str()
        .expect("enrolled")
        .to_owned();
    let mut admin = server.login("bench-admin", PW);
    let (status, body) = admin.post(
        &format!("/api/stations/{id}/approve"),
        serde_json::Value::Null,
    );
    assert_eq!(status, 200, "{body}");
    let mut clerk = server.login("clerk", PW);
    std::fs::write(csv_file, holders_csv(n)).unwrap();
    let (status, _, body) = clerk.raw(
        "POST",
        "/api/records/import?profile=iso7816-generic",
        Some("text/csv"),
        holders_csv(n).into_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    Service {
        base: server.base.clone(),
        _server: server,
    }
}

/// A station public key for the bench (hex, as the bridge gives it: a fresh station key whose
/// secret the bench drops, since its station never opens what is sealed for it).
fn bench_station_key() -> String {
    vsc_core::envelope::StationSecretKey::generate(&mut rand_core::OsRng)
        .public_key()
        .to_hex()
}

/// A client of the service signed in as `user`.
/// The page's used JS heap, in bytes (DevTools protocol).
fn heap(browser: &Browser) -> f64 {
    browser.cdp("Runtime.getHeapUsage", json!({}))["usedSize"]
        .as_f64()
        .unwrap_or(0.0)
}

/// Waits until `done()` while sampling the heap; the peak.
fn peak_heap_until(browser: &Browser, mut done: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    let mut peak: f64 = heap(browser);
    while !done() {
        assert!(
            started.elapsed() < LONG,
            "the page took longer than {LONG:?}"
        );
        peak = peak.max(heap(browser));
        std::thread::sleep(Duration::from_millis(100));
    }
    peak.max(heap(browser))
}

fn sign_in(browser: &Browser, user: &str) {
    browser.wait_displayed("#view-signin", WAIT);
    browser.type_text(&browser.field("Username"), user);
    browser.type_text(&browser.field("Password"), PW);
    browser.click(&browser.button("Sign in"));
}

/// What one upload measured: milliseconds and the peak JS heap (NaN when not sampled).
struct Upload {
    ms: f64,
    peak_heap: f64,
    /// Milliseconds per phase as the page measured them (`{ids, values, build, store}`).
    phases: serde_json::Value,
    /// The service's milliseconds per request (Resource Timing: request sent to first byte),
    /// for the chunks' values and for storing the chunks.
    service: ServiceTimes,
}

/// The service's own time for the upload's requests, in milliseconds each.
#[derive(Default)]
struct ServiceTimes {
    values: Vec<f64>,
    store: Vec<f64>,
}

/// What the browser's Resource Timing recorded for the upload's requests: `[kind, ms]` pairs,
/// `kind` being `values` or `store`.
const RESOURCE_TIMES: &str = "return performance.getEntriesByType('resource')
  .filter((e) => e.name.includes('/api/records/values') || e.name.includes('/api/jobs/batch'))
  .map((e) => [e.name.includes('/api/jobs/batch') ? 'store' : 'values', e.responseStart - e.requestStart]);";

/// Builds and seals the first chunk of records five times with the page's own modules (its
/// uploader, API calls and chunk size), nothing else running; `{chunk, runs}` (the chunk's
/// size, the milliseconds of each run), or the error's words.
const CHUNK_ALONE: &str = "return (async () => {
  const vsc = await import('/web/pkg/vsc_web.js');
  const { get, getBytes } = await import('/js/core/api.js');
  const { localToday } = await import('/js/core/dom.js');
  const CHUNK = vsc.jobsPerBatch();
  const { stations } = await get('/api/stations?branch=b1&state=approved');
  const ids = (await get('/api/records/ids')).ids.slice(0, CHUNK);
  const records = await getBytes(`/api/records/values?ids=${ids.join(',')}`);
  const uploader = new vsc.Uploader('b1', stations);
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    uploader.batchBody(records, localToday());
    runs.push(performance.now() - started);
  }
  uploader.free();
  return { chunk: CHUNK, runs };
})().catch((e) => `${e}`);";

/// Runs of the page alone (after one to warm up), the median of which the upload is compared
/// with.
const ALONE_RUNS: usize = 3;

/// One chunk built and sealed by the page's uploader alone.
struct ChunkAlone {
    /// Records in a chunk (the page's `CHUNK`).
    size: usize,
    /// Milliseconds of each run.
    runs: Vec<f64>,
}

/// Whether the service gets a CPU of its own (`VSC_BENCH_SPLIT_CPUS`).
fn split_cpus() -> bool {
    std::env::var("VSC_BENCH_SPLIT_CPUS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Today's date in UTC, for the dated figures.
fn today_utc() -> vsc_core::date::Date {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let days = i64::try_from(since_epoch.as_secs() / 86_400).expect("a day count fits i64");
    vsc_core::date::Date::from_days_since_epoch(days).expect("the clock is before year 10000")
}

/// The median of `values` (NaN when empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A service holding `n` records, the holders' CSV file, and a browser on its page.
struct Session {
    dir: tempfile::TempDir,
    service: Service,
    browser: Browser,
    n: usize,
}

impl Session {
    fn start(n: usize) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let service = start_service(dir.path(), n, &dir.path().join("holders.csv"));
        let browser = Browser::start(
            &dir.path().join("chromium"),
            &dir.path().join("downloads"),
            &dir.path().join("chromedriver.log"),
        );
        browser.goto(&format!("{}/", service.base));
        browser.wait_displayed("body[data-ready='true'] #view-signin", WAIT);
        Session {
            dir,
            service,
            browser,
            n,
        }
    }

    /// Builds the `n` holders in the page alone (signed out, "Issue cards" from the CSV
    /// file): the milliseconds the page measured.
    fn build_alone(&self) -> f64 {
        let browser = &self.browser;
        browser.click(&browser.link("Issue cards"));
        browser.wait_displayed("#view-issue", WAIT);
        browser.click(&browser.find("input[name='source'][value='csv']"));
        let csv = self.dir.path().join("holders.csv");
        browser.type_text(&browser.field("CSV file"), &csv.display().to_string());
        browser.wait_for("the file checked", WAIT, || {
            browser
                .text(&browser.find("#csv-status"))
                .contains("ready to build")
        });
        browser.click(&browser.button("Build"));
        let status = browser.find("#build-status");
        browser.wait_for("the build", LONG, || {
            browser.attribute(&status, "data-ms").is_some()
        });
        let ms = browser
            .attribute(&status, "data-ms")
            .unwrap()
            .parse()
            .unwrap();
        // Leave the file mode as the clerk would: the built batch is dropped.
        browser.goto(&format!("{}/", self.service.base));
        browser.wait_displayed("body[data-ready='true'] #view-signin", WAIT);
        ms
    }

    /// Signs in as the clerk and uploads every record from the page ("Upload to branch"),
    /// sampling the heap every 100 ms if `sample_heap` (the samples cost the page's thread
    /// time: the timed upload waits as the build alone does, without them); the page's error
    /// when it refuses.
    fn upload(&self, sample_heap: bool) -> Result<Upload, String> {
        let browser = &self.browser;
        let n = self.n;
        sign_in(browser, "clerk");
        browser.wait_displayed("#view-records", WAIT);
        browser.click(&browser.button("Select all matching"));
        browser.wait_for("the selection", WAIT, || {
            browser
                .text(&browser.find("#rec-selected"))
                .contains(&format!("All {n}"))
        });
        browser.cdp("HeapProfiler.collectGarbage", json!({}));
        browser.click(&browser.button("Upload to branch"));
        let status = browser.find("#upload-status");
        let error = browser.find("#records-error");
        let finished =
            || browser.attribute(&status, "data-ms").is_some() || browser.displayed(&error);
        let peak_heap = if sample_heap {
            peak_heap_until(browser, finished)
        } else {
            browser.wait_for("the upload", LONG, finished);
            f64::NAN
        };
        if browser.displayed(&error) {
            return Err(browser.text(&error).replace('\n', ": "));
        }
        let ms = browser
            .attribute(&status, "data-ms")
            .unwrap()
            .parse()
            .unwrap();
        let phases = browser
            .attribute(&status, "data-phases")
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let mut service = ServiceTimes::default();
        for entry in browser
            .execute(RESOURCE_TIMES, json!([]))
            .as_array()
            .into_iter()
            .flatten()
        {
            let ms = entry[1].as_f64().unwrap_or(f64::NAN);
            match entry[0].as_str() {
                Some("store") => service.store.push(ms),
                _ => service.values.push(ms),
            }
        }
        Ok(Upload {
            ms,
            peak_heap,
            phases,
            service,
        })
    }

    /// One chunk of records built and sealed by the page's uploader with nothing else
    /// running, five times (run after the upload: the code is warm).
    fn chunk_alone(&self) -> Result<ChunkAlone, String> {
        let answer = self.browser.execute(CHUNK_ALONE, json!([]));
        match (answer["chunk"].as_u64(), answer["runs"].as_array()) {
            (Some(size), Some(runs)) => Ok(ChunkAlone {
                size: size as usize,
                runs: runs.iter().filter_map(serde_json::Value::as_f64).collect(),
            }),
            _ => Err(answer.as_str().unwrap_or("no answer").to_owned()),
        }
    }
}

fn main() {
    let root = repo_root();
    ensure_web_pkg(&root);
    let quick = std::env::var_os("VSC_BENCH_QUICK").is_some();
    let (big, small) = if quick { (2_000, 200) } else { (10_000, 1_000) };
    let today = today_utc();
    if split_cpus() {
        // Before the browser starts: it inherits CPU 0; each service is moved to CPU 1.
        if let Err(why) = vsc_tests::pin_to_cpu(std::process::id(), 0) {
            panic!("VSC_BENCH_SPLIT_CPUS: {why}");
        }
        println!("bench: the service on CPU 1, the browser and the bench on CPU 0 (VSC_BENCH_SPLIT_CPUS)");
    }

    let session = Session::start(big);
    let cold = session.build_alone();
    let builds: Vec<f64> = (0..ALONE_RUNS).map(|_| session.build_alone()).collect();
    let build = median(&builds);
    println!(
        "bench: the page alone built and sealed {big} VSCs in {:.2} s ({:.0} a second; the median of {ALONE_RUNS} runs after one to warm up, which took {:.2} s: {}) [{today}]",
        build / 1000.0,
        big as f64 * 1000.0 / build,
        cold / 1000.0,
        builds
            .iter()
            .map(|ms| format!("{:.2} s", ms / 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let upload = match session.upload(false) {
        Ok(upload) => upload,
        Err(why) => {
            println!("SKIPPED: the clerk's upload budgets (upload over build, heap at {big} over {small}): the page refused the upload: {why}");
            return;
        }
    };
    let chunk_alone = session.chunk_alone();
    drop(session);
    println!(
        "bench: clerk {big} records built, sealed and uploaded from the page in {:.1} s [{today}]",
        upload.ms / 1000.0
    );
    let phase = |name: &str| upload.phases[name].as_f64().unwrap_or(f64::NAN) / 1000.0;
    println!(
        "bench: where the upload's time went: listing the ids {:.2} s, fetching the records' values {:.2} s, building and sealing for the stations {:.2} s, the service storing the chunks {:.2} s [{today}]",
        phase("ids"),
        phase("values"),
        phase("build"),
        phase("store")
    );
    let (values, store) = (&upload.service.values, &upload.service.store);
    let service_ms = values.iter().sum::<f64>() + store.iter().sum::<f64>();
    println!(
        "bench: the service's own time per chunk (Resource Timing, request to first byte): values median {:.1} ms, storing median {:.1} ms; for the {} chunks {:.2} s, {:.1}x the build alone [{today}]",
        median(values),
        median(store),
        store.len(),
        service_ms / 1000.0,
        service_ms / build
    );
    match chunk_alone {
        Ok(chunk) => println!(
            "bench: one chunk of {} built and sealed for the upload with nothing else running: median {:.1} ms of {} runs ({:.0} µs a record; the build alone: {:.0} µs a VSC); during the upload {:.1} ms a chunk [{today}]",
            chunk.size,
            median(&chunk.runs),
            chunk.runs.len(),
            median(&chunk.runs) * 1000.0 / chunk.size as f64,
            build * 1000.0 / big as f64,
            phase("build") * 1000.0 / store.len().max(1) as f64
        ),
        Err(why) => println!("SKIPPED: one chunk built alone: {why}"),
    }
    let cpus = if split_cpus() {
        ", the service on a CPU of its own"
    } else {
        ""
    };
    println!(
        "ratio: upload from the page over building alone{cpus} {:.2} (goal <= 2)",
        upload.ms / build
    );
    // The heap, sampled in uploads of their own (fresh services and pages).
    match (
        Session::start(big).upload(true),
        Session::start(small).upload(true),
    ) {
        (Ok(big_upload), Ok(small_upload)) => println!(
            "ratio: peak JS heap uploading {big} ({:.1} MB) over {small} ({:.1} MB){cpus}: {:.2} (goal <= 1.5)",
            big_upload.peak_heap / 1e6,
            small_upload.peak_heap / 1e6,
            big_upload.peak_heap / small_upload.peak_heap
        ),
        (Err(why), _) | (_, Err(why)) => {
            println!("SKIPPED: the heap ratio: an upload failed: {why}")
        }
    }
}
