//! A virtual card process in one of pcscd's vpcd readers: started, waited for, killed.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcsc::Context;
use tempfile::TempDir;

use crate::child::{print_log, wait_exit};
use crate::pcsc_stack::card_present;

/// vpcd listens for the card of slot N on 127.0.0.1:(35963 + N).
const VPCD_FIRST_PORT: u16 = 35963;
/// How long a card process may take to connect and be seen by pcscd (or to go away).
const CARD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one start of a card process may take to be seen by pcscd before it is restarted.
const INSERT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long pcscd may show a card whose process is gone before the harness connects to it.
const STALE_PRESENCE: Duration = Duration::from_secs(3);
/// Starts of a card process before giving up.
const INSERT_ATTEMPTS: u32 = 3;

/// Command-line options of a virtual card process ([`crate::PcscStack::softcard`] and
/// [`crate::PcscStack::opcard`] take the same flags, but for `serial`).
#[derive(Debug, Clone)]
pub struct CardOptions {
    /// `--state FILE`: the card's persistent state (a blank card is created if missing). Start
    /// a later card with the same file to put a pulled card back.
    pub state_file: Option<PathBuf>,
    /// `--tear-before K`: the card disappears before processing APDU K (counted from 0, every
    /// chained part and GET RESPONSE included; exit code 3).
    pub tear_before: Option<u64>,
    /// `--tear-after K`: the card disappears after processing (and saving) APDU K, without
    /// answering it (exit code 3).
    pub tear_after: Option<u64>,
    /// `--apdu-log FILE`: one line per command and response (the opcard peer logs `CLA INS P1
    /// P2 Lc SW`, never data).
    pub apdu_log: Option<PathBuf>,
    /// `--max-response N`: longer responses are split with `61xx` / GET RESPONSE.
    pub max_response: Option<usize>,
    /// `--serial HEX`, the opcard peer only: the serial number in its AID (default 00000000).
    /// A softcard has none and refuses to start with one.
    pub serial: Option<[u8; 4]>,
    /// Wait until pcscd shows the card present before returning (default true).
    pub wait_for_card: bool,
}

impl CardOptions {
    /// No options, and wait for the card to be present.
    pub fn new() -> CardOptions {
        CardOptions {
            state_file: None,
            tear_before: None,
            tear_after: None,
            apdu_log: None,
            max_response: None,
            serial: None,
            wait_for_card: true,
        }
    }

    /// The flags both card programs take.
    pub(crate) fn common_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(path) = &self.state_file {
            args.extend(["--state".into(), path.into()]);
        }
        if let Some(n) = self.max_response {
            args.extend(["--max-response".into(), n.to_string().into()]);
        }
        if let Some(k) = self.tear_before {
            args.extend(["--tear-before".into(), k.to_string().into()]);
        }
        if let Some(k) = self.tear_after {
            args.extend(["--tear-after".into(), k.to_string().into()]);
        }
        if let Some(path) = &self.apdu_log {
            args.extend(["--apdu-log".into(), path.into()]);
        }
        args
    }
}

impl Default for CardOptions {
    /// Same as [`CardOptions::new`]: waits for the card.
    fn default() -> CardOptions {
        CardOptions::new()
    }
}

/// A running virtual card process (softcard, or the opcard peer) in one of pcscd's vpcd
/// readers, killed on drop.
pub struct CardProcess {
    program: &'static str,
    child: Child,
    context: Context,
    reader: String,
    slot: u8,
    logs: Option<TempDir>,
}

impl CardProcess {
    /// Kills the card process (SIGKILL), then waits until pcscd sees no card in its reader.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.wait_card_gone();
    }

    /// Waits up to `timeout` for the card process to exit (a tear exits with 3); its exit code, or
    /// minus the signal number that killed it; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_exit(&mut self.child, timeout)
    }

    /// What the card process has written to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The reader this card sits in, as pcscd names it.
    pub fn reader_name(&self) -> &str {
        &self.reader
    }

    fn log_path(&self) -> PathBuf {
        self.logs
            .as_ref()
            .map(|dir| dir.path().join(format!("{}.log", self.program)))
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for pcscd to show the card; panics if the process exits first.
    fn card_appears(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !card_present(&self.context, &self.reader) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} for slot {} exited before its card appeared ({status}); its log:\n{}",
                    self.program,
                    self.slot,
                    self.log_text()
                );
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn wait_card_gone(&self) {
        wait_no_card(
            &self.context,
            &self.reader,
            || {
                note(
                    &self.log_path(),
                    "pcscd still shows the card after it exited: connecting to it",
                )
            },
            || {
                format!(
                    "pcscd still shows a card in {:?} {CARD_TIMEOUT:?} after its {} exited",
                    self.reader, self.program
                )
            },
        );
    }
}

impl Drop for CardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let path = self.log_path();
            print_log(
                &format!("{} (slot {})", self.program, self.slot),
                &path,
                &self.log_text(),
            );
            if let Some(dir) = self.logs.take() {
                let _ = dir.keep();
            }
        }
    }
}

/// Starts `program` (at `path`, with `args` and `--vpcd HOST:PORT`) in the vpcd reader of
/// `slot`, stderr to a log file, once pcscd shows that reader empty, and waits until pcscd sees
/// its card unless `wait_for_card` is false.
///
/// pcscd sometimes misses a card that connects while vpcd still deals with the previous one
/// (seen when a PC/SC handle to a torn card was dropped, which resets the reader, just before
/// the new card connected): the card is then never shown. A card not seen within
/// [`INSERT_TIMEOUT`] is pulled and inserted again, up to [`INSERT_ATTEMPTS`] times; it has
/// received no APDU, so nothing else changes.
pub(crate) fn spawn_card(
    program: &'static str,
    path: PathBuf,
    args: Vec<OsString>,
    context: Context,
    reader: String,
    slot: u8,
    wait_for_card: bool,
) -> CardProcess {
    let logs = tempfile::Builder::new()
        .prefix(&format!("vsc-{program}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory for logs: {e}"));
    let log = logs.path().join(format!("{program}.log"));
    let port = VPCD_FIRST_PORT + u16::from(slot);
    let mut command = Command::new(&path);
    command
        .args(&args)
        .arg("--vpcd")
        .arg(format!("127.0.0.1:{port}"));
    wait_reader_empty(&context, &reader, program, slot);
    let child = start(&mut command, &log, program);
    let mut process = CardProcess {
        program,
        child,
        context,
        reader,
        slot,
        logs: Some(logs),
    };
    if !wait_for_card {
        return process;
    }
    for attempt in 1..=INSERT_ATTEMPTS {
        if process.card_appears(INSERT_TIMEOUT) {
            return process;
        }
        if attempt == INSERT_ATTEMPTS {
            break;
        }
        let _ = process.child.kill();
        let _ = process.child.wait();
        note(
            &log,
            "pcscd did not show the card: pulled and inserted again",
        );
        wait_reader_empty(&process.context, &process.reader, program, slot);
        std::thread::sleep(Duration::from_secs(1));
        process.child = start(&mut command, &log, program);
    }
    panic!(
        "no card appeared in {:?} in {INSERT_ATTEMPTS} starts of {program} ({INSERT_TIMEOUT:?} \
         each); its log:\n{}",
        process.reader,
        process.log_text()
    );
}

/// Waits until pcscd shows no card in `reader`: a card that connects before pcscd noticed the
/// previous one leave is not seen.
fn wait_reader_empty(context: &Context, reader: &str, program: &str, slot: u8) {
    wait_no_card(
        context,
        reader,
        || {},
        || {
            format!(
                "{reader:?} still holds a card {CARD_TIMEOUT:?} later: stop the card process of \
                 the earlier step before starting {program} in slot {slot}"
            )
        },
    );
}

/// Waits until pcscd shows no card in `reader`. A card still shown after [`STALE_PRESENCE`] is
/// connected to once ([`nudge`], after `stale()`); after [`CARD_TIMEOUT`] it panics with
/// `too_long()`.
fn wait_no_card(
    context: &Context,
    reader: &str,
    stale: impl FnOnce(),
    too_long: impl Fn() -> String,
) {
    let started = Instant::now();
    let mut stale = Some(stale);
    while card_present(context, reader) {
        assert!(started.elapsed() < CARD_TIMEOUT, "{}", too_long());
        if started.elapsed() >= STALE_PRESENCE {
            if let Some(stale) = stale.take() {
                stale();
                nudge(context, reader);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects to the card pcscd shows in `reader` and disconnects with a reset.
///
/// Seen under load with two vpcd readers busy at once: pcscd kept showing a card whose process
/// had exited, for longer than [`CARD_TIMEOUT`], until something talked to the reader. A
/// connection makes vpcd power the card up over its socket, find the socket closed and report
/// the card gone; with a live card it is harmless (a reset before any APDU of the step).
fn nudge(context: &Context, reader: &str) {
    eprintln!(
        "vsc-tests: pcscd still shows a card in {reader:?} {STALE_PRESENCE:?} after its \
         process exited: connecting to it"
    );
    let Ok(name) = std::ffi::CString::new(reader) else {
        return;
    };
    if let Ok(card) = context.connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
        let _ = card.disconnect(pcsc::Disposition::ResetCard);
    }
}

/// Spawns `command` with stderr appended to `log`.
fn start(command: &mut Command, log: &Path, program: &str) -> Child {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

/// Appends a line of the harness's own to a card's log.
fn note(log: &Path, text: &str) {
    if let Ok(mut file) = OpenOptions::new().append(true).open(log) {
        let _ = writeln!(file, "(vsc-tests: {text})");
    }
}
