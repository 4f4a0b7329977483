//! Fitting `lstm_rt`: Adam on the pinball loss over shuffled mini-batches (seeded), a
//! time-ordered validation split at the end of the training range, early stopping on its loss
//! with the best epoch's weights kept, a checkpoint of those weights after each improvement,
//! and the artifact (`model.safetensors` + `manifest.json` with the exact config).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use hcp_datasets::time::format_micros;
use hcp_models::artifact::{FORMAT_VERSION, Manifest, sha256_hex};
use hcp_models::forecast::lstm::{ARTIFACT_KIND, LstmForecaster, LstmSpec, NetShape, WEIGHTS_FILE};
use hcp_models::forecast::realtime::{HORIZONS, HourlyPrices};
use hcp_models::forecast::scaler::Invariant;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::net::{Batch, Kernel, Net};
use crate::samples::Grid;
use crate::{Error, Result};

/// The exact training configuration, saved with the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmConfig {
    /// Hours of history each issue reads.
    pub window: usize,
    pub hidden: usize,
    pub layers: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Gradients are clipped to this L2 norm.
    pub clip_norm: f64,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// The last days of the training range, held out (by time) for early stopping.
    pub valid_days: usize,
    /// Days of history before the end of training used at all (`None`: everything).
    pub train_days: Option<usize>,
    pub seed: u64,
    /// Threads each LSTM layer spreads a batch's parts of rows over; the weights do not depend
    /// on it.
    #[serde(default = "one")]
    pub threads: usize,
    /// Where the network trains; its initial weights are drawn on the CPU either way, so a seed
    /// starts every device from the same network.
    #[serde(default)]
    pub device: TrainDevice,
}

fn one() -> usize {
    1
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig {
            window: 168,
            hidden: 64,
            layers: 1,
            batch: 64,
            learning_rate: 1e-3,
            clip_norm: 1.0,
            max_epochs: 30,
            patience: 4,
            valid_days: 28,
            train_days: None,
            seed: 7,
            threads: 1,
            device: TrainDevice::Cpu,
        }
    }
}

/// Where training runs: burn's ndarray CPU backend, each layer fused ([`crate::fused`]), or a
/// GPU through burn's CubeCL backend on wgpu (Vulkan, Metal, DirectX 12 or OpenGL; the layers as
/// burn tensor operations), which needs hcp built with the `gpu` feature. Written `cpu`, `gpu`
/// (the adapter wgpu prefers: a high-power GPU first; `CUBECL_WGPU_DEFAULT_DEVICE` overrides it)
/// or `gpu:N` (the N-th discrete GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    #[default]
    Cpu,
    Gpu(Option<usize>),
}

impl TrainDevice {
    /// burn's device for training (without autodiff). A GPU in a build without the `gpu`
    /// feature, or one wgpu cannot open, is refused with an error that says so.
    pub fn burn(self) -> Result<Device> {
        match self {
            TrainDevice::Cpu => Ok(cpu_device()),
            #[cfg(feature = "gpu")]
            TrainDevice::Gpu(index) => {
                use burn::tensor::{DeviceKind, Tensor};
                let device = Device::wgpu(index.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu));
                // wgpu opens the adapter on first use, in a thread of its own, and panics there
                // when there is none: try a tensor here, so that the caller gets an error.
                let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Tensor::<1>::zeros([1], &device).into_data();
                }));
                probe.map(|_| device).map_err(|_| {
                    Error::Invalid(format!("no GPU for {self}: wgpu found no adapter to match (see its message above)"))
                })
            }
            #[cfg(not(feature = "gpu"))]
            TrainDevice::Gpu(_) => Err(Error::Invalid(format!(
                "training on {self} needs hcp built with the `gpu` feature (cargo build --features gpu)"
            ))),
        }
    }
}

impl std::fmt::Display for TrainDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainDevice::Cpu => write!(f, "cpu"),
            TrainDevice::Gpu(None) => write!(f, "gpu"),
            TrainDevice::Gpu(Some(index)) => write!(f, "gpu:{index}"),
        }
    }
}

impl std::str::FromStr for TrainDevice {
    type Err = Error;

    fn from_str(s: &str) -> Result<TrainDevice> {
        let index = |i: &str| {
            i.parse().map_err(|_| Error::Invalid(format!("device {s:?}: the GPU index {i:?} is not a number")))
        };
        match s {
            "cpu" => Ok(TrainDevice::Cpu),
            "gpu" => Ok(TrainDevice::Gpu(None)),
            _ => match s.strip_prefix("gpu:") {
                Some(i) => Ok(TrainDevice::Gpu(Some(index(i)?))),
                None => Err(Error::Invalid(format!("device {s:?}: expected cpu, gpu or gpu:N"))),
            },
        }
    }
}

/// Where training stands, after each batch and each epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub epoch: usize,
    pub max_epochs: usize,
    pub batch: usize,
    pub batches: usize,
    /// Mean training loss of the epoch so far.
    pub train_loss: f64,
    /// Set at the end of an epoch.
    pub valid_loss: Option<f64>,
}

/// What the training loop did, for any LSTM forecaster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// Mean pinball loss (invariant space) per epoch.
    pub train_loss_by_epoch: Vec<f64>,
    pub valid_loss_by_epoch: Vec<f64>,
    /// The kept weights' validation pinball loss (invariant space).
    pub valid_pinball: f64,
    pub train_issues: usize,
    pub valid_issues: usize,
    /// Issues of the training range left out, by reason.
    pub left_out: BTreeMap<String, usize>,
    /// sha256 of the data trained on (f64 little-endian).
    pub data_sha256: String,
    pub windows_per_s: f64,
    /// The whole training call, inputs and validation included.
    pub elapsed_s: f64,
}

/// What a training run of `lstm_rt` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    #[serde(flatten)]
    pub fit: FitReport,
    /// The kept weights' validation MAE of the median ($/MWh).
    pub valid_mae_usd_per_mwh: f64,
    pub train_first_us: i64,
    pub train_end_us: i64,
}

/// A trained network: its spec, weights (safetensors) and report.
#[derive(Debug, Clone)]
pub struct Trained {
    pub spec: LstmSpec,
    pub config: LstmConfig,
    pub weights: Vec<u8>,
    pub report: TrainReport,
}

/// burn's ndarray CPU device (no autodiff): what training wraps and validation runs on.
#[allow(deprecated)] // burn 0.22 points to `Device::flex()`; ndarray is the backend measured here.
pub fn cpu_device() -> Device {
    Device::ndarray()
}

/// Trains on the issues of `[first, end)` of `p` (grid indices; targets must be over by `end`).
/// `checkpoint`: a directory where the best weights so far are written after each improvement.
pub fn train(
    p: &HourlyPrices,
    first: usize,
    end: usize,
    cfg: &LstmConfig,
    checkpoint: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Trained> {
    train_from(p, first, end, cfg, None, checkpoint, progress)
}

/// [`train`], starting from `init`'s weights and scaler when given (fine-tuning on newer data):
/// its network shape must be `cfg`'s, and its weights count as epoch 0, kept when no epoch
/// beats them on the validation split (`best_epoch` 0).
pub fn train_from(
    p: &HourlyPrices,
    first: usize,
    end: usize,
    cfg: &LstmConfig,
    init: Option<&Trained>,
    checkpoint: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Trained> {
    let started = Instant::now();
    check_config(cfg)?;
    let end = end.min(p.len());
    let first = match cfg.train_days {
        Some(d) => first.max(end.saturating_sub(d * 24)),
        None => first,
    };
    let valid_first = end.saturating_sub(cfg.valid_days * 24);
    if valid_first <= first {
        return Err(Error::Invalid(format!(
            "{} hours of training data leave nothing before the {}-day validation split",
            end.saturating_sub(first),
            cfg.valid_days
        )));
    }
    if let Some(t) = init
        && (t.spec.window, t.spec.hidden, t.spec.layers) != (cfg.window, cfg.hidden, cfg.layers)
    {
        return Err(Error::Invalid(format!(
            "fine-tuning a network of window {}, hidden {}, layers {} with window {}, hidden {}, layers {}",
            t.spec.window, t.spec.hidden, t.spec.layers, cfg.window, cfg.hidden, cfg.layers
        )));
    }
    let scaler = match init {
        Some(t) => t.spec.scaler,
        None => {
            let known: Vec<f64> = (first.saturating_sub(cfg.window)..end).flat_map(|i| [p.rt[i], p.da[i]]).collect();
            Invariant::fit(&known)
        }
    };
    let grid = Grid::new(p, scaler, cfg.window);
    let train_set = grid.issues(first, valid_first);
    let valid_set = grid.issues(valid_first, end);
    if train_set.issues.len() < cfg.batch || valid_set.issues.is_empty() {
        return Err(Error::Invalid(format!(
            "{} training and {} validation issues between hours {first} and {end} of the grid (left out: {:?}): too few for batches of {}",
            train_set.issues.len(),
            valid_set.issues.len(),
            train_set.left_out,
            cfg.batch
        )));
    }
    let mut left_out = train_set.left_out.clone();
    for (why, n) in &valid_set.left_out {
        *left_out.entry(why.clone()).or_insert(0) += n;
    }

    let mut spec = LstmSpec::new(&p.node, cfg.window, cfg.hidden, cfg.layers, scaler);
    spec.trained_until_us = p.time(end - 1);
    let make = |issues: &[usize], device: &Device| grid.batch(issues, device);
    // The prices trained on: real-time, then day-ahead.
    let data = [&p.rt, &p.da].map(|series| &series[first..end]).concat();
    let samples = Samples {
        shape: spec.shape(),
        train: &train_set.issues,
        valid: &valid_set.issues,
        left_out,
        data_sha256: sha256_f64(&data),
        make: &make,
    };
    let (weights, mut fit) = fit(samples, cfg, init.map(|t| t.weights.as_slice()), checkpoint, progress)?;
    let forecaster = LstmForecaster::from_safetensors(spec.clone(), &weights)?;
    let valid_mae = validation_mae(&forecaster, p, &valid_set.issues)?;
    fit.elapsed_s = started.elapsed().as_secs_f64();
    let report =
        TrainReport { fit, valid_mae_usd_per_mwh: valid_mae, train_first_us: p.time(first), train_end_us: p.time(end) };
    Ok(Trained { spec, config: cfg.clone(), weights, report })
}

/// Refuses a configuration that cannot train: sizes and epochs of zero, sizes past what any
/// of our series could use (a typo there would exhaust memory before training began), a
/// learning rate that is not a positive number. Names the flag of the first field wrong.
pub(crate) fn check_config(cfg: &LstmConfig) -> Result<()> {
    let counts = [
        ("--lstm-window", cfg.window, 8_760),
        ("--lstm-hidden", cfg.hidden, 4_096),
        ("--lstm-layers", cfg.layers, 8),
        ("--lstm-batch", cfg.batch, 65_536),
        ("--lstm-epochs", cfg.max_epochs, 100_000),
        ("--lstm-threads", cfg.threads, 1_024),
    ];
    for (flag, v, max) in counts {
        if !(1..=max).contains(&v) {
            return Err(Error::Invalid(format!("{flag} {v}: 1 to {max}")));
        }
    }
    if !(cfg.learning_rate > 0.0 && cfg.learning_rate.is_finite()) {
        return Err(Error::Invalid(format!("--lstm-learning-rate {} must be positive", cfg.learning_rate)));
    }
    Ok(())
}

/// sha256 of values as f64 little-endian: what a report says it trained on.
pub(crate) fn sha256_f64(values: &[f64]) -> String {
    sha256_hex(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

/// What a network learns from: its shape, the issues it trains and validates on (and those
/// left out, by reason), the data's sha256, and how a batch of issues is built on a device.
pub(crate) struct Samples<'a> {
    pub shape: NetShape,
    pub train: &'a [usize],
    pub valid: &'a [usize],
    pub left_out: BTreeMap<String, usize>,
    pub data_sha256: String,
    pub make: &'a dyn Fn(&[usize], &Device) -> Batch,
}

/// The training loop every LSTM forecaster shares: a network of `s.shape` (from `init`'s
/// weights, which count as epoch 0, or drawn from the seed on the CPU) trained by Adam on
/// shuffled batches of the training issues, validated after each epoch, stopped after
/// `cfg.patience` epochs without a better validation loss. Returns the kept weights
/// (safetensors) and the report (`elapsed_s` the loop's own, for the caller to extend).
pub(crate) fn fit(
    s: Samples,
    cfg: &LstmConfig,
    init: Option<&[u8]>,
    checkpoint: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Vec<u8>, FitReport)> {
    let (shape, make) = (&s.shape, s.make);
    let kernel = Kernel::Fused { threads: cfg.threads };
    let plain = cfg.device.burn()?;
    let device = plain.clone().autodiff();
    let mut net = match init {
        Some(weights) => Net::from_safetensors(shape, weights, &device)?,
        None => {
            // Drawn on the CPU whatever the device: a seed gives one initial network.
            let cpu = cpu_device().autodiff();
            cpu.seed(cfg.seed);
            let net = Net::init(shape, &cpu);
            match cfg.device {
                TrainDevice::Cpu => net,
                TrainDevice::Gpu(_) => Net::from_safetensors(shape, &net.to_safetensors()?, &device)?,
            }
        }
    };
    let mut optim =
        AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(cfg.clip_norm as f32))).init();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(cfg.seed);
    let mut order = s.train.to_vec();
    let batches = order.len().div_ceil(cfg.batch);
    let valid_batches: Vec<_> = s.valid.chunks(512).map(|c| make(c, &plain)).collect();

    let mut best: Option<(f64, usize, Net)> = None;
    if init.is_some() {
        let current = net.valid();
        best = Some((validation_loss(&current, kernel, &valid_batches), 0, current));
    }
    let mut train_losses = Vec::new();
    let mut valid_losses = Vec::new();
    let mut windows = 0usize;
    let fit_started = Instant::now();
    for epoch in 1..=cfg.max_epochs {
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        for (b, chunk) in order.chunks(cfg.batch).enumerate() {
            let batch = make(chunk, &device);
            let loss = net.loss(kernel, &batch);
            let value: f64 = loss.clone().into_scalar::<f32>().into();
            if !value.is_finite() {
                return Err(Error::Invalid(format!(
                    "training loss became {value} at epoch {epoch}, batch {}: lower the learning rate",
                    b + 1
                )));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(cfg.learning_rate, net, grads);
            sum += value * chunk.len() as f64;
            windows += chunk.len();
            progress(&Progress {
                epoch,
                max_epochs: cfg.max_epochs,
                batch: b + 1,
                batches,
                train_loss: sum / (b * cfg.batch + chunk.len()) as f64,
                valid_loss: None,
            });
        }
        let train_loss = sum / order.len() as f64;
        let current = net.valid();
        let valid_loss = validation_loss(&current, kernel, &valid_batches);
        train_losses.push(train_loss);
        valid_losses.push(valid_loss);
        progress(&Progress {
            epoch,
            max_epochs: cfg.max_epochs,
            batch: batches,
            batches,
            train_loss,
            valid_loss: Some(valid_loss),
        });
        if best.as_ref().is_none_or(|(l, _, _)| valid_loss < *l) {
            if let Some(dir) = checkpoint {
                write_checkpoint(dir, &current, epoch)?;
            }
            best = Some((valid_loss, epoch, current));
        } else if best.as_ref().is_some_and(|(_, e, _)| epoch - e >= cfg.patience) {
            break;
        }
    }
    let fit_s = fit_started.elapsed().as_secs_f64();
    let (valid_pinball, best_epoch, kept) = best.expect("at least one epoch ran");
    let report = FitReport {
        epochs_run: train_losses.len(),
        best_epoch,
        train_loss_by_epoch: train_losses,
        valid_loss_by_epoch: valid_losses,
        valid_pinball,
        train_issues: s.train.len(),
        valid_issues: s.valid.len(),
        left_out: s.left_out,
        data_sha256: s.data_sha256,
        windows_per_s: windows as f64 / fit_s,
        elapsed_s: fit_s,
    };
    Ok((kept.to_safetensors()?, report))
}

/// An LSTM artifact's manifest: the spec as `config`; `training` with the training config and
/// the fit's issues, epochs, losses and speed added; `validation` with the split, the kept
/// weights' pinball loss and the losses by epoch added.
pub(crate) fn manifest(
    kind: &str,
    spec: &impl Serialize,
    feature_names: Vec<String>,
    config: &LstmConfig,
    fit: &FitReport,
    mut training: serde_json::Value,
    mut validation: serde_json::Value,
) -> Result<Manifest> {
    let add = |target: &mut serde_json::Value, entries: serde_json::Value| {
        if let (Some(t), serde_json::Value::Object(e)) = (target.as_object_mut(), entries) {
            t.extend(e);
        }
    };
    add(
        &mut training,
        serde_json::json!({
            "config": config,
            "train_issues": fit.train_issues,
            "valid_issues": fit.valid_issues,
            "left_out": fit.left_out,
            "data_sha256": fit.data_sha256,
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "train_loss_by_epoch": fit.train_loss_by_epoch,
            "windows_per_s": fit.windows_per_s,
            "elapsed_s": fit.elapsed_s,
        }),
    );
    add(
        &mut validation,
        serde_json::json!({
            "split": format!("the last {} days of the training range, by time", config.valid_days),
            "pinball_asinh": fit.valid_pinball,
            "valid_loss_by_epoch": fit.valid_loss_by_epoch,
        }),
    );
    Ok(Manifest {
        format_version: FORMAT_VERSION,
        kind: kind.into(),
        model_sha256: String::new(),
        feature_names,
        training,
        validation,
        created_by: format!("hcp {}", env!("CARGO_PKG_VERSION")),
        config: serde_json::to_value(spec).map_err(|e| Error::Invalid(e.to_string()))?,
    })
}

fn validation_loss(net: &Net, kernel: Kernel, batches: &[Batch]) -> f64 {
    let mut sum = 0.0;
    let mut n = 0usize;
    for b in batches {
        let rows = b.head.dims()[0];
        let l: f32 = net.loss(kernel, b).into_scalar();
        sum += f64::from(l) * rows as f64;
        n += rows;
    }
    sum / n as f64
}

/// MAE ($/MWh) of the decoded median over the validation issues, through the candle path.
fn validation_mae(f: &LstmForecaster, p: &HourlyPrices, issues: &[usize]) -> Result<f64> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for chunk in issues.chunks(512) {
        for (k, q) in chunk.iter().zip(f.quantiles_z(p, chunk)?) {
            let q = q.expect("validation issues have their inputs");
            for (h, z) in q.iter().enumerate() {
                sum += (f.spec.scaler.inverse(f64::from(z[1])) - p.rt[k + h]).abs();
                n += 1;
            }
        }
    }
    debug_assert_eq!(n, issues.len() * HORIZONS);
    Ok(sum / n as f64)
}

fn write_checkpoint(dir: &Path, net: &Net, epoch: usize) -> Result<()> {
    let io = |path: &Path, e| Error::Models(hcp_models::Error::io(path, e));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = dir.join("checkpoint.safetensors");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, net.to_safetensors()?).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    let epoch_path = dir.join("checkpoint.epoch");
    std::fs::write(&epoch_path, format!("{epoch}\n")).map_err(|e| io(&epoch_path, e))
}

impl Trained {
    /// The trained network on the candle path.
    pub fn forecaster(&self) -> Result<LstmForecaster> {
        Ok(LstmForecaster::from_safetensors(self.spec.clone(), &self.weights)?)
    }

    /// Writes `model.safetensors` and `manifest.json` under `dir`: the spec as `config`, the
    /// training config, data and report as `training`, the validation metrics.
    pub fn save(&self, dir: &Path, source: &str) -> Result<Manifest> {
        let r = &self.report;
        let manifest = manifest(
            ARTIFACT_KIND,
            &self.spec,
            self.spec.step_features.iter().chain(&self.spec.head_inputs).cloned().collect(),
            &self.config,
            &r.fit,
            serde_json::json!({
                "source": source,
                "node": self.spec.node,
                "first_hour": format_micros(r.train_first_us),
                "end_hour": format_micros(r.train_end_us),
            }),
            serde_json::json!({ "mae": r.valid_mae_usd_per_mwh }),
        )?;
        Ok(hcp_models::artifact::save_bytes(dir, WEIGHTS_FILE, &self.weights, manifest)?)
    }
}
