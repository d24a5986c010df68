//! The database: one connection pool over SQLite or PostgreSQL (sqlx's Any driver), the
//! schema migrations of each backend, and serialized write transactions.
//!
//! Every write that changes state goes through [`Db::write`]: on SQLite a `BEGIN IMMEDIATE`
//! transaction (one writer at a time, across processes), on PostgreSQL a transaction that first
//! locks the audit chain's head row. Writes are therefore serialized on both backends, which
//! keeps the audit chain linear and makes claiming a job trivially exclusive, across any
//! number of service instances.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Transaction};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (`sqlite://PATH`).
    Sqlite,
    /// A PostgreSQL server (`postgres://...`).
    Postgres,
}

impl Backend {
    /// The backend `conn` is connected to.
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

/// A database URL that is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// Neither `sqlite://` nor `postgres://`.
    #[error("--db {0:?} is not a database URL: use sqlite://PATH (a file, created by `vsc-issuer init`) or postgres://USER@HOST:PORT/DBNAME")]
    BadUrl(String),
    /// The SQLite file does not exist (only `init` creates it).
    #[error("no database file at {0}: create it with `vsc-issuer init --db sqlite://{0}`")]
    NoSqliteFile(String),
    /// The server cannot be reached, or refused.
    #[error("cannot reach the database at {url}: {source}; check that it runs and that the URL is right")]
    Unreachable {
        /// The URL without its password.
        url: String,
        /// What sqlx said.
        source: sqlx::Error,
    },
    /// The schema could not be created or brought up to date.
    #[error("cannot bring the schema of {url} up to date: {source}")]
    Migrate {
        /// The URL without its password.
        url: String,
        /// What sqlx said.
        source: sqlx::migrate::MigrateError,
    },
    /// The database has no schema yet.
    #[error("the database at {0} is not initialized: run `vsc-issuer init --db {0}` first")]
    NotInitialized(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A pool of connections to the service's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// One writer at a time in this process on SQLite, so that waiting writers queue here
    /// instead of polling SQLite's busy handler.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction and, on SQLite, this process's writer slot (released after it).
pub struct Write {
    /// The transaction.
    pub tx: Transaction<'static, Any>,
    /// Held until the transaction ends.
    pub slot: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The audit chain's head (`seq`, `hash`) when taking the lock read it already
    /// (PostgreSQL); `None` otherwise.
    pub head: Option<(i64, Vec<u8>)>,
    /// The transaction's time once the lock is held, milliseconds since the Unix epoch: the
    /// database server's clock on PostgreSQL (several instances then agree on it), this
    /// machine's on SQLite (embedded: the database is on this machine).
    pub now: i64,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../migrations/sqlite/0001_schema.sql"),
    ),
    (
        2,
        "claim token",
        include_str!("../migrations/sqlite/0002_claim_token.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "claim token",
        include_str!("../migrations/postgres/0002_claim_token.sql"),
    ),
];

impl Db {
    /// Parses `url` and prepares a pool; nothing is connected yet (see [`Db::check`]).
    /// With `create`, a missing SQLite file is created (only `init` does that).
    pub fn open(url: &str, create: bool, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let mut connect_url = url.to_owned();
        if backend == Backend::Sqlite {
            let path = sqlite_path(url);
            if !create && !std::path::Path::new(&path).exists() {
                return Err(DbError::NoSqliteFile(path));
            }
            let sep = if connect_url.contains('?') { '&' } else { '?' };
            connect_url.push(sep);
            connect_url.push_str(if create { "mode=rwc" } else { "mode=rw" });
        }
        let options: AnyConnectOptions = connect_url
            .parse()
            .map_err(|_| DbError::BadUrl(redact(url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // A 1 MiB page cache per connection (half the default): the service's
                        // memory stays flat as the tables grow; the OS caches the file anyway.
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; PRAGMA cache_size = -1024;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Db {
            pool,
            backend,
            url: redact(url),
            writer: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL, without a password, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates the schema or brings it up to date (idempotent; locked against concurrent
    /// instances on PostgreSQL). On SQLite it also switches the file to WAL mode.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|source| self.unreachable(source))?;
        if self.backend == Backend::Sqlite {
            conn.execute("PRAGMA journal_mode = WAL").await?;
        }
        let list = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrator = migrator(list);
        migrator
            .run(&mut *conn)
            .await
            .map_err(|source| DbError::Migrate {
                url: self.url.clone(),
                source,
            })
    }

    /// Checks that the database answers and holds an initialized schema.
    pub async fn check(&self) -> Result<(), DbError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|source| self.unreachable(source))?;
        let initialized: Result<(i64,), sqlx::Error> =
            sqlx::query_as("SELECT COUNT(*) FROM service_key")
                .fetch_one(&mut *conn)
                .await;
        match initialized {
            Ok((1,)) => Ok(()),
            Ok(_) => Err(DbError::NotInitialized(self.url.clone())),
            Err(sqlx::Error::Database(_)) => Err(DbError::NotInitialized(self.url.clone())),
            Err(source) => Err(self.unreachable(source)),
        }
    }

    fn unreachable(&self, source: sqlx::Error) -> DbError {
        DbError::Unreachable {
            url: self.url.clone(),
            source,
        }
    }

    /// Begins a serialized write transaction (see the module documentation).
    pub async fn write(&self) -> Result<Write, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let slot = std::sync::Arc::clone(&self.writer).lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Write {
                    tx,
                    slot: Some(slot),
                    head: None,
                    now: now_ms(),
                })
            }
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                let head: (i64, Vec<u8>) =
                    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                        .fetch_one(&mut *tx)
                        .await?;
                // Read after the lock is taken (a value in the statement above could be from
                // before its wait).
                let (now,): (i64,) = sqlx::query_as(
                    "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
                )
                .fetch_one(&mut *tx)
                .await?;
                Ok(Write {
                    tx,
                    slot: None,
                    head: Some(head),
                    now,
                })
            }
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The backend a URL names.
pub fn backend_of(url: &str) -> Result<Backend, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(DbError::BadUrl(redact(url)))
    }
}

/// The file path of a `sqlite://PATH[?...]` URL.
pub fn sqlite_path(url: &str) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// `url` with any password replaced by `***`: the user info's (`postgres://u:pw@h/d`, an `@`
/// in the password included) and a `password=` query parameter's. A URL that does not parse
/// but may hold a password is cut to its scheme.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return match url.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') || rest.contains("password") => {
                format!("{scheme}://*** (a URL that does not parse)")
            }
            _ => url.to_owned(),
        };
    };
    let secret_query = parsed
        .query_pairs()
        .any(|(key, _)| key.eq_ignore_ascii_case("password"));
    if parsed.password().is_none() && !secret_query {
        return url.to_owned();
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if secret_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string().replace("%2A%2A%2A", "***")
}

/// `count` bind parameters separated by commas, for a statement that has no other parameter
/// (an `IN (...)` list): `$1, $2, ...` on PostgreSQL; `?, ?, ...` on SQLite.
///
/// SQLite's driver looks every numbered parameter up by name, a linear search in SQLite, so a
/// statement's binding costs the square of its numbered parameters; anonymous ones cost
/// nothing to look up (a 250-job batch spent a sixth of its time there). Anonymous
/// parameters take the arguments in order, which is why nothing else may be bound.
pub fn param_list(backend: Backend, count: usize) -> String {
    param_rows(backend, count, 1)
}

/// `rows` parenthesized rows of `columns` bind parameters each, for a multi-row `VALUES` with
/// no other parameter (the numbering of [`param_list`]): `($1, $2), ($3, $4)` or
/// `(?, ?), (?, ?)`; without parentheses when `columns` is 1.
pub fn param_rows(backend: Backend, rows: usize, columns: usize) -> String {
    let anonymous = backend == Backend::Sqlite;
    let mut sql = String::with_capacity(rows * columns * 6);
    let mut param = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        if columns > 1 {
            sql.push('(');
        }
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            param += 1;
            if anonymous {
                sql.push('?');
            } else {
                sql.push('$');
                sql.push_str(&param.to_string());
            }
        }
        if columns > 1 {
            sql.push(')');
        }
    }
    sql
}

/// A migrator running the migrations of `list` (version, description, SQL).
fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations: Vec<Migration> = list
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Today's date in UTC (the service's "today" for holder dates).
pub fn today_utc() -> vsc_core::date::Date {
    utc_date_of(now_ms())
}

/// The UTC date of a time in milliseconds since the Unix epoch.
fn utc_date_of(ms: i64) -> vsc_core::date::Date {
    vsc_core::date::Date::from_days_since_epoch(ms.div_euclid(86_400_000))
        .unwrap_or_else(|| panic!("the system clock is outside years 1-9999"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_on_postgres_and_anonymous_on_sqlite() {
        assert_eq!(param_rows(Backend::Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(param_rows(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(param_list(Backend::Postgres, 3), "$1, $2, $3");
        assert_eq!(param_list(Backend::Sqlite, 3), "?, ?, ?");
    }

    #[test]
    fn urls_are_told_apart_and_passwords_redacted() {
        assert_eq!(backend_of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/d").unwrap(), Backend::Postgres);
        let err = backend_of("mysql://u:secret@h/d").unwrap_err().to_string();
        assert!(
            err.contains("sqlite://PATH") && !err.contains("secret"),
            "{err}"
        );
        assert_eq!(redact("postgres://u:pw@h:5/d"), "postgres://u:***@h:5/d");
        for (url, secret) in [
            ("postgres://u:p@ss@h/d", "ss@"),
            ("postgres://u@h/d?password=S3cret&sslmode=require", "S3cret"),
            ("postgres://u@h/d?sslmode=disable&PASSWORD=S3cret", "S3cret"),
            ("postgres://u:p%40ss@h/d", "p%40ss"),
            ("postgres://u:sec ret@h/d", "sec"),
        ] {
            let shown = redact(url);
            assert!(!shown.contains(secret), "{url} -> {shown}");
            assert!(shown.starts_with("postgres://"), "{shown}");
        }
        assert_eq!(
            redact("postgres://u@h/d?password=x&sslmode=require"),
            "postgres://u@h/d?password=***&sslmode=require"
        );
        assert_eq!(redact("sqlite://vsc-issuer.db"), "sqlite://vsc-issuer.db");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(sqlite_path("sqlite:///tmp/a.db?mode=rwc"), "/tmp/a.db");
        assert_eq!(sqlite_path("sqlite://vsc-issuer.db"), "vsc-issuer.db");
    }

    #[test]
    fn utc_dates_are_right() {
        assert_eq!(utc_date_of(0).to_string(), "1970-01-01");
        assert_eq!(utc_date_of(951_782_400_000).to_string(), "2000-02-29");
        assert_eq!(utc_date_of(1_796_083_199_999).to_string(), "2026-11-30");
        assert_eq!(utc_date_of(1_796_083_200_000).to_string(), "2026-12-01");
        assert!(today_utc().year() >= 2026);
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/old.db", dir.path().display());
        let db = Db::open(&url, true, 1).unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        migrator(&SQLITE_MIGRATIONS[..1])
            .run(&mut *conn)
            .await
            .unwrap();
        conn.execute("INSERT INTO branches (id, name, created_at) VALUES ('b1', 'Branch one', 0)")
            .await
            .unwrap();
        drop(conn);
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        let (versions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(versions, SQLITE_MIGRATIONS.len() as i64);
        let (tokens,): (i64,) = sqlx::query_as("SELECT COUNT(claim_token) FROM jobs")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(tokens, 0);
        let (branches,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM branches")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(branches, 1, "the data is kept");
        assert_eq!(SQLITE_MIGRATIONS.len(), POSTGRES_MIGRATIONS.len());
    }
}
