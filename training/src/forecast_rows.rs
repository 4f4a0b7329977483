//! Forecast rows in the long format: one mean and one row per quantile level, with the labels
//! (target, node, version, run) shared by every row of a run.

use std::sync::Arc;

use hcp_datasets::rows::ForecastRow;
use hcp_models::forecast::QUANTILES;

/// The labels one run puts on every row it writes.
#[derive(Debug, Clone)]
pub struct RowLabels {
    target: Arc<str>,
    node: Arc<str>,
    version: Arc<str>,
    run_id: Arc<str>,
}

/// One forecast of one target: its mean and its quantiles at [`QUANTILES`].
#[derive(Debug, Clone, Copy)]
pub struct Forecast {
    pub issue_us: i64,
    pub target_us: i64,
    pub mean: f64,
    pub quantiles: [f64; 3],
}

impl RowLabels {
    pub fn new(target: &str, node: &str, version: &str, run_id: &str) -> RowLabels {
        RowLabels { target: target.into(), node: node.into(), version: version.into(), run_id: run_id.into() }
    }

    /// Appends the mean row and one row per quantile level.
    pub fn push(&self, rows: &mut Vec<ForecastRow>, model_id: &Arc<str>, f: Forecast) {
        let row = |quantile: Option<f64>, value: f64| ForecastRow {
            forecast_time_us: f.issue_us,
            target_time_us: f.target_us,
            target: self.target.clone(),
            node: self.node.clone(),
            model_id: model_id.clone(),
            model_version: self.version.clone(),
            run_id: self.run_id.clone(),
            quantile,
            value,
        };
        rows.push(row(None, f.mean));
        for (level, value) in QUANTILES.iter().zip(f.quantiles) {
            rows.push(row(Some(*level), value));
        }
    }
}
