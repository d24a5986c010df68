//! Calendar dates as holder data uses them: `YYYY-MM-DD` (ISO 8601 calendar date, proleptic
//! Gregorian, years 0001 to 9999), compared with a `today` the caller supplies.
//!
//! The core has no clock: the CLI passes its local date, the page the browser's, the issuer
//! service its own. Given the same `today`, every caller reaches the same verdict.
//!
//! What this module does not do: times, time zones, or any format other than `YYYY-MM-DD`
//! (`02/03/2031` means February or March depending on who reads it, so it is refused).

use std::fmt;

/// A real calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Length of a date written `YYYY-MM-DD`.
pub const DATE_LEN: usize = 10;

impl Date {
    /// The date `year-month-day`, or `None` when no such day exists (or the year is outside
    /// 1 to 9999).
    pub fn from_ymd(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1..=9999).contains(&year) && (1..=days_in_month(year, month)).contains(&day))
            .then_some(Date { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, two dashes) naming a day that exists.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != DATE_LEN || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            bytes[range.clone()]
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| text[range].parse().ok())
                .flatten()
        };
        let month = u8::try_from(number(5..7)?).ok()?;
        let day = u8::try_from(number(8..10)?).ok()?;
        Date::from_ymd(number(0..4)?, month, day)
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before it), in the proleptic Gregorian calendar.
    pub fn days_since_epoch(self) -> i64 {
        // Counting from 1 March of year 0 puts the leap day at the end of each year.
        let (year, month) = if self.month <= 2 {
            (i64::from(self.year) - 1, i64::from(self.month) + 9)
        } else {
            (i64::from(self.year), i64::from(self.month) - 3)
        };
        let era_years = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let day_of_year = (153 * month + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        // 719,468 days from 0000-03-01 to 1970-01-01.
        era_years * 146_097 + day_of_era - 719_468
    }

    /// The day `days` days after 1970-01-01 (before it, when negative): the inverse of
    /// [`Date::days_since_epoch`]; `None` outside years 1 to 9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        // H. Hinnant's civil-from-days: eras of 400 years counted from 0000-03-01.
        let shifted = days.checked_add(719_468)?;
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date::from_ymd(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
    }

    /// Midnight UTC of this day, in seconds since 1970; `None` before 1970 or after 2106.
    pub fn unix_midnight(self) -> Option<u32> {
        u32::try_from(self.days_since_epoch().checked_mul(86_400)?).ok()
    }

    /// The same day `years` years later (or earlier, when negative); 29 February becomes
    /// 28 February in a year without it. `None` outside years 1 to 9999.
    pub fn add_years(self, years: i32) -> Option<Date> {
        let year = u16::try_from(i32::from(self.year) + years).ok()?;
        let day = self.day.min(days_in_month(year, self.month));
        Date::from_ymd(year, self.month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_epoch_round_trips() {
        for (days, text) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (11_016, "2000-02-29"),
            (20_787, "2026-11-30"),
            (20_788, "2026-12-01"),
        ] {
            let date = Date::from_days_since_epoch(days).unwrap();
            assert_eq!(date.to_string(), text);
            assert_eq!(date.days_since_epoch(), days);
        }
        let first = Date::from_ymd(1, 1, 1).unwrap().days_since_epoch();
        let last = Date::from_ymd(9999, 12, 31).unwrap().days_since_epoch();
        assert_eq!(Date::from_days_since_epoch(first - 1), None);
        assert_eq!(Date::from_days_since_epoch(last + 1), None);
        assert_eq!(Date::from_days_since_epoch(i64::MAX), None);
    }

    #[test]
    fn only_real_days_written_yyyy_mm_dd_parse() {
        for good in [
            "1990-01-31",
            "2024-02-29",
            "2000-02-29",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(
                Date::parse(good).map(|d| d.to_string()).as_deref(),
                Some(good)
            );
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "1990-13-01",
            "1990-00-10",
            "1990-04-31",
            "1990-01-00",
            "0000-01-01",
            "1990-1-01",
            "1990/01/01",
            "01-01-1990",
            "02/30/2031",
            "1990-01-01T",
            "+990-01-01",
            "1990-+1-01",
            "１９９０-01-01",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_order_by_day() {
        let d = |s| Date::parse(s).unwrap();
        assert!(d("2031-01-01") > d("2030-12-31"));
        assert!(d("2030-02-01") > d("2030-01-31"));
        assert_eq!(d("2030-02-01"), d("2030-02-01"));
    }

    #[test]
    fn days_count_from_1970() {
        let d = |s| Date::parse(s).unwrap();
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("1970-03-01").days_since_epoch(), 59);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("2026-12-01").unix_midnight(), Some(1_796_083_200));
        assert_eq!(d("1969-12-31").days_since_epoch(), -1);
        assert_eq!(d("1969-12-31").unix_midnight(), None);
        assert_eq!(d("0001-01-01").days_since_epoch(), -719_162);
    }

    #[test]
    fn adding_years_keeps_the_day_where_it_exists() {
        let d = |s| Date::parse(s).unwrap();
        assert_eq!(d("2024-02-29").add_years(1), Some(d("2025-02-28")));
        assert_eq!(d("2024-02-29").add_years(4), Some(d("2028-02-29")));
        assert_eq!(d("2026-12-01").add_years(-150), Some(d("1876-12-01")));
        assert_eq!(d("9999-01-01").add_years(1), None);
        assert_eq!(d("0001-01-01").add_years(-1), None);
    }
}
