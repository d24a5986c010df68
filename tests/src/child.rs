//! A child process that is killed when its guard is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop (for vsc-bridge and others), with its stderr (and stdout)
/// captured to a file. The log is printed when the guard is dropped during a panic.
pub struct ChildGuard {
    child: Child,
    log: PathBuf,
    what: String,
}

impl ChildGuard {
    /// Spawns `cmd` with stdout and stderr appended to `log`. Panics if it cannot start.
    pub fn spawn(mut cmd: Command, log: &Path) -> ChildGuard {
        let what = format!("{cmd:?}");
        let file = File::create(log)
            .unwrap_or_else(|e| panic!("cannot create log file {}: {e}", log.display()));
        let stdout = file
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot duplicate log file {}: {e}", log.display()));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(file));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        ChildGuard {
            child,
            log: log.to_path_buf(),
            what,
        }
    }

    /// Everything the child has written to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the child to exit; its exit code, or minus the signal number
    /// that killed it; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_exit(&mut self.child, timeout)
    }

    /// Asks the child to stop (SIGTERM) and waits up to `grace` for it to exit; its exit code as
    /// [`ChildGuard::wait_exit`] gives it, `None` if it is still running (or its pid cannot be
    /// signalled).
    pub fn terminate(&mut self, grace: Duration) -> Option<i32> {
        terminate(&mut self.child, grace)
    }

    /// Kills the child (SIGKILL) and reaps it; harmless if it already exited.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            print_log(&self.what, &self.log, &self.log_text());
        }
    }
}

/// Sends SIGTERM to `child` and waits up to `grace` for it to exit (see [`wait_exit`]).
pub(crate) fn terminate(child: &mut Child, grace: Duration) -> Option<i32> {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)?;
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    wait_exit(child, grace)
}

/// Polls `child` until it exits or `timeout` passes.
pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Some(
                    status
                        .code()
                        .unwrap_or_else(|| -status.signal().unwrap_or(0)),
                )
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => return None,
            Err(e) => panic!("cannot wait for child {}: {e}", child.id()),
        }
    }
}

/// Prints a child's log to stderr, framed so it stands out in a failing test's output.
pub(crate) fn print_log(what: &str, path: &Path, text: &str) {
    eprintln!(
        "----- log of {what} ({}) -----\n{text}\n----- end of log -----",
        path.display()
    );
}
