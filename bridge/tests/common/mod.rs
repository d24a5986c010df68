//! Helpers for the bridge's end-to-end tests: start `vsc-bridge` as a process, speak the
//! protocol with a blocking WebSocket client (raw JSON, independent of `vsc_core::protocol`),
//! and send raw HTTP handshakes.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};
use vsc_tests::{cargo_bin, free_port, wait_until, ChildGuard};

/// The page origin the tests allow.
pub const ORIGIN: &str = "https://issuer.example";

/// The simulated reader's name.
pub const SIM_READER: &str = "VSC Simulated Reader 0";

/// A running bridge, killed on drop.
pub struct Bridge {
    pub child: ChildGuard,
    pub port: u16,
    pub dir: TempDir,
}

impl Bridge {
    /// Starts `vsc-bridge --listen 127.0.0.1:<free> --allow-origin ORIGIN --config-dir ...
    /// --pairing-code-file ... --log-file ... --log-level debug <extra>` and waits until it listens.
    pub fn start(extra: &[&str]) -> Bridge {
        Bridge::start_logging("debug", extra)
    }

    /// Like [`Bridge::start`] with `--log-level level`.
    pub fn start_logging(level: &str, extra: &[&str]) -> Bridge {
        Bridge::start_with(Command::new(cargo_bin("vsc-bridge")), level, "", extra)
    }

    /// Starts `command` (`vsc-bridge`, maybe behind a launcher such as Wine) with the
    /// arguments of [`Bridge::start`], `--log-level level` and `--config` naming a file that
    /// holds `config` (so no system-wide configuration applies), and waits until it listens.
    pub fn start_with(command: Command, level: &str, config: &str, extra: &[&str]) -> Bridge {
        Bridge::start_in(&std::env::temp_dir(), command, level, config, extra)
    }

    /// Like [`Bridge::start_with`], with the bridge's files (config, code, log) in a new
    /// directory under `parent`.
    pub fn start_in(
        parent: &std::path::Path,
        mut command: Command,
        level: &str,
        config: &str,
        extra: &[&str],
    ) -> Bridge {
        let dir = tempfile::Builder::new()
            .prefix("vsc-bridge-test-")
            .tempdir_in(parent)
            .unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        command
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--allow-origin", ORIGIN])
            .arg("--config-dir")
            .arg(dir.path().join("config"))
            .arg("--pairing-code-file")
            .arg(dir.path().join("code.txt"))
            .arg("--log-file")
            .arg(dir.path().join("bridge.log"))
            .args(["--log-level", level])
            .args(extra);
        let mut child = ChildGuard::spawn(command, &dir.path().join("stderr.log"));
        let deadline = Instant::now() + Duration::from_secs(120);
        while !child.log_text().contains("listening on") {
            if let Some(code) = child.wait_exit(Duration::from_millis(20)) {
                panic!("vsc-bridge exited with {code}:\n{}", child.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "vsc-bridge did not start:\n{}",
                child.log_text()
            );
        }
        Bridge { child, port, dir }
    }

    /// The `--config-dir`.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Everything the bridge logged: stderr and the log file.
    pub fn log(&self) -> String {
        let file = std::fs::read_to_string(self.dir.path().join("bridge.log")).unwrap_or_default();
        format!("{}\n{file}", self.child.log_text())
    }

    /// The last pairing code written to `--pairing-code-file`.
    pub fn code(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("code.txt"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// A WebSocket client from [`ORIGIN`].
    pub fn connect(&self) -> Client {
        self.connect_as(ORIGIN)
    }

    /// A WebSocket client from `origin`; panics if the handshake fails.
    pub fn connect_as(&self, origin: &str) -> Client {
        Client::connect(self.port, origin).unwrap_or_else(|e| panic!("handshake failed: {e}"))
    }

    /// Sends a raw upgrade request and returns the HTTP status code of the answer.
    pub fn handshake_status(&self, path: &str, host: Option<&str>, origin: Option<&str>) -> u16 {
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(host) = host {
            request.push_str(&format!("Host: {host}\r\n"));
        }
        if let Some(origin) = origin {
            request.push_str(&format!("Origin: {origin}\r\n"));
        }
        request.push_str("\r\n");
        self.http_status(&request).0
    }

    /// Sends a raw HTTP request; returns the status code and the whole answer.
    pub fn http_status(&self, request: &str) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
            // A 101 keeps the socket open: stop at the end of the head.
            if answer.starts_with(b"HTTP/1.1 101") && answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        (status, answer)
    }

    /// The host header value naming this bridge.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pairs `client` (hello, pair_begin, the code from the file, pair_finish); returns the token.
    pub fn pair(&self, client: &mut Client) -> String {
        let hello = client.ok("hello", json!({"protocol": 1}));
        assert_eq!(hello["paired"], false);
        client.ok("pair_begin", json!({}));
        let code = self.code();
        let reply = client.ok("pair_finish", json!({"code": code}));
        reply["token"].as_str().unwrap().to_owned()
    }

    /// Runs `vsc-bridge pairings <args>` against this bridge's config dir.
    pub fn pairings(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["pairings"];
        all.extend_from_slice(args);
        self.subcommand(Command::new(cargo_bin("vsc-bridge")), &all)
    }

    /// Runs `command` (`vsc-bridge` or a launcher of it) with `args`, this bridge's
    /// `--config-dir` and `--config`; whether it succeeded, and its stdout and stderr.
    pub fn subcommand(&self, mut command: Command, args: &[&str]) -> (bool, String) {
        let out = command
            .args(args)
            .arg("--config-dir")
            .arg(self.config_dir())
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

/// A blocking WebSocket client speaking the bridge protocol as raw JSON.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
    next_id: u32,
    events: VecDeque<Value>,
}

impl Client {
    /// Opens `ws://127.0.0.1:<port>/v1` with `Origin: origin`.
    pub fn connect(port: u16, origin: &str) -> Result<Client, Box<tungstenite::Error>> {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut request = format!("ws://127.0.0.1:{port}/v1")
            .into_client_request()
            .map_err(Box::new)?;
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        // A small read buffer, as the bridge has: tungstenite zero-fills up to this much
        // before every read, which would otherwise be charged to the bridge in the bench.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .max_message_size(Some(64 << 20));
        let (ws, _) = tungstenite::client::client_with_config(request, stream, Some(config))
            .map_err(|e| match e {
                tungstenite::HandshakeError::Failure(e) => Box::new(e),
                tungstenite::HandshakeError::Interrupted(_) => {
                    Box::new(tungstenite::Error::ConnectionClosed)
                }
            })?;
        Ok(Client {
            ws,
            next_id: 1,
            events: VecDeque::new(),
        })
    }

    /// Sends `{"id", "op", ...fields}` and returns the reply (events seen meanwhile are queued).
    pub fn request(&mut self, op: &str, fields: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = fields;
        request["id"] = json!(id);
        request["op"] = json!(op);
        self.send_text(&request.to_string());
        self.reply_to(Some(id))
    }

    /// Reads until the reply with `id` (`None`: a reply with `"id": null`).
    pub fn reply_to(&mut self, id: Option<u32>) -> Value {
        loop {
            let value = self.read_json();
            if value.get("event").is_some() {
                self.events.push_back(value);
                continue;
            }
            assert_eq!(
                value["id"],
                id.map_or(Value::Null, |id| json!(id)),
                "unexpected reply {value}"
            );
            return value;
        }
    }

    /// A request that must succeed; its reply.
    pub fn ok(&mut self, op: &str, fields: Value) -> Value {
        let reply = self.request(op, fields);
        assert_eq!(reply["ok"], true, "{op} failed: {reply}");
        reply
    }

    /// A request that must fail; its error code.
    pub fn err(&mut self, op: &str, fields: Value) -> String {
        let reply = self.request(op, fields);
        assert_eq!(reply["ok"], false, "{op} should have failed: {reply}");
        reply["error"]["code"].as_str().unwrap().to_owned()
    }

    /// `transmit` of hex APDUs on `session`; the reply.
    pub fn transmit(&mut self, session: &Value, apdus: &[&str]) -> Value {
        self.ok("transmit", json!({"session": session, "apdus": apdus}))
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).unwrap();
    }

    /// Reads the next text frame as JSON.
    pub fn read_json(&mut self) -> Value {
        loop {
            match self.ws.read().unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => panic!("the bridge closed the socket: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        self.ws.get_mut().set_read_timeout(Some(timeout)).unwrap();
        let result = self.ws.read();
        self.ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        match result {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                assert!(
                    value.get("event").is_some(),
                    "expected an event, got {value}"
                );
                Some(value)
            }
            Ok(other) => panic!("unexpected frame {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("socket error while waiting for an event: {e}"),
        }
    }

    /// Waits for an event named `name` (skipping others) within `timeout`.
    pub fn wait_event(
        &mut self,
        name: &str,
        timeout: Duration,
        mut accept: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {name} event within {timeout:?}");
            if let Some(event) = self.next_event(left) {
                if event["event"] == name && accept(&event) {
                    return event;
                }
            }
        }
    }

    /// Reads until the bridge closes the socket; the close frame it sent.
    pub fn wait_closed(&mut self) -> Option<CloseFrame> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(e) => panic!("the socket ended without a close frame: {e}"),
            }
        }
    }
}

/// Waits until `path`'s content satisfies `f`.
pub fn wait_file(path: &std::path::Path, what: &str, f: impl Fn(&str) -> bool) {
    wait_until(Duration::from_secs(10), what, || {
        std::fs::read_to_string(path).is_ok_and(|t| f(&t))
    });
}

/// APDUs that give the blank card a DF whose holder PIN is `pin` (ASCII), and verify it
/// (docs/card-os.md: CREATE FILE, CHANGE REFERENCE DATA P1=01 in creation state, VERIFY).
pub fn setup_pin_apdus(aid: &[u8], pin: &[u8]) -> Vec<String> {
    vec![
        create_df_apdu(aid),
        format!("00240181{:02X}{}", pin.len(), hex::encode_upper(pin)),
        verify_apdu(pin),
    ]
}

/// CREATE FILE (ISO 7816-9 §7.1) of DF DF01 named `aid` (file descriptor 38).
pub fn create_df_apdu(aid: &[u8]) -> String {
    let mut fcp = vec![
        0x82,
        0x01,
        0x38,
        0x83,
        0x02,
        0xDF,
        0x01,
        0x84,
        aid.len() as u8,
    ];
    fcp.extend_from_slice(aid);
    create_file_apdu(&fcp)
}

/// CREATE FILE (ISO 7816-9 §7.1) whose data is the FCP template (tag 62) holding `fcp`.
pub fn create_file_apdu(fcp: &[u8]) -> String {
    let mut apdu = vec![
        0x00,
        0xE0,
        0x00,
        0x00,
        (fcp.len() + 2) as u8,
        0x62,
        fcp.len() as u8,
    ];
    apdu.extend_from_slice(fcp);
    hex::encode_upper(apdu)
}

/// VERIFY (ISO 7816-4 §11.5.6) of the holder PIN, reference 81.
pub fn verify_apdu(pin: &[u8]) -> String {
    format!("00200081{:02X}{}", pin.len(), hex::encode_upper(pin))
}

/// SELECT by DF name (ISO 7816-4 §11.2.2, P1=04, no response data).
pub fn select_aid_apdu(aid: &[u8]) -> String {
    format!("00A4040C{:02X}{}", aid.len(), hex::encode_upper(aid))
}

/// VERIFY with no data: 9000 when the PIN is verified in this session, 63Cx otherwise.
pub const VERIFY_STATUS: &str = "00200081";

/// The status word (last 4 hex digits) of a hex response.
pub fn sw(response: &Value) -> String {
    let text = response.as_str().unwrap().to_ascii_uppercase();
    text[text.len() - 4..].to_owned()
}

/// Connects to `reader`, gives the card a PIN in the application `aid` and verifies it; the
/// session.
pub fn session_with_verified_pin(client: &mut Client, reader: &str, aid: &[u8]) -> Value {
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    let setup = setup_pin_apdus(aid, b"271828");
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    let reply = client.transmit(&session, &setup);
    for r in reply["responses"].as_array().unwrap() {
        assert_eq!(sw(r), "9000", "{reply}");
    }
    assert_eq!(
        sw(&client.transmit(&session, &[VERIFY_STATUS])["responses"][0]),
        "9000",
        "PIN verified"
    );
    session
}

/// Connects to `reader` once the client holding it has let go (up to 10 s); the session.
pub fn connect_when_free(client: &mut Client, reader: &str) -> Value {
    let mut session = None;
    wait_until(Duration::from_secs(10), "the reader is free again", || {
        let reply = client.request("connect", json!({"reader": reader}));
        if reply["ok"] == true {
            session = Some(reply["session"].clone());
            return true;
        }
        assert_eq!(reply["error"]["code"], "busy");
        false
    });
    session.unwrap()
}

/// Runs the personalization engine over the bridge as the page does: each batch is one
/// `transmit` with its expect patterns; a failed `transmit` (the card pulled, the reader gone)
/// is the engine's transport failure; a card that already holds the VSC gets a new PIN (the
/// clerk's answer is yes). The result and the number of `transmit` round trips.
pub fn personalize(
    client: &mut Client,
    session: &Value,
    mut engine: vsc_core::perso::Personalization,
) -> (
    Result<vsc_core::perso::Outcome, vsc_core::perso::PersoError>,
    usize,
) {
    use vsc_core::transport::TransportError;
    let mut round_trips = 0;
    loop {
        let Some(batch) = engine.next_batch() else {
            if engine.question().is_some() {
                engine.answer(true);
                continue;
            }
            break;
        };
        let apdus: Vec<String> = batch
            .items
            .iter()
            .map(|item| hex::encode_upper(item.command.to_bytes().expose()))
            .collect();
        let expect: Vec<String> = batch
            .items
            .iter()
            .map(|item| item.expect.to_string())
            .collect();
        let reply = client.request(
            "transmit",
            json!({"session": session, "apdus": apdus, "expect": expect}),
        );
        round_trips += 1;
        if reply["ok"] != true {
            let message = reply["error"]["message"].as_str().unwrap_or("").to_owned();
            engine.transport_failed(match reply["error"]["code"].as_str() {
                Some("card_removed") => TransportError::CardRemoved,
                _ => TransportError::Failed(format!("{}: {message}", reply["error"]["code"])),
            });
            continue;
        }
        let responses = reply["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                vsc_core::apdu::Response::parse(&hex::decode(r.as_str().unwrap()).unwrap()).unwrap()
            })
            .collect();
        engine.receive(responses);
    }
    (engine.finish(), round_trips)
}

/// Asserts that the card of `session` was reset since its PIN in `aid` was verified.
pub fn assert_pin_not_verified(client: &mut Client, session: &Value, aid: &[u8]) {
    let select = select_aid_apdu(aid);
    let reply = client.transmit(session, &[&select, VERIFY_STATUS]);
    assert_eq!(sw(&reply["responses"][0]), "9000", "{reply}");
    assert!(
        sw(&reply["responses"][1]).starts_with("63C"),
        "the PIN is no longer verified: {reply}"
    );
}

/// A process's resident memory (KiB, `VmRSS` of /proc/PID/status) and open descriptors
/// (entries of /proc/PID/fd).
pub fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
        .count();
    (rss, fds)
}
