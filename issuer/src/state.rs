//! What every request handler shares: the database, the service's settings, the page.
//!
//! Nothing here changes between requests: sessions, leases and the audit head live in the
//! database, so any number of instances can serve the same issuer.

use std::sync::Arc;
use std::time::Duration;

use crate::db::Db;
use crate::page::Page;

/// How the service runs (from the command line).
#[derive(Debug, Clone)]
pub struct Config {
    /// The origin the page is served from (`https://cards.example`); state-changing requests
    /// must carry exactly this `Origin`.
    pub origin: String,
    /// Whether the origin is https (secure, `__Host-` cookie).
    pub secure: bool,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, whatever happens.
    pub absolute_timeout: Duration,
    /// Failed sign-ins in a row that lock an account.
    pub lockout_after: i64,
    /// How long an account stays locked.
    pub lockout_for: Duration,
    /// How long a claim's lease lasts (and each renewal).
    pub lease: Duration,
}

impl Config {
    /// The defaults for `origin`.
    pub fn new(origin: String) -> Config {
        let secure = origin.starts_with("https://");
        Config {
            origin,
            secure,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            lockout_after: 5,
            lockout_for: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(10 * 60),
        }
    }

    /// The session cookie's name: `__Host-` prefixed under https.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-vsc-session"
        } else {
            "vsc-session"
        }
    }
}

/// The shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// How the service runs.
    pub config: Arc<Config>,
    /// The page's files, compressed.
    pub page: Arc<Page>,
    /// Whether the database has answered with an initialized schema since start.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Sign-in attempts per client address.
    pub sign_in_limit: Arc<crate::ratelimit::RateLimit>,
}

/// Milliseconds in `d`.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
