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
        Ok(DayAheadPanel { first_day, price: price_days, exogenous: series, exogenous_names: names })
    }

    pub fn days(&self) -> usize {
        self.price.len()
    }

    /// Monday = 0 … Sunday = 6.
    pub fn weekday(&self, d: usize) -> usize {
        // 1970-01-01 was a Thursday.
        (self.first_day + d as i64 + 3).rem_euclid(7) as usize
    }
}
