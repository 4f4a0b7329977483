//! A real-time price model as `hcp forecast price` and `hcp serve` use it, whichever kind its
//! artifact holds: `lear_rt` (`price_lear_rt`) or `lstm_rt` (`price_lstm_rt`).

use std::path::Path;
use std::sync::Arc;

use crate::artifact::{self, Manifest};
use crate::error::{Error, Result};
use crate::forecast::lstm::{self, LstmForecaster};
use crate::forecast::realtime::{self, HorizonForecast, HourlyPrices, PriceForecaster};

/// The kinds [`PriceModel::load`] reads.
pub const KINDS: [&str; 2] = [realtime::ARTIFACT_KIND, lstm::ARTIFACT_KIND];

#[derive(Debug, Clone)]
pub enum PriceModel {
    Lear(PriceForecaster),
    Lstm(Arc<LstmForecaster>),
}

impl PriceModel {
    /// Loads the model in `dir` by the kind its manifest names (checksum, inputs and weights
    /// verified as each kind's own loader does).
    pub fn load(dir: &Path) -> Result<(PriceModel, Manifest)> {
        let kind = artifact::read_manifest(dir)?.kind;
        match kind.as_str() {
            realtime::ARTIFACT_KIND => realtime::load(dir).map(|(m, man)| (PriceModel::Lear(m), man)),
            lstm::ARTIFACT_KIND => LstmForecaster::load(dir).map(|(m, man)| (PriceModel::Lstm(Arc::new(m)), man)),
            other => Err(Error::Artifact {
                path: dir.join(artifact::MANIFEST_FILE),
                message: format!("kind `{other}` is not a real-time price model ({KINDS:?})"),
            }),
        }
    }

    /// The artifact kind.
    pub fn kind(&self) -> &'static str {
        match self {
            PriceModel::Lear(_) => realtime::ARTIFACT_KIND,
            PriceModel::Lstm(_) => lstm::ARTIFACT_KIND,
        }
    }

    /// The `model_id` its forecasts carry.
    pub fn model_id(&self) -> &'static str {
        match self {
            PriceModel::Lear(_) => "lear_rt",
            PriceModel::Lstm(_) => "lstm_rt",
        }
    }

    pub fn node(&self) -> &str {
        match self {
            PriceModel::Lear(m) => &m.node,
            PriceModel::Lstm(m) => &m.spec.node,
        }
    }

    /// The last hour (start, UTC µs) whose price the model was trained on.
    pub fn trained_until_us(&self) -> i64 {
        match self {
            PriceModel::Lear(m) => m.trained_until_us,
            PriceModel::Lstm(m) => m.spec.trained_until_us,
        }
    }

    /// How many hours before an issue the model reads: a forecast needs them.
    pub fn lookback(&self) -> usize {
        match self {
            PriceModel::Lear(_) => realtime::MAX_LOOKBACK,
            // The window, and the real-time price a day before each target.
            PriceModel::Lstm(m) => m.spec.window.max(24),
        }
    }

    /// The held-out MAE ($/MWh) its manifest records (`hcp train price` writes it): what live
    /// errors are held against.
    pub fn validation_mae(&self, manifest: &Manifest) -> Option<f64> {
        let v = &manifest.validation;
        match self {
            PriceModel::Lear(_) => v["lear_rt"]["mae"].as_f64(),
            PriceModel::Lstm(_) => v["mae"].as_f64(),
        }
    }

    /// Forecasts issued at grid index `k` (the first hour whose price is unknown) for every
    /// horizon whose inputs exist.
    pub fn forecast(&self, p: &HourlyPrices, k: usize) -> Result<Vec<HorizonForecast>> {
        match self {
            PriceModel::Lear(m) => Ok(m.forecast(p, k)),
            PriceModel::Lstm(m) => m.forecast(p, k),
        }
    }
}
