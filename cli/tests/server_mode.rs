//! `vsc build --server` and `vsc personalize --server --queue` against the real issuer service
//! (`vsc-issuer serve` on SQLite, started by `vsc_tests::issuer`) and the real PC/SC stack
//! (pcscd, its vpcd readers and `softcard --vpcd`): the batch is uploaded with its passwords
//! sealed to the branch's station, the station works the queue card after card, the jobs end
//! personalized and audited; a wrong branch, a missing station key and a tampered envelope are
//! each refused with a message that says what to do, and the card is not touched; a card that
//! holds the claimed job's VSC already is reported spoiled unless given a new PIN.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use common::{ok, pin_of, run, s, texts, vsc};
use serde_json::{json, Value};
use tempfile::TempDir;
use vsc_core::envelope::Binding;
use vsc_core::job_envelopes::{self, Station};
use vsc_tests::issuer::{Client, Issuer, PW};
use vsc_tests::{opensc_apdus, PcscStack, SoftcardOptions};

/// The generic profile's application AID and public EF.
const SELECT_APP: &str = "00A4040C06F05653430001";
const SELECT_PUBLIC_EF: &str = "00A4000C025002";

/// Two holders for one branch.
const TWO_HOLDERS: &str = "\
holder_name,holder_id,expiry_date,email
Émile Nguyễn-Müller,E-1,2031-12-31,emile@example.org
Ada Lovelace,E-2,2030-01-01,ada@example.com
";

/// An issuer with the usual cast, a working directory, and credentials files.
struct Setup {
    issuer: Issuer,
    dir: TempDir,
}

impl Setup {
    fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/issuer.db", dir.path().display());
        Setup {
            issuer: Issuer::start_on(&db, &[]),
            dir,
        }
    }

    fn url(&self) -> &str {
        &self.issuer.server.base
    }

    /// A `--credentials` file for `user`.
    fn credentials(&self, user: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{user}.credentials"));
        std::fs::write(&path, format!("{user}\n{PW}\n")).unwrap();
        // Owner-only, or vsc refuses it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    /// A fresh station directory (no key yet).
    fn station_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `vsc station --enrol` as `operator` with the key of `station_dir`, approved by the admin;
    /// the station's id.
    fn enrol(&self, operator: &str, station_dir: &Path) -> String {
        let out = ok(&run(&[
            "station",
            "--station-dir",
            s(station_dir),
            "--server",
            self.url(),
            "--enrol",
            "front desk",
            "--credentials",
            s(&self.credentials(operator)),
        ]));
        let fingerprint = out
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint: "))
            .expect("vsc station prints the fingerprint")
            .to_owned();
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("enrolled as station "))
            .and_then(|rest| rest.split(' ').next())
            .expect("vsc station names the enrolled station")
            .to_owned();
        // The admin sees the fingerprint the terminal printed, then approves.
        let mut admin = self.issuer.login("admin");
        let (status, list) = admin.send("GET", "/api/stations", Value::Null);
        assert_eq!(status, 200, "{list}");
        let listed = list["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["id"] == id.as_str())
            .expect("the enrolled station is listed");
        assert_eq!(listed["fingerprint"], fingerprint.as_str(), "{listed}");
        let (status, body) = admin.post(&format!("/api/stations/{id}/approve"), Value::Null);
        assert_eq!(status, 200, "{body}");
        id
    }

    /// `vsc build --server URL --branch BRANCH` of `csv` as the clerk.
    fn build(&self, csv: &str, branch: &str) -> Output {
        let csv_path = self.dir.path().join("holders.csv");
        std::fs::write(&csv_path, csv).unwrap();
        run(&[
            "build",
            "--profile",
            "iso7816-generic",
            "--csv",
            s(&csv_path),
            "--server",
            self.url(),
            "--branch",
            branch,
            "--credentials",
            s(&self.credentials("clerk")),
        ])
    }

    /// The arguments of `vsc personalize --server --queue` as `operator` with the key of
    /// `station_dir`, PIN mailers to `mailers`.
    fn queue_args(
        &self,
        operator: &str,
        station_dir: &Path,
        reader: &str,
        mailers: &Path,
    ) -> Vec<String> {
        [
            "personalize",
            "--server",
            self.url(),
            "--queue",
            "--reader",
            reader,
            "--pin-mailers",
            s(mailers),
            "--station-dir",
            s(station_dir),
            "--credentials",
            s(&self.credentials(operator)),
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `vsc personalize --server --queue` as the operator started in the background, with no
    /// terminal to answer on and its output piped.
    fn spawn_queue(&self, station_dir: &Path, reader: &str, mailers: &Path) -> Child {
        vsc()
            .args(self.queue_args("operator", station_dir, reader, mailers))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run vsc")
    }

    /// Every job the clerk sees, oldest first.
    fn jobs(&self) -> Vec<Value> {
        let (status, body) = self.issuer.login("clerk").get("/api/jobs?per_page=100");
        assert_eq!(status, 200, "{body}");
        let mut jobs = body["jobs"].as_array().unwrap().clone();
        jobs.sort_by_key(|j| j["id"].as_str().unwrap().to_owned());
        jobs
    }

    /// The approver approves every prepared job.
    fn approve_all(&self) {
        let mut approver = self.issuer.login("approver");
        for job in self.jobs() {
            if job["state"] == "prepared" {
                let id = job["id"].as_str().unwrap();
                let (status, body) = approver.post(&format!("/api/jobs/{id}/approve"), Value::Null);
                assert_eq!(status, 200, "{body}");
            }
        }
    }

    /// The audit rows' actions, and whether the chain verifies.
    fn audit(&self) -> (Vec<Value>, bool) {
        let auditor = self.issuer.login("auditor");
        let (status, body) = auditor.get("/api/audit?limit=1000");
        assert_eq!(status, 200, "{body}");
        let (status, verify) = auditor.get("/api/audit/verify");
        assert_eq!(status, 200, "{verify}");
        (
            body["rows"].as_array().unwrap().clone(),
            verify["ok"] == true,
        )
    }
}

/// How many audit rows have `action` on `object`.
fn audited(rows: &[Value], action: &str, object: &str) -> usize {
    rows.iter()
        .filter(|r| r["action"] == action && r.to_string().contains(object))
        .count()
}

/// The public EF of the card in slot 0, through opensc-tool.
fn public_ef_on_card() -> Vec<u8> {
    let responses = opensc_apdus(0, &[SELECT_APP, SELECT_PUBLIC_EF, "00B0000000"]);
    assert_eq!(responses[0], [0x90, 0x00], "SELECT application");
    assert_eq!(responses[1], [0x90, 0x00], "SELECT public EF");
    let (data, sw) = responses[2].split_at(responses[2].len() - 2);
    assert_eq!(sw, [0x90, 0x00], "READ BINARY");
    data.to_vec()
}

#[test]
fn build_uploads_sealed_jobs_and_the_station_personalizes_the_queue_card_after_card() {
    let setup = Setup::start();
    let station_dir = setup.station_dir("station");
    let station = setup.enrol("operator", &station_dir);

    // The clerk builds and uploads; no password is written anywhere.
    let output = setup.build(TWO_HOLDERS, "b1");
    let stdout = ok(&output);
    assert!(
        stdout.contains("built and uploaded 2 VSC(s) with profile iso7816-generic to branch b1"),
        "{stdout}"
    );
    assert!(stdout.contains("1 approved station(s)"), "{stdout}");
    assert!(stdout.contains("2 are prepared"), "{stdout}");
    assert!(
        !common::file_names(setup.dir.path())
            .iter()
            .any(|n| n.ends_with(".vsc") || n == "passwords.csv"),
        "nothing but the upload"
    );
    let jobs = setup.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(jobs
        .iter()
        .all(|j| j["state"] == "prepared" && j["branch"] == "b1"));
    setup.approve_all();

    // The station works the queue: the first card, then (swapped) the second.
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let mut card = Some(stack.softcard(0, SoftcardOptions::new()));
    let mailers = setup.dir.path().join("mailers");
    std::fs::create_dir(&mailers).unwrap();
    let mut child = setup.spawn_queue(&station_dir, &reader, &mailers);
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader_thread = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut shown = String::new();
    loop {
        let line = match received.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("vsc personalize --queue said nothing for 2 minutes:\n{shown}");
            }
        };
        if line.starts_with("remove the card") {
            // The first card is done: pull it, then insert a blank one when asked.
            card = None;
        } else if line.starts_with("insert the next card") {
            assert!(card.is_none(), "asked for a card while one is in: {shown}");
            card = Some(stack.softcard(0, SoftcardOptions::new()));
        }
        shown.push_str(&line);
        shown.push('\n');
    }
    let output = child.wait_with_output().unwrap();
    reader_thread.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{shown}");
    assert!(
        stdout.contains("the queue is empty: 2 card(s) personalized, 0 failed"),
        "{stdout}\n{shown}"
    );
    assert!(shown.contains(&station), "names the station: {shown}");
    assert!(shown.contains("remove the card") && shown.contains("insert the next card"));

    // Both jobs personalized (the second card is the one in the reader), each with its mailer.
    let jobs = setup.jobs();
    assert!(
        jobs.iter().all(|j| j["state"] == "personalized"),
        "{jobs:?}"
    );
    let mut pins = Vec::new();
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        assert!(stdout.contains(&format!("job {id}: VSC {id} personalized for ")));
        let mailer = mailers.join(format!("{id}-pin-mailer.html"));
        let pin = pin_of(&mailer);
        assert_eq!(pin.len(), 6);
        assert!(
            !stdout.contains(&pin) && !shown.contains(&pin),
            "PIN only on the mailer"
        );
        pins.push(pin);
    }
    let public = public_ef_on_card();
    let names = ["Émile Nguyễn-Müller", "Ada Lovelace"];
    let on_card: Vec<&str> = names
        .into_iter()
        .filter(|name| public.windows(name.len()).any(|w| w == name.as_bytes()))
        .collect();
    assert_eq!(
        on_card.len(),
        1,
        "one holder's name on the card: {on_card:?}"
    );
    drop(card);

    // Audited: uploads, approvals, claims and results, on a chain that verifies.
    let (rows, verified) = setup.audit();
    assert!(verified, "the audit chain verifies");
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        for action in [
            "job.upload",
            "job.approve",
            "job.claim",
            "job.report-personalized",
        ] {
            assert_eq!(audited(&rows, action, id), 1, "{action} of {id}: {rows:?}");
        }
    }
    let text = serde_json::to_string(&rows).unwrap();
    for pin in &pins {
        assert!(!text.contains(&format!("\"{pin}\"")), "no PIN in the audit");
    }
}

#[test]
fn wrong_branch_missing_station_key_and_tampered_envelope_leave_the_card_untouched() {
    let setup = Setup::start();
    let station_dir = setup.station_dir("station");
    let station = setup.enrol("operator", &station_dir);

    // Upload to a branch that does not exist, or that has no approved station: refused before
    // anything is imported.
    let output = setup.build(TWO_HOLDERS, "b9");
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("there is no branch \"b9\"") && stderr.contains("b1, b2"),
        "{stderr}"
    );
    let output = setup.build(TWO_HOLDERS, "b2");
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("branch \"b2\" has no approved station"),
        "{stderr}"
    );
    let (status, records) = setup.issuer.login("clerk").get("/api/records");
    assert_eq!(status, 200);
    assert_eq!(records["total"], 0, "nothing imported: {records}");

    // A job whose envelope was altered after sealing (uploaded through the API).
    let tampered = upload_job(
        &station,
        &setup.issuer.login("clerk"),
        "holder_name,holder_id\nMallory,M-1\n",
        true,
    )
    .vscs[0]
        .uid
        .clone();
    setup.approve_all();

    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let apdu_log = setup.dir.path().join("apdus.log");
    let _card = stack.softcard(
        0,
        SoftcardOptions {
            apdu_log: Some(apdu_log.clone()),
            ..SoftcardOptions::new()
        },
    );
    let mailers = setup.dir.path().join("mailers");
    std::fs::create_dir(&mailers).unwrap();
    let untouched = || {
        let log = std::fs::read_to_string(&apdu_log).unwrap_or_default();
        assert!(log.trim().is_empty(), "no APDU reached the card:\n{log}");
        assert!(common::file_names(&mailers).is_empty(), "no PIN mailer");
    };
    let queue = |operator: &str, dir: &Path| {
        let args = setup.queue_args(operator, dir, &reader, &mailers);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };

    // This terminal has no station key yet: one is made, and nothing is claimed.
    let fresh = setup.station_dir("fresh");
    let output = queue("operator", &fresh);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("this terminal had no station key: one was made in")
            && stderr.contains("vsc station --server URL --enrol NAME"),
        "{stderr}"
    );
    assert!(fresh.join("station-key").exists());
    untouched();

    // The station's key, but an operator of another branch: not a station of that branch.
    let output = queue("operator2", &station_dir);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not enrolled at operator2's branch"),
        "{stderr}"
    );
    untouched();

    // The right station and operator, but the envelope does not open: the job is released.
    let output = queue("operator", &station_dir);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "job {tampered}: the password envelope does not open"
        )) && stderr.contains("the job was released: ask the issuer to reissue it"),
        "{stderr}"
    );
    untouched();
    let jobs = setup.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["state"], "queued", "back in the queue: {jobs:?}");
    let (rows, verified) = setup.audit();
    assert!(verified);
    assert_eq!(audited(&rows, "job.claim", &tampered), 1, "{rows:?}");
    assert_eq!(audited(&rows, "job.release", &tampered), 1, "{rows:?}");
    assert_eq!(audited(&rows, "job.report-personalized", &tampered), 0);
}

#[test]
fn a_card_holding_the_claimed_jobs_vsc_is_spoiled_unless_given_a_new_pin() {
    let setup = Setup::start();
    let station_dir = setup.station_dir("station");
    let station = setup.enrol("operator", &station_dir);
    let batch = upload_job(
        &station,
        &setup.issuer.login("clerk"),
        "holder_name,holder_id\nGrace Hopper,G-1\n",
        false,
    );
    let built = &batch.vscs[0];
    setup.approve_all();

    // The card holds the queued job's VSC already (here written from its file, as an earlier
    // claim would have).
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let mailers = setup.dir.path().join("mailers");
    std::fs::create_dir(&mailers).unwrap();
    ok(&run(&[
        "personalize",
        s(&built.file),
        "--password-file",
        s(&built.password_file),
        "--reader",
        &reader,
        "--pin-mailer",
        s(&setup.dir.path().join("earlier-pin-mailer.html")),
    ]));
    let queue = |extra: &[&str]| {
        let mut args = setup.queue_args("operator", &station_dir, &reader, &mailers);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };

    // No terminal to answer the new-PIN question: no new PIN, so the card is recorded spoiled
    // and the job goes back to the queue for a new blank card. The run then waits for the card
    // to be taken out, and is stopped there with Ctrl-C.
    let mut child = setup.spawn_queue(&station_dir, &reader, &mailers);
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        stderr.push_str(&line);
        stderr.push('\n');
        if line.starts_with("remove the card") {
            let interrupted = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(interrupted.success());
        }
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("stopped (Ctrl-C): 0 card(s) personalized, 1 failed"),
        "{stdout}{stderr}"
    );
    let id = &built.uid;
    assert!(
        stdout.contains(&format!("job {id}: failed while "))
            && stdout.contains("no new PIN was set")
            && stdout.contains("reported failed")
            && stdout.contains("This card is spoiled: it holds this VSC from before")
            && stdout.contains("set it aside to be destroyed"),
        "{stdout}{stderr}"
    );
    assert!(common::file_names(&mailers).is_empty(), "no PIN mailer");
    let jobs = setup.jobs();
    assert_eq!(jobs[0]["state"], "queued", "{jobs:?}");
    assert_eq!(jobs[0]["spoiled_cards"], 1, "{jobs:?}");

    // With --new-pin the same card is given a new PIN and finishes the job.
    let output = queue(&["--new-pin"]);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("job {id}: VSC {id} personalized for Grace Hopper")),
        "{stdout}{stderr}"
    );
    assert_eq!(
        pin_of(&mailers.join(format!("{id}-pin-mailer.html"))).len(),
        6
    );
    let jobs = setup.jobs();
    assert_eq!(jobs[0]["state"], "personalized", "{jobs:?}");
    let (rows, verified) = setup.audit();
    assert!(verified);
    assert_eq!(audited(&rows, "job.report-failed", id), 1, "{rows:?}");
    assert_eq!(audited(&rows, "job.report-personalized", id), 1, "{rows:?}");
}

/// Builds one VSC for `csv` (a header and one holder) with `vsc build --out`, imports its
/// holder, seals its password for `station` (with a flipped ciphertext byte when `tamper`) and
/// uploads the job for b1; the batch, whose VSC's UID is the job's id.
fn upload_job(station: &str, clerk: &Client, csv: &str, tamper: bool) -> common::Batch {
    let mut clerk = clerk.clone();
    let batch = common::build_batch(csv);
    let built = &batch.vscs[0];
    let bytes = std::fs::read(&built.file).unwrap();
    let (status, _, text) = clerk.raw(
        "POST",
        "/api/records/import?profile=iso7816-generic",
        Some("text/csv"),
        csv.as_bytes().to_vec(),
    );
    assert_eq!(status, 201, "{text}");
    let record = serde_json::from_str::<Value>(&text).unwrap()["ids"][0]
        .as_i64()
        .unwrap();
    let (status, stations) = clerk.send("GET", "/api/stations?branch=b1", Value::Null);
    assert_eq!(status, 200);
    let key = stations["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["id"] == station)
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let binding = Binding::new(&built.uid, "b1", &bytes).unwrap();
    let mut envelopes = job_envelopes::BranchSealer::new(
        &[Station {
            id: station.to_owned(),
            public_key: key,
        }],
        &mut rand_core::OsRng,
    )
    .unwrap()
    .seal(&built.password, &binding, &mut rand_core::OsRng)
    .unwrap();
    if tamper {
        let mut ciphertext = hex::decode(&envelopes[0].ciphertext).unwrap();
        ciphertext[0] ^= 1;
        envelopes[0].ciphertext = hex::encode(ciphertext);
    }
    let (status, body) = clerk.post(
        "/api/jobs",
        json!({
            "record": record,
            "branch": "b1",
            "vsc": base64::engine::general_purpose::STANDARD.encode(&bytes),
            "envelopes": envelopes,
        }),
    );
    assert_eq!(status, 201, "{body}");
    batch
}
