//! A GPU-demand model as `hcp forecast demand` and `hcp serve` use it, whichever kind its
//! artifact holds: `lear_demand` (`demand_lear`) or `lstm_demand` (`demand_lstm`).

use std::path::Path;
use std::sync::Arc;

use crate::artifact::{self, Manifest};
use crate::error::{Error, Result};
use crate::forecast::demand::{self, DemandForecaster};
use crate::forecast::demand_lstm::{self, DemandLstm};

/// The kinds [`DemandModel::load`] reads.
pub const KINDS: [&str; 2] = [demand::ARTIFACT_KIND, demand_lstm::ARTIFACT_KIND];

#[derive(Debug, Clone)]
pub enum DemandModel {
    Lear(DemandForecaster),
    Lstm(Arc<DemandLstm>),
}

impl DemandModel {
    /// Loads the model in `dir` by the kind its manifest names (checksum, inputs and weights
    /// verified as each kind's own loader does).
    pub fn load(dir: &Path) -> Result<(DemandModel, Manifest)> {
        let kind = artifact::read_manifest(dir)?.kind;
        match kind.as_str() {
            demand::ARTIFACT_KIND => demand::load(dir).map(|(m, man)| (DemandModel::Lear(m), man)),
            demand_lstm::ARTIFACT_KIND => DemandLstm::load(dir).map(|(m, man)| (DemandModel::Lstm(Arc::new(m)), man)),
            other => Err(Error::Artifact {
                path: dir.join(artifact::MANIFEST_FILE),
                message: format!("kind `{other}` is not a demand model ({KINDS:?})"),
            }),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DemandModel::Lear(_) => demand::ARTIFACT_KIND,
            DemandModel::Lstm(_) => demand_lstm::ARTIFACT_KIND,
        }
    }

    /// The `model_id` its forecasts carry.
    pub fn model_id(&self) -> &'static str {
        match self {
            DemandModel::Lear(_) => "lear_demand",
            DemandModel::Lstm(_) => "lstm_demand",
        }
    }

    /// The series it forecasts.
    pub fn series(&self) -> &str {
        match self {
            DemandModel::Lear(m) => &m.series,
            DemandModel::Lstm(m) => &m.spec.series,
        }
    }

    /// Hours of history a forecast reads.
    pub fn lookback(&self) -> usize {
        match self {
            DemandModel::Lear(_) => demand::LOOKBACK,
            DemandModel::Lstm(m) => m.spec.lookback(),
        }
    }

    /// The 168 hours after `y`, whose hour 0 starts at `start_us` (the LSTM reads its clock
    /// from it; `lear_demand` reads the hour index): mean and quantiles 0.1/0.5/0.9.
    pub fn forecast(&self, y: &[f64], start_us: i64) -> Result<Vec<(f64, [f64; 3])>> {
        match self {
            DemandModel::Lear(m) => m.forecast(y),
            DemandModel::Lstm(m) => m.forecast(y, start_us),
        }
    }
}
