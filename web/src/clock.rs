//! The page's clock: the time a VSC is built, for its UID (see `vsc_core::vsc::Vsc::build`).
//! `vsc-core` has no clock; in the browser this is `Date.now()`, in native tests the system's.
//!
//! What it does not do: give the date holder rules are checked against (the page passes its
//! local date), or measure durations.

/// Milliseconds since the Unix epoch, now.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> u64 {
    // `Date.now()` is a whole number of milliseconds, non-negative on any sane clock.
    js_sys::Date::now() as u64
}

/// Milliseconds since the Unix epoch, now.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}
