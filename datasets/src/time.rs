//! Conversions between calendar times and the microsecond UTC timestamps stored on disk.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::America::Chicago;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Microseconds since the Unix epoch of a UTC wall-clock time.
pub fn naive_utc_micros(t: NaiveDateTime) -> i64 {
    Utc.from_utc_datetime(&t).timestamp_micros()
}

/// Microseconds of UTC midnight starting `date`.
pub fn date_micros(date: NaiveDate) -> i64 {
    naive_utc_micros(date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

pub fn to_datetime(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub fn utc_year(us: i64) -> i32 {
    to_datetime(us).year()
}

pub fn utc_date_string(us: i64) -> String {
    to_datetime(us).format("%Y-%m-%d").to_string()
}

/// RFC 3339 rendering for messages and reports.
pub fn format_micros(us: i64) -> String {
    to_datetime(us).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses `YYYY-MM-DD` or an RFC 3339 instant into UTC microseconds.
pub fn parse_instant(s: &str) -> Option<i64> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(date_micros(d));
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_micros())
}

/// ERCOT's calendar of the hour starting at `start_us`: local (Central) hour of day, weekday
/// (Monday = 0), and when its day-ahead price is published (13:30 Central on the day before
/// the delivery day).
pub fn ercot_calendar(start_us: i64) -> (u8, u8, i64) {
    let local = Chicago.timestamp_micros(start_us).single().expect("a UTC instant maps to one local time");
    (local.hour() as u8, local.weekday().num_days_from_monday() as u8, day_ahead_published(local.date_naive()))
}

/// When ERCOT publishes the day-ahead prices of a (Central) delivery day: 13:30 the day before.
fn day_ahead_published(delivery: NaiveDate) -> i64 {
    let day_before = delivery.pred_opt().expect("not the first day of time");
    let at = day_before.and_time(NaiveTime::from_hms_opt(13, 30, 0).expect("valid"));
    Chicago.from_local_datetime(&at).earliest().expect("13:30 exists every day").timestamp_micros()
}

/// [`ercot_calendar`] for many hours in a row, for a grid: the publication time (a local time
/// back to UTC, the costly half) is computed once per local day.
pub fn ercot_calendar_by_day() -> impl Fn(i64) -> (u8, u8, i64) {
    let last = std::cell::Cell::new((NaiveDate::MIN, 0i64));
    move |start_us| {
        let local = Chicago.timestamp_micros(start_us).single().expect("a UTC instant maps to one local time");
        let date = local.date_naive();
        let published = match last.get() {
            (d, p) if d == date => p,
            _ => {
                let p = day_ahead_published(date);
                last.set((date, p));
                p
            }
        };
        (local.hour() as u8, local.weekday().num_days_from_monday() as u8, published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_by_day_is_the_calendar_across_daylight_saving_changes() {
        // 2024-01-01 to 2026-01-01 UTC, hour by hour: four DST changes in Chicago.
        let start = date_micros(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        let by_day = ercot_calendar_by_day();
        for h in 0..2 * 8784 {
            let t = start + h * MICROS_PER_HOUR;
            assert_eq!(by_day(t), ercot_calendar(t), "{}", format_micros(t));
        }
        // Golden: 2025-03-09 08:00 UTC is 03:00 CDT (the clocks skipped 02:00), a Sunday; its
        // day-ahead prices came out at 13:30 CST on Saturday, 19:30 UTC.
        let t = date_micros(NaiveDate::from_ymd_opt(2025, 3, 9).unwrap()) + 8 * MICROS_PER_HOUR;
        let (hour, weekday, published) = ercot_calendar(t);
        assert_eq!((hour, weekday), (3, 6));
        assert_eq!(format_micros(published), "2025-03-08T19:30:00Z");
    }
}
