//! `dnn`, the day-ahead neural network of the open price benchmark's protocol (after Lago,
//! Marcjasz, De Schutter and Weron 2021, whose DNN is a multilayer perceptron over LEAR's inputs):
//! the 24 prices of day D from the same features LEAR reads (prices of D-1, D-2, D-3 and D-7,
//! each exogenous forecast on D, D-1 and D-7, weekday dummies), in the same invariant space,
//! through fully connected ReLU layers to 24 outputs, trained by Adam on the mean absolute
//! error (the benchmark's metric) with early stopping on the last `valid_days` days before D
//! (by time: every validation day after every training day).
//!
//! A fitted network can be fine-tuned on a later day: its weights start the new fit and count as
//! epoch 0 (kept when no epoch beats them on the new validation days); its scalers are refitted
//! on the new window's training days, as LEAR's are at each recalibration (or kept:
//! [`FinetuneScalers`]).
//! Its prices can be measured from day D-1's level rather than from zero ([`PriceOrigin`]), and
//! it can learn from the 24 hours starting at every hour of the training days, not only at
//! midnight ([`Augment`], the default).
//! Initial weights and batch order come from the seed through the crate's own generator, not
//! burn's global one, so networks fitted on several threads at once are reproducible.

use burn::module::{Module, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use hcp_models::forecast::lear::{self, MAX_LAG};
use hcp_models::forecast::scaler::Invariant;
use hcp_models::forecast::{Day, DayAheadPanel, HOURS};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::train::cpu_device;
use crate::{Error, Result};

/// The exact configuration of one network's fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnnConfig {
    /// Widths of the hidden ReLU layers.
    pub hidden: Vec<usize>,
    /// Days before D the network calibrates on (its first week feeds lags only).
    pub window_days: usize,
    /// Days of the window held out for early stopping.
    pub valid_days: usize,
    /// Which days those are.
    #[serde(default)]
    pub valid_split: ValidSplit,
    pub batch: usize,
    pub learning_rate: f64,
    /// Epochs of a fit from random weights.
    pub max_epochs: usize,
    /// Epochs of a fine-tune from an earlier fit.
    pub finetune_epochs: usize,
    /// What a fine-tune does with the earlier fit's scalers.
    #[serde(default)]
    pub finetune_scalers: FinetuneScalers,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Share of each hidden layer's units dropped in training (inverted dropout).
    #[serde(default)]
    pub dropout: f64,
    /// L2 penalty on every weight, through Adam.
    #[serde(default)]
    pub weight_decay: f64,
    /// What the network's prices are measured from.
    #[serde(default)]
    pub origin: PriceOrigin,
    /// Which 24-hour windows of the training days it learns from.
    #[serde(default)]
    pub augment: Augment,
    pub seed: u64,
}

impl Default for DnnConfig {
    fn default() -> Self {
        DnnConfig {
            hidden: vec![128, 64],
            window_days: 1456,
            valid_days: 21,
            valid_split: ValidSplit::Last,
            batch: 32,
            learning_rate: 1e-3,
            // An augmented epoch is 24 times as many rows (`with_augment`).
            max_epochs: 20,
            finetune_epochs: 3,
            finetune_scalers: FinetuneScalers::Refit,
            patience: 3,
            dropout: 0.0,
            weight_decay: 0.0,
            origin: PriceOrigin::Zero,
            augment: Augment::Hourly,
            seed: 7,
        }
    }
}

/// The value named `s` among `choices` (a flag's words and what they mean); anything else is
/// refused naming `what` and every word ("expected a, b or c").
pub fn parse_choice<T: Copy>(what: &str, s: &str, choices: &[(&str, T)]) -> Result<T> {
    if let Some(&(_, value)) = choices.iter().find(|(name, _)| *name == s) {
        return Ok(value);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let expected = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    Err(Error::Invalid(format!("{what} {s:?}: expected {expected}")))
}

/// The days of a fit's window that validate: the last ones (by time: every validation day
/// after every training day), or days drawn from the whole window by the seed (as the
/// benchmark's DNN draws them), so that the newest days train too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidSplit {
    #[default]
    Last,
    Random,
}

impl std::str::FromStr for ValidSplit {
    type Err = Error;

    fn from_str(s: &str) -> Result<ValidSplit> {
        parse_choice("validation split", s, &[("last", ValidSplit::Last), ("random", ValidSplit::Random)])
    }
}

/// The scalers of a fine-tune: refitted on its own training days (the inputs follow the prices'
/// level as it drifts over a long walk, as LEAR's do), or the earlier fit's, kept (the weights
/// then see the inputs they were trained on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinetuneScalers {
    #[default]
    Refit,
    Keep,
}

impl std::str::FromStr for FinetuneScalers {
    type Err = Error;

    fn from_str(s: &str) -> Result<FinetuneScalers> {
        parse_choice("fine-tune scalers", s, &[("refit", FinetuneScalers::Refit), ("keep", FinetuneScalers::Keep)])
    }
}

/// What a network's prices are measured from, in the invariant space: zero (the prices as
/// scaled), or the level of day D-1 (the mean of its 24 scaled prices, subtracted from every
/// lagged price input and from the targets, and added back to the outputs), so the network
/// forecasts the day's change from yesterday's level and a level it has not seen moves its
/// forecast with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceOrigin {
    #[default]
    Zero,
    LastDay,
}

impl PriceOrigin {
    /// Moves one scaled feature row (LEAR's layout: the lagged prices first, D-1's 24 leading)
    /// to this origin; returns the origin, which the outputs are then measured from.
    fn shift(self, row: &mut [f32]) -> f32 {
        match self {
            PriceOrigin::Zero => 0.0,
            PriceOrigin::LastDay => {
                let level = row[..HOURS].iter().sum::<f32>() / HOURS as f32;
                row[..HOURS * lear::PRICE_LAGS.len()].iter_mut().for_each(|v| *v -= level);
                level
            }
        }
    }
}

/// The rows a network learns from: each training day from midnight (`None`, the shape it
/// forecasts), or also the 24 hours starting at each later hour of the day (`Hourly`, the data
/// augmentation of Lago et al.'s DNN: 24 rows a day, each read as a day is, its lags counted
/// back from its own start). An augmented row whose hours reach into the next day trains only
/// when that day trains too, so it never covers a validation day or the day forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// One row per training day (what a config saved before the option was).
    #[default]
    None,
    /// 24 rows per training day.
    Hourly,
}

impl std::str::FromStr for Augment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Augment> {
        parse_choice("augmentation", s, &[("none", Augment::None), ("hourly", Augment::Hourly)])
    }
}

/// One fully connected layer, `y = x·w + b`.
#[derive(Module, Debug)]
pub struct Dense {
    pub w: Param<Tensor<2>>,
    pub b: Param<Tensor<1>>,
}

/// The perceptron: ReLU after every layer but the last.
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Dense>,
}

impl Mlp {
    /// PyTorch's default initialisation of a linear layer (weights and biases uniform within
    /// ±1/√fan_in), drawn from `rng`.
    fn init(widths: &[usize], rng: &mut impl Rng, device: &Device) -> Mlp {
        let layers = widths
            .windows(2)
            .map(|w| {
                let a = 1.0 / (w[0] as f32).sqrt();
                let mut draw = |n: usize| (0..n).map(|_| rng.gen_range(-a..a)).collect::<Vec<f32>>();
                let weights = draw(w[0] * w[1]);
                let bias = draw(w[1]);
                Dense {
                    w: Param::from_tensor(Tensor::from_data(TensorData::new(weights, [w[0], w[1]]), device)),
                    b: Param::from_tensor(Tensor::from_data(TensorData::new(bias, [w[1]]), device)),
                }
            })
            .collect();
        Mlp { layers }
    }

    fn from_weights(weights: &[Weights], device: &Device) -> Mlp {
        let layers = weights
            .iter()
            .map(|l| Dense {
                w: Param::from_tensor(Tensor::from_data(TensorData::new(l.w.clone(), [l.d_in, l.d_out]), device)),
                b: Param::from_tensor(Tensor::from_data(TensorData::new(l.b.clone(), [l.d_out]), device)),
            })
            .collect();
        Mlp { layers }
    }

    fn weights(&self) -> Result<Vec<Weights>> {
        let read = |data: TensorData| data.try_into_vec::<f32>().map_err(|e| Error::Burn(format!("{e:?}")));
        self.layers
            .iter()
            .map(|l| {
                let w = l.w.val();
                let [d_in, d_out] = w.dims();
                Ok(Weights { d_in, d_out, w: read(w.into_data())?, b: read(l.b.val().into_data())? })
            })
            .collect()
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_dropped(x, &mut |_| None)
    }

    /// The forward pass, each hidden layer's output multiplied by `mask(i)` where it gives one.
    fn forward_dropped(&self, x: Tensor<2>, mask: &mut dyn FnMut(usize) -> Option<Tensor<2>>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = x;
        for (i, l) in self.layers.iter().enumerate() {
            x = x.matmul(l.w.val()) + l.b.val().unsqueeze::<2>();
            if i < last {
                x = relu(x);
                if let Some(m) = mask(i) {
                    x = x * m;
                }
            }
        }
        x
    }
}

/// One layer's weights as plain data, row-major `[d_in, d_out]`.
#[derive(Debug, Clone, PartialEq)]
struct Weights {
    d_in: usize,
    d_out: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// What one fit did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnnFit {
    pub train_days: usize,
    /// Rows trained on: the training days, and with [`Augment::Hourly`] their shifted windows.
    pub train_rows: usize,
    pub valid_days: usize,
    pub epochs_run: usize,
    /// 0: the earlier fit's weights were kept.
    pub best_epoch: usize,
    /// The kept weights' validation MAE in the invariant space.
    pub valid_mae_asinh: f64,
}

/// A fitted day-ahead network: its scalers and weights.
#[derive(Debug, Clone)]
pub struct DayAheadDnn {
    x_scalers: Vec<Invariant>,
    y_scalers: Vec<Invariant>,
    weights: Vec<Weights>,
    origin: PriceOrigin,
    pub fit: DnnFit,
}

impl DnnConfig {
    /// The defaults for `augment`: an augmented epoch passes over 24 rows a day, so an augmented
    /// fit runs at most 20 epochs (a fine-tune 3) and stops after 3 without a better validation
    /// loss; an unaugmented one at most 200 (30) and stops after 20. Both chosen on the
    /// validation periods (README, "Choosing the perceptron's defaults").
    pub fn with_augment(augment: Augment) -> DnnConfig {
        match augment {
            Augment::Hourly => DnnConfig::default(),
            Augment::None => {
                DnnConfig { augment, max_epochs: 200, finetune_epochs: 30, patience: 20, ..DnnConfig::default() }
            }
        }
    }

    /// Refuses a configuration that cannot train: sizes, epochs or patience of zero, layers
    /// wider or batches larger than any of our markets could use (a typo there would exhaust
    /// memory before training began), a learning rate that is not a positive number, dropout
    /// outside [0, 1), a negative weight decay. Names the flag of the first field wrong.
    pub fn check(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.len() > 8 {
            return Err(Error::Invalid(format!("--dnn-hidden {:?}: 1 to 8 layers", self.hidden)));
        }
        // Each count with its most, where one is needed.
        let counts = self.hidden.iter().map(|&h| ("--dnn-hidden", h, Some(4_096))).chain([
            ("--dnn-window", self.window_days, None),
            ("--dnn-valid-days", self.valid_days, None),
            ("--dnn-batch", self.batch, Some(65_536)),
            ("--dnn-epochs", self.max_epochs, Some(100_000)),
            ("--dnn-patience", self.patience, None),
        ]);
        for (flag, v, most) in counts {
            match most {
                Some(most) if !(1..=most).contains(&v) => {
                    return Err(Error::Invalid(format!("{flag} {v}: 1 to {most}")));
                }
                None if v == 0 => return Err(Error::Invalid(format!("{flag} 0: must be positive"))),
                _ => {}
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Invalid(format!("--dnn-dropout {}: in [0, 1)", self.dropout)));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::Invalid(format!("--dnn-weight-decay {}: a number not below 0", self.weight_decay)));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::Invalid(format!("--dnn-learning-rate {} must be positive", self.learning_rate)));
        }
        Ok(())
    }
}

impl DayAheadDnn {
    /// Fits on the `cfg.window_days` days before day `d` (reading prices before `d` only), or
    /// fine-tunes `init` on them (its scalers refitted or kept: `cfg.finetune_scalers`);
    /// `cfg.valid_days` of them validate (which ones: `cfg.valid_split`).
    pub fn fit(panel: &DayAheadPanel, d: usize, cfg: &DnnConfig, init: Option<&DayAheadDnn>) -> Result<DayAheadDnn> {
        cfg.check()?;
        if d > panel.days() {
            return Err(Error::Invalid(format!("dnn: day {d} is past the panel's {} days", panel.days())));
        }
        let first = d.saturating_sub(cfg.window_days).max(MAX_LAG);
        let n_days = d.saturating_sub(first);
        if n_days < cfg.valid_days + cfg.batch {
            return Err(Error::Invalid(format!(
                "dnn: day {d} has {} training days besides its {} validation days; at least a batch ({}) is needed",
                n_days.saturating_sub(cfg.valid_days),
                cfg.valid_days,
                cfg.batch
            )));
        }
        // One generator per (seed, day): fits on other days or threads do not move it.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(cfg.seed ^ (d as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Rows of the window (day `first + i`) that train and that validate.
        let (train_rows, valid_rows): (Vec<usize>, Vec<usize>) = match cfg.valid_split {
            ValidSplit::Last => ((0..n_days - cfg.valid_days).collect(), (n_days - cfg.valid_days..n_days).collect()),
            ValidSplit::Random => {
                let mut all: Vec<usize> = (0..n_days).collect();
                all.shuffle(&mut rng);
                let (valid, train) = all.split_at(cfg.valid_days);
                let (mut train, mut valid) = (train.to_vec(), valid.to_vec());
                train.sort_unstable();
                valid.sort_unstable();
                (train, valid)
            }
        };
        // Rows 0..n_days are the window's days; augmented rows follow.
        let mut raw: Vec<Vec<f64>> = (first..d).map(|t| lear::features(panel, t)).collect();
        let mut targets: Vec<Day> = (first..d).map(|t| panel.price[t]).collect();
        let days_training = train_rows.len();
        let mut train_rows = train_rows;
        if cfg.augment == Augment::Hourly {
            // `train_rows` is sorted (either split).
            let next_trains: Vec<usize> =
                train_rows.iter().copied().filter(|i| train_rows.binary_search(&(i + 1)).is_ok()).collect();
            // The shifted panels start a week before the window (the lags) and end before day
            // d - 1: each shifted row reads its next day, so the last one is d - 2's.
            let lo = first - MAX_LAG;
            for hours in 1..HOURS {
                let shifted = panel.shifted(hours, lo, d - 1);
                for &i in &next_trains {
                    raw.push(lear::features(&shifted, first + i - lo));
                    targets.push(shifted.price[first + i - lo]);
                    train_rows.push(raw.len() - 1);
                }
            }
        }
        let n_in = raw[0].len();
        if let Some(prev) = init {
            let hidden: Vec<usize> = prev.weights[..prev.weights.len() - 1].iter().map(|l| l.d_out).collect();
            if prev.n_in() != n_in || hidden != cfg.hidden || prev.origin != cfg.origin {
                return Err(Error::Invalid(format!(
                    "dnn: fine-tuning a network of {} inputs, hidden widths {hidden:?} and price origin {:?} with {n_in} inputs, hidden widths {:?} and price origin {:?}",
                    prev.n_in(),
                    prev.origin,
                    cfg.hidden,
                    cfg.origin
                )));
            }
        }
        let (x_scalers, y_scalers) = match init {
            Some(prev) if cfg.finetune_scalers == FinetuneScalers::Keep => {
                (prev.x_scalers.clone(), prev.y_scalers.clone())
            }
            _ => {
                // Fitted on the training days only: the validation days stay unseen.
                let hour = |h: usize| train_rows.iter().map(|&i| targets[i][h]).collect::<Vec<_>>();
                (
                    lear::feature_scalers(
                        &train_rows.iter().map(|&i| &raw[i]).collect::<Vec<_>>(),
                        lear::unscaled_count(panel),
                    ),
                    (0..HOURS).map(|h| Invariant::fit(&hour(h))).collect(),
                )
            }
        };
        let mut x: Vec<f32> = raw.iter().flat_map(|r| scale_features(&x_scalers, r)).collect();
        let y_scalers_ref = &y_scalers;
        let mut y: Vec<f32> =
            targets.iter().flat_map(|day| (0..HOURS).map(move |h| y_scalers_ref[h].transform(day[h]) as f32)).collect();
        for (xr, yr) in x.chunks_exact_mut(n_in).zip(y.chunks_exact_mut(HOURS)) {
            let origin = cfg.origin.shift(xr);
            yr.iter_mut().for_each(|v| *v -= origin);
        }

        let plain = cpu_device();
        let device = plain.clone().autodiff();
        let mut net = match init {
            Some(prev) => Mlp::from_weights(&prev.weights, &device),
            None => {
                let widths: Vec<usize> =
                    std::iter::once(n_in).chain(cfg.hidden.iter().copied()).chain([HOURS]).collect();
                Mlp::init(&widths, &mut rng, &device)
            }
        };
        let rows = |days: &[usize], device: &Device| -> (Tensor<2>, Tensor<2>) {
            let xs: Vec<f32> = days.iter().flat_map(|&i| x[i * n_in..(i + 1) * n_in].iter().copied()).collect();
            let ys: Vec<f32> = days.iter().flat_map(|&i| y[i * HOURS..(i + 1) * HOURS].iter().copied()).collect();
            (
                Tensor::from_data(TensorData::new(xs, [days.len(), n_in]), device),
                Tensor::from_data(TensorData::new(ys, [days.len(), HOURS]), device),
            )
        };
        let (vx, vy) = rows(&valid_rows, &plain);
        let valid_mae = |net: &Mlp| -> f64 {
            let l: f32 = (net.forward(vx.clone()) - vy.clone()).abs().mean().into_scalar();
            f64::from(l)
        };

        let mut best: Option<(f64, usize, Mlp)> = None;
        if init.is_some() {
            let current = net.valid();
            best = Some((valid_mae(&current), 0, current));
        }
        let epochs = if init.is_some() { cfg.finetune_epochs } else { cfg.max_epochs };
        let mut optim = AdamConfig::new()
            .with_weight_decay((cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init();
        let keep = 1.0 - cfg.dropout;
        let mut order = train_rows.clone();
        let mut epochs_run = 0;
        for epoch in 1..=epochs {
            order.shuffle(&mut rng);
            for chunk in order.chunks(cfg.batch) {
                let (bx, by) = rows(chunk, &device);
                // Inverted dropout: masks drawn from the fit's own generator.
                let mut mask = |i: usize| {
                    (cfg.dropout > 0.0).then(|| {
                        let width = cfg.hidden[i];
                        let m: Vec<f32> = (0..chunk.len() * width)
                            .map(|_| if rng.gen_bool(keep) { (1.0 / keep) as f32 } else { 0.0 })
                            .collect();
                        Tensor::from_data(TensorData::new(m, [chunk.len(), width]), &device)
                    })
                };
                let loss = (net.forward_dropped(bx, &mut mask) - by).abs().mean();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(cfg.learning_rate, net, grads);
            }
            epochs_run = epoch;
            let current = net.valid();
            let loss = valid_mae(&current);
            if !loss.is_finite() {
                return Err(Error::Invalid(format!(
                    "dnn: validation loss became {loss} at epoch {epoch}: lower the learning rate"
                )));
            }
            if best.as_ref().is_none_or(|(l, _, _)| loss < *l) {
                best = Some((loss, epoch, current));
            } else if best.as_ref().is_some_and(|(_, e, _)| epoch - e >= cfg.patience) {
                break;
            }
        }
        // A fine-tune has its epoch 0; a fit from random weights at least one epoch (checked).
        let (valid_mae_asinh, best_epoch, kept) = best.expect("epoch 0 or at least one epoch");
        Ok(DayAheadDnn {
            x_scalers,
            y_scalers,
            weights: kept.weights()?,
            origin: cfg.origin,
            fit: DnnFit {
                train_days: days_training,
                train_rows: train_rows.len(),
                valid_days: valid_rows.len(),
                epochs_run,
                best_epoch,
                valid_mae_asinh,
            },
        })
    }

    /// The network's input width: LEAR's features (the scaled ones, the weekday dummies and
    /// any holiday flags).
    fn n_in(&self) -> usize {
        self.weights[0].d_in
    }

    /// The 24 prices of each of `days` (each read from prices before it and exogenous
    /// forecasts up to it).
    pub fn forecast(&self, panel: &DayAheadPanel, days: &[usize]) -> Vec<Day> {
        if days.is_empty() {
            return Vec::new();
        }
        let device = cpu_device();
        let n_in = self.n_in();
        let mut x: Vec<f32> =
            days.iter().flat_map(|&d| scale_features(&self.x_scalers, &lear::features(panel, d))).collect();
        let origins: Vec<f32> = x.chunks_exact_mut(n_in).map(|row| self.origin.shift(row)).collect();
        let net = Mlp::from_weights(&self.weights, &device);
        let out = net.forward(Tensor::from_data(TensorData::new(x, [days.len(), n_in]), &device));
        let z = out.into_data().try_into_vec::<f32>().expect("the network's outputs are f32");
        z.chunks_exact(HOURS)
            .zip(origins)
            .map(|(row, origin)| std::array::from_fn(|h| self.y_scalers[h].inverse(f64::from(row[h] + origin))))
            .collect()
    }
}

/// LEAR's raw features of a day in the invariant space (the weekday dummies as they are), f32.
fn scale_features(scalers: &[Invariant], raw: &[f64]) -> Vec<f32> {
    lear::transform(scalers, raw.to_vec()).into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The load-driven market LEAR's tests learn too.
    fn panel(days: usize) -> DayAheadPanel {
        hcp_models::forecast::synthetic::load_driven_panel(days, 99)
    }

    fn small() -> DnnConfig {
        DnnConfig {
            hidden: vec![16],
            window_days: 120,
            valid_days: 14,
            max_epochs: 40,
            patience: 5,
            ..DnnConfig::default()
        }
    }

    /// Sizes past any market's use are refused by flag too, and so is every other wrong
    /// setting (`bad_configs_and_short_histories_are_refused_by_name` has the rest, through a fit).
    #[test]
    fn settings_out_of_range_are_refused_by_flag() {
        assert!(small().check().is_ok());
        let refused = |c: DnnConfig| c.check().unwrap_err().to_string();
        assert_eq!(refused(DnnConfig { hidden: vec![100_000], ..small() }), "--dnn-hidden 100000: 1 to 4096");
        assert_eq!(refused(DnnConfig { hidden: vec![], ..small() }), "--dnn-hidden []: 1 to 8 layers");
        assert_eq!(refused(DnnConfig { valid_days: 0, ..small() }), "--dnn-valid-days 0: must be positive");
        assert_eq!(refused(DnnConfig { batch: 100_000, ..small() }), "--dnn-batch 100000: 1 to 65536");
        assert_eq!(refused(DnnConfig { weight_decay: -1.0, ..small() }), "--dnn-weight-decay -1: a number not below 0");
    }

    /// The absolute errors of forecasts `f` of `days`, and of yesterday's prices, summed.
    fn errors_and_yesterdays(p: &DayAheadPanel, days: &[usize], f: &[Day]) -> (f64, f64) {
        let (mut err, mut naive) = (0.0, 0.0);
        for (forecast, &d) in f.iter().zip(days) {
            for ((fc, yesterday), actual) in forecast.iter().zip(&p.price[d - 1]).zip(&p.price[d]) {
                err += (fc - actual).abs();
                naive += (yesterday - actual).abs();
            }
        }
        (err, naive)
    }

    #[test]
    fn learns_a_load_driven_market_better_than_yesterday_and_is_reproducible() {
        let p = panel(160);
        let dnn = DayAheadDnn::fit(&p, 130, &small(), None).unwrap();
        assert_eq!((dnn.fit.train_days, dnn.fit.valid_days), (106, 14));
        let days: Vec<usize> = (130..160).collect();
        let f = dnn.forecast(&p, &days);
        let (err, naive) = errors_and_yesterdays(&p, &days, &f);
        assert!(err < 0.8 * naive, "dnn {err} vs yesterday {naive}");
        let again = DayAheadDnn::fit(&p, 130, &small(), None).unwrap();
        assert_eq!(again.forecast(&p, &days), f, "the same seed gives the same network");
        let other = DayAheadDnn::fit(&p, 130, &DnnConfig { seed: 8, ..small() }, None).unwrap();
        assert_ne!(other.forecast(&p, &days), f, "another seed gives another network");
    }

    #[test]
    fn a_random_split_and_dropout_are_seeded() {
        let p = panel(160);
        let cfg = DnnConfig { valid_split: ValidSplit::Random, dropout: 0.2, ..small() };
        let a = DayAheadDnn::fit(&p, 130, &cfg, None).unwrap();
        assert_eq!((a.fit.train_days, a.fit.valid_days), (106, 14));
        let b = DayAheadDnn::fit(&p, 130, &cfg, None).unwrap();
        assert_eq!(a.forecast(&p, &[130, 131]), b.forecast(&p, &[130, 131]));
        let last = DayAheadDnn::fit(&p, 130, &DnnConfig { dropout: 0.2, ..small() }, None).unwrap();
        assert_ne!(a.fit.valid_mae_asinh, last.fit.valid_mae_asinh, "other days validate");
        assert_eq!("random".parse::<ValidSplit>().unwrap(), ValidSplit::Random);
        assert_eq!("last".parse::<ValidSplit>().unwrap(), ValidSplit::Last);
        assert!("first".parse::<ValidSplit>().unwrap_err().to_string().contains("expected last or random"));
    }

    #[test]
    fn a_fit_reads_nothing_from_its_day_or_later() {
        let p = panel(150);
        let mut changed = p.clone();
        for d in 120..150 {
            changed.price[d] = [9999.0; HOURS];
            changed.exogenous[0][d + 1..].iter_mut().for_each(|day| *day = [-5.0; HOURS]);
        }
        for augment in [Augment::Hourly, Augment::None] {
            let cfg = DnnConfig { augment, ..small() };
            let dnn = DayAheadDnn::fit(&p, 120, &cfg, None).unwrap();
            let refit = DayAheadDnn::fit(&changed, 120, &cfg, None).unwrap();
            assert_eq!(refit.forecast(&changed, &[120]), dnn.forecast(&p, &[120]), "{augment:?}");
        }
    }

    #[test]
    fn augmentation_adds_each_later_start_hour_of_the_days_whose_next_day_trains() {
        let p = panel(160);
        let days: Vec<usize> = (130..160).collect();
        let mut forecasts = Vec::new();
        for (augment, rows) in [(Augment::None, 106), (Augment::Hourly, 106 + 23 * 105)] {
            let dnn = DayAheadDnn::fit(&p, 130, &DnnConfig { augment, ..small() }, None).unwrap();
            // 106 training days; the last one's next day validates, so its shifted rows, which
            // would reach into that day, are left out.
            assert_eq!((dnn.fit.train_days, dnn.fit.train_rows, dnn.fit.valid_days), (106, rows, 14), "{augment:?}");
            let f = dnn.forecast(&p, &days);
            let (err, naive) = errors_and_yesterdays(&p, &days, &f);
            assert!(err < 0.8 * naive, "{augment:?}: dnn {err} vs yesterday {naive}");
            forecasts.push(f);
        }
        assert_ne!(forecasts[0], forecasts[1]);
        // With days drawn at random to validate, only the shifted rows of training days whose
        // next day trains are added.
        let cfg = DnnConfig { valid_split: ValidSplit::Random, ..small() };
        let random = DayAheadDnn::fit(&p, 130, &cfg, None).unwrap();
        // Each validation day takes at most the day before it, and the window's last day has no
        // next day in the window.
        let rows = random.fit.train_rows;
        assert!((106 + 23 * (106 - 14 - 1)..=106 + 23 * 105).contains(&rows), "{rows}");
        assert_eq!("hourly".parse::<Augment>().unwrap(), Augment::Hourly);
        assert!("daily".parse::<Augment>().unwrap_err().to_string().contains("expected none or hourly"));
    }

    #[test]
    fn a_fine_tune_starts_from_the_earlier_weights_and_never_validates_worse_than_its_start() {
        let p = panel(170);
        let first = DayAheadDnn::fit(&p, 130, &small(), None).unwrap();
        let fresh = DayAheadDnn::fit(&p, 140, &small(), None).unwrap();
        assert_ne!(first.x_scalers, fresh.x_scalers, "the two windows' scalers differ");
        for scalers in [FinetuneScalers::Refit, FinetuneScalers::Keep] {
            let cfg = |epochs| DnnConfig { finetune_epochs: epochs, finetune_scalers: scalers, ..small() };
            let tuned = DayAheadDnn::fit(&p, 140, &cfg(3), Some(&first)).unwrap();
            // Refitted on day 140's window like a fit from random weights there, or kept.
            let expected = match scalers {
                FinetuneScalers::Refit => (&fresh.x_scalers, &fresh.y_scalers),
                FinetuneScalers::Keep => (&first.x_scalers, &first.y_scalers),
            };
            assert_eq!((&tuned.x_scalers, &tuned.y_scalers), expected, "{scalers:?}");
            assert!(tuned.fit.epochs_run <= 3);
            // Epoch 0 is the earlier weights scored on the new validation days; kept scalers
            // make it the earlier network itself.
            let start = DayAheadDnn::fit(&p, 140, &cfg(0), Some(&first)).unwrap();
            assert_eq!(start.fit.best_epoch, 0);
            assert_eq!(start.weights, first.weights);
            assert_eq!(
                start.forecast(&p, &[150]) == first.forecast(&p, &[150]),
                scalers == FinetuneScalers::Keep,
                "{scalers:?}"
            );
            assert!(tuned.fit.valid_mae_asinh <= start.fit.valid_mae_asinh);
            assert_eq!(tuned.fit.best_epoch == 0, tuned.weights == first.weights);
        }
        // Another network shape is refused, naming both.
        let err = DayAheadDnn::fit(&p, 140, &DnnConfig { hidden: vec![8], ..small() }, Some(&first)).unwrap_err();
        assert!(
            err.to_string().contains(
                "175 inputs, hidden widths [16] and price origin Zero with 175 inputs, hidden widths [8] and price origin Zero"
            ),
            "{err}"
        );
        // So is another price origin: the weights were trained on other inputs.
        let other = DnnConfig { origin: PriceOrigin::LastDay, ..small() };
        let err = DayAheadDnn::fit(&p, 140, &other, Some(&first)).unwrap_err();
        assert!(
            err.to_string().contains("price origin Zero with 175 inputs, hidden widths [16] and price origin LastDay"),
            "{err}"
        );
        assert_eq!("keep".parse::<FinetuneScalers>().unwrap(), FinetuneScalers::Keep);
        assert_eq!("refit".parse::<FinetuneScalers>().unwrap(), FinetuneScalers::Refit);
        let err = "reuse".parse::<FinetuneScalers>().unwrap_err().to_string();
        assert!(err.contains("expected refit or keep"), "{err}");
    }

    #[test]
    fn a_last_day_origin_forecasts_around_yesterdays_level() {
        let p = panel(160);
        let cfg = DnnConfig { origin: PriceOrigin::LastDay, ..small() };
        let dnn = DayAheadDnn::fit(&p, 130, &cfg, None).unwrap();
        // Trained on targets less the level and read back with the level added: it learns the
        // market as well as the network from zero does.
        let days: Vec<usize> = (130..160).collect();
        let f = dnn.forecast(&p, &days);
        let (err, naive) = errors_and_yesterdays(&p, &days, &f);
        assert!(err < 0.8 * naive, "dnn {err} vs yesterday {naive}");
        // A network that outputs zero forecasts each hour at D-1's level (the mean of its 24
        // scaled prices) mapped back through that hour's scaler; from zero, at the hour's median.
        for (origin, fitted) in
            [(PriceOrigin::LastDay, dnn), (PriceOrigin::Zero, DayAheadDnn::fit(&p, 130, &small(), None).unwrap())]
        {
            let mut silent = fitted.clone();
            silent.weights.iter_mut().for_each(|l| {
                l.w.fill(0.0);
                l.b.fill(0.0);
            });
            for d in [130, 145] {
                let x = scale_features(&silent.x_scalers, &lear::features(&p, d));
                let level = match origin {
                    PriceOrigin::LastDay => x[..HOURS].iter().sum::<f32>() / HOURS as f32,
                    PriceOrigin::Zero => 0.0,
                };
                let expected: Day = std::array::from_fn(|h| silent.y_scalers[h].inverse(f64::from(level)));
                assert_eq!(silent.forecast(&p, &[d]), vec![expected], "{origin:?}, day {d}");
            }
        }
    }

    #[test]
    fn a_choice_is_read_by_its_word_and_a_wrong_word_is_refused_naming_them_all() {
        let choices = [("a", 1), ("b", 2), ("c", 3)];
        assert_eq!(parse_choice("letter", "b", &choices).unwrap(), 2);
        let err = parse_choice("letter", "d", &choices).unwrap_err().to_string();
        assert!(err.ends_with("letter \"d\": expected a, b or c"), "{err}");
        let err = parse_choice("only", "x", &[("a", 1)]).unwrap_err().to_string();
        assert!(err.ends_with("only \"x\": expected a"), "{err}");
    }

    #[test]
    fn bad_configs_and_short_histories_are_refused_by_name() {
        let p = panel(60);
        let err = DayAheadDnn::fit(&p, 30, &small(), None).unwrap_err().to_string();
        assert!(err.contains("9 training days besides its 14 validation days"), "{err}");
        let err = DayAheadDnn::fit(&p, 50, &DnnConfig { hidden: vec![0], ..small() }, None).unwrap_err().to_string();
        assert!(err.contains("--dnn-hidden 0: 1 to 4096"), "{err}");
        let err =
            DayAheadDnn::fit(&p, 50, &DnnConfig { learning_rate: f64::NAN, ..small() }, None).unwrap_err().to_string();
        assert!(err.contains("--dnn-learning-rate NaN"), "{err}");
        let err = DayAheadDnn::fit(&p, 50, &DnnConfig { dropout: 1.0, ..small() }, None).unwrap_err().to_string();
        assert!(err.contains("--dnn-dropout 1: in [0, 1)"), "{err}");
    }
}
