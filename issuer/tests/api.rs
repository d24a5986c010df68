//! The issuer service's integration suite, run once against SQLite and once against a real
//! PostgreSQL cluster (started by the test, stopped at its end). Every case runs the
//! `vsc-issuer` binary on a fresh database and talks HTTP to it.

mod common;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use vsc_tests::PostgresCluster;

type Case = fn(&Backend);

const CASES: &[(&str, Case)] = &[
    ("sessions, sign-out and CSRF", sessions_and_csrf),
    ("lockout after repeated wrong passwords", lockout),
    (
        "an account changed while its sign-in is checked",
        changed_during_sign_in,
    ),
    (
        "sessions end when idle and after their maximum age",
        session_timeouts,
    ),
    (
        "records: import, refusal of bad rows, search, paging",
        records,
    ),
    (
        "jobs: upload checks, four-eyes, queue, results, purge",
        job_flow,
    ),
    ("batch upload is all or nothing", batch_all_or_nothing),
    ("leases expire and renewals are refused after", lease_expiry),
    (
        "four-eyes off queues uploads at once, audited",
        four_eyes_off,
    ),
    (
        "what the page needs: record values in bulk, a picked claim, holder names, audit filters",
        page_needs,
    ),
    ("authorization matrix", authorization_matrix),
    ("OpenAPI document and routes agree", openapi_agrees),
    ("page served compressed and cacheable", page_served),
    (
        "two instances, racing claimers: no double claim",
        two_instances_racing,
    ),
    ("audit tamper: edit, delete, reorder, rewrite", audit_tamper),
    ("kill -9 mid batch upload: all or none", kill_mid_batch),
    (
        "what schemathesis found: far pages, sign-in refusals, schemas",
        schemathesis_findings,
    ),
];

fn run_suite(backend: &Backend, extra: &[(&str, Case)]) {
    let mut failures = Vec::new();
    // VSC_ISSUER_CASES=WORD runs only the cases whose name contains WORD (when debugging).
    let only = std::env::var("VSC_ISSUER_CASES").unwrap_or_default();
    for (name, case) in CASES.iter().chain(extra) {
        if !name.contains(only.as_str()) {
            continue;
        }
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| case(backend)));
        let took = started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => println!("{} ok: {name} ({took:.1} s)", backend.name()),
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("{} FAILED: {name}: {why}", backend.name());
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed on {}:\n{}",
        failures.len(),
        backend.name(),
        failures.join("\n")
    );
}

#[test]
fn suite_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run_suite(
        &Backend::Sqlite(dir.path()),
        &[
            (
                "a missing database file is a clear error",
                sqlite_missing_file,
            ),
            ("TLS with --tls-cert and --tls-key", tls),
        ],
    );
}

#[test]
fn suite_on_postgres() {
    let mut pg = PostgresCluster::start();
    run_suite(
        &Backend::Postgres(&pg),
        &[(
            "instances whose clocks disagree: leases follow the database's",
            clocks_apart,
        )],
    );
    database_down_and_back(&mut pg);
    println!("postgres ok: the database down at start and mid-run, then back");
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn audit_rows(issuer: &Issuer) -> Vec<Value> {
    let ran = run(&["audit", "export", "--db", &issuer.server.db]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    ran.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(db: &str) -> Ran {
    run(&["audit", "verify", "--db", db])
}

fn sessions_and_csrf(backend: &Backend) {
    let issuer = Issuer::start(backend, "session");
    let mut c = issuer.server.client();
    let (s, body) = c.post(
        "/api/session",
        json!({ "username": "clerk", "password": "wrong wrong wrong" }),
    );
    assert_eq!((s, error_code(&body)), (401, "wrong_credentials"), "{body}");
    let (s, body) = c.post(
        "/api/session",
        json!({ "username": "nobody", "password": "wrong wrong wrong" }),
    );
    assert_eq!(
        (s, error_code(&body)),
        (401, "wrong_credentials"),
        "no existence leak: {body}"
    );
    let (s, _) = c.get("/api/session");
    assert_eq!(s, 401);

    let mut clerk = issuer.login("clerk");
    let (s, body) = clerk.get("/api/session");
    assert_eq!((s, body["user"]["role"].as_str()), (200, Some("clerk")));

    // CSRF: a foreign Origin, no Origin, no custom header: refused and audited.
    for (origin, header, what) in [
        (
            Some("https://evil.example"),
            true,
            "its Origin is https://evil.example",
        ),
        (None, true, "it has no Origin header"),
        (
            Some(issuer.server.base.as_str()),
            false,
            "lacks the x-vsc-request header",
        ),
    ] {
        let mut forged = clerk.clone();
        forged.origin = origin.map(str::to_owned);
        forged.csrf_header = header;
        let (s, body) = forged.post("/api/records", json!({ "profile": "iso7816-generic", "values": { "holder_name": "A", "holder_id": "1" } }));
        assert_eq!((s, error_code(&body)), (403, "csrf"), "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(what),
            "{body}"
        );
    }
    let (s, body) = clerk.get("/api/records");
    assert_eq!(
        (s, body["total"].as_i64()),
        (200, Some(0)),
        "nothing stored by forged requests"
    );
    let rows = audit_rows(&issuer);
    assert_eq!(
        rows.iter()
            .filter(|r| r["outcome"] == "refused" && r["details"]["code"] == "csrf")
            .count(),
        3
    );
    // A name that matches no account is not written down: it may be a password typed in the
    // wrong field.
    assert!(rows.iter().any(|r| r["action"] == "login"
        && r["outcome"] == "refused"
        && r["actor"] == "(no such user)"));
    assert!(!rows.iter().any(|r| r.to_string().contains("nobody")));
    let login_ok = rows
        .iter()
        .filter(|r| r["action"] == "login" && r["outcome"] == "ok")
        .count();
    assert_eq!(login_ok, 1);

    // Sign-out ends the session for good: the old cookie no longer works.
    let stale = clerk.clone();
    let (s, _) = clerk.send("DELETE", "/api/session", Value::Null);
    assert_eq!(s, 204);
    assert!(clerk.cookie.is_none(), "the cookie is cleared");
    let (s, body) = stale.get("/api/session");
    assert_eq!(s, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in again"),
        "{body}"
    );

    // A disabled user's session ends and it cannot sign in.
    let auditor = issuer.login("auditor");
    let mut admin = issuer.login("admin");
    let (s, body) = admin.send("PATCH", "/api/users/auditor", json!({ "disabled": true }));
    assert_eq!(s, 200, "{body}");
    assert_eq!(auditor.get("/api/audit").0, 401);
    let mut again = issuer.server.client();
    let (s, body) = again.post(
        "/api/session",
        json!({ "username": "auditor", "password": PW }),
    );
    assert_eq!(s, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{body}"
    );
    // Malformed JSON and wrong types.
    let (s, _, text) = again.raw(
        "POST",
        "/api/session",
        Some("application/json"),
        b"{not json".to_vec(),
    );
    assert_eq!(s, 400, "{text}");
    let (s, body) = again.post("/api/session", json!({ "username": 1, "password": "x" }));
    assert_eq!(s, 422, "{body}");
    assert!(verify(&issuer.server.db).stdout.contains("audit chain ok"));
}

/// A sign-in whose password was checked against the account as it was, while an
/// administrator disabled it or changed its password, is refused: the account is read again
/// once the sign-in may write.
fn changed_during_sign_in(backend: &Backend) {
    let issuer = Issuer::start(backend, "changed");
    let db = issuer.server.db.clone();
    // Held long enough for the sign-in to read the account and check the password before the
    // change is committed.
    let hold = Duration::from_millis(1500);
    let sign_in = || {
        issuer.server.client().post(
            "/api/session",
            json!({ "username": "clerk", "password": PW }),
        )
    };
    let (s, body) = backend.while_writes_wait(
        &db,
        "UPDATE users SET disabled = 1 WHERE name = 'clerk'",
        hold,
        sign_in,
    );
    assert_eq!(s, 403, "the account was disabled meanwhile: {body}");
    backend.sql(&db, "UPDATE users SET disabled = 0 WHERE name = 'clerk'");
    // The new hash is of another password (the auditor's, changed first), so that however
    // late the sign-in reads the account, the old password never opens it.
    let mut admin = issuer.login("admin");
    let (s, body) = admin.send(
        "PATCH",
        "/api/users/auditor",
        json!({ "password": "another password entirely" }),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = backend.while_writes_wait(
        &db,
        "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE name = 'auditor') WHERE name = 'clerk'",
        hold,
        sign_in,
    );
    assert_eq!(
        (s, error_code(&body)),
        (401, "wrong_credentials"),
        "the password was changed meanwhile: {body}"
    );
    let refusals = audit_rows(&issuer)
        .into_iter()
        .filter(|r| r["action"] == "login" && r["actor"] == "clerk" && r["outcome"] == "refused")
        .count();
    assert_eq!(refusals, 2, "each refusal is audited once");
    // The account as it is now signs in, with its new password.
    let (s, body) = issuer.server.client().post(
        "/api/session",
        json!({ "username": "clerk", "password": "another password entirely" }),
    );
    assert_eq!(s, 200, "{body}");
}

fn session_timeouts(backend: &Backend) {
    let issuer = Issuer::start_with(
        backend,
        "timeouts",
        &["--session-idle-seconds", "2", "--session-max-seconds", "4"],
    );
    let idle = issuer.login("clerk");
    std::thread::sleep(Duration::from_millis(2300));
    let (s, body) = idle.get("/api/session");
    assert_eq!(s, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after 2 seconds without activity"),
        "{body}"
    );
    // Active every 0.5 s: the idle timeout never strikes, the maximum age does.
    let busy = issuer.login("clerk");
    let started = Instant::now();
    let ended = loop {
        let (s, body) = busy.get("/api/session");
        if s != 200 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the session outlived its maximum age"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        started.elapsed() >= Duration::from_millis(3500),
        "ended too early: {ended}"
    );
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 seconds after sign-in"),
        "{ended}"
    );
}

fn lockout(backend: &Backend) {
    let issuer = Issuer::start_with(
        backend,
        "lockout",
        &["--lockout-after", "3", "--sign-ins-per-minute", "8"],
    );
    let mut c = issuer.server.client();
    for _ in 0..3 {
        let (s, _) = c.post(
            "/api/session",
            json!({ "username": "clerk", "password": "not the password" }),
        );
        assert_eq!(s, 401);
    }
    let (s, body) = c.post(
        "/api/session",
        json!({ "username": "clerk", "password": PW }),
    );
    assert_eq!(
        (s, error_code(&body)),
        (429, "account_locked"),
        "the right password is refused while locked: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locked for"),
        "{body}"
    );
    let mut admin = issuer.login("admin");
    let (s, body) = admin.send("PATCH", "/api/users/clerk", json!({ "unlock": true }));
    assert_eq!(s, 200, "{body}");
    issuer.login("clerk");
    let rows = audit_rows(&issuer);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "login" && r["details"]["reason"] == "account locked"));
    assert!(rows.iter().any(|r| r["details"]["reason"]
        .as_str()
        .is_some_and(|t| t.contains("3 in a row): account locked"))));
    // Six attempts so far from this address; the ninth in the minute is refused unseen.
    let mut c = issuer.server.client();
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            c.post(
                "/api/session",
                json!({ "username": "approver", "password": PW }),
            )
            .0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let (s, body) = c.post(
        "/api/session",
        json!({ "username": "approver", "password": PW }),
    );
    assert_eq!((s, error_code(&body)), (429, "rate_limited"), "{body}");
}

fn records(backend: &Backend) {
    let issuer = Issuer::start(backend, "records");
    let mut clerk = issuer.login("clerk");
    let ids = issuer.records(&mut clerk, 120);
    assert_eq!(ids.len(), 120);

    // A file with bad rows stores nothing and lists every bad row.
    let bad = "holder_name,holder_id,expiry_date,email\nGood,G-1,2031-12-31,\n,G-2,2031-12-31,\nBad date,G-3,2031-02-30,\nBad mail,G-4,2031-12-31,nope\n";
    let (s, _, text) = clerk.raw(
        "POST",
        "/api/records/import?profile=iso7816-generic",
        Some("text/csv"),
        bad.into(),
    );
    assert_eq!(s, 422, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_code(&body), "invalid_records");
    let rows: Vec<(i64, String)> = body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_i64().unwrap(),
                r["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (3, "holder_name".into()),
            (4, "expiry_date".into()),
            (5, "email".into())
        ],
        "{body}"
    );
    assert_eq!(
        body["error"]["rows"][1]["holder"], "G-3 Bad date",
        "the row names its holder: {body}"
    );
    let (_, list) = clerk.get("/api/records?per_page=1");
    assert_eq!(list["total"], 120, "nothing of the bad file was stored");

    // The same encoding rules as `vsc build`: Windows-1252 only when named.
    let latin1 = b"holder_name;holder_id;expiry_date\n\xc9mile;W-1;2031-12-31\n".to_vec();
    let (s, _, text) = clerk.raw(
        "POST",
        "/api/records/import?profile=iso7816-generic",
        Some("text/csv"),
        latin1.clone(),
    );
    assert_eq!(s, 422, "{text}");
    assert!(text.contains("invalid_file"), "{text}");
    let (s, _, text) = clerk.raw(
        "POST",
        "/api/records/import?profile=iso7816-generic&encoding=windows-1252",
        Some("text/csv"),
        latin1,
    );
    assert_eq!(s, 201, "{text}");
    let (_, found) = clerk.get("/api/records?q=%C3%A9mile");
    assert_eq!(found["records"][0]["holder_name"], "Émile", "{found}");

    // One record as JSON; its problems answered with column and reason.
    let (s, body) = clerk.post("/api/records", json!({ "profile": "iso7816-generic", "values": { "holder_name": "Émile Nguyễn 田中", "holder_id": "E-1", "email": "e@example.org" } }));
    assert_eq!(s, 201, "{body}");
    let id = body["record"]["id"].as_i64().unwrap();
    let (s, body) = clerk.post("/api/records", json!({ "profile": "iso7816-generic", "values": { "holder_id": "E-2", "shoe_size": "44" } }));
    assert_eq!(s, 422);
    let columns: Vec<&str> = body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["column"].as_str().unwrap())
        .collect();
    assert!(
        columns.contains(&"shoe_size") && columns.contains(&"holder_name"),
        "{body}"
    );
    let (s, body) = clerk.post(
        "/api/records",
        json!({ "profile": "no-such", "values": {} }),
    );
    assert_eq!(s, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("iso7816-generic"),
        "{body}"
    );

    // Search, state filter, paging.
    let (_, found) = clerk.get("/api/records?q=nguy");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["records"][0]["holder_name"], "Émile Nguyễn 田中");
    let (_, found) = clerk.get("/api/records?q=h-11");
    assert_eq!(found["total"], 11, "H-11 and H-110..H-119: {found}");
    let (_, page) = clerk.get("/api/records?page=3&per_page=50&state=pending");
    assert_eq!(
        (
            page["total"].as_i64(),
            page["records"].as_array().unwrap().len()
        ),
        (Some(122), 22)
    );
    let (_, one) = clerk.get(&format!("/api/records/{id}"));
    assert_eq!(one["record"]["values"]["email"], "e@example.org");
    assert_eq!(clerk.get("/api/records/999999").0, 404);
    assert_eq!(clerk.get("/api/records?page=0").0, 400);

    // Oversized body: 413 from its declared length, before any of it is read.
    let s = clerk.declared_length_status(
        "POST",
        "/api/records/import?profile=iso7816-generic",
        "text/csv",
        33 << 20,
    );
    assert_eq!(s, 413);
    let (s, _, text) = clerk.raw(
        "POST",
        "/api/records",
        Some("application/json"),
        vec![b' '; 100_000],
    );
    assert_eq!(s, 413, "{text}");
}

fn job_flow(backend: &Backend) {
    let issuer = Issuer::start(backend, "jobs");
    // Station keys are hex, as the bridge's station_key gives them; the fingerprint is the
    // one the bridge prints.
    let key = vsc_core::envelope::StationSecretKey::generate(&mut rand_core::OsRng).public_key();
    let mut op = issuer.login("operator");
    let (s, body) = op.post(
        "/api/stations",
        json!({ "name": "desk", "public_key": b64(key.as_bytes()) }),
    );
    assert_eq!(s, 422, "base64 is refused: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 hex digits"),
        "{body}"
    );
    // A low-order point would make every envelope for the branch fail: refused at enrolment.
    let (s, body) = op.post(
        "/api/stations",
        json!({ "name": "desk", "public_key": "00".repeat(32) }),
    );
    assert_eq!(s, 422, "a low-order key is refused: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot receive envelopes"),
        "{body}"
    );
    let (s, body) = op.post(
        "/api/stations",
        json!({ "name": "desk", "public_key": key.to_hex() }),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["station"]["fingerprint"], key.fingerprint());
    let (_, list) = op.get("/api/stations");
    assert_eq!(list["stations"][0]["public_key"], key.to_hex());
    let station = issuer.station("operator");
    let mut clerk = issuer.login("clerk");
    let recs = issuer.records(&mut clerk, 3);

    // Checks without the password.
    let (uid, job) = job_json(&clerk, recs[0], "b1", &station);
    // A VSC paired with another holder's record: its clear public area gives it away.
    let (_, mut swapped) = job_json(&clerk, recs[1], "b1", &station);
    swapped["record"] = json!(recs[0]);
    let (s, body) = clerk.post("/api/jobs", swapped);
    assert_eq!(s, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("is not built from record {}", recs[0]))
            && message.contains("holder_name"),
        "{body}"
    );
    let mut broken = job.clone();
    broken["vsc"] = json!(b64(b"not a vsc at all"));
    let (s, body) = clerk.post("/api/jobs", broken);
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not parse"),
        "{body}"
    );
    let mut foreign = job.clone();
    foreign["branch"] = json!("b2");
    let (s, body) = clerk.post("/api/jobs", foreign);
    assert_eq!(s, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an approved station of branch b2"),
        "{body}"
    );
    let mut no_record = job.clone();
    no_record["record"] = json!(424242);
    assert_eq!(clerk.post("/api/jobs", no_record).0, 422);
    let mut extra = job.clone();
    extra["password"] = json!("never");
    assert_eq!(
        clerk.post("/api/jobs", extra).0,
        422,
        "unknown fields are refused"
    );

    let (s, body) = clerk.post("/api/jobs", job.clone());
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (201, Some("prepared")),
        "{body}"
    );
    let (s, body) = clerk.post("/api/jobs", job.clone());
    assert_eq!(s, 409, "a duplicate UID: {body}");

    // The operator sees nothing yet; another branch's operator gets 404 for the job.
    let mut op = issuer.login("operator");
    let (_, q) = op.get("/api/queue");
    assert_eq!(q["total"], 0);
    let op2 = issuer.login("operator2");
    let (s, body) = op2.get(&format!("/api/jobs/{uid}"));
    assert_eq!(s, 404, "{body}");
    // The same answer as for a job that does not exist: nothing about its branch.
    assert_eq!(
        body["error"]["message"].as_str(),
        Some(format!("there is no job {uid}").as_str()),
        "no existence leak: {body}"
    );

    // Four-eyes: the approver approves; a refused transition is 409 and audited.
    let mut approver = issuer.login("approver");
    let (s, body) = approver.post(&format!("/api/jobs/{uid}/approve"), Value::Null);
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    let (s, body) = approver.post(&format!("/api/jobs/{uid}/approve"), Value::Null);
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queued job cannot be approved"),
        "{body}"
    );

    // Claim: the .vsc and the station's envelope, under a lease.
    let (s, claimed) = op.post("/api/queue/claim", json!({ "station": station }));
    assert_eq!(s, 200, "{claimed}");
    assert_eq!(claimed["job"]["id"], uid.as_str());
    let hold = json!({ "claim": claimed["claim"] });
    assert_eq!(claimed["vsc"], job["vsc"]);
    assert_eq!(
        claimed["envelope"]["ciphertext"],
        job["envelopes"][0]["ciphertext"]
    );
    let (s, none) = op.post("/api/queue/claim", json!({ "station": station }));
    assert_eq!(
        (s, none["job"].is_null()),
        (200, true),
        "nothing else queued: {none}"
    );
    let (s, body) = op.post(&format!("/api/jobs/{uid}/renew"), json!({}));
    assert_eq!(s, 409, "a renewal names its claim: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names no claim"),
        "{body}"
    );
    let (s, _) = op.post(&format!("/api/jobs/{uid}/renew"), hold.clone());
    assert_eq!(s, 200);
    let (s, _) = op2
        .clone()
        .post(&format!("/api/jobs/{uid}/release"), hold.clone());
    assert_eq!(s, 404, "another branch's job is not found");

    // A failed attempt: back in the queue, the card spoiled.
    let (s, body) = op.post(&format!("/api/jobs/{uid}/result"), json!({ "outcome": "failed", "claim": claimed["claim"], "step": "write private", "status_word": "6A84", "reason": "not enough memory" }));
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    let (s, body) = op.post(&format!("/api/jobs/{uid}/renew"), hold.clone());
    assert_eq!(s, 409, "the failed claim holds the job no more: {body}");
    let (_, claimed) = op.post("/api/queue/claim", json!({ "station": station }));
    assert_eq!(claimed["job"]["attempts"], 1);
    assert_eq!(claimed["job"]["spoiled_cards"], 1);
    let (s, body) = op.post(
        &format!("/api/jobs/{uid}/result"),
        json!({ "outcome": "personalized", "claim": claimed["claim"], "atr": "3B8F", "apdus": 12, "read_back_ok": false }),
    );
    assert_eq!(
        s, 422,
        "never personalized without a verified read-back: {body}"
    );
    let verified = json!({ "outcome": "personalized", "claim": claimed["claim"], "atr": "3b8f8001", "apdus": 42, "read_back_ok": true });
    let (s, body) = op.post(&format!("/api/jobs/{uid}/result"), verified.clone());
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("personalized")),
        "{body}"
    );
    // The same report sent again (its answer lost): the recorded result, nothing new audited.
    let audited = audit_rows(&issuer).len();
    let (s, again) = op.post(&format!("/api/jobs/{uid}/result"), verified);
    assert_eq!((s, &again), (200, &body), "a report sent again");
    assert_eq!(audit_rows(&issuer).len(), audited);

    // Purged: no .vsc, no envelope, no private fields; hashes and audit stay.
    let (_, rec) = clerk.get(&format!("/api/records/{}", recs[0]));
    assert_eq!(rec["record"]["state"], "purged");
    assert!(rec["record"]["values"].get("email").is_none(), "{rec}");
    let (_, j) = clerk.get(&format!("/api/jobs/{uid}"));
    assert_eq!(j["job"]["result"]["atr"], "3B8F8001");
    assert_eq!(j["job"]["vsc_sha256"].as_str().unwrap().len(), 64);
    let (s, body) = clerk.post(
        &format!("/api/jobs/{uid}/revoke"),
        json!({ "reason": "card lost" }),
    );
    assert_eq!((s, body["job"]["state"].as_str()), (200, Some("revoked")));
    let (_, again) = job_json(&clerk, recs[0], "b1", &station);
    let (s, body) = clerk.post(&format!("/api/jobs/{uid}/reissue"), again);
    assert_eq!(s, 409, "the record is purged: {body}");

    // Reissue of a queued job: the old one is superseded, the new one prepared.
    let (uid2, job2) = job_json(&clerk, recs[1], "b1", &station);
    assert_eq!(clerk.post("/api/jobs", job2).0, 201);
    let (_, job3) = job_json(&clerk, recs[1], "b1", &station);
    let (s, body) = clerk.post(&format!("/api/jobs/{uid2}/reissue"), job3);
    assert_eq!(s, 201, "{body}");
    let (_, old) = clerk.get(&format!("/api/jobs/{uid2}"));
    assert_eq!(old["job"]["state"], "superseded");
    let new_id = body["job"]["id"].as_str().unwrap().to_owned();
    let (s, body) = clerk.post(
        &format!("/api/jobs/{new_id}/cancel"),
        json!({ "reason": "holder left" }),
    );
    assert_eq!((s, body["job"]["state"].as_str()), (200, Some("cancelled")));
    let (_, rec) = clerk.get(&format!("/api/records/{}", recs[1]));
    assert_eq!(
        rec["record"]["state"], "purged",
        "cancelled purges too: {rec}"
    );

    // One card at a time per holder: a second VSC for a record whose job is on its way (a
    // re-upload after a lost answer), or a record twice in one batch, is refused.
    let (_, first) = job_json(&clerk, recs[2], "b1", &station);
    assert_eq!(clerk.post("/api/jobs", first).0, 201);
    let (_, second) = job_json(&clerk, recs[2], "b1", &station);
    let (s, body) = clerk.post("/api/jobs", second);
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has a job on its way to a card already"),
        "{body}"
    );
    let more = issuer.records(&mut clerk, 1);
    let twice = vec![
        job_json(&clerk, more[0], "b1", &station).1,
        job_json(&clerk, more[0], "b1", &station).1,
    ];
    let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": twice }));
    assert_eq!(s, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("job #2 of the batch: record") && message.contains("twice"),
        "{body}"
    );

    let rows = audit_rows(&issuer);
    for action in [
        "job.upload",
        "job.approve",
        "job.claim",
        "envelope.release",
        "job.renew",
        "job.report-failed",
        "job.report-personalized",
        "job.revoke",
        "job.reissue",
        "job.cancel",
    ] {
        assert!(
            rows.iter()
                .any(|r| r["action"] == action && r["outcome"] == "ok"),
            "no {action} in the audit log"
        );
    }
    assert!(rows
        .iter()
        .any(|r| r["outcome"] == "refused" && r["details"]["status"] == 409));
    assert!(rows.iter().any(|r| r["outcome"] == "refused"
        && r["details"]["reason"]
            .as_str()
            .is_some_and(|t| t.contains("belongs to branch b1"))));
    let all = rows.iter().map(Value::to_string).collect::<String>();
    assert!(
        !all.contains(job["envelopes"][0]["ciphertext"].as_str().unwrap()),
        "no envelope in the audit log"
    );
    assert!(!all.contains(PW), "no password in the audit log");
    let (s, report) = issuer.login("auditor").get("/api/reports");
    assert_eq!(s, 200);
    assert_eq!(report["spoiled_cards"], 1, "{report}");
}

fn batch_all_or_nothing(backend: &Backend) {
    let issuer = Issuer::start(backend, "batch");
    let station = issuer.station("operator");
    let mut clerk = issuer.login("clerk");
    // More jobs than one INSERT of jobs, envelopes or audit rows holds.
    let recs = issuer.records(&mut clerk, 130);
    let mut jobs: Vec<Value> = recs
        .iter()
        .map(|&r| job_json(&clerk, r, "b1", &station).1)
        .collect();
    jobs[13]["envelopes"][0]["enc"] = json!(hex::encode([1, 2, 3]));
    let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": jobs }));
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("job #14 of the batch"),
        "{body}"
    );
    let (_, list) = clerk.get("/api/jobs");
    assert_eq!(list["total"], 0, "nothing of a refused batch is stored");
    let (_, recs_after) = clerk.get("/api/records?state=built");
    assert_eq!(recs_after["total"], 0);
    jobs[13] = job_json(&clerk, recs[13], "b1", &station).1;
    let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": jobs }));
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["jobs"].as_array().unwrap().len(), 130);
    // One audit row per job, in the batch's order, on an intact chain.
    let auditor = issuer.login("auditor");
    let (s, verified) = auditor.get("/api/audit/verify");
    assert_eq!(
        (s, verified["ok"].as_bool()),
        (200, Some(true)),
        "{verified}"
    );
    let (_, audit) = auditor.get("/api/audit?action=job.upload&limit=1000");
    let audited: Vec<&str> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["object"].as_str().unwrap())
        .collect();
    let stored: Vec<&str> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(audited, stored);
    // A UID stored already, or twice in one batch: refused with its number, nothing stored.
    let fresh = issuer.records(&mut clerk, 2);
    for again in [
        vec![
            job_json(&clerk, fresh[0], "b1", &station).1,
            jobs[7].clone(),
        ],
        {
            let job = job_json(&clerk, fresh[1], "b1", &station).1;
            vec![job.clone(), job]
        },
    ] {
        let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": again }));
        assert_eq!(s, 409, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("job #2 of the batch: a job with UID")
                && message.contains("exists already"),
            "{body}"
        );
    }
    let (_, list) = clerk.get("/api/jobs");
    assert_eq!(list["total"], 130, "nothing of a refused batch is stored");
    let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": [] }));
    assert_eq!(s, 422, "{body}");
}

fn lease_expiry(backend: &Backend) {
    let db = backend.fresh("lease");
    let issuer = Issuer::start_on(&db, &["--lease-seconds", "1"]);
    let station = issuer.station("operator");
    let mut clerk = issuer.login("clerk");
    let mut approver = issuer.login("approver");
    let recs = issuer.records(&mut clerk, 3);
    let uids: Vec<String> = recs
        .iter()
        .map(|&rec| {
            let (uid, job) = job_json(&clerk, rec, "b1", &station);
            assert_eq!(clerk.post("/api/jobs", job).0, 201);
            let approved = approver.post(&format!("/api/jobs/{uid}/approve"), Value::Null);
            assert_eq!(approved.0, 200, "{}", approved.1);
            uid
        })
        .collect();
    let mut op = issuer.login("operator");
    // Claims the next job: its id, and the claim's token.
    let claim = |op: &mut Client| {
        let (s, claimed) = op.post("/api/queue/claim", json!({ "station": station }));
        assert_eq!(s, 200, "{claimed}");
        (
            claimed["job"]["id"].as_str().unwrap_or_default().to_owned(),
            claimed["claim"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let verified = |claim: &str| json!({ "outcome": "personalized", "claim": claim, "atr": "3B00", "apdus": 1, "read_back_ok": true });
    let lease_runs_out = || std::thread::sleep(Duration::from_millis(1300));

    // The lease ran out and nobody has claimed the job since: no renewal, no failure report,
    // but a verified card is still reported (refusing it would queue the job for a second
    // card with the same VSC).
    let (id, token) = claim(&mut op);
    assert_eq!(id, uids[0]);
    lease_runs_out();
    let (s, body) = op.post(
        &format!("/api/jobs/{}/renew", uids[0]),
        json!({ "claim": token }),
    );
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("lease"),
        "{body}"
    );
    let (s, body) = op.post(
        &format!("/api/jobs/{}/result", uids[0]),
        json!({ "outcome": "failed", "claim": token, "step": "write", "reason": "card pulled" }),
    );
    assert_eq!(s, 409, "a failure on an expired lease: {body}");
    let (s, body) = op.post(&format!("/api/jobs/{}/result", uids[0]), verified(&token));
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("personalized")),
        "a verified card after its lease: {body}"
    );

    // A released job waits behind the jobs queued before it was released.
    let (id, token) = claim(&mut op);
    assert_eq!(id, uids[1]);
    let (s, body) = op.post(
        &format!("/api/jobs/{}/release", uids[1]),
        json!({ "claim": token }),
    );
    assert_eq!((s, body["job"]["state"].as_str()), (200, Some("queued")));
    let (id, stale) = claim(&mut op);
    assert_eq!(id, uids[2], "the released job is not next");

    // Once a claim at the branch finds the lease run out, the job is queued again, behind the
    // jobs waiting there. The same operator signed in on a second PC claims it: the first
    // PC's claim holds it no more, even for a verified card (two cards would carry the same
    // VSC).
    lease_runs_out();
    let mut second_pc = issuer.login("operator");
    let (id, held_long) = claim(&mut second_pc);
    assert_eq!(id, uids[1], "the expired job went behind the released one");
    let (id, token) = claim(&mut second_pc);
    assert_eq!(id, uids[2], "the expired job is claimable again");
    for (what, body) in [
        ("renew", json!({ "claim": stale })),
        ("result", verified(&stale)),
    ] {
        let (s, body) = op.post(&format!("/api/jobs/{}/{what}", uids[2]), body);
        assert_eq!(s, 409, "{what} under a claim taken over: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("was claimed again since this claim"),
            "{body}"
        );
    }
    let (s, body) = second_pc.post(&format!("/api/jobs/{}/result", uids[2]), verified(&token));
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("personalized"))
    );
    let (s, body) = op.post(&format!("/api/jobs/{}/result", uids[2]), verified(&stale));
    assert_eq!(
        s, 409,
        "the old claim's report is not taken for the new claim's card: {body}"
    );

    // A verified card whose report reaches the service only after its lease ran out and the
    // job went back to the queue (a claim at the branch found it), but before anyone claimed
    // it again, is still taken under its claim; a failure report then is not.
    lease_runs_out();
    let (s, body) = op.post(
        "/api/queue/claim",
        json!({ "station": station, "job": uids[0] }),
    );
    assert_eq!(s, 409, "a picked job that is not queued: {body}");
    let (_, job) = op.get(&format!("/api/jobs/{}", uids[1]));
    assert_eq!(
        job["job"]["state"], "queued",
        "expired by that claim: {job}"
    );
    let (s, body) = second_pc.post(
        &format!("/api/jobs/{}/result", uids[1]),
        json!({ "outcome": "failed", "claim": held_long, "step": "write", "reason": "card pulled" }),
    );
    assert_eq!(s, 409, "{body}");
    let (s, body) = op.post(&format!("/api/jobs/{}/result", uids[1]), verified(&stale));
    assert_eq!(s, 409, "another claim's token: {body}");
    let (s, body) = second_pc.post(
        &format!("/api/jobs/{}/result", uids[1]),
        verified(&held_long),
    );
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("personalized")),
        "a verified card reported late: {body}"
    );
    let (s, again) = second_pc.post(
        &format!("/api/jobs/{}/result", uids[1]),
        verified(&held_long),
    );
    assert_eq!((s, &again), (200, &body), "and sent again");
    let (_, job) = op.get(&format!("/api/jobs/{}", uids[1]));
    assert_eq!(job["job"]["claimed_by"], "operator", "{job}");

    // A job claimed before the service gave claim tokens (an upgrade) is reported by its
    // claimer without one; a request without one is refused for a claim made with one.
    let mut clerk = issuer.login("clerk");
    let rec = issuer.records(&mut clerk, 1)[0];
    let (uid, job) = job_json(&clerk, rec, "b1", &station);
    assert_eq!(clerk.post("/api/jobs", job).0, 201);
    assert_eq!(
        approver
            .post(&format!("/api/jobs/{uid}/approve"), Value::Null)
            .0,
        200
    );
    let (id, _) = claim(&mut op);
    assert_eq!(id, uid);
    let old_report =
        json!({ "outcome": "personalized", "atr": "3B00", "apdus": 1, "read_back_ok": true });
    let (s, body) = op.post(&format!("/api/jobs/{uid}/result"), old_report.clone());
    assert_eq!(s, 409, "{body}");
    backend.sql(
        &db,
        &format!("UPDATE jobs SET claim_token = NULL WHERE id = '{uid}'"),
    );
    let (s, body) = op.post(&format!("/api/jobs/{uid}/result"), old_report);
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (200, Some("personalized")),
        "{body}"
    );
    let rows = audit_rows(&issuer);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "job.expire-lease" && r["actor"] == "service"));
}

fn four_eyes_off(backend: &Backend) {
    let issuer = Issuer::start(backend, "foureyes");
    let station = issuer.station("operator");
    let mut admin = issuer.login("admin");
    let (s, body) = admin.send("PATCH", "/api/settings", json!({ "four_eyes": false }));
    assert_eq!(s, 200, "{body}");
    let mut clerk = issuer.login("clerk");
    let recs = issuer.records(&mut clerk, 1);
    let (_, job) = job_json(&clerk, recs[0], "b1", &station);
    let (s, body) = clerk.post("/api/jobs", job);
    assert_eq!(
        (s, body["job"]["state"].as_str()),
        (201, Some("queued")),
        "{body}"
    );
    let rows = audit_rows(&issuer);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "settings.change" && r["details"]["four_eyes"] == false));
    assert!(rows.iter().any(|r| r["action"] == "job.auto-approve"));
}

/// Expected status class per caller: A = allowed (anything but 401/403), F = 403, U = 401.
const MATRIX: &[(&str, &str, &str)] = &[
    // method, path, expectations for: anonymous admin clerk approver operator auditor
    ("GET", "/api/health", "AAAAAA"),
    ("GET", "/api/openapi.json", "AAAAAA"),
    ("POST", "/api/session", "AAAAAA"),
    ("GET", "/api/session", "UAAAAA"),
    ("DELETE", "/api/session", "UAAAAA"),
    ("GET", "/api/users", "UAFFFF"),
    ("POST", "/api/users", "UAFFFF"),
    ("PATCH", "/api/users/{name}", "UAFFFF"),
    ("GET", "/api/branches", "UAAAAA"),
    ("POST", "/api/branches", "UAFFFF"),
    ("GET", "/api/settings", "UAFFFF"),
    ("PATCH", "/api/settings", "UAFFFF"),
    ("GET", "/api/stations", "UAAFAF"),
    ("POST", "/api/stations", "UFFFAF"),
    ("POST", "/api/stations/{id}/approve", "UAFFFF"),
    ("POST", "/api/stations/{id}/revoke", "UAFFFF"),
    ("GET", "/api/records", "UFAAFF"),
    ("POST", "/api/records", "UFAFFF"),
    ("POST", "/api/records/import", "UFAFFF"),
    ("GET", "/api/records/ids", "UFAFFF"),
    ("GET", "/api/records/values", "UFAFFF"),
    ("GET", "/api/records/{id}", "UFAFFF"),
    ("GET", "/api/jobs", "UFAAFF"),
    ("POST", "/api/jobs", "UFAFFF"),
    ("POST", "/api/jobs/batch", "UFAFFF"),
    ("GET", "/api/jobs/{id}", "UFAAAF"),
    ("POST", "/api/jobs/{id}/approve", "UFFAFF"),
    ("POST", "/api/jobs/{id}/reject", "UFFAFF"),
    ("POST", "/api/jobs/{id}/cancel", "UFAFFF"),
    ("POST", "/api/jobs/{id}/revoke", "UFAFFF"),
    ("POST", "/api/jobs/{id}/reissue", "UFAFFF"),
    ("GET", "/api/queue", "UFFFAF"),
    ("POST", "/api/queue/claim", "UFFFAF"),
    ("POST", "/api/jobs/{id}/renew", "UFFFAF"),
    ("POST", "/api/jobs/{id}/release", "UFFFAF"),
    ("POST", "/api/jobs/{id}/result", "UFFFAF"),
    ("GET", "/api/audit", "UFFFFA"),
    ("GET", "/api/audit/verify", "UFFFFA"),
    ("GET", "/api/reports", "UFFFFA"),
];

fn page_needs(backend: &Backend) {
    let issuer = Issuer::start(backend, "page_needs");
    let station = issuer.station("operator");
    let mut clerk = issuer.login("clerk");
    let ids = issuer.records(&mut clerk, 3);
    let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let (s, body) = clerk.get(&format!(
        "/api/records/values?ids={},999999",
        list.join(",")
    ));
    assert_eq!(s, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "unknown ids are left out: {body}");
    // Public and private values in one map.
    assert_eq!(records[1]["values"]["holder_name"], "Holder 1");
    assert_eq!(records[1]["values"]["email"], "h1@example.org");
    assert_eq!(records[1]["id"], ids[1], "in the order of the ids");
    assert_eq!(records[1]["profile"], "iso7816-generic");
    for bad in [
        "",
        "1,x",
        &vec!["1"; vsc_issuer::records::MAX_VALUES + 1].join(","),
    ] {
        let (s, body) = clerk.get(&format!("/api/records/values?ids={bad}"));
        assert_eq!(s, 400, "ids={bad:.20}: {body}");
    }
    // "Select all matching": the ids of a search in one answer, as the list pages them.
    let (s, body) = clerk.get("/api/records/ids");
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["ids"], serde_json::json!(ids), "{body}");
    assert_eq!(body["total"], 3);
    let (s, body) = clerk.get("/api/records/ids?q=holder%201");
    assert_eq!(
        (s, &body["ids"]),
        (200, &serde_json::json!([ids[1]])),
        "{body}"
    );
    let (s, body) = clerk.get("/api/records/ids?state=built");
    assert_eq!((s, &body["ids"]), (200, &serde_json::json!([])), "{body}");
    let (s, body) = clerk.get("/api/records/ids?state=lost");
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected pending"),
        "{body}"
    );
    let mut uids = Vec::new();
    for id in &ids {
        let (uid, job) = job_json(&clerk, *id, "b1", &station);
        let (s, body) = clerk.post("/api/jobs", job);
        assert_eq!(s, 201, "{body}");
        uids.push(uid);
    }
    let mut approver = issuer.login("approver");
    let (s, body) = approver.get("/api/jobs?state=prepared");
    assert_eq!(s, 200);
    assert_eq!(body["jobs"][0]["holder_name"], "Holder 0", "{body}");
    for uid in &uids {
        let (s, body) = approver.post(&format!("/api/jobs/{uid}/approve"), Value::Null);
        assert_eq!(s, 200, "{body}");
    }
    let mut operator = issuer.login("operator");
    let (_, queue) = operator.get("/api/queue");
    // Oldest approval first; two approvals within one millisecond share their queued_at, so
    // only the order of the times is certain, not that of the holders.
    let queued = queue["jobs"].as_array().unwrap();
    let mut holders: Vec<&str> = queued
        .iter()
        .map(|j| j["holder_name"].as_str().unwrap())
        .collect();
    holders.sort_unstable();
    assert_eq!(holders, ["Holder 0", "Holder 1", "Holder 2"], "{queue}");
    let times: Vec<i64> = queued
        .iter()
        .map(|j| j["queued_at_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{queue}");
    // The last job, picked: not the oldest.
    let (s, body) = operator.post(
        "/api/queue/claim",
        json!({ "station": station, "job": uids[2] }),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["job"]["id"], json!(uids[2]));
    // Picked again while claimed: 409, said in words.
    let (s, body) = operator.post(
        "/api/queue/claim",
        json!({ "station": station, "job": uids[2] }),
    );
    assert_eq!(s, 409, "{body}");
    assert_eq!(error_code(&body), "conflict");
    // Unpicked: the queue's first job left (the oldest approval; within one millisecond, the
    // lower id).
    let first_left = queued
        .iter()
        .map(|j| &j["id"])
        .find(|id| **id != json!(uids[2]))
        .unwrap()
        .clone();
    let (s, body) = operator.post("/api/queue/claim", json!({ "station": station }));
    assert_eq!(s, 200);
    assert_eq!(
        body["job"]["id"], first_left,
        "the oldest when none is picked"
    );
    let auditor = issuer.login("auditor");
    let (s, body) = auditor.get("/api/audit?action=job.&actor=operator");
    assert_eq!(s, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{body}");
    assert!(rows.iter().all(|r| r["action"] == "job.claim"));
    let (_, body) = auditor.get("/api/audit?actor=operator&outcome=refused");
    assert_eq!(body["rows"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["rows"][0]["action"], "POST /api/queue/claim");
    let (_, body) = auditor.get(&format!("/api/audit?object={}", uids[2]));
    let actions: Vec<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["job.upload", "job.approve", "job.claim", "envelope.release"]
    );
    let (_, body) = auditor.get("/api/audit?action=job%25");
    assert!(
        body["rows"].as_array().unwrap().is_empty(),
        "% is not a wildcard"
    );
}

fn documented(server: &Server) -> HashSet<(String, String)> {
    let (s, doc) = server.client().get("/api/openapi.json");
    assert_eq!(s, 200);
    let mut out = HashSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

fn authorization_matrix(backend: &Backend) {
    let issuer = Issuer::start(backend, "matrix");
    let table: HashSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let doc = documented(&issuer.server);
    let missing: Vec<_> = doc.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the authorization matrix: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&doc).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for endpoints that do not exist: {stale:?}"
    );
    let callers = [
        "anonymous",
        "admin",
        "clerk",
        "approver",
        "operator",
        "auditor",
    ];
    let clients: Vec<Client> = callers
        .iter()
        .map(|&c| {
            if c == "anonymous" {
                issuer.server.client()
            } else {
                issuer.login(c)
            }
        })
        .collect();
    for (method, path, expect) in MATRIX {
        let concrete = path
            .replace("{name}", "nobody")
            .replace("{id}", "00000000-0000-4000-8000-000000000000");
        for ((who, client), e) in callers.iter().zip(&clients).zip(expect.chars()) {
            if *method == "DELETE" && *path == "/api/session" {
                continue; // signing out would end the session the other rows use; see below
            }
            let mut c = client.clone();
            let (s, body) = c.send(method, &concrete, json!({}));
            match e {
                'A' => assert!(
                    s != 401 && s != 403 && s != 0,
                    "{method} {path} as {who}: expected allowed, got {s} {body}"
                ),
                'F' => assert_eq!(s, 403, "{method} {path} as {who}: {body}"),
                'U' => assert_eq!(s, 401, "{method} {path} as {who}: {body}"),
                other => panic!("bad matrix entry {other}"),
            }
        }
    }
    for (who, client) in callers.iter().zip(&clients) {
        let mut c = client.clone();
        let (s, _) = c.send("DELETE", "/api/session", Value::Null);
        let expect_ok = *who != "anonymous";
        assert_eq!(s == 204, expect_ok, "DELETE /api/session as {who}: {s}");
    }
}

fn openapi_agrees(backend: &Backend) {
    let issuer = Issuer::start(backend, "openapi");
    let (_, doc) = issuer.server.client().get("/api/openapi.json");
    assert_eq!(doc["openapi"], "3.0.3");
    for (method, path) in documented(&issuer.server) {
        let concrete = path.replace("{name}", "x").replace("{id}", "x");
        let mut c = issuer.server.client();
        let (s, body) = c.send(&method, &concrete, Value::Null);
        assert!(
            s != 405 && error_code(&body) != "no_such_endpoint",
            "{method} {path} is documented but not routed: {s} {body}"
        );
    }
    let mut c = issuer.server.client();
    let (s, body) = c.send("GET", "/api/undocumented", Value::Null);
    assert_eq!((s, error_code(&body)), (404, "no_such_endpoint"));
    let (s, body) = c.send("PUT", "/api/health", Value::Null);
    assert_eq!(
        (s, error_code(&body)),
        (405, "method_not_allowed"),
        "{body}"
    );
}

/// Regressions of what `scripts/schemathesis` found: a page number whose offset overflows was a
/// 500, the refusals of sign-in (401, 403) were missing from the document, and the document had
/// no schema for any body.
fn schemathesis_findings(backend: &Backend) {
    let issuer = Issuer::start(backend, "schemathesis");
    let far = "page=9223372036854775807&per_page=113";
    for (who, path) in [
        ("clerk", "/api/records"),
        ("clerk", "/api/jobs"),
        ("operator", "/api/queue"),
    ] {
        let (s, body) = issuer.login(who).get(&format!("{path}?{far}"));
        assert_eq!(s, 400, "{path}?{far}: {body}");
        assert!(error_message(&body).contains("smaller page"), "{body}");
        let (s, body) = issuer
            .login(who)
            .get(&format!("{path}?page=2&per_page=500"));
        assert_eq!(s, 200, "{path}: {body}");
    }
    let (_, doc) = issuer.server.client().get("/api/openapi.json");
    let sign_in = &doc["paths"]["/api/session"]["post"];
    for code in ["401", "403", "429"] {
        assert!(
            sign_in["responses"][code].is_object(),
            "POST /api/session does not document {code}"
        );
    }
    let mut c = issuer.server.client();
    let (s, body) = c.post(
        "/api/session",
        json!({ "username": "clerk", "password": "not the password" }),
    );
    assert_eq!((s, error_code(&body)), (401, "wrong_credentials"));
    assert_eq!(
        sign_in["tags"],
        json!([
            "admin",
            "clerk",
            "approver",
            "operator",
            "auditor",
            "anonymous"
        ])
    );
    assert_eq!(
        doc["paths"]["/api/audit"]["get"]["tags"],
        json!(["auditor"])
    );
    let health = &doc["paths"]["/api/health"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(
        health["required"],
        json!(["database", "status"]),
        "{health}"
    );
    let (_, jobs) = issuer.login("clerk").get("/api/jobs");
    let schema = &doc["paths"]["/api/jobs"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    for field in schema["required"].as_array().unwrap() {
        let field = field.as_str().unwrap();
        assert!(
            jobs.get(field).is_some(),
            "GET /api/jobs lacks {field}: {jobs}"
        );
    }
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

fn page_served(backend: &Backend) {
    let issuer = Issuer::start(backend, "page");
    let mut c = issuer.server.client();
    let (s, headers, text) = c.raw("GET", "/", None, Vec::new());
    assert_eq!(s, 200);
    assert!(
        text.contains("<html") || text.contains("<!doctype"),
        "ureq decodes gzip itself or gets plain"
    );
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
    let req = ureq::http::Request::builder()
        .uri(format!("{}/app.js", issuer.server.base))
        .header("accept-encoding", "gzip")
        .body(())
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let resp = agent.run(req).unwrap();
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    let req = ureq::http::Request::builder()
        .uri(format!("{}/", issuer.server.base))
        .header("if-none-match", &etag)
        .body(())
        .unwrap();
    assert_eq!(agent.run(req).unwrap().status().as_u16(), 304);
    assert_eq!(c.get("/../Cargo.toml").0, 404);
}

fn two_instances_racing(backend: &Backend) {
    let issuer = Issuer::start(backend, "race");
    let second = Server::start(&issuer.server.db, &[]);
    let stations: Vec<String> = (0..4).map(|_| issuer.station("operator")).collect();
    let mut admin = issuer.login("admin");
    admin.send("PATCH", "/api/settings", json!({ "four_eyes": false }));
    let mut clerk = issuer.login("clerk");
    let n = 120;
    let recs = issuer.records(&mut clerk, n);
    let jobs: Vec<Value> = recs
        .iter()
        .map(|&r| {
            let (_, mut j) = job_json(&clerk, r, "b1", &stations[0]);
            let envelope = j["envelopes"][0].clone();
            j["envelopes"] = stations
                .iter()
                .map(|s| {
                    let mut e = envelope.clone();
                    e["station"] = json!(s);
                    e
                })
                .collect();
            j
        })
        .collect();
    let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": jobs }));
    assert_eq!(s, 201, "{body}");
    let servers = [issuer.server.base.clone(), second.base.clone()];
    let claimers = 8;
    let handles: Vec<_> = (0..claimers)
        .map(|i| {
            let base = servers[i % 2].clone();
            let station = stations[i % stations.len()].clone();
            std::thread::spawn(move || {
                let mut c = Client::new(&base);
                let (s, b) = c.post(
                    "/api/session",
                    json!({ "username": "operator", "password": PW }),
                );
                assert_eq!(s, 200, "{b}");
                let mut got = Vec::new();
                loop {
                    let (s, body) = c.post("/api/queue/claim", json!({ "station": station }));
                    assert_eq!(s, 200, "{body}");
                    let Some(id) = body["job"]["id"].as_str() else {
                        break;
                    };
                    got.push(id.to_owned());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a job was claimed twice");
    assert_eq!(all.len(), n, "every job claimed exactly once");
    let ran = verify(&issuer.server.db);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
}

/// Two instances on one PostgreSQL database, one of them with its clock two hours behind: a
/// lease taken through it is timed by the database's clock, so the other instance does not
/// take it for expired and give the job to a second card.
fn clocks_apart(backend: &Backend) {
    let issuer = Issuer::start(backend, "clocks");
    let behind = Server::start_with_clock_off(&issuer.server.db, &[], -7200);
    let station = issuer.station("operator");
    let mut admin = issuer.login("admin");
    admin.send("PATCH", "/api/settings", json!({ "four_eyes": false }));
    let mut clerk = issuer.login("clerk");
    let jobs: Vec<Value> = issuer
        .records(&mut clerk, 2)
        .iter()
        .map(|&r| job_json(&clerk, r, "b1", &station).1)
        .collect();
    let (s, body) = clerk.post("/api/jobs/batch", json!({ "jobs": jobs }));
    assert_eq!(s, 201, "{body}");
    let sign_in = |base: &str| {
        let mut c = Client::new(base);
        let (s, b) = c.post(
            "/api/session",
            json!({ "username": "operator", "password": PW }),
        );
        assert_eq!(s, 200, "{b}");
        c
    };
    let mut late = sign_in(&behind.base);
    let (s, body) = late.post("/api/queue/claim", json!({ "station": station }));
    assert_eq!(s, 200, "{body}");
    let first = body["job"]["id"].as_str().unwrap().to_owned();
    let lease_until = body["job"]["lease_until_ms"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        lease_until > now,
        "the lease ends {} s ago by the database's clock: timed by the instance's",
        (now - lease_until) / 1000
    );
    let mut on_time = sign_in(&issuer.server.base);
    let mut claimed = Vec::new();
    for _ in 0..2 {
        let (s, body) = on_time.post("/api/queue/claim", json!({ "station": station }));
        assert_eq!(s, 200, "{body}");
        claimed.extend(body["job"]["id"].as_str().map(str::to_owned));
    }
    assert_eq!(claimed.len(), 1, "one job was left to claim: {claimed:?}");
    assert_ne!(
        claimed[0], first,
        "the job claimed through the late instance was claimed again"
    );
}

fn audit_tamper(backend: &Backend) {
    let issuer = Issuer::start(backend, "tamper");
    let mut clerk = issuer.login("clerk");
    issuer.records(&mut clerk, 2);
    issuer.login("auditor");
    let db = issuer.server.db.clone();
    let ok = verify(&db);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let kept = run(&["audit", "checkpoint", "--db", &db]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("checkpoint.json");
    std::fs::write(&cp, &kept.stdout).unwrap();
    let rows = audit_rows(&issuer);
    let size = rows.len();
    assert!(size >= 8);

    backend.sql(&db, "UPDATE audit SET actor = 'mallory' WHERE seq = 3");
    let bad = verify(&db);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("row 3 was altered"), "{}", bad.stderr);
    backend.sql(
        &db,
        &format!(
            "UPDATE audit SET actor = '{}' WHERE seq = 3",
            rows[2]["actor"].as_str().unwrap()
        ),
    );
    assert_eq!(verify(&db).code, 0);

    backend.sql(&db, "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -2");
    let bad = verify(&db);
    assert!(
        bad.stderr.contains("row 2 does not follow row 1"),
        "{}",
        bad.stderr
    );
    backend.sql(&db, "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -2");
    assert_eq!(verify(&db).code, 0);

    // A superuser rewrites the end of the chain consistently: only the checkpoint tells.
    let last = rows[size - 1]["seq"].as_i64().unwrap();
    let prev_hash = rows[size - 2]["hash"].as_str().unwrap();
    let hex_literal = match backend {
        Backend::Sqlite(_) => format!("X'{prev_hash}'"),
        Backend::Postgres(_) => format!("decode('{prev_hash}', 'hex')"),
    };
    backend.sql(&db, &format!("DELETE FROM audit WHERE seq = {last}; UPDATE audit_head SET seq = {}, hash = {hex_literal} WHERE id = 1", last - 1));
    assert_eq!(
        verify(&db).code,
        0,
        "a consistent truncation passes on its own"
    );
    let bad = run(&[
        "audit",
        "verify",
        "--db",
        &db,
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(
        bad.stderr
            .contains(&format!("the chain ends at row {}", last - 1)),
        "{}",
        bad.stderr
    );

    backend.sql(&db, "DELETE FROM audit WHERE seq = 4");
    let bad = verify(&db);
    assert!(bad.stderr.contains("row 4 is missing"), "{}", bad.stderr);
    let (s, body) = issuer.login("auditor").get("/api/audit/verify");
    assert_eq!((s, body["ok"].as_bool()), (200, Some(false)));
}

fn kill_mid_batch(backend: &Backend) {
    let mut issuer = Issuer::start(backend, "kill");
    let station = issuer.station("operator");
    let mut clerk = issuer.login("clerk");
    let reader = issuer.login("clerk");
    let n = 1500;
    let batch = |recs: &[i64]| {
        let jobs: Vec<Value> = recs
            .iter()
            .map(|&r| job_json(&reader, r, "b1", &station).1)
            .collect();
        json!({ "jobs": jobs })
    };
    // How long a whole batch of this size takes here, to aim the kill at its middle.
    let warm = issuer.records(&mut clerk, n);
    let started = Instant::now();
    let (s, body) = clerk.post("/api/jobs/batch", batch(&warm));
    assert_eq!(s, 201, "{body}");
    let whole = started.elapsed();
    let recs = issuer.records(&mut clerk, n);
    let body = batch(&recs);
    let mut sender = clerk.clone();
    let started = Instant::now();
    let t = std::thread::spawn(move || sender.post("/api/jobs/batch", body).0);
    std::thread::sleep(whole / 2);
    issuer.server.child.kill();
    let killed_at = started.elapsed();
    let status = t.join().unwrap();
    let db = issuer.server.db.clone();
    issuer.server = Server::start(&db, &[]);
    let clerk = issuer.login("clerk");
    let (_, list) = clerk.get("/api/jobs?per_page=1");
    let stored = list["total"].as_i64().unwrap() - n as i64;
    assert!(
        stored == 0 || stored == n as i64,
        "after kill -9 (client saw {status}): {stored} of {n} jobs stored"
    );
    println!(
        "kill -9 {:.2} s into a batch that takes {:.2} s: the client saw status {status}; {stored} of {n} jobs stored",
        killed_at.as_secs_f64(),
        whole.as_secs_f64()
    );
    let ran = verify(&db);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

fn sqlite_missing_file(backend: &Backend) {
    let url = backend.fresh("missing");
    let mut server = Server::spawn(&url, &[]);
    let code = server.child.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(1));
    assert!(
        server.child.log_text().contains("no database file at"),
        "{}",
        server.child.log_text()
    );
}

fn database_down_and_back(pg: &mut PostgresCluster) {
    let backend = Backend::Postgres(pg);
    let issuer = Issuer::start(&backend, "down");
    let clerk = issuer.login("clerk");
    let url = issuer.server.db.clone();
    pg.stop();
    let (s, body) = clerk.get("/api/records");
    assert_eq!(
        (s, error_code(&body)),
        (503, "database_unavailable"),
        "mid-run: {body}"
    );
    // A second instance started while the database is down answers 503 with the same words.
    let late = Server::spawn(&url, &[]);
    wait_until_status(&late, 503);
    pg.restart();
    wait_until_status(&issuer.server, 200);
    wait_until_status(&late, 200);
    let (s, _) = clerk.get("/api/records");
    assert_eq!(s, 200, "the session survived: it lives in the database");
}

fn wait_until_status(server: &Server, want: u16) {
    let c = server.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = c.get("/api/health");
        if s == want {
            if want == 503 {
                assert_eq!(error_code(&body), "database_unavailable", "{body}");
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health stayed {s} ({body}), expected {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 exchange over TLS with a client that trusts only `cert`.
fn tls_exchange(
    port: u16,
    cert: &rustls::pki_types::CertificateDer<'static>,
    request: &str,
) -> Option<String> {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    stream.write_all(request.as_bytes()).ok()?;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn tls(backend: &Backend) {
    let db = backend.fresh("tls");
    init(&db);
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.key_pair.serialize_pem()).unwrap();
    let server = Server::spawn(
        &db,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
            "--origin",
            "https://localhost",
        ],
    );
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let cert = certified.cert.der().clone();
    let health = "GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let answer = tls_exchange(port, &cert, health).unwrap_or_default();
        if answer.starts_with("HTTP/1.1 200") || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        server.child.log_text()
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{answer}"
    );
    let body = r#"{"username":"admin","password":"not it at all"}"#;
    let login = format!(
        "POST /api/session HTTP/1.1\r\nHost: localhost\r\nOrigin: https://localhost\r\nX-VSC-Request: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = tls_exchange(port, &cert, &login).unwrap_or_default();
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "https with the https origin reaches the sign-in: {answer}"
    );
    let bad = std::fs::write(&key_path, "not a key");
    bad.unwrap();
    let mut refused = Server::spawn(
        &db,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.child.wait_exit(Duration::from_secs(10)), Some(1));
    assert!(
        refused
            .child
            .log_text()
            .contains("cannot load the TLS certificate"),
        "{}",
        refused.child.log_text()
    );
}
