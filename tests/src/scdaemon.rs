//! One private-key operation on an OpenPGP card through GnuPG's scdaemon in server mode
//! (`scdaemon --server`), speaking the Assuan protocol on its stdin and stdout: `SERIALNO`,
//! `SETDATA`, then `PKSIGN` or `PKAUTH`, the PIN given to its `NEEDPIN` inquiry.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// How long scdaemon may take to answer one command.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The card key an operation uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CardKey {
    /// `PKSIGN --hash=sha256 OPENPGP.1`: PSO: COMPUTE DIGITAL SIGNATURE.
    Signature,
    /// `PKAUTH OPENPGP.3`: INTERNAL AUTHENTICATE.
    Authentication,
}

/// Runs scdaemon for the GnuPG home `home`, has the card use `key` on `data` and returns the
/// result. Panics with scdaemon's answer and log when it fails.
pub(crate) fn run(scdaemon: &Path, home: &Path, key: CardKey, pin: &str, data: &[u8]) -> Vec<u8> {
    let log = home.join("scdaemon-server.log");
    let log_file = std::fs::File::create(&log)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let mut child = Command::new(scdaemon)
        .arg("--homedir")
        .arg(home)
        .arg("--server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} --server: {e}", scdaemon.display()));
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut session = Session {
        child,
        stdin,
        lines,
        log: log.display().to_string(),
    };
    session.answer("(greeting)", None);
    session.command("SERIALNO openpgp", None);
    session.command(&format!("SETDATA {}", hex::encode_upper(data)), None);
    let operation = match key {
        CardKey::Signature => "PKSIGN --hash=sha256 OPENPGP.1",
        CardKey::Authentication => "PKAUTH OPENPGP.3",
    };
    let result = session.command(operation, Some(pin));
    session.command("BYE", None);
    result
}

/// A running `scdaemon --server`, killed on drop.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Vec<u8>>,
    log: String,
}

impl Session {
    /// Sends `command` and returns the data of its answer.
    fn command(&mut self, command: &str, pin: Option<&str>) -> Vec<u8> {
        self.send(format!("{command}\n").as_bytes());
        self.answer(command, pin)
    }

    /// Reads `D` lines up to `OK`; answers a `NEEDPIN` inquiry with `pin` (NUL-terminated,
    /// as scdaemon requires) and any other inquiry with `CAN`.
    fn answer(&mut self, command: &str, pin: Option<&str>) -> Vec<u8> {
        let mut data = Vec::new();
        loop {
            let line = match self.lines.recv_timeout(ANSWER_TIMEOUT) {
                Ok(line) => line,
                Err(_) => panic!(
                    "scdaemon did not answer {command:?} within {ANSWER_TIMEOUT:?}; its log: {}",
                    self.log_text()
                ),
            };
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            if line.starts_with(b"OK") {
                return data;
            } else if line.starts_with(b"ERR") {
                panic!(
                    "scdaemon answered {command:?} with {:?}; its log: {}",
                    String::from_utf8_lossy(line),
                    self.log_text()
                );
            } else if let Some(payload) = line.strip_prefix(b"D ") {
                data.extend(percent_decode(payload));
            } else if line.starts_with(b"INQUIRE NEEDPIN") {
                match pin {
                    Some(pin) => {
                        let mut reply = b"D ".to_vec();
                        reply.extend(percent_encode(pin.as_bytes()));
                        reply.extend_from_slice(b"%00\nEND\n");
                        self.send(&reply);
                    }
                    None => self.send(b"CAN\n"),
                }
            } else if line.starts_with(b"INQUIRE") {
                self.send(b"CAN\n");
            }
            // `S` status lines and `#` comments carry nothing the caller needs.
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self
            .stdin
            .write_all(bytes)
            .and_then(|()| self.stdin.flush())
        {
            panic!(
                "cannot write to scdaemon: {e}; its log: {}",
                self.log_text()
            );
        }
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("({})\n{text}", self.log)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Assuan data: `%XX` is the byte XX.
fn percent_decode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        if payload[i] == b'%' {
            if let Some(byte) = payload
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(payload[i]);
        i += 1;
    }
    out
}

/// Assuan data: `%`, CR, LF and other control bytes as `%XX`.
fn percent_encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &byte in bytes {
        if byte == b'%' || byte < 0x20 {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        } else {
            out.push(byte);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, percent_encode};

    #[test]
    fn assuan_data_escapes_round_trip() {
        let raw = b"a%b\r\nc\x00d";
        let encoded = percent_encode(raw);
        assert_eq!(encoded, b"a%25b%0D%0Ac%00d");
        assert_eq!(percent_decode(&encoded), raw);
        assert_eq!(percent_decode(b"100%"), b"100%", "a lone % stays");
    }
}
