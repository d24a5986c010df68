//! Shared by the issuer's integration tests: databases on both backends, and what
//! `vsc_tests::issuer` gives every test crate (the `vsc-issuer` binary as a child process, an
//! HTTP client that keeps the session cookie, the usual cast of users).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use vsc_tests::PostgresCluster;

/// Where each test's databases live.
pub enum Backend<'a> {
    /// SQLite files in a temporary directory.
    Sqlite(&'a Path),
    /// Databases of one PostgreSQL cluster.
    Postgres(&'a PostgresCluster),
}

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

impl Backend<'_> {
    /// A fresh, empty database's URL.
    pub fn fresh(&self, name: &str) -> String {
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        match self {
            Backend::Sqlite(dir) => format!("sqlite://{}/{name}-{n}.db", dir.display()),
            Backend::Postgres(pg) => pg.create_database(&format!("{name}_{n}")),
        }
    }

    /// Runs SQL directly on the database (for tamper tests).
    pub fn sql(&self, url: &str, sql: &str) -> String {
        match self {
            Backend::Sqlite(_) => sqlx_sql(url, sql),
            Backend::Postgres(pg) => {
                let db = url.split('?').next().unwrap().rsplit('/').next().unwrap();
                pg.psql(db, sql)
            }
        }
    }

    /// Runs `sql` (one statement) in a write transaction that takes the service's write lock
    /// (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's lock on the audit head) and holds it for
    /// `hold` before committing; `meanwhile` runs once the statement has run, while the
    /// service's writers wait. Returns what `meanwhile` returns.
    pub fn while_writes_wait<T>(
        &self,
        url: &str,
        sql: &str,
        hold: std::time::Duration,
        meanwhile: impl FnOnce() -> T,
    ) -> T {
        let postgres = matches!(self, Backend::Postgres(_));
        let (url, sql) = (url.to_owned(), sql.to_owned());
        let (locked, wait) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            block_on(async {
                use sqlx::Connection;
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
                let begin: &[&str] = if postgres {
                    &[
                        "BEGIN",
                        "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE",
                    ]
                } else {
                    &["BEGIN IMMEDIATE"]
                };
                for statement in begin.iter().copied().chain([sql.as_str()]) {
                    sqlx::query(statement).execute(&mut conn).await.unwrap();
                }
                locked.send(()).unwrap();
                tokio::time::sleep(hold).await;
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            });
        });
        wait.recv().expect("the write lock was taken");
        let out = meanwhile();
        holder.join().unwrap();
        out
    }

    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// Runs `work` to its end on a runtime of its own (the tests are synchronous).
fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// Runs statements (`;`-separated, no result) on a SQLite file through sqlx.
fn sqlx_sql(url: &str, sql: &str) -> String {
    block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        pool.close().await;
    });
    String::new()
}

pub use vsc_tests::issuer::{init, run, Client, Issuer, Ran, Server, PW};

/// Starting the usual cast on a fresh database of a [`Backend`].
pub trait StartOn {
    /// Sets up a fresh database named after `name` and starts a server on it.
    fn start(backend: &Backend, name: &str) -> Issuer;
    /// The same, with extra `serve` arguments.
    fn start_with(backend: &Backend, name: &str, extra: &[&str]) -> Issuer;
}

impl StartOn for Issuer {
    fn start(backend: &Backend, name: &str) -> Issuer {
        Issuer::start_with(backend, name, &[])
    }

    fn start_with(backend: &Backend, name: &str, extra: &[&str]) -> Issuer {
        Issuer::start_on(&backend.fresh(name), extra)
    }
}

/// Random bytes.
pub fn getrandom(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A sealed VSC (a real one, built by vsc-core) from record `record`'s values as the service
/// gives them to `clerk`, as the page and `vsc build --server` build it; its UID.
pub fn sealed_vsc(clerk: &vsc_tests::issuer::Client, record: i64) -> (String, Vec<u8>) {
    let (status, body) = clerk.get(&format!("/api/records/{record}"));
    assert_eq!(status, 200, "{body}");
    let values: BTreeMap<String, String> =
        serde_json::from_value(body["record"]["values"].clone()).unwrap();
    let profile = vsc_core::profile::Profile::builtin("iso7816-generic").unwrap();
    let holder =
        vsc_core::holder::validate_record(&profile, &values, vsc_issuer::db::today_utc()).unwrap();
    // Built a millisecond apart per record: jobs stored within one millisecond list by their
    // id (the time-ordered UID) after their time, so they still list in record order.
    let built_at_ms = vsc_tests::test_built_at_ms() + record.unsigned_abs();
    let sealed =
        vsc_core::vsc::Vsc::build_sealed(&profile, &holder, built_at_ms, &mut rand_core::OsRng)
            .unwrap();
    (sealed.uid.to_string(), sealed.bytes)
}

/// The JSON of one job upload of a VSC built from `record` (read as `clerk`) with one
/// (random) envelope for `station`, in hex as the API takes envelopes.
pub fn job_json(
    clerk: &vsc_tests::issuer::Client,
    record: i64,
    branch: &str,
    station: &str,
) -> (String, Value) {
    let (uid, bytes) = sealed_vsc(clerk, record);
    let mut enc = [0u8; 32];
    getrandom(&mut enc);
    let mut ct = [0u8; 48];
    getrandom(&mut ct);
    (
        uid,
        json!({ "record": record, "branch": branch, "vsc": b64(&bytes),
                "envelopes": [{ "station": station, "enc": hex::encode(enc), "ciphertext": hex::encode(ct) }] }),
    )
}
