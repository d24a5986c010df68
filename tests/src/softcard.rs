//! A softcard process connected to one of pcscd's vpcd readers.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcsc::Context;
use tempfile::TempDir;

use crate::cargo_bin::cargo_bin;
use crate::child::{print_log, wait_exit};
use crate::pcsc_stack::card_present;

/// vpcd listens for the card of slot N on 127.0.0.1:(35963 + N).
const VPCD_FIRST_PORT: u16 = 35963;
/// How long a softcard may take to connect and be seen by pcscd (or to go away).
const CARD_TIMEOUT: Duration = Duration::from_secs(15);

/// Command-line options of a softcard started by [`crate::PcscStack::softcard`].
#[derive(Debug, Clone)]
pub struct SoftcardOptions {
    /// `--state FILE`: the card's persistent state (a blank card is created if missing).
    pub state_file: Option<PathBuf>,
    /// `--tear-before K`: the card disappears before processing APDU K (counted from 0; exit
    /// code 3).
    pub tear_before: Option<u64>,
    /// `--tear-after K`: the card disappears after processing APDU K (counted from 0), without
    /// answering it (exit code 3).
    pub tear_after: Option<u64>,
    /// `--apdu-log FILE`: every command and response, one line each.
    pub apdu_log: Option<PathBuf>,
    /// `--max-response N`: longer responses are split with `61xx` / GET RESPONSE.
    pub max_response: Option<usize>,
    /// Wait until pcscd shows the card present before returning (default true).
    pub wait_for_card: bool,
}

impl SoftcardOptions {
    /// No options, and wait for the card to be present.
    pub fn new() -> SoftcardOptions {
        SoftcardOptions {
            state_file: None,
            tear_before: None,
            tear_after: None,
            apdu_log: None,
            max_response: None,
            wait_for_card: true,
        }
    }
}

impl Default for SoftcardOptions {
    /// Same as [`SoftcardOptions::new`]: waits for the card.
    fn default() -> SoftcardOptions {
        SoftcardOptions::new()
    }
}

/// A running `softcard --vpcd` process, killed on drop.
pub struct SoftcardProcess {
    child: Child,
    context: Context,
    reader: String,
    slot: u8,
    logs: Option<TempDir>,
}

impl SoftcardProcess {
    /// Kills the softcard (SIGKILL), then waits until pcscd sees no card in its reader.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.wait_card_gone();
    }

    /// Waits up to `timeout` for the softcard to exit (a tear exits with 3); its exit code, or
    /// minus the signal number that killed it; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_exit(&mut self.child, timeout)
    }

    /// What the softcard has written to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The reader this softcard sits in, as pcscd names it.
    pub fn reader_name(&self) -> &str {
        &self.reader
    }

    fn log_path(&self) -> PathBuf {
        self.logs
            .as_ref()
            .map(|dir| dir.path().join("softcard.log"))
            .unwrap_or_default()
    }

    fn wait_card_present(&mut self) {
        let deadline = Instant::now() + CARD_TIMEOUT;
        while !card_present(&self.context, &self.reader) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "softcard for slot {} exited before its card appeared ({status}); its log:\n{}",
                    self.slot,
                    self.log_text()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "no card appeared in {:?} within {CARD_TIMEOUT:?} of starting softcard; its \
                     log:\n{}",
                    self.reader,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_card_gone(&self) {
        let deadline = Instant::now() + CARD_TIMEOUT;
        while card_present(&self.context, &self.reader) {
            assert!(
                Instant::now() < deadline,
                "pcscd still shows a card in {:?} {CARD_TIMEOUT:?} after its softcard exited",
                self.reader
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SoftcardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let path = self.log_path();
            print_log(
                &format!("softcard (slot {})", self.slot),
                &path,
                &self.log_text(),
            );
            if let Some(dir) = self.logs.take() {
                let _ = dir.keep();
            }
        }
    }
}

/// Starts a softcard in the vpcd reader of `slot` (see [`crate::PcscStack::softcard`]).
pub(crate) fn spawn_softcard(
    context: Context,
    reader: String,
    slot: u8,
    options: SoftcardOptions,
) -> SoftcardProcess {
    let logs = tempfile::Builder::new()
        .prefix("vsc-softcard-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory for logs: {e}"));
    let log = logs.path().join("softcard.log");
    let file = std::fs::File::create(&log)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let port = VPCD_FIRST_PORT + u16::from(slot);
    let mut command = Command::new(cargo_bin("softcard"));
    command.arg("--vpcd").arg(format!("127.0.0.1:{port}"));
    if let Some(path) = &options.state_file {
        command.arg("--state").arg(path);
    }
    if let Some(n) = options.max_response {
        command.arg("--max-response").arg(n.to_string());
    }
    if let Some(k) = options.tear_before {
        command.arg("--tear-before").arg(k.to_string());
    }
    if let Some(k) = options.tear_after {
        command.arg("--tear-after").arg(k.to_string());
    }
    if let Some(path) = &options.apdu_log {
        command.arg("--apdu-log").arg(path);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start softcard: {e}"));
    let mut process = SoftcardProcess {
        child,
        context,
        reader,
        slot,
        logs: Some(logs),
    };
    if options.wait_for_card {
        process.wait_card_present();
    }
    process
}
