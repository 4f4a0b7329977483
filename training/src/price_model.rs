//! `hcp train price` and `hcp forecast price`: the real-time price forecaster of one node
//! (`lear_rt`, or with `--lstm` the LSTM `lstm_rt`) fitted on a dataset's `prices` table, saved
//! with a checked manifest, and its forecasts written in the hive-partitioned forecast layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcp_datasets::ingest::Fnv1a;
use hcp_datasets::rows::{ForecastRow, PriceRow, forecasts_batch, price_rows};
use hcp_datasets::{ReadOptions, Table, WriteOptions, WrittenFile, read_table, write_table};
use hcp_models::artifact::{self, Manifest};
use hcp_models::forecast::lasso::PathConfig;
use hcp_models::forecast::price::PriceModel;
use hcp_models::forecast::realtime::{
    ARTIFACT_KIND, HORIZONS, HourlyPrices, LearRt, MAX_LOOKBACK, PriceForecaster, feature_names,
};
use hcp_models::forecast::{Accumulator, ErrorBands, QUANTILES};

use crate::forecast_rows::{Forecast, RowLabels};
use crate::realtime::hourly_grid;
use crate::{Error, Result};

/// Reads one node's hourly prices from a dataset directory (`hcp ingest ercot` or `hcp sim`):
/// `node`, or with `None` the one node the `prices` table holds (an error naming them when it
/// holds several, or none).
pub fn read_node(data: &Path, node: Option<&str>) -> Result<HourlyPrices> {
    let rows = read_prices(data)?;
    let only;
    let node = match node {
        Some(node) => node,
        None => {
            only = only_node(&rows, data)?;
            only.as_str()
        }
    };
    hourly_grid(&rows, node, &data.display().to_string())
}

/// The one node of `rows`, read from `data`.
fn only_node(rows: &[PriceRow], data: &Path) -> Result<String> {
    let nodes: std::collections::BTreeSet<&str> = rows.iter().map(|r| &*r.node).collect();
    match nodes.len() {
        1 => Ok(nodes.into_iter().next().expect("one node").to_string()),
        0 => Err(Error::Invalid(format!("{}: the prices table has no rows", data.display()))),
        n => Err(Error::Invalid(format!(
            "{}: the prices table holds {n} nodes ({}); say which to train with --point",
            data.display(),
            nodes.into_iter().collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn read_prices(data: &Path) -> Result<Vec<PriceRow>> {
    let (batch, _) = read_table(data, Table::Prices, &ReadOptions::default())?;
    Ok(price_rows(&batch)?)
}

/// What `hcp train price` runs.
#[derive(Debug, Clone)]
pub struct TrainPriceConfig {
    pub data: PathBuf,
    /// The node to train; `None`: the one node the dataset holds.
    pub node: Option<String>,
    pub out: PathBuf,
    /// The last days of the history, held out (time-ordered) to measure the model and size its
    /// quantile band before the final fit on everything.
    pub holdout_days: usize,
    pub path: PathConfig,
    /// Where to write the holdout's walk-forward forecasts (a forecast dataset root), if at all.
    pub holdout_forecasts: Option<HoldoutForecasts>,
}

/// The holdout's forecasts as rows of the `forecasts` table: issued every hour of the held-out
/// days by the model fitted before them, for horizons 1-24 h, beside the latest published
/// day-ahead price (the naive benchmark), mean rows only (the quantile band is sized on these
/// same errors, so holdout quantiles would be in-sample). Analysts join them to the realised
/// `prices` for accuracy by horizon (`notebooks/forecast_accuracy.ipynb`).
#[derive(Debug, Clone)]
pub struct HoldoutForecasts {
    pub out: PathBuf,
    pub run_id: String,
}

impl TrainPriceConfig {
    pub fn new(data: PathBuf, node: Option<String>, out: PathBuf) -> TrainPriceConfig {
        TrainPriceConfig { data, node, out, holdout_days: 28, path: PathConfig::default(), holdout_forecasts: None }
    }
}

/// A forecaster fitted on the first `n` hours of a grid, with its holdout scores.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub forecaster: PriceForecaster,
    /// First hour of the holdout.
    pub cut: usize,
    pub model: hcp_models::forecast::Scores,
    pub dam_latest: hcp_models::forecast::Scores,
    /// Every scored holdout forecast, in issue then horizon order.
    pub holdout: Vec<HoldoutPoint>,
}

/// One scored holdout forecast: issued at hour `issue` of the grid for `horizon` hours ahead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldoutPoint {
    pub issue: usize,
    pub horizon: usize,
    pub lear_rt: f64,
    pub dam_latest: f64,
}

/// Hours of history [`fit_forecaster`] needs with `holdout_days` held out: a week and a day of
/// lags, 28 days of training, the holdout and one day to forecast.
pub fn hours_needed(holdout_days: usize) -> usize {
    MAX_LOOKBACK + 28 * 24 + holdout_days * 24 + HORIZONS
}

/// Fits `lear_rt` on hours `..n` of `p` after measuring it on the last `holdout_days` of them
/// (the measurement also sizes its quantile band). `what` names the data in errors.
pub fn fit_forecaster(
    p: &HourlyPrices,
    n: usize,
    holdout_days: usize,
    path: &PathConfig,
    what: &str,
) -> Result<Fitted> {
    let holdout = holdout_days * 24;
    let needed = hours_needed(holdout_days);
    if n < needed {
        return Err(Error::Invalid(format!(
            "{what}: {} has {n} hours; training with {holdout_days} holdout days needs at least {needed}",
            p.node
        )));
    }
    let cut = n - holdout;
    let validation_model = LearRt::fit(p, 0, cut, path)?;
    let mut bands = ErrorBands::new(HORIZONS, usize::MAX);
    let (mut model_acc, mut dam_acc) = (Accumulator::default(), Accumulator::default());
    let mut holdout = Vec::new();
    for k in cut..n - HORIZONS + 1 {
        for h in 1..=HORIZONS {
            let j = k + h - 1;
            let (Some(f), Some((dam, _))) = (validation_model.forecast(p, k, h), p.latest_da(k, j)) else { continue };
            if !p.rt[j].is_finite() {
                continue;
            }
            bands.record(h - 1, p.rt[j] - f);
            model_acc.add(p.rt[j], f, &[f; 3]);
            dam_acc.add(p.rt[j], dam, &[dam; 3]);
            holdout.push(HoldoutPoint { issue: k, horizon: h, lear_rt: f, dam_latest: dam });
        }
    }
    if model_acc.scores().n == 0 {
        return Err(Error::Invalid(format!("{what}: {}: no complete hour in the {holdout_days} holdout days", p.node)));
    }
    let forecaster = PriceForecaster {
        node: p.node.clone(),
        trained_until_us: p.time(n - 1),
        model: LearRt::fit(p, 0, n, path)?,
        band_offsets: (0..HORIZONS).map(|h| bands.offsets(h)).collect(),
    };
    Ok(Fitted { forecaster, cut, model: model_acc.scores(), dam_latest: dam_acc.scores(), holdout })
}

/// Fits `lear_rt` on all of a node's history after measuring it on the held-out last days;
/// writes `model.json` and `manifest.json`.
pub fn train_price(cfg: &TrainPriceConfig) -> Result<Manifest> {
    let p = read_node(&cfg.data, cfg.node.as_deref())?;
    let n = p.len();
    let Fitted { forecaster, cut, model: model_scores, dam_latest: dam_scores, holdout } =
        fit_forecaster(&p, n, cfg.holdout_days, &cfg.path, &cfg.data.display().to_string())?;
    let mut hash = Fnv1a::default();
    for (rt, da) in p.rt.iter().zip(&p.da) {
        hash.write(&rt.to_le_bytes());
        hash.write(&da.to_le_bytes());
    }
    let training = serde_json::json!({
        "data": cfg.data.display().to_string(),
        "node": p.node,
        "first_hour": hcp_datasets::time::format_micros(p.start_us),
        "last_hour": hcp_datasets::time::format_micros(p.time(n - 1)),
        "hours": n,
        "hours_with_real_time_price": p.rt.iter().filter(|v| v.is_finite()).count(),
        "prices_fnv1a64": format!("{:016x}", hash.0),
        "config": {"horizons": HORIZONS, "models": "one lasso per horizon and issue hour of day, AIC", "path": format!("{:?}", cfg.path)},
    });
    // Point scores only: the band is sized on these same holdout errors.
    let point = |s: &hcp_models::forecast::Scores| serde_json::json!({"mae": s.mae, "rmse": s.rmse, "n": s.n});
    let validation = serde_json::json!({
        "holdout": {"from": hcp_datasets::time::format_micros(p.time(cut)), "days": cfg.holdout_days},
        "lear_rt": point(&model_scores),
        "dam_latest": point(&dam_scores),
        "mae_vs_dam_latest": model_scores.mae / dam_scores.mae,
        "band_quantiles": QUANTILES,
    });
    let manifest = artifact::save(&cfg.out, ARTIFACT_KIND, &feature_names(), &forecaster, training, validation)?;
    if let Some(h) = &cfg.holdout_forecasts {
        let version = format!("{}-holdout", &manifest.model_sha256[..12]);
        let rows = holdout_rows(&p, &holdout, &version, &h.run_id);
        let opts = WriteOptions::new(h.run_id.clone(), format!("hcp train price {} (holdout)", p.node));
        write_table(&h.out, Table::Forecasts, &forecasts_batch(&rows), &opts)?;
    }
    Ok(manifest)
}

/// Trains `lstm_rt` on all of a node's history (its validation split: the last
/// `lstm.valid_days`) and writes `model.safetensors` and `manifest.json` to `cfg.out`, with the
/// best weights so far in `cfg.out/checkpoints` while it trains.
pub fn train_price_lstm(
    cfg: &TrainPriceConfig,
    lstm: &hcp_lstm::LstmConfig,
    progress: &mut dyn FnMut(&hcp_lstm::Progress),
) -> Result<Manifest> {
    let p = read_node(&cfg.data, cfg.node.as_deref())?;
    let trained = hcp_lstm::train(&p, 0, p.len(), lstm, Some(&cfg.out.join("checkpoints")), progress)?;
    Ok(trained.save(&cfg.out, &cfg.data.display().to_string())?)
}

/// The holdout forecasts as mean rows of `lear_rt` and `dam_latest`; the version names the
/// saved model's weights with a `-holdout` suffix (the holdout model is that model's
/// configuration fitted on the hours before the holdout).
fn holdout_rows(p: &HourlyPrices, holdout: &[HoldoutPoint], version: &str, run_id: &str) -> Vec<ForecastRow> {
    let (target, node, version, run_id): (Arc<str>, Arc<str>, Arc<str>, Arc<str>) =
        ("rtm_price_per_mwh".into(), p.node.as_str().into(), version.into(), run_id.into());
    let (lear, dam): (Arc<str>, Arc<str>) = ("lear_rt".into(), "dam_latest".into());
    let mut rows = Vec::with_capacity(2 * holdout.len());
    for h in holdout {
        for (model_id, value) in [(&lear, h.lear_rt), (&dam, h.dam_latest)] {
            rows.push(ForecastRow {
                forecast_time_us: p.time(h.issue),
                target_time_us: p.time(h.issue + h.horizon - 1),
                target: target.clone(),
                node: node.clone(),
                model_id: model_id.clone(),
                model_version: version.clone(),
                run_id: run_id.clone(),
                quantile: None,
                value,
            });
        }
    }
    rows
}

/// What `hcp forecast price` runs.
#[derive(Debug, Clone)]
pub struct ForecastPriceConfig {
    /// One model directory per node to forecast.
    pub models: Vec<PathBuf>,
    pub history: PathBuf,
    pub out: PathBuf,
    pub run_id: String,
    /// Issue time (UTC µs, on the hour); by default the hour after the last known real-time price.
    pub issue_us: Option<i64>,
}

/// What one model of `hcp forecast price` forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelForecast {
    pub horizons: usize,
    /// Why the forecasts are in sample, when the model was trained on prices from the issue time
    /// on (an `--issue-time` before the end of its training data): they then say how well it fits
    /// what it saw, not how well it forecasts.
    pub in_sample: Option<String>,
}

/// Forecasts the next 24 hours of every model's node from the history and writes them, in one
/// file per partition, under
/// `out/forecasts/target=rtm_price_per_mwh/forecast_date=YYYY-MM-DD/part-<run_id>.parquet`
/// (a run id names the files it writes: the same run id again rewrites them). Returns the files
/// and what each model forecast.
pub fn forecast_price(cfg: &ForecastPriceConfig) -> Result<(Vec<WrittenFile>, Vec<ModelForecast>)> {
    // The history is read once for every model's node.
    let prices = read_prices(&cfg.history)?;
    let mut rows = Vec::new();
    let mut forecast = Vec::new();
    for model in &cfg.models {
        let before = rows.len();
        let in_sample = price_forecast_rows(model, &prices, cfg, &mut rows)?;
        forecast.push(ModelForecast { horizons: (rows.len() - before) / (1 + QUANTILES.len()), in_sample });
    }
    let source = format!(
        "hcp forecast price {}",
        cfg.models.iter().map(|m| m.display().to_string()).collect::<Vec<_>>().join(" ")
    );
    let opts = WriteOptions::new(cfg.run_id.clone(), source);
    let written = write_table(&cfg.out, Table::Forecasts, &forecasts_batch(&rows), &opts)?;
    Ok((written, forecast))
}

/// Appends one model's forecast rows; returns why they are in sample, when they are.
fn price_forecast_rows(
    model_dir: &Path,
    prices: &[PriceRow],
    cfg: &ForecastPriceConfig,
    rows: &mut Vec<ForecastRow>,
) -> Result<Option<String>> {
    let (forecaster, manifest) = PriceModel::load(model_dir)?;
    let node = forecaster.node().to_string();
    let p = hourly_grid(prices, &node, &cfg.history.display().to_string())?;
    let k = match cfg.issue_us {
        Some(t) => {
            let lookback = forecaster.lookback();
            if (t - p.start_us) % 3_600_000_000 != 0 || t < p.time(lookback) || t > p.time(p.len()) {
                return Err(Error::Invalid(format!(
                    "--issue-time {}: must be on the hour within {} .. {}",
                    hcp_datasets::time::format_micros(t),
                    hcp_datasets::time::format_micros(p.time(lookback)),
                    hcp_datasets::time::format_micros(p.time(p.len()))
                )));
            }
            ((t - p.start_us) / 3_600_000_000) as usize
        }
        None => p.rt.iter().rposition(|v| v.is_finite()).map_or(0, |i| i + 1),
    };
    // Prices of hours from the issue on are not known at the issue: hide them from the model.
    let mut known = p.clone();
    let issue_us = known.time(k);
    for i in k..known.len() {
        known.rt[i] = f64::NAN;
        if known.da_published_us[i] > issue_us {
            known.da[i] = f64::NAN;
        }
    }
    // The grid must reach the last horizon for its calendar inputs.
    extend_grid(&mut known, k + HORIZONS);
    let forecasts = forecaster.forecast(&known, k)?;
    let (model_id, needs) = (forecaster.model_id(), forecaster.lookback());
    if forecasts.is_empty() {
        return Err(Error::Invalid(format!(
            "{node}: no forecast possible at {}: the {needs} hours of prices before it are incomplete, \
             or a target hour has no day-ahead price known by then",
            hcp_datasets::time::format_micros(issue_us)
        )));
    }
    // The model version is the first 12 hex digits of its weights' sha256.
    let labels = RowLabels::new("rtm_price_per_mwh", &node, &manifest.model_sha256[..12], &cfg.run_id);
    let model_id: Arc<str> = model_id.into();
    for f in &forecasts {
        let forecast = Forecast { issue_us, target_us: f.target_start_us, mean: f.mean, quantiles: f.quantiles };
        labels.push(rows, &model_id, forecast);
    }
    let trained_until = forecaster.trained_until_us();
    Ok((trained_until >= issue_us).then(|| {
        format!(
            "{}: trained on {node}'s prices up to {}, past the issue time {}: its forecasts are in sample",
            model_dir.display(),
            hcp_datasets::time::format_micros(trained_until),
            hcp_datasets::time::format_micros(issue_us)
        )
    }))
}

/// Extends the grid with unknown hours up to `len`, with their calendar and publication times.
fn extend_grid(p: &mut HourlyPrices, len: usize) {
    while p.len() < len {
        let t = p.time(p.len());
        let (hour, weekday, published) = crate::realtime::calendar(t);
        p.rt.push(f64::NAN);
        p.da.push(f64::NAN);
        p.hour_of_day.push(hour);
        p.weekday.push(weekday);
        p.da_published_us.push(published);
    }
}
