//! Public holidays of the markets hcp forecasts, as calendar dates in the market's own time.
//!
//! - `Nerc`: the six holidays of the North American Electric Reliability Corporation, which
//!   ERCOT and PJM treat as off-peak all day: New Year's Day, Memorial Day (last Monday of
//!   May), Independence Day, Labor Day (first Monday of September), Thanksgiving (fourth
//!   Thursday of November) and Christmas Day. One that falls on a Sunday is observed on the
//!   Monday after; one on a Saturday is not moved.
//! - `Norway` (Nord Pool's system price, NP): New Year's Day, Maundy Thursday, Good Friday,
//!   Easter Monday, Labour Day (1 May), Constitution Day (17 May), Ascension Day, Whit Monday,
//!   Christmas Day and Boxing Day.
//! - `Germany` (DE): the nationwide holidays: New Year's Day, Good Friday, Easter Monday,
//!   Labour Day, Ascension Day, Whit Monday, German Unity Day (3 October), Christmas Day and
//!   Boxing Day (2017's one-off Reformation Day is outside every file here).
//!
//! Easter Sunday and Whit Sunday are Sundays already and are not listed.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// A market's holiday calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holidays {
    Nerc,
    Norway,
    Germany,
}

impl Holidays {
    /// The calendar of a market as hcp's datasets name it (`ERCOT`, `PJM`, `NP`, `DE`).
    pub fn of_market(market: &str) -> Option<Holidays> {
        match market {
            "ERCOT" | "PJM" => Some(Holidays::Nerc),
            "NP" => Some(Holidays::Norway),
            "DE" => Some(Holidays::Germany),
            _ => None,
        }
    }

    /// The calendar's name in reports (`metrics.json`).
    pub fn name(self) -> &'static str {
        match self {
            Holidays::Nerc => "nerc",
            Holidays::Norway => "norway",
            Holidays::Germany => "germany",
        }
    }

    /// [`Holidays::contains`] of a day given as days since 1970-01-01.
    pub fn contains_day(self, days_since_epoch: i64) -> bool {
        self.contains(NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid") + Duration::days(days_since_epoch))
    }

    /// Whether `date` is a holiday (as observed) in this calendar.
    pub fn contains(self, date: NaiveDate) -> bool {
        let year = date.year();
        let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).expect("a valid date");
        match self {
            Holidays::Nerc => {
                let observed = |d: NaiveDate| if d.weekday() == Weekday::Sun { d + Duration::days(1) } else { d };
                let last_monday_of_may = {
                    let may31 = fixed(5, 31);
                    may31 - Duration::days(i64::from(may31.weekday().num_days_from_monday()))
                };
                [
                    observed(fixed(1, 1)),
                    last_monday_of_may,
                    observed(fixed(7, 4)),
                    nth_weekday(year, 9, Weekday::Mon, 1),
                    nth_weekday(year, 11, Weekday::Thu, 4),
                    observed(fixed(12, 25)),
                ]
                .contains(&date)
            }
            Holidays::Norway | Holidays::Germany => {
                let easter = easter_sunday(year);
                let from_easter = (date - easter).num_days();
                let movable: &[i64] = match self {
                    // Maundy Thursday, Good Friday, Easter Monday, Ascension, Whit Monday.
                    Holidays::Norway => &[-3, -2, 1, 39, 50],
                    _ => &[-2, 1, 39, 50],
                };
                let fixed_days: &[(u32, u32)] = match self {
                    Holidays::Norway => &[(1, 1), (5, 1), (5, 17), (12, 25), (12, 26)],
                    _ => &[(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)],
                };
                movable.contains(&from_easter) || fixed_days.contains(&(date.month(), date.day()))
            }
        }
    }
}

/// The `n`-th (1-based) `weekday` of `month` in `year`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).expect("every month has four of each weekday")
}

/// Easter Sunday of the Gregorian calendar (the anonymous algorithm, as in Meeus, Astronomical
/// Algorithms, chapter 8).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter falls in March or April")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Every holiday of a calendar in `year`, in order.
    fn holidays(calendar: Holidays, year: i32) -> Vec<String> {
        let mut d = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let mut out = Vec::new();
        while d.year() == year {
            if calendar.contains(d) {
                out.push(d.to_string());
            }
            d += Duration::days(1);
        }
        out
    }

    #[test]
    fn easter_sunday_matches_the_published_dates() {
        // Western Easter Sunday, 2012-2025 (the years of the data here), and the algorithm's
        // extreme dates: 22 March 1818 and 25 April 1943.
        let published = [
            "2012-04-08",
            "2013-03-31",
            "2014-04-20",
            "2015-04-05",
            "2016-03-27",
            "2017-04-16",
            "2018-04-01",
            "2019-04-21",
            "2020-04-12",
            "2021-04-04",
            "2022-04-17",
            "2023-04-09",
            "2024-03-31",
            "2025-04-20",
            "1818-03-22",
            "1943-04-25",
        ];
        for s in published {
            let d = date(s);
            assert_eq!(easter_sunday(d.year()), d, "{s}");
        }
    }

    #[test]
    fn nerc_holidays_of_2024_and_2025_and_their_sunday_rule() {
        assert_eq!(
            holidays(Holidays::Nerc, 2024),
            ["2024-01-01", "2024-05-27", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25"]
        );
        assert_eq!(
            holidays(Holidays::Nerc, 2025),
            ["2025-01-01", "2025-05-26", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"]
        );
        // 2022: Christmas on a Sunday, observed on Monday the 26th; 2021: New Year's Day on a
        // Friday, Independence Day on a Sunday (the 5th), Christmas on a Saturday (not moved).
        assert_eq!(holidays(Holidays::Nerc, 2022)[5], "2022-12-26");
        assert_eq!(
            holidays(Holidays::Nerc, 2021),
            ["2021-01-01", "2021-05-31", "2021-07-05", "2021-09-06", "2021-11-25", "2021-12-25"]
        );
    }

    #[test]
    fn norwegian_and_german_holidays_of_2015() {
        // Easter 2015 was 5 April.
        assert_eq!(
            holidays(Holidays::Norway, 2015),
            [
                "2015-01-01",
                "2015-04-02",
                "2015-04-03",
                "2015-04-06",
                "2015-05-01",
                "2015-05-14",
                "2015-05-17",
                "2015-05-25",
                "2015-12-25",
                "2015-12-26"
            ]
        );
        assert_eq!(
            holidays(Holidays::Germany, 2015),
            [
                "2015-01-01",
                "2015-04-03",
                "2015-04-06",
                "2015-05-01",
                "2015-05-14",
                "2015-05-25",
                "2015-10-03",
                "2015-12-25",
                "2015-12-26"
            ]
        );
    }

    #[test]
    fn days_since_the_epoch_are_dates() {
        // 2015-12-25 is day 16,794 since 1970-01-01.
        assert!(Holidays::Germany.contains_day(16_794));
        assert!(!Holidays::Germany.contains_day(16_793));
    }

    #[test]
    fn markets_name_their_calendars() {
        assert_eq!(Holidays::of_market("ERCOT"), Some(Holidays::Nerc));
        assert_eq!(Holidays::of_market("PJM"), Some(Holidays::Nerc));
        assert_eq!(Holidays::of_market("NP"), Some(Holidays::Norway));
        assert_eq!(Holidays::of_market("DE"), Some(Holidays::Germany));
        assert_eq!(Holidays::of_market("CAISO"), None);
    }
}
