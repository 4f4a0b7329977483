//! The daemon's own price forecasts, scored as their hours' real-time prices are published:
//! the live error that the `ForecastErrorDrift` alert holds against the model's holdout MAE.
//!
//! Every hour the daemon issues the 24-hour forecast it plans on; each (issue, hour) pair waits
//! here until the site publishes that hour's price, is scored once (absolute error of the mean),
//! and leaves. A pair whose hour stays unpriced past [`EXPIRE_AFTER_US`] is counted as unscored,
//! not dropped in silence.

use std::collections::BTreeMap;

use hcp_models::forecast::realtime::{HorizonForecast, HourlyPrices};

/// How long past its hour a forecast waits for the hour's price.
pub const EXPIRE_AFTER_US: i64 = 48 * hcp_datasets::time::MICROS_PER_HOUR;

/// Totals of one node's scored forecasts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ErrorTotals {
    /// Sum of absolute errors, USD/MWh.
    pub abs_error_sum: f64,
    /// Forecasts scored.
    pub scored: u64,
    /// Forecasts whose hour was never priced.
    pub unscored: u64,
}

/// Forecasts issued and not yet scored, per node: (target hour start, mean).
#[derive(Debug, Default)]
pub struct Ledger {
    pending: BTreeMap<String, Vec<(i64, f64)>>,
}

impl Ledger {
    /// Records the forecasts issued for `node`.
    pub fn issue(&mut self, node: &str, forecasts: &[HorizonForecast]) {
        let pending = self.pending.entry(node.to_string()).or_default();
        pending.extend(forecasts.iter().map(|f| (f.target_start_us, f.mean)));
    }

    /// Scores every pending forecast of `grid`'s node whose hour now has a published real-time
    /// price, and expires those more than [`EXPIRE_AFTER_US`] older than `now_us`; adds them to
    /// `totals`.
    pub fn score(&mut self, grid: &HourlyPrices, now_us: i64, totals: &mut ErrorTotals) {
        let Some(pending) = self.pending.get_mut(&grid.node) else { return };
        pending.retain(|&(target_us, mean)| {
            let k = grid.index_at(target_us);
            let price = (k < grid.len() && grid.time(k) == target_us).then(|| grid.rt[k]).filter(|p| p.is_finite());
            if let Some(price) = price {
                totals.abs_error_sum += (mean - price).abs();
                totals.scored += 1;
                false
            } else if now_us - target_us > EXPIRE_AFTER_US {
                totals.unscored += 1;
                false
            } else {
                true
            }
        });
    }

    /// Forecasts waiting for their hour's price.
    pub fn pending(&self) -> usize {
        self.pending.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = hcp_datasets::time::MICROS_PER_HOUR;

    /// A grid of `len` hours from 0 with real-time prices `rt` (NaN: not published).
    fn grid(rt: &[f64]) -> HourlyPrices {
        let rows: Vec<_> = rt.iter().enumerate().map(|(i, &p)| (i as i64 * H, p, 30.0)).collect();
        HourlyPrices::from_hours("N", &rows, |_| (0, 0, 0)).unwrap()
    }

    fn forecast(target_us: i64, mean: f64) -> HorizonForecast {
        HorizonForecast { horizon: 1, target_start_us: target_us, mean, quantiles: [mean; 3] }
    }

    /// Golden: two forecasts of hour 2 (one per issue) and one of hour 3; hour 2's price of 40
    /// arrives: |50 - 40| + |37 - 40| = 13 over two; hour 3 waits, then expires unpriced.
    #[test]
    fn scores_each_forecast_once_when_its_hour_is_priced_and_counts_the_expired() {
        let mut ledger = Ledger::default();
        ledger.issue("N", &[forecast(2 * H, 50.0), forecast(3 * H, 10.0)]);
        ledger.issue("N", &[forecast(2 * H, 37.0)]);
        let mut totals = ErrorTotals::default();
        ledger.score(&grid(&[1.0, 2.0, f64::NAN]), 2 * H, &mut totals);
        assert_eq!(totals, ErrorTotals::default(), "nothing is scored before its hour is priced");
        ledger.score(&grid(&[1.0, 2.0, 40.0, f64::NAN]), 3 * H, &mut totals);
        assert_eq!(totals, ErrorTotals { abs_error_sum: 13.0, scored: 2, unscored: 0 });
        assert_eq!(ledger.pending(), 1);
        ledger.score(&grid(&[1.0, 2.0, 40.0, f64::NAN]), 3 * H + EXPIRE_AFTER_US, &mut totals);
        assert_eq!((totals.scored, totals.unscored, ledger.pending()), (2, 0, 1), "not yet expired");
        ledger.score(&grid(&[1.0, 2.0, 40.0, f64::NAN]), 3 * H + EXPIRE_AFTER_US + 1, &mut totals);
        assert_eq!((totals.scored, totals.unscored, ledger.pending()), (2, 1, 0));
        // Another node's grid touches nothing of this node's.
        ledger.issue("N", &[forecast(5 * H, 1.0)]);
        let mut other = grid(&[0.0; 8]);
        other.node = "M".into();
        ledger.score(&other, 5 * H, &mut totals);
        assert_eq!(ledger.pending(), 1);
    }
}
