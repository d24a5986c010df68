//! The CLI's clock (`vsc-core` has none): the day holder dates are checked against (an expiry
//! date must lie after it, a date of birth before it, an empty issue date becomes it), and the
//! time each VSC is built at (its UID's time, see `vsc_core::vsc::Vsc::build`).
//!
//! The day is the local date, unless `SOURCE_DATE_EPOCH` is set (the reproducible-builds
//! convention: seconds since 1970-01-01 UTC), whose UTC date is then used: a batch can be
//! rebuilt as of a given day, and tests do not depend on when they run. The build time is
//! always the system's: UIDs are random past their time anyway, and one fixed time for a whole
//! batch would lose their order.

use chrono::Datelike;
use vsc_core::date::Date;

use crate::error::CliError;

/// The environment variable that fixes the day.
const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Today: the local date, or the UTC date of `SOURCE_DATE_EPOCH` when it is set.
pub fn today() -> Result<Date, CliError> {
    let day = match std::env::var(SOURCE_DATE_EPOCH) {
        Ok(text) => {
            let seconds: i64 = text.trim().parse().map_err(|_| {
                CliError::Input(format!(
                    "{SOURCE_DATE_EPOCH}={text:?} is not a number of seconds since 1970-01-01; \
                     unset it to use today's date"
                ))
            })?;
            chrono::DateTime::from_timestamp(seconds, 0)
                .map(|t| t.date_naive())
                .ok_or_else(|| {
                    CliError::Input(format!("{SOURCE_DATE_EPOCH}={seconds} is out of range"))
                })?
        }
        Err(_) => chrono::Local::now().date_naive(),
    };
    let year = u16::try_from(day.year()).ok();
    year.and_then(|year| Date::from_ymd(year, day.month() as u8, day.day() as u8))
        .ok_or_else(|| {
            CliError::Input(format!(
                "the date {day} is outside years 1-9999; check the system clock or {SOURCE_DATE_EPOCH}"
            ))
        })
}

/// Now, in milliseconds since the Unix epoch (a VSC's build time).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}
