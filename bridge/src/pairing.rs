//! One-time pairing codes (bridge protocol, "Pairing"): issued by `pair_begin`, one per
//! origin, 8 decimal digits from the OS CSPRNG, valid [`CODE_LIFETIME`]; checked by
//! `pair_finish`. Each origin gets at most [`MAX_ATTEMPTS_PER_MINUTE`] wrong codes and as many
//! `pair_begin`s a minute; the code is discarded when the wrong-code budget is spent.
//!
//! It keeps no tokens (see `pairing_store`) and does not show the code (the server does).

use crate::pairing_store::{random_bytes, StoreError};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use vsc_core::secret::SecretString;

/// How long a pairing code is valid.
pub const CODE_LIFETIME: Duration = Duration::from_secs(120);

/// Wrong codes (and separately `pair_begin`s) allowed per origin per [`WINDOW`].
pub const MAX_ATTEMPTS_PER_MINUTE: usize = 5;

/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Why a pairing step failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// Too many attempts from this origin in the last minute.
    #[error("too many pairing attempts from this page; wait a minute and start again")]
    RateLimited,
    /// No code is pending for this origin (never asked, already used, or discarded).
    #[error("no pairing code is pending for this page; ask for a new one (pair_begin)")]
    NoCode,
    /// The code expired.
    #[error("the pairing code expired; ask for a new one (pair_begin)")]
    Expired,
    /// The code is wrong.
    #[error("wrong pairing code; check the code the bridge shows and type it again")]
    WrongCode,
    /// No random bytes.
    #[error("{0}")]
    Random(String),
}

impl From<StoreError> for PairingError {
    fn from(e: StoreError) -> Self {
        PairingError::Random(e.to_string())
    }
}

struct Pending {
    code: SecretString,
    expires: Instant,
}

/// Pending codes and attempt counters of all origins.
pub struct Pairing {
    lifetime: Duration,
    pending: HashMap<String, Pending>,
    failures: HashMap<String, VecDeque<Instant>>,
    begins: HashMap<String, VecDeque<Instant>>,
}

fn recent(log: &mut VecDeque<Instant>, now: Instant) -> usize {
    while log
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        log.pop_front();
    }
    log.len()
}

/// Keeps digits only (the clerk may type spaces or dashes).
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

impl Default for Pairing {
    fn default() -> Self {
        Self::new(CODE_LIFETIME)
    }
}

impl Pairing {
    /// Codes valid for `lifetime` (normally [`CODE_LIFETIME`]).
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            pending: HashMap::new(),
            failures: HashMap::new(),
            begins: HashMap::new(),
        }
    }

    /// Issues a fresh code for `origin` (replacing any pending one).
    pub fn begin(&mut self, origin: &str, now: Instant) -> Result<SecretString, PairingError> {
        let begins = self.begins.entry(origin.to_owned()).or_default();
        if recent(begins, now) >= MAX_ATTEMPTS_PER_MINUTE {
            return Err(PairingError::RateLimited);
        }
        begins.push_back(now);
        let code = loop {
            let mut raw = [0u8; 4];
            random_bytes(&mut raw)?;
            let n = u32::from_be_bytes(raw);
            // Rejection sampling keeps the 8 digits uniform.
            if n < 4_200_000_000 {
                break SecretString::new(format!("{:08}", n % 100_000_000));
            }
        };
        self.pending.insert(
            origin.to_owned(),
            Pending {
                code: code.clone(),
                expires: now + self.lifetime,
            },
        );
        Ok(code)
    }

    /// Checks `code` for `origin`; on success the code is used up.
    pub fn finish(&mut self, origin: &str, code: &str, now: Instant) -> Result<(), PairingError> {
        let failures = self.failures.entry(origin.to_owned()).or_default();
        if recent(failures, now) >= MAX_ATTEMPTS_PER_MINUTE {
            return Err(PairingError::RateLimited);
        }
        let Some(pending) = self.pending.get(origin) else {
            failures.push_back(now);
            return Err(PairingError::NoCode);
        };
        if now >= pending.expires {
            self.pending.remove(origin);
            return Err(PairingError::Expired);
        }
        let typed = zeroize::Zeroizing::new(normalize(code));
        if bool::from(typed.as_bytes().ct_eq(pending.code.expose().as_bytes())) {
            self.pending.remove(origin);
            return Ok(());
        }
        failures.push_back(now);
        if failures.len() >= MAX_ATTEMPTS_PER_MINUTE {
            self.pending.remove(origin);
        }
        Err(PairingError::WrongCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: &str = "https://issuer.example";

    #[test]
    fn right_code_pairs_once() {
        let mut p = Pairing::default();
        let now = Instant::now();
        let code = p.begin(O, now).unwrap();
        assert_eq!(code.expose().len(), 8);
        assert!(code.expose().chars().all(|c| c.is_ascii_digit()));
        assert_eq!(
            p.finish("https://other.example", code.expose(), now),
            Err(PairingError::NoCode)
        );
        let typed = format!("{}-{} ", &code.expose()[..4], &code.expose()[4..]);
        assert_eq!(p.finish(O, &typed, now), Ok(()));
        assert_eq!(p.finish(O, code.expose(), now), Err(PairingError::NoCode));
    }

    #[test]
    fn five_wrong_codes_then_rate_limited() {
        let mut p = Pairing::default();
        let now = Instant::now();
        let code = p.begin(O, now).unwrap();
        let wrong = if code.expose() == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        for _ in 0..MAX_ATTEMPTS_PER_MINUTE {
            assert_eq!(p.finish(O, wrong, now), Err(PairingError::WrongCode));
        }
        assert_eq!(
            p.finish(O, code.expose(), now),
            Err(PairingError::RateLimited)
        );
        // A minute later the origin may try again, but the spent code is gone.
        let later = now + WINDOW;
        assert_eq!(p.finish(O, code.expose(), later), Err(PairingError::NoCode));
    }

    #[test]
    fn codes_expire() {
        let mut p = Pairing::default();
        let now = Instant::now();
        let code = p.begin(O, now).unwrap();
        assert_eq!(
            p.finish(O, code.expose(), now + CODE_LIFETIME),
            Err(PairingError::Expired)
        );
    }

    #[test]
    fn pair_begin_is_rate_limited() {
        let mut p = Pairing::default();
        let now = Instant::now();
        for _ in 0..MAX_ATTEMPTS_PER_MINUTE {
            p.begin(O, now).unwrap();
        }
        assert!(matches!(p.begin(O, now), Err(PairingError::RateLimited)));
        assert!(p.begin(O, now + WINDOW).is_ok());
    }
}
