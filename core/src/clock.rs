//! rules.md, Clock: instants are UTC microseconds; the billing zone is a fixed offset.

use chrono::{Datelike, Days, Months, NaiveDate};

/// An instant: microseconds since 1970-01-01T00:00:00Z.
pub type Ts = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// Bills are issued, and a run's window ends, at 08:00 billing-zone time (rules.md, Clock and
/// Bills).
pub const AS_OF_HOUR: i64 = 8;

fn unix_epoch_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// Days since 1970-01-01 (the date32 value of a date).
pub fn day_number(d: NaiveDate) -> i64 {
    (d - unix_epoch_day()).num_days()
}

/// The date of a day number.
pub fn date_of_number(n: i64) -> NaiveDate {
    if n >= 0 {
        unix_epoch_day() + Days::new(n as u64)
    } else {
        unix_epoch_day() - Days::new(n.unsigned_abs())
    }
}

/// `d` plus `n` days.
pub fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    date_of_number(day_number(d) + n)
}

/// rules.md, Packages: `add_months`, clamping to the month's last day (Jan 31 + 1 = Feb 28/29).
pub fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_months(Months::new(n)).expect("date in range")
}

/// First day of the month `d` is in.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

/// The billing zone: a fixed offset from UTC (rules.md, Clock, `[billing] utc_offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Zone {
    /// Offset east of UTC, in microseconds.
    pub offset_us: i64,
}

impl Zone {
    pub fn from_seconds(offset_seconds: i64) -> Zone {
        Zone { offset_us: offset_seconds * MICROS_PER_SECOND }
    }

    /// The billing day of an instant: its date in the billing zone.
    pub fn day_of(&self, t: Ts) -> NaiveDate {
        date_of_number((t + self.offset_us).div_euclid(MICROS_PER_DAY))
    }

    /// 00:00 of day `d` in the billing zone.
    pub fn start_of(&self, d: NaiveDate) -> Ts {
        day_number(d) * MICROS_PER_DAY - self.offset_us
    }

    /// `as_of(D) = D+1 08:00`, the end of the run's window and the daily bill time.
    pub fn as_of(&self, d: NaiveDate) -> Ts {
        self.start_of(add_days(d, 1)) + AS_OF_HOUR * MICROS_PER_HOUR
    }

    /// The day whose window holds instant `t`: `t` in `(as_of(D-1), as_of(D)]`.
    pub fn window_day(&self, t: Ts) -> NaiveDate {
        self.day_of(t - 1 - AS_OF_HOUR * MICROS_PER_HOUR)
    }

    /// `W(D) = (D 08:00, D+1 08:00]`: returns the exclusive start and inclusive end.
    pub fn window(&self, d: NaiveDate) -> (Ts, Ts) {
        (self.as_of(add_days(d, -1)), self.as_of(d))
    }
}

/// Formats an instant as `YYYY-MM-DDTHH:MM:SSZ` (for messages and details).
pub fn fmt_ts(t: Ts) -> String {
    match chrono::DateTime::from_timestamp_micros(t) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn plus_eight_window_is_one_utc_day() {
        // rules.md, Clock: with +08:00 the window of D is the UTC day D.
        let z = Zone::from_seconds(8 * 3600);
        let (a, b) = z.window(d("2026-02-10"));
        assert_eq!(fmt_ts(a), "2026-02-10T00:00:00Z");
        assert_eq!(fmt_ts(b), "2026-02-11T00:00:00Z");
        assert_eq!(fmt_ts(z.start_of(d("2026-02-10"))), "2026-02-09T16:00:00Z");
    }

    #[test]
    fn the_window_day_of_an_instant_is_the_day_whose_window_holds_it() {
        // W(D) = (D 08:00, D+1 08:00] billing zone: 08:00 sharp still belongs to the day before.
        let z = Zone::from_seconds(8 * 3600);
        for day in ["2026-02-09", "2026-02-10", "2026-02-28"] {
            let (a, b) = z.window(d(day));
            assert_eq!(z.window_day(a + 1), d(day));
            assert_eq!(z.window_day(b), d(day));
            assert_eq!(z.window_day(a), add_days(d(day), -1));
            assert_eq!(z.window_day(b + 1), add_days(d(day), 1));
        }
    }

    #[test]
    fn billing_day_of_instants_near_midnight() {
        let z = Zone::from_seconds(8 * 3600);
        let t = z.start_of(d("2026-03-01"));
        assert_eq!(z.day_of(t), d("2026-03-01"));
        assert_eq!(z.day_of(t - 1), d("2026-02-28"));
        let neg = Zone::from_seconds(-5 * 3600);
        assert_eq!(neg.day_of(0), d("1969-12-31"));
    }

    #[test]
    fn add_months_clamps_to_month_end() {
        // rules.md, Packages: bought Jan 31: Jan 31–Feb 27, Feb 28–Mar 30, Mar 31–…
        assert_eq!(add_months(d("2026-01-31"), 1), d("2026-02-28"));
        assert_eq!(add_months(d("2026-01-31"), 2), d("2026-03-31"));
        assert_eq!(add_months(d("2028-01-31"), 1), d("2028-02-29"));
    }
}
