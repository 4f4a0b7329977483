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
    let day_before = local.date_naive().pred_opt().expect("not the first day of time");
    let at = day_before.and_time(NaiveTime::from_hms_opt(13, 30, 0).expect("valid"));
    let published = Chicago.from_local_datetime(&at).earliest().expect("13:30 exists every day").timestamp_micros();
    (local.hour() as u8, local.weekday().num_days_from_monday() as u8, published)
}
