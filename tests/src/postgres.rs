//! A throw-away PostgreSQL cluster for tests: created in a temporary directory (as the
//! `postgres` user when running as root, since PostgreSQL refuses to run as root), listening
//! on a Unix socket only, and stopped when the guard is dropped (also when a test panics).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::wait::free_port;

/// Debian 12's PostgreSQL binaries.
const BIN_DIRS: [&str; 2] = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"];

/// A running PostgreSQL cluster, stopped (and its directory removed) on drop.
pub struct PostgresCluster {
    dir: Option<TempDir>,
    bin: PathBuf,
    port: u16,
    running: bool,
}

impl PostgresCluster {
    /// Creates a cluster (`initdb`, trust authentication for local connections, fsync off:
    /// test data need not survive a power cut) and starts it. Panics with what to install if
    /// PostgreSQL is missing.
    pub fn start() -> PostgresCluster {
        let bin = BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|d| d.join("initdb").is_file())
            .unwrap_or_else(|| {
                panic!("no PostgreSQL server binaries in {BIN_DIRS:?}: install Debian's postgresql package (scripts/test does)")
            });
        let dir = tempfile::Builder::new()
            .prefix("vsc-postgres-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for PostgreSQL: {e}"));
        if is_root() {
            run_checked(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path()),
                "chown the cluster directory to postgres",
            );
        }
        let data = dir.path().join("data");
        let initdb = format!(
            "{} -D {} -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8",
            bin.join("initdb").display(),
            data.display()
        );
        run_checked(&mut as_postgres(&initdb), "initdb");
        let mut cluster = PostgresCluster {
            dir: Some(dir),
            bin,
            port: free_port(),
            running: false,
        };
        cluster.start_server();
        cluster
    }

    fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(TempDir::path)
            .expect("the cluster directory lives as long as the guard")
    }

    fn start_server(&mut self) {
        let options = format!(
            "-k {} -c listen_addresses='' -p {} -c fsync=off -c max_connections=200",
            self.dir().display(),
            self.port
        );
        let command = format!(
            "{} -D {} -l {} -w -t 60 -o \"{options}\" start",
            self.bin.join("pg_ctl").display(),
            self.dir().join("data").display(),
            self.dir().join("postgres.log").display()
        );
        let out = as_postgres(&command)
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        if !out.status.success() {
            panic!(
                "pg_ctl start failed ({}): {}{}\n----- postgres.log -----\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
        }
        self.running = true;
    }

    /// The URL of database `name` (`postgres` always exists).
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{name}?host={}",
            self.port,
            self.dir().display()
        )
    }

    /// Runs SQL with `psql` on database `db`; its output (tuples only, unaligned). Panics on
    /// an SQL error, with psql's message.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-h",
            ])
            .arg(self.dir())
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Stops the server (fast shutdown: clients are disconnected). [`PostgresCluster::restart`]
    /// starts it again on the same port and data.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let command = format!(
            "{} -D {} -m fast -w -t 60 stop",
            self.bin.join("pg_ctl").display(),
            self.dir().join("data").display()
        );
        let out = as_postgres(&command).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("pg_ctl stop failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("cannot run pg_ctl stop: {e}"),
        }
        self.running = false;
    }

    /// Starts a stopped server again.
    pub fn restart(&mut self) {
        if !self.running {
            self.start_server();
        }
    }

    /// The cluster's data directory (`PGDATA`): every file the server keeps, for a test that
    /// searches them; [`PostgresCluster::checkpoint`] first, so that recent writes are in
    /// them.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Writes every changed page to the data files (`CHECKPOINT`).
    pub fn checkpoint(&self) {
        self.psql("postgres", "CHECKPOINT");
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- PostgreSQL log -----\n{}\n----- end -----",
                self.log()
            );
        }
        self.stop();
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `sh -c COMMAND`, as the postgres user when running as root.
fn as_postgres(command: &str) -> Command {
    if is_root() {
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    }
}

fn run_checked(command: &mut Command, what: &str) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
