//! The sign-in rate limit per client address: at most N attempts a minute from one address, on
//! this instance. It slows guessing across many accounts (the per-account lockout slows it
//! against one). It is the only state an instance keeps in memory; losing it (a restart) only
//! resets the count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses remembered; older windows are dropped first when it is reached.
const MAX_ADDRESSES: usize = 100_000;
const WINDOW: Duration = Duration::from_secs(60);

/// Counts attempts per address in one-minute windows.
#[derive(Debug)]
pub struct RateLimit {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimit {
    /// At most `per_minute` attempts a minute per address (0: no limit).
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `ip`; `Err(seconds to wait)` when over the limit.
    pub fn attempt(&self, ip: IpAddr) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > self.per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_per_address() {
        let limit = RateLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limit.attempt(a).is_ok());
        assert!(limit.attempt(a).is_ok());
        let wait = limit.attempt(a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limit.attempt(b).is_ok());
        assert!(RateLimit::new(0).attempt(a).is_ok());
    }
}
