//! The issuer service for tests: `vsc-issuer` commands ([`run`], [`init`]), a running
//! `vsc-issuer serve` ([`Server`]), an HTTP client that keeps the session cookie and sends the
//! CSRF headers ([`Client`]), and a database with the usual cast of users ([`Issuer`]).
//!
//! It takes database URLs (SQLite files or a [`crate::PostgresCluster`]'s databases) and
//! starts the real binary, built on first use ([`crate::cargo_bin`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{cargo_bin, free_port, wait_until, ChildGuard};

/// Output of a command run to completion.
pub struct Ran {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `vsc-issuer ARGS`.
pub fn run(args: &[&str]) -> Ran {
    let out = Command::new(cargo_bin("vsc-issuer"))
        .args(args)
        .output()
        .expect("vsc-issuer runs");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `vsc-issuer ARGS`, which must succeed; its standard output.
pub fn run_ok(args: &[&str]) -> String {
    let ran = run(args);
    assert_eq!(ran.code, 0, "vsc-issuer {args:?}: {}", ran.stderr);
    ran.stdout
}

/// `vsc-issuer init`; the admin's password.
pub fn init(url: &str) -> String {
    run_ok(&["init", "--db", url])
        .lines()
        .find_map(|l| l.strip_prefix("admin password (shown once; store it now): "))
        .expect("init prints the admin password")
        .to_owned()
}

/// A running `vsc-issuer serve`.
pub struct Server {
    /// The child process.
    pub child: ChildGuard,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its database.
    pub db: String,
    // The temporary directory of its log, when the caller did not name the log file.
    _logs: Option<TempDir>,
}

impl Server {
    /// Starts `serve` on a free port and waits until it answers.
    pub fn start(db: &str, extra: &[&str]) -> Server {
        let server = Server::spawn(db, extra);
        server.wait_healthy();
        server
    }

    /// Starts `serve` on a free port with its output in `log` (for a test that reads the log
    /// after the server is gone) and waits until it answers.
    pub fn start_logged(db: &str, extra: &[&str], log: &Path) -> Server {
        let server = Server::spawn_to(db, extra, log, None, None);
        server.wait_healthy();
        server
    }

    /// Starts `serve` without waiting.
    pub fn spawn(db: &str, extra: &[&str]) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("server.log");
        Server::spawn_to(db, extra, &log, Some(logs), None)
    }

    /// Starts `serve` with its wall clock `offset_seconds` off (libfaketime, from Debian's
    /// `faketime`; its monotonic clock, which times requests, is left alone) and waits until
    /// it answers.
    pub fn start_with_clock_off(db: &str, extra: &[&str], offset_seconds: i64) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("server.log");
        let server = Server::spawn_to(db, extra, &log, Some(logs), Some(offset_seconds));
        server.wait_healthy();
        server
    }

    fn spawn_to(
        db: &str,
        extra: &[&str],
        log: &Path,
        logs: Option<TempDir>,
        clock_off: Option<i64>,
    ) -> Server {
        let port = free_port();
        let mut cmd = Command::new(cargo_bin("vsc-issuer"));
        if let Some(offset) = clock_off {
            let library = PathBuf::from(format!(
                "/usr/lib/{}-linux-gnu/faketime/libfaketimeMT.so.1",
                std::env::consts::ARCH
            ));
            assert!(
                library.exists(),
                "{} is missing: apt-get install faketime (scripts/test installs it)",
                library.display()
            );
            cmd.env("LD_PRELOAD", &library)
                .env("FAKETIME", format!("{offset:+}"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        cmd.args([
            "serve",
            "--db",
            db,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--page-dir")
        .arg(workspace())
        .args(extra);
        let child = ChildGuard::spawn(cmd, log);
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db: db.to_owned(),
            _logs: logs,
        }
    }

    /// Waits until `/api/health` answers 200.
    pub fn wait_healthy(&self) {
        let c = Client::new(&self.base);
        wait_until(
            Duration::from_secs(30),
            "vsc-issuer answers /api/health",
            || c.get("/api/health").0 == 200,
        );
    }

    /// A client without a session.
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client signed in as `user`.
    pub fn login(&self, user: &str, password: &str) -> Client {
        let mut c = self.client();
        let (status, body) = c.post(
            "/api/session",
            json!({ "username": user, "password": password }),
        );
        assert_eq!(status, 200, "sign-in of {user} failed: {body}");
        c
    }
}

/// The workspace root (the page's files).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// Every error the service answers has a code of the one catalogue
/// (`vsc_core::error_catalogue`): checked on every answer a [`Client`] receives.
fn catalogued(text: &str) {
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Some(code) = body["error"]["code"].as_str() {
        assert!(
            vsc_core::error_catalogue::find(code).is_some(),
            "the service answered the code {code:?}, which the error catalogue lacks: {text}"
        );
    }
}

/// An HTTP client that sends the CSRF headers and keeps the session cookie.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The session cookie (`name=value`).
    pub cookie: Option<String>,
    /// The Origin sent (`None`: no Origin header).
    pub origin: Option<String>,
    /// Whether the custom CSRF header is sent.
    pub csrf_header: bool,
}

impl Client {
    /// A client for `base`.
    pub fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Client {
            agent,
            base: base.to_owned(),
            cookie: None,
            origin: Some(base.to_owned()),
            csrf_header: true,
        }
    }

    /// The status the service answers a `method path` that declares a body of `length` bytes of
    /// `content_type` and sends none of it: how an oversized body is refused (413) without the
    /// client racing the service's early answer while it writes (a full-size write fails with a
    /// broken pipe whenever the service answers and closes first).
    pub fn declared_length_status(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        length: usize,
    ) -> u16 {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: {content_type}\r\ncontent-length: {length}\r\nconnection: close\r\n"
        );
        if let Some(cookie) = &self.cookie {
            head.push_str(&format!("cookie: {cookie}\r\n"));
        }
        if let Some(origin) = &self.origin {
            head.push_str(&format!("origin: {origin}\r\n"));
        }
        if self.csrf_header {
            head.push_str("x-vsc-request: 1\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        answer
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"))
    }

    /// Sends a request; the status, headers and body text.
    pub fn raw(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, ureq::http::HeaderMap, String) {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(origin) = &self.origin {
            req = req.header("origin", origin);
        }
        if self.csrf_header {
            req = req.header("x-vsc-request", "1");
        }
        let req = req.body(body).unwrap();
        let mut resp = match self.agent.run(req) {
            Ok(r) => r,
            Err(e) => return (0, Default::default(), format!("transport error: {e}")),
        };
        let status = resp.status().as_u16();
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap().trim().to_owned();
            if v.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        let headers = resp.headers().clone();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap_or_default();
        catalogued(&text);
        (status, headers, text)
    }

    fn json_of(text: &str) -> Value {
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
    }

    /// GET; status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut c = self.clone();
        let (s, _, t) = c.raw("GET", path, None, Vec::new());
        (s, Self::json_of(&t))
    }

    /// A JSON request with METHOD.
    pub fn send(&mut self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let ct = if body.is_null() {
            None
        } else {
            Some("application/json")
        };
        let (s, _, t) = self.raw(method, path, ct, bytes);
        (s, Self::json_of(&t))
    }

    /// POST JSON.
    pub fn post(&mut self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, body)
    }
}

/// A fresh database with the usual cast: branch b1 and b2; users clerk, clerk2, approver,
/// operator (b1), operator2 (b2), auditor; all with password [`PW`].
pub struct Issuer {
    /// The server.
    pub server: Server,
    /// The admin's password.
    pub admin_pw: String,
}

/// Everyone's password in [`Issuer`].
pub const PW: &str = "correct horse battery";

impl Issuer {
    /// Sets up the database `db` (a fresh one) and starts a server on it with extra `serve`
    /// arguments.
    pub fn start_on(db: &str, extra: &[&str]) -> Issuer {
        let admin_pw = init(db);
        let dir = tempfile::tempdir().unwrap();
        let pw_file = dir.path().join("pw");
        std::fs::write(&pw_file, format!("{PW}\n")).unwrap();
        let pw = pw_file.to_str().unwrap();
        for (id, name) in [("b1", "Branch one"), ("b2", "Branch two")] {
            let r = run(&["branches", "add", id, "--name", name, "--db", db]);
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        for (user, role, branch) in [
            ("clerk", "clerk", None),
            ("clerk2", "clerk", None),
            ("approver", "approver", None),
            ("operator", "operator", Some("b1")),
            ("operator2", "operator", Some("b2")),
            ("auditor", "auditor", None),
        ] {
            let mut args = vec![
                "users",
                "add",
                user,
                "--role",
                role,
                "--password-file",
                pw,
                "--db",
                db,
            ];
            if let Some(b) = branch {
                args.extend(["--branch", b]);
            }
            let r = run(&args);
            assert_eq!(r.code, 0, "users add {user}: {}", r.stderr);
        }
        Issuer {
            server: Server::start(db, extra),
            admin_pw,
        }
    }

    /// A client signed in as `user` (the admin with its own password).
    pub fn login(&self, user: &str) -> Client {
        let pw = if user == "admin" {
            self.admin_pw.as_str()
        } else {
            PW
        };
        self.server.login(user, pw)
    }

    /// Enrols and approves a station (a random key) of the operator's branch; its id.
    pub fn station(&self, operator: &str) -> String {
        let mut key = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
        self.station_with_key(operator, &hex::encode(key))
    }

    /// Enrols the station whose public key is `public_key_hex` for `operator`'s branch and
    /// approves it as the admin; its id.
    pub fn station_with_key(&self, operator: &str, public_key_hex: &str) -> String {
        let mut op = self.login(operator);
        let (s, body) = op.post(
            "/api/stations",
            json!({ "name": "desk", "public_key": public_key_hex }),
        );
        assert_eq!(s, 201, "{body}");
        let id = body["station"]["id"].as_str().unwrap().to_owned();
        let mut admin = self.login("admin");
        let (s, body) = admin.post(&format!("/api/stations/{id}/approve"), Value::Null);
        assert_eq!(s, 200, "{body}");
        id
    }

    /// Imports `n` records; their ids.
    pub fn records(&self, clerk: &mut Client, n: usize) -> Vec<i64> {
        let mut csv = String::from("holder_name,holder_id,expiry_date,email\n");
        for i in 0..n {
            csv.push_str(&format!("Holder {i},H-{i},2031-12-31,h{i}@example.org\n"));
        }
        let (s, _, t) = clerk.raw(
            "POST",
            "/api/records/import?profile=iso7816-generic",
            Some("text/csv"),
            csv.into_bytes(),
        );
        assert_eq!(s, 201, "{t}");
        let v: Value = serde_json::from_str(&t).unwrap();
        let ids: Vec<i64> = v["ids"]
            .as_array()
            .expect("the import answers the new ids")
            .iter()
            .map(|id| id.as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), n);
        assert_eq!(v["first_id"].as_i64(), ids.first().copied());
        ids
    }
}
