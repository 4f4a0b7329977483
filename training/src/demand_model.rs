//! `hcp train demand` and `hcp forecast demand`: the week-ahead GPU-demand forecaster
//! (`lear_demand`, or with `--lstm` the LSTM `lstm_demand`) fitted on a series (a dataset's
//! `jobs` table, the v2023 pod list or the spot trace's hourly file), saved with a checked
//! manifest, and its forecasts in the hive-partitioned layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcp_datasets::rows::forecasts_batch;
use hcp_datasets::{Table, WriteOptions, WrittenFile, write_table};
use hcp_models::artifact::{self, Manifest};
use hcp_models::forecast::demand::{ARTIFACT_KIND, DemandForecaster, HORIZONS, LOOKBACK, LearDemand, feature_names};
use hcp_models::forecast::demand_model::DemandModel;
use hcp_models::forecast::lasso::PathConfig;
use hcp_models::forecast::{Accumulator, ErrorBands, QUANTILES};

use crate::demand::{DemandSeries, TRACE_TIME_BASIS, pods_series, read_demand};
use crate::forecast_rows::{Forecast, RowLabels};
use crate::{Error, Result};

const HOUR_US: i64 = 3_600_000_000;

/// Where a demand series comes from.
#[derive(Debug, Clone)]
pub enum DemandSource {
    /// A dataset directory: GPUs held / arriving by the jobs of its `jobs` table, all of them
    /// (one cluster's demand, as `hcp sim` writes it) or those of one `source` (ingested traces
    /// are separate clusters and must not be added up).
    Dataset { dir: PathBuf, job_source: Option<String> },
    /// A v2023 pod list or a spot-trace `spot_hourly.csv`.
    File(PathBuf),
}

impl DemandSource {
    pub fn read(&self, series: Option<&str>) -> Result<DemandSeries> {
        match self {
            DemandSource::File(path) => read_demand(path, series),
            DemandSource::Dataset { dir, job_source } => {
                let jobs = crate::history::dataset_jobs(dir, job_source.as_deref())?;
                if jobs.iter().all(|j| j.creation_time_us.is_none()) {
                    return Err(Error::Invalid(format!("{}: no job has a creation time", dir.display())));
                }
                let all = pods_series(&jobs);
                let name = series.unwrap_or("gpus_held");
                all.into_iter().find(|s| s.name == name).ok_or_else(|| {
                    Error::Invalid(format!("series `{name}`: a dataset has gpus_held and gpus_arriving"))
                })
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            DemandSource::Dataset { dir, job_source: None } => dir.display().to_string(),
            DemandSource::Dataset { dir, job_source: Some(s) } => format!("{} (jobs of {s})", dir.display()),
            DemandSource::File(p) => p.display().to_string(),
        }
    }
}

/// What `hcp train demand` runs.
#[derive(Debug, Clone)]
pub struct TrainDemandConfig {
    pub source: DemandSource,
    pub series: Option<String>,
    pub out: PathBuf,
    /// Last days held out: the model is fitted before them, measured on daily issues whose week
    /// lies inside them, and its errors there size the band; then refitted on everything.
    pub holdout_days: usize,
    pub path: PathConfig,
}

impl TrainDemandConfig {
    pub fn new(source: DemandSource, out: PathBuf) -> TrainDemandConfig {
        TrainDemandConfig { source, series: None, out, holdout_days: 21, path: PathConfig::default() }
    }
}

pub fn train_demand(cfg: &TrainDemandConfig) -> Result<Manifest> {
    let series = cfg.source.read(cfg.series.as_deref())?;
    let y = &series.values;
    let n = y.len();
    let holdout = cfg.holdout_days.saturating_mul(24);
    let needed = (LOOKBACK + 24 * 7).saturating_add(holdout);
    if cfg.holdout_days < 8 {
        return Err(Error::Invalid(format!(
            "--holdout-days {}: at least 8, for a whole week after an issue",
            cfg.holdout_days
        )));
    }
    if n < needed {
        return Err(Error::Invalid(format!(
            "{}: `{}` has {n} hours; --holdout-days {} needs {needed}",
            cfg.source.describe(),
            series.name,
            cfg.holdout_days
        )));
    }
    let cut = n - holdout;
    let check = LearDemand::fit(y, cut, &cfg.path)?;
    let mut bands = ErrorBands::new(HORIZONS, usize::MAX);
    let (mut model_acc, mut naive_acc) = (Accumulator::default(), Accumulator::default());
    let mut issues = 0;
    for k in (cut..=n - HORIZONS).step_by(24) {
        issues += 1;
        for h in 1..=HORIZONS {
            let j = k + h - 1;
            let f = check.forecast(y, k, h);
            bands.record(h - 1, y[j] - f);
            model_acc.add(y[j], f, &[f; 3]);
            naive_acc.add(y[j], y[j - 168], &[y[j - 168]; 3]);
        }
    }
    let forecaster = DemandForecaster {
        series: series.name.clone(),
        trained_hours: n,
        model: LearDemand::fit(y, n, &cfg.path)?,
        band_offsets: (0..HORIZONS).map(|h| bands.offsets(h)).collect(),
    };
    let training = serde_json::json!({
        "source": cfg.source.describe(),
        "series": series.name,
        "hours": n,
        "first_hour": hcp_datasets::time::format_micros(series.start_us),
        "mean": y.iter().sum::<f64>() / n as f64,
    });
    let (m, w) = (model_acc.scores(), naive_acc.scores());
    let validation = serde_json::json!({
        "holdout_days": cfg.holdout_days,
        "issues": issues,
        "lear_demand": {"mae": m.mae, "rmse": m.rmse, "n": m.n},
        "seasonal_naive_weekly": {"mae": w.mae, "rmse": w.rmse, "n": w.n},
        "rmae": m.mae / w.mae,
        "band_quantiles": QUANTILES,
        // What forecasts each day ahead of the saved model (its lasso, or a naive rule).
        "days_ahead": forecaster.model.fallbacks(),
    });
    Ok(artifact::save(&cfg.out, ARTIFACT_KIND, &feature_names(), &forecaster, training, validation)?)
}

/// Trains `lstm_demand` on the whole series (its validation split: the last `lstm.valid_days`)
/// and writes `model.safetensors` and `manifest.json` to `cfg.out`, with the best weights
/// checkpointed in `cfg.out/checkpoints` as training goes.
pub fn train_demand_lstm(
    cfg: &TrainDemandConfig,
    lstm: &hcp_lstm::LstmConfig,
    progress: &mut dyn FnMut(&hcp_lstm::Progress),
) -> Result<Manifest> {
    let series = cfg.source.read(cfg.series.as_deref())?;
    let y = &series.values;
    let s = hcp_lstm::Series { name: &series.name, values: y, start_us: series.start_us };
    let trained = hcp_lstm::train_demand(s, 0, y.len(), lstm, Some(&cfg.out.join("checkpoints")), progress)
        .map_err(|e| Error::Invalid(format!("{}: {e}", cfg.source.describe())))?;
    Ok(trained.save(&cfg.out, &cfg.source.describe())?)
}

/// Loads a demand model of either kind (checksum, inputs and weights verified).
pub fn load_demand_model(dir: &Path) -> Result<(DemandModel, Manifest)> {
    Ok(DemandModel::load(dir)?)
}

/// What `hcp forecast demand` runs.
#[derive(Debug, Clone)]
pub struct ForecastDemandConfig {
    pub model: PathBuf,
    pub history: DemandSource,
    pub out: PathBuf,
    pub run_id: String,
}

/// The next 168 hours after the history's last hour, written under
/// `out/forecasts/target=<series>/forecast_date=.../part-<run_id>.parquet`.
pub fn forecast_demand(cfg: &ForecastDemandConfig) -> Result<Vec<WrittenFile>> {
    let (model, manifest) = load_demand_model(&cfg.model)?;
    let series = cfg.history.read(Some(model.series()))?;
    let forecasts = model
        .forecast(&series.values, series.start_us)
        .map_err(|e| Error::Invalid(format!("{}: {e}", cfg.history.describe())))?;
    let issue_us = series.start_us + series.values.len() as i64 * HOUR_US;
    let labels = RowLabels::new(&series.name, "cluster", &manifest.model_sha256[..12], &cfg.run_id);
    let model_id: Arc<str> = model.model_id().into();
    let mut rows = Vec::new();
    for (h, (mean, quantiles)) in forecasts.into_iter().enumerate() {
        let target_us = issue_us + h as i64 * HOUR_US;
        labels.push(&mut rows, &model_id, Forecast { issue_us, target_us, mean, quantiles });
    }
    let mut opts =
        WriteOptions::new(cfg.run_id.clone(), format!("hcp forecast demand --model {}", cfg.model.display()));
    // The Alibaba traces count time from their own start, which lands on the epoch.
    if series.start_us == 0 {
        opts = opts.with_time_basis(TRACE_TIME_BASIS);
    }
    Ok(write_table(&cfg.out, Table::Forecasts, &forecasts_batch(&rows), &opts)?)
}
