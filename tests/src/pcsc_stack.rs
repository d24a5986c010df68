//! Exclusive use of the machine's PC/SC stack: a cross-process lock and a pcscd.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State};
use rustix::fs::{flock, FlockOperation};
use tempfile::TempDir;

use crate::child::{print_log, terminate};
use crate::opcard::{spawn_opcard, OpcardOptions, OpcardProcess};
use crate::softcard::{spawn_softcard, SoftcardOptions, SoftcardProcess};

/// The lock file every test process takes before touching pcscd or the vpcd readers.
const LOCK_PATH: &str = "/tmp/vsc-pcsc-stack.lock";
/// pcscd's socket directory (pcsc-lite 1.9 on Debian 12).
const RUN_DIR: &str = "/run/pcscd";
/// How long pcscd may take to start and list the vpcd readers.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// vpcd's TCP ports (slots 0 and 1), as Debian's /etc/reader.conf.d/vpcd configures them.
const VPCD_PORTS: [u16; 2] = [35963, 35964];
/// Longer than Linux's TIME_WAIT (60 s): how long a port vpcd needs may stay taken after the
/// previous pcscd closed it.
const PORT_TIMEOUT: Duration = Duration::from_secs(70);

/// Exclusive use of the machine's PC/SC stack for the lifetime of the value: takes a
/// cross-process file lock (/tmp/vsc-pcsc-stack.lock), starts `pcscd -f` if no pcscd answers
/// (and stops it on drop if it started it).
///
/// Hold one for a test's whole duration, and never two at once in one thread: the second
/// would wait for the first forever.
pub struct PcscStack {
    pcscd: Option<Child>,
    logs: Option<TempDir>,
    context: Context,
    // Declared last: released after pcscd is stopped (see `Drop`).
    lock: File,
}

impl PcscStack {
    /// Takes the lock (waiting for other tests to finish) and makes sure a pcscd with both vpcd
    /// readers answers. Panics with what to do when pcscd or vpcd is missing.
    pub fn start() -> PcscStack {
        let lock = take_lock();
        let logs = tempfile::Builder::new()
            .prefix("vsc-pcsc-stack-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for logs: {e}"));
        let (pcscd, context) = match Context::establish(Scope::User) {
            Ok(context) => (None, context),
            Err(_) => {
                let log = logs.path().join("pcscd.log");
                wait_for_vpcd_ports();
                let mut child = start_pcscd(&log);
                let context = wait_for_context(&mut child, &log);
                (Some(child), context)
            }
        };
        let mut stack = PcscStack {
            pcscd,
            logs: Some(logs),
            context,
            lock,
        };
        stack.wait_for_readers();
        stack
    }

    /// Spawns `softcard --vpcd 127.0.0.1:<35963+slot>` with the options and waits until the
    /// reader shows a card present (unless `options.wait_for_card` is false). Killed on drop.
    pub fn softcard(&self, slot: u8, options: SoftcardOptions) -> SoftcardProcess {
        spawn_softcard(self.context.clone(), self.reader_name(slot), slot, options)
    }

    /// Spawns the opcard peer (`opcard-vpcd --vpcd 127.0.0.1:<35963+slot>`, built on first use)
    /// with the options and waits until the reader shows a card present (unless
    /// `options.wait_for_card` is false). Killed on drop.
    pub fn opcard(&self, slot: u8, options: OpcardOptions) -> OpcardProcess {
        spawn_opcard(self.context.clone(), self.reader_name(slot), slot, options)
    }

    /// "Virtual PCD 00 00" / "Virtual PCD 00 01": the exact name as pcscd lists it.
    pub fn reader_name(&self, slot: u8) -> String {
        let wanted = format!("Virtual PCD 00 {slot:02}");
        let readers = self.readers();
        readers
            .iter()
            .find(|name| name.starts_with(&wanted))
            .cloned()
            .unwrap_or_else(|| {
                panic!("pcscd lists no reader named {wanted:?} (readers: {readers:?}); vpcd has 2 slots, 0 and 1")
            })
    }

    /// Whether pcscd currently reports a card in the reader of `slot`.
    pub fn card_present(&self, slot: u8) -> bool {
        card_present(&self.context, &self.reader_name(slot))
    }

    fn readers(&self) -> Vec<String> {
        list_readers(&self.context)
            .unwrap_or_else(|e| panic!("pcscd stopped answering ({e}){}", self.pcscd_log_hint()))
    }

    fn wait_for_readers(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match list_readers(&self.context) {
                Ok(readers)
                    if readers
                        .iter()
                        .filter(|r| r.starts_with("Virtual PCD 00 0"))
                        .count()
                        >= 2 =>
                {
                    return
                }
                Ok(readers) if Instant::now() >= deadline => panic!(
                    "pcscd answers but lists no vpcd readers (readers: {readers:?}): install \
                     vsmartcard-vpcd (scripts/test does) and restart pcscd{}",
                    self.pcscd_log_hint()
                ),
                Err(e) if Instant::now() >= deadline => panic!(
                    "pcscd does not answer after {START_TIMEOUT:?} ({e}){}",
                    self.pcscd_log_hint()
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
            if let Some(child) = self.pcscd.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("pcscd exited ({status}){}", self.pcscd_log_hint());
                }
            }
        }
    }

    fn pcscd_log_hint(&self) -> String {
        match (&self.pcscd, &self.logs) {
            (Some(_), Some(logs)) => {
                let path = logs.path().join("pcscd.log");
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                format!("; pcscd's log ({}):\n{text}", path.display())
            }
            _ => "; this pcscd was started outside the tests (its log is wherever it logs)".into(),
        }
    }
}

impl Drop for PcscStack {
    fn drop(&mut self) {
        if let Some(mut child) = self.pcscd.take() {
            stop_pcscd(&mut child);
            if let Some(logs) = self.logs.take() {
                let path = logs.path().join("pcscd.log");
                if std::thread::panicking() {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    print_log("pcscd -f", &path, &text);
                    let _ = logs.keep();
                }
            }
        }
        let _ = flock(&self.lock, FlockOperation::Unlock);
    }
}

/// Waits until the pcscd just started accepts a context.
fn wait_for_context(child: &mut Child, log: &Path) -> Context {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let error = match Context::establish(Scope::User) {
            Ok(context) => return context,
            Err(e) => e,
        };
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the pcscd started by the tests does not answer ({error}; exit status: \
                 {exited:?}); its log ({}):\n{text}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn take_lock() -> File {
    // Another user's lock file is not writable but can still be locked through a read-only fd.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_PATH)
        .or_else(|_| File::open(LOCK_PATH))
        .unwrap_or_else(|e| panic!("cannot open the PC/SC stack lock {LOCK_PATH}: {e}"));
    flock(&file, FlockOperation::LockExclusive)
        .unwrap_or_else(|e| panic!("cannot lock {LOCK_PATH}: {e}"));
    file
}

/// Waits until no TCP socket holds vpcd's ports. A pcscd stopped while a card was still
/// connected closed those connections itself, which leaves them in TIME_WAIT for a minute;
/// vpcd then cannot listen ("Address already in use") and its readers never see a card.
fn wait_for_vpcd_ports() {
    let deadline = Instant::now() + PORT_TIMEOUT;
    loop {
        let taken = vpcd_ports_taken();
        if taken.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "vpcd's ports stay taken after {PORT_TIMEOUT:?} ({taken:?}): find the process \
                 holding them (ss -tanp | grep 3596) and stop it"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// vpcd's ports that some socket has as its local port, with the socket's state (the hex code
/// of /proc/net/tcp: 06 is TIME_WAIT, 0A LISTEN).
fn vpcd_ports_taken() -> Vec<(u16, String)> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let mut fields = line.split_whitespace();
                    let local = fields.nth(1)?;
                    let state = fields.nth(1)?;
                    let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
                    VPCD_PORTS.contains(&port).then(|| (port, state.to_owned()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Starts `pcscd -f` after clearing files a killed pcscd left behind.
fn start_pcscd(log: &Path) -> Child {
    std::fs::create_dir_all(RUN_DIR).unwrap_or_else(|e| {
        panic!("cannot create {RUN_DIR} for pcscd's socket: {e} (run the tests as root)")
    });
    clear_stale_pcscd_files();
    let file = File::create(log)
        .unwrap_or_else(|e| panic!("cannot create pcscd's log {}: {e}", log.display()));
    let stdout = file
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot duplicate pcscd's log file: {e}"));
    Command::new("pcscd")
        .arg("-f")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "pcscd not found: run scripts/test, which installs it (apt-get install pcscd \
                 vsmartcard-vpcd opensc pcsc-tools)"
            ),
            _ => panic!("cannot start pcscd -f: {e}"),
        })
}

/// pcscd refuses to start while its socket exists without a live owner; no pcscd answered, so
/// remove the socket and pid file unless the recorded pid is still alive.
fn clear_stale_pcscd_files() {
    let pid_file = Path::new(RUN_DIR).join("pcscd.pid");
    let alive = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists());
    if let Some(pid) = alive {
        panic!(
            "a pcscd (pid {pid}, see {}) is running but does not answer; stop it (kill {pid}) \
             and run the tests again",
            pid_file.display()
        );
    }
    let _ = std::fs::remove_file(Path::new(RUN_DIR).join("pcscd.comm"));
    let _ = std::fs::remove_file(pid_file);
}

/// SIGTERM (pcscd then removes its socket and pid file), SIGKILL after 5 s.
fn stop_pcscd(child: &mut Child) {
    if terminate(child, Duration::from_secs(5)).is_some() {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub(crate) fn list_readers(context: &Context) -> Result<Vec<String>, pcsc::Error> {
    match context.list_readers_owned() {
        Ok(readers) => Ok(readers
            .into_iter()
            .map(|name| name.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether pcscd reports a card in `reader` right now.
pub(crate) fn card_present(context: &Context, reader: &str) -> bool {
    let name = CString::new(reader).expect("reader names have no NUL byte");
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    match context.get_status_change(Duration::ZERO, &mut states) {
        Ok(()) => states[0].event_state().contains(State::PRESENT),
        Err(pcsc::Error::Timeout) => false,
        Err(e) => panic!("pcscd cannot report the state of {reader:?}: {e}"),
    }
}
