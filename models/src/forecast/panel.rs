//! Day-ahead data laid out by day and hour: what the benchmark's models read.

use crate::error::{Error, Result};

pub const HOURS: usize = 24;

/// The 24 hourly values of one day.
pub type Day = [f64; HOURS];

/// Prices and exogenous day-ahead forecasts, one row per consecutive day.
///
/// `price[d]` is only known after day `d`; `exogenous[k][d]` (a forecast for day `d`) is known
/// before it. A model forecasting day `d` reads `price[..d]` and `exogenous[k][..=d]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DayAheadPanel {
    /// Days since 1970-01-01 of row 0.
    pub first_day: i64,
    pub price: Vec<Day>,
    /// `exogenous[k][d]`, one series per variable, each as long as `price`.
    pub exogenous: Vec<Vec<Day>>,
    pub exogenous_names: Vec<String>,
    /// `holiday[d]`: whether day `d` is a public holiday of the market, when its calendar is
    /// known ([`DayAheadPanel::with_holidays`]); `None` where it is not.
    pub holiday: Option<Vec<bool>>,
}

impl DayAheadPanel {
    /// Builds a panel from hourly values and checks it: same lengths, whole days, finite numbers.
    /// Errors name the series, day and hour.
    pub fn from_hourly(first_day: i64, price: &[f64], exogenous: Vec<(String, Vec<f64>)>) -> Result<DayAheadPanel> {
        let days = |name: &str, values: &[f64]| -> Result<Vec<Day>> {
            if !values.len().is_multiple_of(HOURS) {
                return Err(Error::Invalid(format!(
                    "{name}: {} hourly values is not a whole number of days",
                    values.len()
                )));
            }
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::Invalid(format!(
                    "{name}: day {} hour {} is missing or not finite",
                    first_day + (i / HOURS) as i64,
                    i % HOURS
                )));
            }
            Ok(values.chunks_exact(HOURS).map(|c| c.try_into().expect("24 values")).collect())
        };
        let price_days = days("price", price)?;
        let mut series = Vec::new();
        let mut names = Vec::new();
        for (name, values) in exogenous {
            if values.len() != price.len() {
                return Err(Error::Invalid(format!(
                    "{name}: {} hourly values but the price has {}",
                    values.len(),
                    price.len()
                )));
            }
            series.push(days(&name, &values)?);
            names.push(name);
        }
        Ok(DayAheadPanel { first_day, price: price_days, exogenous: series, exogenous_names: names, holiday: None })
    }

    /// The panel with each day's holiday flag from `is_holiday` (given days since 1970-01-01).
    pub fn with_holidays(mut self, is_holiday: impl Fn(i64) -> bool) -> DayAheadPanel {
        self.holiday = Some((0..self.days()).map(|d| is_holiday(self.first_day + d as i64)).collect());
        self
    }

    /// Whether day `d` is a holiday; `None` when the panel has no holiday calendar.
    pub fn holiday(&self, d: usize) -> Option<bool> {
        self.holiday.as_ref().map(|flags| flags[d])
    }

    pub fn days(&self) -> usize {
        self.price.len()
    }

    /// Monday = 0 … Sunday = 6.
    pub fn weekday(&self, d: usize) -> usize {
        // 1970-01-01 was a Thursday.
        (self.first_day + d as i64 + 3).rem_euclid(7) as usize
    }

    /// Days `lo..hi` of this panel, each starting `hours` (0..24) later: row `t - lo` holds hours
    /// `hours..24` of day `t` and hours `0..hours` of day `t + 1`, of the prices and of every
    /// exogenous series; its weekday and holiday flag are day `t`'s. Reads days `lo..=hi`
    /// (`lo..hi` when `hours` is 0).
    pub fn shifted(&self, hours: usize, lo: usize, hi: usize) -> DayAheadPanel {
        assert!(hours < HOURS, "a shift of {hours} hours is a day or more");
        assert!(lo <= hi && hi + usize::from(hours > 0) <= self.days(), "days {lo}..{hi} shifted by {hours} hours");
        let cut = |rows: &[Day]| -> Vec<Day> {
            (lo..hi)
                .map(|t| {
                    std::array::from_fn(|h| {
                        if hours + h < HOURS { rows[t][hours + h] } else { rows[t + 1][hours + h - HOURS] }
                    })
                })
                .collect()
        };
        DayAheadPanel {
            first_day: self.first_day + lo as i64,
            price: cut(&self.price),
            exogenous: self.exogenous.iter().map(|series| cut(series)).collect(),
            exogenous_names: self.exogenous_names.clone(),
            holiday: self.holiday.as_ref().map(|flags| flags[lo..hi].to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hour `i` of the file holds `i` (prices) and `-i` (the exogenous series).
    fn counting(days: usize) -> DayAheadPanel {
        let hours: Vec<f64> = (0..days * HOURS).map(|i| i as f64).collect();
        let minus: Vec<f64> = hours.iter().map(|v| -v).collect();
        DayAheadPanel::from_hourly(16_071, &hours, vec![("load".into(), minus)]).unwrap()
    }

    #[test]
    fn a_shifted_day_is_the_24_hours_from_its_start_hour() {
        let p = counting(10).with_holidays(|day| day % 3 == 0);
        let s = p.shifted(5, 2, 8);
        assert_eq!(s.days(), 6);
        assert_eq!(s.first_day, p.first_day + 2);
        for (row, t) in (2..8).enumerate() {
            let start = (t * HOURS + 5) as f64;
            assert_eq!(s.price[row], std::array::from_fn::<f64, HOURS, _>(|h| start + h as f64), "day {t}");
            assert_eq!(s.exogenous[0][row], std::array::from_fn::<f64, HOURS, _>(|h| -(start + h as f64)));
            assert_eq!(s.weekday(row), p.weekday(t));
            assert_eq!(s.holiday(row), p.holiday(t));
        }
        assert_eq!(p.shifted(0, 3, 10).price, p.price[3..10], "no shift: the days themselves");
        assert_eq!(
            p.shifted(23, 8, 9).price[0][1],
            (9 * HOURS) as f64,
            "the last day's second hour is the next day's first"
        );
    }

    #[test]
    #[should_panic(expected = "shifted by 5 hours")]
    fn a_shifted_day_past_the_panel_is_refused() {
        counting(10).shifted(5, 2, 10);
    }
}
