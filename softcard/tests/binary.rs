//! The `softcard` binary against an in-process vpcd driver (a TCP listener speaking vpcd's
//! framing): control messages, APDUs, reconnection, `--state`, tearing and the APDU log.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use softcard::Card;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The driver side of one vpcd connection.
struct Driver {
    stream: TcpStream,
}

impl Driver {
    fn accept(listener: &TcpListener) -> Driver {
        let listener = listener.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(listener.accept().map(|(s, _)| s));
        });
        let stream = rx
            .recv_timeout(TIMEOUT)
            .expect("the softcard connects")
            .unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Driver { stream }
    }

    /// Like vpcd itself: the length and the payload in two writes, Nagle's algorithm on.
    /// The second write waits for the ACK of the first, so the card must ACK at once
    /// (TCP_QUICKACK) or every APDU costs a delayed-ACK timeout (about 40 ms).
    fn send(&mut self, payload: &[u8]) {
        self.stream
            .write_all(&(payload.len() as u16).to_be_bytes())
            .unwrap();
        self.stream.write_all(payload).unwrap();
    }

    /// Reads one framed message with ONE read call: the card must send it in one segment.
    fn receive_one_segment(&mut self) -> Vec<u8> {
        let mut buffer = [0u8; 70_000];
        let n = self.stream.read(&mut buffer).unwrap();
        assert!(n >= 2, "got {n} bytes");
        let len = usize::from(u16::from_be_bytes([buffer[0], buffer[1]]));
        assert_eq!(n, 2 + len, "the whole message arrives in one segment");
        buffer[2..n].to_vec()
    }

    fn control(&mut self, code: u8) {
        self.send(&[code]);
    }

    fn atr(&mut self) -> Vec<u8> {
        self.send(&[4]);
        self.receive_one_segment()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.send(apdu);
        self.receive_one_segment()
    }

    fn sw(&mut self, apdu: &[u8]) -> u16 {
        let response = self.transmit(apdu);
        u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
    }

    /// True when the card closed the connection.
    fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

/// A running `softcard` whose stderr is drained by a thread (a full pipe would block it).
struct Process {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
}

impl Process {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(address: &str, args: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_softcard"))
        .arg("--vpcd")
        .arg(address)
        .args(args)
        .env("SOFTCARD_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    Process { child, stderr }
}

fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

fn wait_exit(process: &mut Process) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(start.elapsed() < TIMEOUT, "the softcard did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stderr_of(mut process: Process) -> String {
    process.kill();
    process.stderr.join().unwrap()
}

fn personalize(driver: &mut Driver) {
    assert_eq!(
        driver.sw(&apdu(0xE0, 0, 0, &df_fcp(DF_FID, AID), None)),
        0x9000
    );
    assert_eq!(
        driver.sw(&apdu(0xE0, 0, 0, &ef_fcp(0x0101, 8, NEVER, ALWAYS), None)),
        0x9000
    );
    assert_eq!(driver.sw(&apdu(0xD6, 0, 0, b"persists", None)), 0x9000);
    assert_eq!(driver.sw(&apdu(0x24, 0x01, 0x81, PIN, None)), 0x9000);
}

#[test]
fn vpcd_session_control_messages_and_apdus() {
    let (listener, address) = listener();
    let child = spawn(&address, &[]);
    let mut driver = Driver::accept(&listener);
    driver.control(1); // power on: no answer
    let atr = driver.atr();
    assert_eq!(atr, Card::blank().atr());
    let (fcp, sw) = {
        let mut r = driver.transmit(&apdu(0xA4, 0x00, 0x04, &[0x3F, 0x00], Some(0)));
        let sw = r.split_off(r.len() - 2);
        (r, sw)
    };
    assert_eq!(sw, [0x90, 0x00]);
    assert_eq!(fcp[0], 0x62);
    personalize(&mut driver);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, PIN, None)), 0x9000);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, &[], None)), 0x9000);
    // Reset clears verification (and the current DF).
    driver.control(2);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, &[], None)), 0x6A88);
    assert_eq!(driver.sw(&apdu(0xA4, 0x04, 0x0C, AID, None)), 0x9000);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, &[], None)), 0x63C3);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, PIN, None)), 0x9000);
    // So does a power cycle; an unknown control message is ignored.
    driver.control(0);
    driver.control(9);
    driver.control(1);
    assert_eq!(driver.atr(), atr);
    assert_eq!(driver.sw(&apdu(0xA4, 0x04, 0x0C, AID, None)), 0x9000);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, &[], None)), 0x63C3);
    // Garbage is answered, not fatal.
    assert_eq!(driver.sw(&[0x00, 0xA4]), 0x6700);
    assert_eq!(driver.sw(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), 0x6E00);
    let stderr = stderr_of(child);
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("softcard: connected to {address}")),
        "{stderr}"
    );
    // Logs carry headers and status words, never data.
    assert!(
        !stderr.contains("31323334") && !stderr.contains("persists"),
        "{stderr}"
    );
}

#[test]
fn apdu_latency_is_well_below_nagle_delays() {
    let (listener, address) = listener();
    let child = spawn(&address, &[]);
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    let select = apdu(0xA4, 0x00, 0x0C, &[0x3F, 0x00], None);
    for _ in 0..50 {
        driver.transmit(&select);
    }
    let mut rounds = 0u32;
    let start = Instant::now();
    while rounds < 2000 && start.elapsed() < Duration::from_secs(2) {
        assert_eq!(driver.transmit(&select), [0x90, 0x00]);
        rounds += 1;
    }
    let per_apdu = start.elapsed() / rounds;
    eprintln!("softcard round trip over loopback: {per_apdu:?} per APDU");
    assert!(per_apdu < Duration::from_millis(5), "{per_apdu:?} per APDU");
    stderr_of(child);
}

#[test]
fn reconnects_when_the_driver_closes_and_keeps_the_card() {
    let (listener, address) = listener();
    let child = spawn(&address, &[]);
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    personalize(&mut driver);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, PIN, None)), 0x9000);
    drop(driver);
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    assert_eq!(driver.sw(&apdu(0xA4, 0x04, 0x0C, AID, None)), 0x9000);
    assert_eq!(
        driver.sw(&apdu(0x20, 0, 0x81, &[], None)),
        0x63C3,
        "power was lost"
    );
    assert_eq!(
        driver.sw(&apdu(0xA4, 0x00, 0x0C, &[0x01, 0x01], None)),
        0x9000
    );
    assert_eq!(
        driver.transmit(&apdu(0xB0, 0, 0, &[], Some(8))),
        b"persists\x90\x00"
    );
    let stderr = stderr_of(child);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| *l == format!("softcard: connected to {address}"))
            .count(),
        2,
        "{stderr}"
    );
}

#[test]
fn retries_until_the_driver_listens() {
    let (listener, address) = listener();
    drop(listener);
    let child = spawn(&address, &[]);
    std::thread::sleep(Duration::from_millis(400));
    let listener = TcpListener::bind(&address).unwrap();
    let mut driver = Driver::accept(&listener);
    assert_eq!(driver.atr(), Card::blank().atr());
    stderr_of(child);
}

fn load(path: &Path) -> Card {
    Card::from_state(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn state_survives_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let state_arg = state.to_str().unwrap();
    let (listener, address) = listener();
    let mut process = spawn(&address, &["--state", state_arg]);
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    personalize(&mut driver);
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, b"0000", None)), 0x63C2);
    process.kill(); // SIGKILL
    drop(driver);
    assert_eq!(load(&state).tries_left(AID, 0x81), Some(2));

    let child = spawn(&address, &["--state", state_arg]);
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    assert_eq!(
        driver.sw(&apdu(0xA4, 0x08, 0x0C, &[0x10, 0x00, 0x01, 0x01], None)),
        0x9000
    );
    assert_eq!(
        driver.transmit(&apdu(0xB0, 0, 0, &[], Some(8))),
        b"persists\x90\x00"
    );
    assert_eq!(driver.sw(&apdu(0x20, 0, 0x81, &[], None)), 0x63C2);
    stderr_of(child);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary state file is left");
}

#[test]
fn tear_after_executes_persists_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let log = dir.path().join("apdu.log");
    let (listener, address) = listener();
    let mut process = spawn(
        &address,
        &[
            "--state",
            state.to_str().unwrap(),
            "--tear-after",
            "2",
            "--apdu-log",
            log.to_str().unwrap(),
        ],
    );
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    assert_eq!(
        driver.sw(&apdu(0xE0, 0, 0, &df_fcp(DF_FID, AID), None)),
        0x9000
    );
    assert_eq!(
        driver.sw(&apdu(0xE0, 0, 0, &ef_fcp(0x0101, 8, NEVER, ALWAYS), None)),
        0x9000
    );
    driver.send(&apdu(0xD6, 0, 0, b"torn-aft", None));
    assert!(driver.is_closed(), "no response, connection closed");
    assert_eq!(wait_exit(&mut process), 3);
    assert_eq!(
        load(&state).file_content(AID, 0x0101),
        Some(b"torn-aft".to_vec())
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "00 E0 00 00 14 9000",
            "00 E0 00 00 15 9000",
            "00 D6 00 00 08 torn-after"
        ]
    );
}

#[test]
fn tear_before_does_not_execute_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let log = dir.path().join("apdu.log");
    let (listener, address) = listener();
    let mut process = spawn(
        &address,
        &[
            "--state",
            state.to_str().unwrap(),
            "--tear-before",
            "1",
            "--apdu-log",
            log.to_str().unwrap(),
        ],
    );
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    assert_eq!(driver.atr(), Card::blank().atr());
    assert_eq!(
        driver.sw(&apdu(0xE0, 0, 0, &df_fcp(DF_FID, AID), None)),
        0x9000
    );
    driver.send(&apdu(0x24, 0x01, 0x81, PIN, None));
    assert!(driver.is_closed());
    assert_eq!(wait_exit(&mut process), 3);
    let card = load(&state);
    assert_eq!(card.life_cycle(AID, None), Some(0x01));
    assert_eq!(card.tries_left(AID, 0x81), None, "APDU 1 was not executed");
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["00 E0 00 00 14 9000", "00 24 01 81 04 torn-before"]
    );
    assert!(!log.contains("31323334"));
}

#[test]
fn max_response_flag_chains_with_get_response() {
    let (listener, address) = listener();
    let child = spawn(&address, &["--max-response", "8"]);
    let mut driver = Driver::accept(&listener);
    driver.control(1);
    let first = driver.transmit(&apdu(0xA4, 0x00, 0x04, &[0x3F, 0x00], Some(0)));
    assert_eq!(first.len(), 10);
    assert_eq!(&first[8..], [0x61, 0x04]);
    let rest = driver.transmit(&apdu(0xC0, 0, 0, &[], Some(0)));
    assert_eq!(rest.len(), 6);
    assert_eq!(&rest[4..], [0x90, 0x00]);
    stderr_of(child);
}

#[test]
fn a_bad_state_file_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    std::fs::write(&state, b"not a card").unwrap();
    let (_listener, address) = listener();
    let mut process = spawn(&address, &["--state", state.to_str().unwrap()]);
    assert_eq!(wait_exit(&mut process), 1);
    let stderr = stderr_of(process);
    assert!(stderr.contains("cannot be loaded"), "{stderr}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"not a card",
        "left untouched"
    );
}
