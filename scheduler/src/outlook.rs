//! Price expectations the optimiser plans over: the realised prices (perfect forecasts) or
//! hcp's own forecaster, which reads only what is published at the issue time.

use std::collections::BTreeMap;

use hcp_models::forecast::price::PriceModel;
use hcp_models::forecast::realtime::HourlyPrices;

/// Hourly price expectations from the hour starting at `hour_start_us` (the current hour,
/// whose price is not yet published), USD/MWh.
pub trait PriceOutlook: Send {
    fn hourly(&mut self, node: &str, hour_start_us: i64, hours: usize) -> Vec<f64>;
}

const HOUR_US: i64 = 3_600_000_000;

/// Realised hourly prices, per node, from `start_us`; a missing hour repeats the one before.
#[derive(Debug, Clone)]
pub struct Perfect {
    pub start_us: i64,
    pub prices: BTreeMap<String, Vec<Option<f64>>>,
}

impl PriceOutlook for Perfect {
    fn hourly(&mut self, node: &str, hour_start_us: i64, hours: usize) -> Vec<f64> {
        let series = self.prices.get(node).map(Vec::as_slice).unwrap_or(&[]);
        let first = ((hour_start_us - self.start_us) / HOUR_US).max(0) as usize;
        let mut last = series[..first.min(series.len())].iter().rev().find_map(|p| *p).unwrap_or(0.0);
        (first..first + hours)
            .map(|h| {
                if let Some(Some(p)) = series.get(h) {
                    last = *p;
                }
                last
            })
            .collect()
    }
}

/// hcp's real-time price forecaster (`lear_rt` or `lstm_rt`) per node over the node's
/// published prices.
#[derive(Debug, Clone, Default)]
pub struct Forecast {
    pub nodes: BTreeMap<String, (PriceModel, HourlyPrices)>,
}

impl PriceOutlook for Forecast {
    fn hourly(&mut self, node: &str, hour_start_us: i64, hours: usize) -> Vec<f64> {
        let Some((model, grid)) = self.nodes.get(node) else { return vec![0.0; hours] };
        let k = grid.index_at(hour_start_us).min(grid.len());
        let forecasts = model.forecast(grid, k).unwrap_or_else(|e| {
            tracing::warn!(node, model = model.model_id(), error = %e, "no forecast: the outlook falls back");
            Vec::new()
        });
        // Hours the model cannot forecast (inputs missing, or past its 24 horizons) take the
        // latest published day-ahead price of that hour, else the last forecast or the last
        // published real-time price.
        let mut last = grid.rt[..k].iter().rev().find(|p| p.is_finite()).copied().unwrap_or(0.0);
        (0..hours)
            .map(|i| {
                let value = forecasts
                    .iter()
                    .find(|f| f.horizon == i + 1)
                    .map(|f| f.quantiles[1])
                    .or_else(|| (k + i < grid.len()).then(|| grid.latest_da(k, k + i)).flatten().map(|(p, _)| p));
                if let Some(v) = value {
                    last = v;
                }
                last
            })
            .collect()
    }
}

/// The latest published real-time price of each node held flat over the horizon: the outlook
/// of a daemon without a trained model. The daemon updates it every step through the handle
/// [`Published::prices`] returns.
#[derive(Debug, Clone, Default)]
pub struct Published {
    prices: std::sync::Arc<std::sync::Mutex<BTreeMap<String, f64>>>,
}

impl Published {
    /// The shared prices the outlook reads.
    pub fn prices(&self) -> std::sync::Arc<std::sync::Mutex<BTreeMap<String, f64>>> {
        self.prices.clone()
    }
}

impl PriceOutlook for Published {
    fn hourly(&mut self, node: &str, _hour_start_us: i64, hours: usize) -> Vec<f64> {
        let last = self.prices.lock().map(|p| p.get(node).copied()).ok().flatten().unwrap_or(0.0);
        vec![last; hours]
    }
}

/// The daemon's outlook: hcp's forecaster for the nodes it has one for, over a grid of
/// published prices the daemon refreshes every hour through [`Live::forecast`]; the latest
/// published price for the others.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub forecast: std::sync::Arc<std::sync::Mutex<Forecast>>,
    pub published: Published,
}

impl PriceOutlook for Live {
    fn hourly(&mut self, node: &str, hour_start_us: i64, hours: usize) -> Vec<f64> {
        let mut forecast = self.forecast.lock().unwrap_or_else(|e| e.into_inner());
        if forecast.nodes.contains_key(node) {
            return forecast.hourly(node, hour_start_us, hours);
        }
        drop(forecast);
        self.published.hourly(node, hour_start_us, hours)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hcp_models::forecast::lstm::{LstmForecaster, LstmSpec};
    use hcp_models::forecast::scaler::Invariant;
    use hcp_models::forecast::synthetic::{Mix, hourly_prices};

    use super::*;

    /// hcp's outlook with an `lstm_rt`: the model's medians over its 24 hours, then the latest
    /// published day-ahead price of each later hour; nothing for a node it does not forecast.
    #[test]
    fn an_lstm_outlook_is_its_medians_then_the_day_ahead_price() {
        let p = hourly_prices(24 * 10, &mut Mix(3));
        let spec = LstmSpec::new("SYNTHETIC", 48, 8, 1, Invariant::fit(&p.rt));
        let model = PriceModel::Lstm(Arc::new(LstmForecaster::random(spec, 5).unwrap()));
        let k = 24 * 8 + 5;
        let direct = model.forecast(&p, k).unwrap();
        assert_eq!(direct.len(), 24);
        let mut outlook = Forecast { nodes: BTreeMap::from([("SYNTHETIC".to_string(), (model, p.clone()))]) };
        let got = outlook.hourly("SYNTHETIC", p.time(k), 30);
        for (h, d) in direct.iter().enumerate() {
            assert_eq!(got[h], d.quantiles[1], "hour {h}");
        }
        for (h, v) in got.iter().enumerate().skip(24) {
            assert_eq!(Some(*v), p.latest_da(k, k + h).map(|(da, _)| da), "hour {h}");
        }
        assert_eq!(outlook.hourly("ELSEWHERE", p.time(k), 3), vec![0.0; 3]);
    }
}
