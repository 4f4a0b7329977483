//! Fitting `lstm_demand` (GPU demand a week ahead): the issues of an hourly series, their
//! batches, and the same training loop as `lstm_rt` ([`crate::train`]); the artifact that
//! `hcp_models::forecast::demand_lstm` loads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use hcp_models::artifact::Manifest;
use hcp_models::forecast::demand::HORIZONS;
use hcp_models::forecast::demand_lstm::{
    ARTIFACT_KIND, DemandLstm, DemandLstmSpec, Head, N_HEAD, N_SKIP, N_STEP, WEIGHTS_FILE, head, step_features,
};
use hcp_models::forecast::scaler::Invariant;
use serde::Serialize;

use crate::net::Batch;
use crate::train::{FitReport, LstmConfig, Progress, Samples, check_config, fit, manifest, sha256_f64};
use crate::{Error, Result};

const WEEK: usize = 168;

/// An hourly series with its step inputs and every issue's head inputs, computed once.
#[derive(Debug, Clone)]
pub struct DemandGrid<'a> {
    pub y: &'a [f64],
    pub scaler: Invariant,
    pub window: usize,
    steps: Vec<Option<[f32; N_STEP]>>,
    heads: Vec<Option<Head>>,
}

impl<'a> DemandGrid<'a> {
    pub fn new(y: &'a [f64], start_us: i64, scaler: Invariant, window: usize) -> DemandGrid<'a> {
        let steps = (0..y.len()).map(|t| step_features(y, start_us, &scaler, t)).collect();
        let heads = (0..y.len()).map(|k| head(y, start_us, &scaler, k)).collect();
        DemandGrid { y, scaler, window, steps, heads }
    }

    /// Issues `k` in `[first, end)` whose 168 targets end by `end`, with a full window of finite
    /// values, the head inputs and finite targets; the others counted by reason.
    pub fn issues(&self, first: usize, end: usize) -> (Vec<usize>, BTreeMap<String, usize>) {
        let mut issues = Vec::new();
        let mut left_out = BTreeMap::new();
        let mut skip = |why: &str| *left_out.entry(why.to_string()).or_insert(0) += 1;
        for k in first..end.min(self.y.len()).saturating_sub(HORIZONS - 1) {
            if k < self.window.max(2 * WEEK) {
                skip("less than a window and two weeks of history");
            } else if self.heads[k].is_none() || self.steps[k - self.window..k].iter().any(Option::is_none) {
                skip("a value of the window or of the last two weeks missing");
            } else if self.y[k..k + HORIZONS].iter().any(|v| !v.is_finite()) {
                skip("a target missing");
            } else {
                issues.push(k);
            }
        }
        (issues, left_out)
    }

    /// The batch of `issues` on `device`.
    pub fn batch(&self, issues: &[usize], device: &Device) -> Batch {
        let (n, w) = (issues.len(), self.window);
        let mut seq = Vec::with_capacity(w * n * N_STEP);
        for t in 0..w {
            for &k in issues {
                seq.extend_from_slice(&self.steps[k - w + t].expect("issues have their window"));
            }
        }
        let mut head = Vec::with_capacity(n * N_HEAD);
        let mut skip: Vec<f32> = Vec::with_capacity(n * HORIZONS * N_SKIP);
        let mut base = Vec::with_capacity(n * HORIZONS);
        let mut target = Vec::with_capacity(n * HORIZONS);
        for &k in issues {
            let x = self.heads[k].as_ref().expect("issues have their head inputs");
            head.extend_from_slice(&x.inputs);
            skip.extend(x.skip.iter().flatten());
            base.extend_from_slice(&x.base);
            target.extend((0..HORIZONS).map(|h| self.scaler.transform(self.y[k + h]) as f32));
        }
        Batch {
            seq: Tensor::from_data(TensorData::new(seq, [w, n, N_STEP]), device),
            head: Tensor::from_data(TensorData::new(head, [n, N_HEAD]), device),
            skip: Some(Tensor::from_data(TensorData::new(skip, [n, HORIZONS, N_SKIP]), device)),
            base: Tensor::from_data(TensorData::new(base, [n, HORIZONS]), device),
            target: Tensor::from_data(TensorData::new(target, [n, HORIZONS]), device),
        }
    }
}

/// What a demand training run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandTrainReport {
    #[serde(flatten)]
    pub fit: FitReport,
    /// The kept weights' validation MAE of the median.
    pub valid_mae: f64,
    /// The weekly naive forecast's MAE on the same validation issues.
    pub valid_weekly_naive_mae: f64,
    pub train_first_hour: usize,
    pub train_end_hour: usize,
}

/// A trained `lstm_demand`.
#[derive(Debug, Clone)]
pub struct TrainedDemand {
    pub spec: DemandLstmSpec,
    pub config: LstmConfig,
    pub weights: Vec<u8>,
    pub report: DemandTrainReport,
}

/// An hourly series to train on: its name, values and the start of hour 0 (UTC µs; 0 for a
/// trace, whose times count from its start).
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
    pub start_us: i64,
}

/// Trains on the issues of `[first, end)` of `series`: every target before `end`, the last
/// `cfg.valid_days` held out by time.
pub fn train_demand(
    s: Series,
    first: usize,
    end: usize,
    cfg: &LstmConfig,
    checkpoint: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<TrainedDemand> {
    let started = Instant::now();
    let (series, y, start_us) = (s.name, s.values, s.start_us);
    check_config(cfg)?;
    let end = end.min(y.len());
    let first = match cfg.train_days {
        Some(d) => first.max(end.saturating_sub(d * 24)),
        None => first,
    };
    let valid_first = end.saturating_sub(cfg.valid_days * 24);
    let known: Vec<f64> = y[first..end].iter().copied().filter(|v| v.is_finite()).collect();
    if valid_first <= first || known.is_empty() {
        return Err(Error::Invalid(format!(
            "{} hours of `{series}` leave nothing before the {}-day validation split",
            end.saturating_sub(first),
            cfg.valid_days
        )));
    }
    let scaler = Invariant::fit(&known);
    let grid = DemandGrid::new(y, start_us, scaler, cfg.window);
    let (train_issues, mut left_out) = grid.issues(first, valid_first);
    let (valid_issues, valid_left_out) = grid.issues(valid_first, end);
    if train_issues.len() < cfg.batch || valid_issues.is_empty() {
        return Err(Error::Invalid(format!(
            "`{series}`: {} training and {} validation issues between hours {first} and {end} (left out: {left_out:?}): \
             too few for batches of {} (each issue needs a window and two weeks before it and the week after it; \
             --lstm-valid-days {} must leave a week of issues)",
            train_issues.len(),
            valid_issues.len(),
            cfg.batch,
            cfg.valid_days
        )));
    }
    for (why, n) in valid_left_out {
        *left_out.entry(why).or_insert(0) += n;
    }
    let mut spec = DemandLstmSpec::new(series, cfg.window, cfg.hidden, cfg.layers, scaler);
    spec.trained_hours = end;
    let make = |issues: &[usize], device: &Device| grid.batch(issues, device);
    let samples = Samples {
        shape: spec.shape(),
        train: &train_issues,
        valid: &valid_issues,
        left_out,
        data_sha256: sha256_f64(&y[first..end]),
        make: &make,
    };
    let prior = prior_network(&spec, cfg.seed)?;
    let (weights, mut fit) = fit(samples, cfg, Some(&prior), checkpoint, progress)?;
    let model = DemandLstm::from_safetensors(spec.clone(), &weights)?;
    let (mut mae, mut naive, mut n) = (0.0, 0.0, 0usize);
    for chunk in valid_issues.chunks(256) {
        for (&k, q) in chunk.iter().zip(model.quantiles_z(y, start_us, chunk)?) {
            let q = q.expect("validation issues have their inputs");
            for (h, z) in q.iter().enumerate() {
                mae += (scaler.inverse(f64::from(z[1])) - y[k + h]).abs();
                naive += (y[k + h - 168] - y[k + h]).abs();
                n += 1;
            }
        }
    }
    fit.elapsed_s = started.elapsed().as_secs_f64();
    let report = DemandTrainReport {
        fit,
        valid_mae: mae / n as f64,
        valid_weekly_naive_mae: naive / n as f64,
        train_first_hour: first,
        train_end_hour: end,
    };
    Ok(TrainedDemand { spec, config: cfg.clone(), weights, report })
}

/// Hours over which the starting network's median fades from persistence to the weekly naive
/// forecast: a day, chosen before measuring (README "The LSTM on demand" has 12, 48 and 96).
const PRIOR_DECAY_HOURS: f32 = 24.0;

/// The network training starts from (its epoch 0): drawn from the seed as any (`Net::init`),
/// but with the median's skip weight on "last value − weekly naive value" at
/// `exp(−h / PRIOR_DECAY_HOURS)` for horizon `h`, so that it starts as persistence fading into
/// the weekly naive forecast rather than as the weekly naive forecast alone: the skip weights
/// move little in the few hundred Adam steps early stopping allows.
fn prior_network(spec: &DemandLstmSpec, seed: u64) -> Result<Vec<u8>> {
    let cpu = crate::train::cpu_device();
    cpu.seed(seed);
    let mut net = crate::net::Net::init(&spec.shape(), &cpu);
    let mut w = vec![0f32; HORIZONS * 3 * N_SKIP];
    for h in 0..HORIZONS {
        // Weights `[horizon, output, input]`: output 0 is the median's, input 1 the last value's.
        w[h * 3 * N_SKIP + 1] = (-((h + 1) as f32) / PRIOR_DECAY_HOURS).exp();
    }
    net.skip =
        Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(w, [HORIZONS, 3, N_SKIP]), &cpu)));
    net.to_safetensors()
}

impl TrainedDemand {
    /// The trained network on the candle path.
    pub fn model(&self) -> Result<DemandLstm> {
        Ok(DemandLstm::from_safetensors(self.spec.clone(), &self.weights)?)
    }

    /// Writes `model.safetensors` and `manifest.json` under `dir`.
    pub fn save(&self, dir: &Path, source: &str) -> Result<Manifest> {
        let r = &self.report;
        let manifest = manifest(
            ARTIFACT_KIND,
            &self.spec,
            self.spec
                .step_features
                .iter()
                .chain(&self.spec.head_inputs)
                .chain(&self.spec.skip_inputs)
                .cloned()
                .collect(),
            &self.config,
            &r.fit,
            serde_json::json!({
                "source": source,
                "series": self.spec.series,
                "first_hour": r.train_first_hour,
                "end_hour": r.train_end_hour,
            }),
            serde_json::json!({
                "mae": r.valid_mae,
                "seasonal_naive_weekly_mae": r.valid_weekly_naive_mae,
                "rmae": r.valid_mae / r.valid_weekly_naive_mae,
            }),
        )?;
        Ok(hcp_models::artifact::save_bytes(dir, WEIGHTS_FILE, &self.weights, manifest)?)
    }
}
