//! `lstm_rt`: the LSTM real-time price forecaster's inputs, its saved form and its forward pass
//! in candle-core. Training is `hcp-lstm`'s (burn); this module has no burn in it, so serving
//! and the scheduler can load the model without the training stack.
//!
//! At issue index `k` (the first hour whose real-time price is unknown) the network reads the
//! `window` hours before `k`, [`STEP_FEATURES`] per hour, through `layers` stacked LSTM layers;
//! the last hidden state, joined with the head inputs (per target hour the latest published
//! day-ahead price and the real-time price of the same hour a day before; the last real-time
//! price; the issue's hour of day: [`head_input_names`]), goes through one linear layer to
//! 24 × 3 outputs. The head's direct view of those prices is a skip connection: the linear part
//! a lasso would find is one layer away, and the recurrent state adds what it can. The outputs
//! decode to quantiles 0.1, 0.5, 0.9 in the benchmark's invariant (asinh) space: the median is
//! the latest day-ahead price plus the first output, and the outer quantiles sit `softplus` of
//! the other two below and above it, so they never cross. Prices come back through the
//! scaler's inverse, which is monotone: quantiles stay quantiles.
//!
//! Weights (`model.safetensors`): `layers.{l}.wx` `[in, 4H]`, `layers.{l}.wh` `[H, 4H]`,
//! `layers.{l}.b` `[4H]` (gates in the order input, forget, output, cell; one bias per gate),
//! `head.w` `[H + N_HEAD, 72]` (`N_HEAD` = 100), `head.b` `[72]`, all f32.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::QUANTILES;
use super::realtime::{HORIZONS, HorizonForecast, HourlyPrices};
use super::scaler::Invariant;
use crate::artifact::Manifest;
use crate::error::{Error, Result};

/// Inputs of each hour of the window.
pub const STEP_FEATURES: [&str; 8] =
    ["rt_asinh", "rt_missing", "da_asinh", "da_missing", "hour_sin", "hour_cos", "weekday_sin", "weekday_cos"];
pub const N_STEP: usize = STEP_FEATURES.len();
/// Head inputs per horizon: the latest day-ahead price, whether it is the target's own (else the
/// same hour of the previous day), the real-time price of the target's hour a day earlier and
/// whether that is missing.
pub const HEAD_STRIDE: usize = 4;
/// Inputs of the head beside the last hidden state: [`HEAD_STRIDE`] per horizon, then the last
/// real-time price and whether it is missing, then the issue's hour of day (sine, cosine).
pub const N_HEAD: usize = HEAD_STRIDE * HORIZONS + 4;
pub const N_OUT: usize = HORIZONS * QUANTILES.len();
pub const ARTIFACT_KIND: &str = "price_lstm_rt";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The shape of the network and how its inputs are scaled: what inference needs beside the
/// weights (saved as the manifest's `config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmSpec {
    pub node: String,
    pub window: usize,
    pub hidden: usize,
    pub layers: usize,
    pub scaler: Invariant,
    pub step_features: Vec<String>,
    pub head_inputs: Vec<String>,
    pub quantiles: Vec<f64>,
    /// The last hour (start, UTC µs) whose price the model was trained on.
    pub trained_until_us: i64,
}

impl LstmSpec {
    pub fn new(node: &str, window: usize, hidden: usize, layers: usize, scaler: Invariant) -> LstmSpec {
        LstmSpec {
            node: node.into(),
            window,
            hidden,
            layers,
            scaler,
            step_features: STEP_FEATURES.iter().map(|s| s.to_string()).collect(),
            head_inputs: head_input_names(),
            quantiles: QUANTILES.to_vec(),
            trained_until_us: 0,
        }
    }

    pub fn shape(&self) -> NetShape {
        NetShape {
            n_step: N_STEP,
            hidden: self.hidden,
            layers: self.layers,
            n_head: N_HEAD,
            horizons: HORIZONS,
            n_skip: 0,
        }
    }

    /// The weights' names and shapes, in order.
    pub fn weight_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.shape().weight_shapes()
    }

    fn check(&self) -> Result<()> {
        let expected = LstmSpec::new(&self.node, self.window, self.hidden, self.layers, self.scaler);
        check_spec(
            [self.window, self.hidden, self.layers],
            &self.scaler,
            &[&self.step_features, &self.head_inputs],
            &[&expected.step_features, &expected.head_inputs],
            &self.quantiles,
        )
    }
}

/// What a saved LSTM spec must hold: a positive window, hidden size and layer count
/// (`sizes`), a scaler with a finite median and a positive scale, the inputs this build computes
/// (`inputs` against `expected`: step, head), and the quantiles it decodes.
pub(crate) fn check_spec(
    sizes: [usize; 3],
    scaler: &Invariant,
    inputs: &[&[String]],
    expected: &[&[String]],
    quantiles: &[f64],
) -> Result<()> {
    let [window, hidden, layers] = sizes;
    if window == 0 || hidden == 0 || layers == 0 {
        return Err(Error::Invalid(format!("window {window}, hidden {hidden} and layers {layers} must be positive")));
    }
    scaler.check().map_err(Error::Invalid)?;
    if inputs != expected {
        return Err(Error::Invalid(format!("inputs {inputs:?}, this build computes {expected:?}")));
    }
    if quantiles != QUANTILES {
        return Err(Error::Invalid(format!("quantiles {quantiles:?}, this build decodes {QUANTILES:?}")));
    }
    Ok(())
}

/// The shape of an LSTM forecaster's network (`lstm_rt`'s, `lstm_demand`'s): inputs per step,
/// hidden units, stacked layers, head inputs beside the last hidden state, horizons (three
/// outputs each), and per-horizon skip inputs (`n_skip` per horizon, each horizon's three
/// outputs adding its own weighted sum of its own skip inputs: `head.skip [horizons, 3,
/// n_skip]`; none for `lstm_rt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetShape {
    pub n_step: usize,
    pub hidden: usize,
    pub layers: usize,
    pub n_head: usize,
    pub horizons: usize,
    pub n_skip: usize,
}

impl NetShape {
    pub fn n_out(&self) -> usize {
        self.horizons * QUANTILES.len()
    }

    /// The weights' names and shapes, in order: each layer's `wx`, `wh`, `b`, then the head.
    pub fn weight_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let h = self.hidden;
        let mut shapes = Vec::new();
        for l in 0..self.layers {
            let d_in = if l == 0 { self.n_step } else { h };
            shapes.push((format!("layers.{l}.wx"), vec![d_in, 4 * h]));
            shapes.push((format!("layers.{l}.wh"), vec![h, 4 * h]));
            shapes.push((format!("layers.{l}.b"), vec![4 * h]));
        }
        shapes.push(("head.w".into(), vec![h + self.n_head, self.n_out()]));
        shapes.push(("head.b".into(), vec![self.n_out()]));
        if self.n_skip > 0 {
            shapes.push(("head.skip".into(), vec![self.horizons, QUANTILES.len(), self.n_skip]));
        }
        shapes
    }
}

pub fn head_input_names() -> Vec<String> {
    let mut names = Vec::with_capacity(N_HEAD);
    for h in 1..=HORIZONS {
        names.push(format!("da_latest_h{h}_asinh"));
        names.push(format!("da_own_h{h}"));
        names.push(format!("rt_h{h}_minus_24h_asinh"));
        names.push(format!("rt_h{h}_minus_24h_missing"));
    }
    names.push("rt_last_asinh".into());
    names.push("rt_last_missing".into());
    names.push("issue_hour_sin".into());
    names.push("issue_hour_cos".into());
    names
}

pub(crate) fn cyclic(value: u8, period: f64) -> (f32, f32) {
    let a = f64::from(value) / period * std::f64::consts::TAU;
    (a.sin() as f32, a.cos() as f32)
}

/// A price in the invariant space and a missing flag: a missing price is 0 with its flag set,
/// so the network sees that it is missing rather than a made-up value.
fn z_or_missing(scaler: &Invariant, v: f64) -> (f32, f32) {
    if v.is_finite() { (scaler.transform(v) as f32, 0.0) } else { (0.0, 1.0) }
}

/// The step inputs of hour `t` (known once hour `t` is over).
pub fn step_features(p: &HourlyPrices, scaler: &Invariant, t: usize) -> [f32; N_STEP] {
    let (rt, rt_missing) = z_or_missing(scaler, p.rt[t]);
    let (da, da_missing) = z_or_missing(scaler, p.da[t]);
    let (hs, hc) = cyclic(p.hour_of_day[t], 24.0);
    let (ws, wc) = cyclic(p.weekday[t], 7.0);
    [rt, rt_missing, da, da_missing, hs, hc, ws, wc]
}

/// The head inputs at issue `k`; `None` before a day of history, when a target hour has no
/// day-ahead price known at `k` (its own or the previous day's) or the targets run past the
/// grid.
pub fn head_inputs(p: &HourlyPrices, scaler: &Invariant, k: usize) -> Option<[f32; N_HEAD]> {
    if k < 24 {
        return None;
    }
    let mut x = [0f32; N_HEAD];
    for h in 1..=HORIZONS {
        let j = k + h - 1;
        if j >= p.len() {
            return None;
        }
        let (da, own) = p.latest_da(k, j)?;
        // Hour j - 24 ends by the issue: j - 24 <= k - 1.
        let (yday, yday_missing) = z_or_missing(scaler, p.rt[j - 24]);
        let at = HEAD_STRIDE * (h - 1);
        x[at..at + HEAD_STRIDE].copy_from_slice(&[
            scaler.transform(da) as f32,
            f32::from(u8::from(own)),
            yday,
            yday_missing,
        ]);
    }
    let at = HEAD_STRIDE * HORIZONS;
    let (last, last_missing) = z_or_missing(scaler, p.rt[k - 1]);
    let (s, c) = cyclic(p.hour_of_day[k], 24.0);
    x[at..].copy_from_slice(&[last, last_missing, s, c]);
    Some(x)
}

/// The median's base for horizon `h` (0-based) in a row of head inputs: the latest day-ahead
/// price in the invariant space.
pub fn base(head: &[f32], h: usize) -> f32 {
    head[HEAD_STRIDE * h]
}

/// The whole input of issue `k`: `window × N_STEP` step inputs (oldest first) and the head
/// inputs; `None` before `window` hours of history or without the head inputs.
pub fn issue_inputs(
    p: &HourlyPrices,
    scaler: &Invariant,
    window: usize,
    k: usize,
) -> Option<(Vec<f32>, [f32; N_HEAD])> {
    let first = k.checked_sub(window)?;
    let head = head_inputs(p, scaler, k)?;
    let mut steps = Vec::with_capacity(window * N_STEP);
    for t in first..k {
        steps.extend_from_slice(&step_features(p, scaler, t));
    }
    Some((steps, head))
}

/// Decodes one horizon's three outputs (invariant space) into ordered quantiles: the median
/// is `base + o0`, the outer ones `softplus(o1)` below and `softplus(o2)` above it.
pub fn decode(base: f32, o: [f32; 3]) -> [f32; 3] {
    let softplus = |x: f32| x.max(0.0) + (-x.abs()).exp().ln_1p();
    let median = base + o[0];
    [median - softplus(o[1]), median, median + softplus(o[2])]
}

/// The network in candle-core, on the CPU.
#[derive(Debug)]
pub struct LstmNet {
    layers: Vec<[Tensor; 3]>,
    head_w: Tensor,
    head_b: Tensor,
    skip: Option<Tensor>,
    shape: NetShape,
}

pub(crate) fn candle_err(e: candle_core::Error) -> Error {
    Error::Invalid(format!("candle: {e}"))
}

impl LstmNet {
    /// An untrained network with seeded uniform weights (±`amplitude`): for tests and
    /// benchmarks that need the network's shape, not its skill.
    pub fn random(shape: &NetShape, seed: u64, amplitude: f64) -> Result<LstmNet> {
        let mut mix = super::synthetic::Mix(seed);
        let tensors = shape
            .weight_shapes()
            .into_iter()
            .map(|(name, dims)| {
                let n = dims.iter().product();
                let v: Vec<f32> = (0..n).map(|_| (amplitude * mix.noise()) as f32).collect();
                Tensor::from_vec(v, dims, &Device::Cpu).map(|t| (name, t)).map_err(candle_err)
            })
            .collect::<Result<HashMap<_, _>>>()?;
        LstmNet::from_tensors(shape, tensors)
    }

    /// Builds the network from safetensors bytes shaped as `shape.weight_shapes()`.
    pub fn from_safetensors(shape: &NetShape, bytes: &[u8]) -> Result<LstmNet> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(candle_err)?;
        LstmNet::from_tensors(shape, tensors)
    }

    /// Builds the network from named f32 tensors shaped as `shape.weight_shapes()`.
    pub fn from_tensors(shape: &NetShape, mut tensors: HashMap<String, Tensor>) -> Result<LstmNet> {
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let t = tensors.remove(name).ok_or_else(|| Error::Invalid(format!("weights lack `{name}`")))?;
            if t.dims() != shape {
                return Err(Error::Invalid(format!(
                    "weight `{name}` has shape {:?}, the spec needs {shape:?}",
                    t.dims()
                )));
            }
            t.to_dtype(DType::F32).map_err(candle_err)
        };
        let shapes = shape.weight_shapes();
        let mut it = shapes.iter();
        let mut next = || it.next().map(|(n, s)| take(n, s)).expect("shapes cover the weights");
        let mut layers = Vec::with_capacity(shape.layers);
        for _ in 0..shape.layers {
            layers.push([next()?, next()?, next()?]);
        }
        let head_w = next()?;
        let head_b = next()?;
        let skip = if shape.n_skip > 0 { Some(next()?) } else { None };
        if let Some(extra) = tensors.keys().next() {
            return Err(Error::Invalid(format!("weights hold `{extra}`, which the spec does not name")));
        }
        Ok(LstmNet { layers, head_w, head_b, skip, shape: *shape })
    }

    /// Raw outputs `[batch, n_out]` for `batch` issues: `steps` is `batch × window × n_step`,
    /// `head` is `batch × n_head`, `skip` is `batch × horizons × n_skip` (empty without skip
    /// inputs), all row-major.
    pub fn forward(&self, batch: usize, window: usize, steps: &[f32], head: &[f32], skip: &[f32]) -> Result<Vec<f32>> {
        let dev = Device::Cpu;
        let NetShape { n_step, hidden: hsz, n_head, horizons, n_skip, .. } = self.shape;
        let run = || -> candle_core::Result<Vec<f32>> {
            let mut seq = Tensor::from_slice(steps, (batch, window, n_step), &dev)?;
            let mut h = Tensor::zeros((batch, hsz), DType::F32, &dev)?;
            for (l, [wx, wh, b]) in self.layers.iter().enumerate() {
                let d_in = seq.dim(2)?;
                // The input projection of every step at once, then the recurrence.
                let proj = seq.reshape((batch * window, d_in))?.matmul(wx)?.broadcast_add(b)?.reshape((
                    batch,
                    window,
                    4 * hsz,
                ))?;
                h = Tensor::zeros((batch, hsz), DType::F32, &dev)?;
                let mut c = Tensor::zeros((batch, hsz), DType::F32, &dev)?;
                let mut outputs = Vec::with_capacity(if l + 1 < self.layers.len() { window } else { 0 });
                for t in 0..window {
                    let g = (proj.narrow(1, t, 1)?.squeeze(1)? + h.matmul(wh)?)?;
                    let sigmoid = |x: Tensor| x.affine(0.5, 0.0)?.tanh()?.affine(0.5, 0.5);
                    let i = sigmoid(g.narrow(1, 0, hsz)?)?;
                    let f = sigmoid(g.narrow(1, hsz, hsz)?)?;
                    let o = sigmoid(g.narrow(1, 2 * hsz, hsz)?)?;
                    let u = g.narrow(1, 3 * hsz, hsz)?.tanh()?;
                    c = ((f * c)? + (i * u)?)?;
                    h = (o * c.tanh()?)?;
                    if l + 1 < self.layers.len() {
                        outputs.push(h.clone());
                    }
                }
                if l + 1 < self.layers.len() {
                    seq = Tensor::stack(&outputs, 1)?;
                }
            }
            let head = Tensor::from_slice(head, (batch, n_head), &dev)?;
            let z = Tensor::cat(&[&h, &head], 1)?;
            let mut raw = z.matmul(&self.head_w)?.broadcast_add(&self.head_b)?;
            if let Some(w) = &self.skip {
                // Each horizon's outputs: its own skip inputs · its own weights.
                let x = Tensor::from_slice(skip, (batch, horizons, 1, n_skip), &dev)?;
                let add = x.broadcast_mul(&w.unsqueeze(0)?)?.sum(3)?.reshape((batch, horizons * QUANTILES.len()))?;
                raw = (raw + add)?;
            }
            raw.flatten_all()?.to_vec1::<f32>()
        };
        run().map_err(candle_err)
    }
}

/// Reads an LSTM artifact of `kind` from `dir`: the weights (their sha256 must be the
/// manifest's), the spec in the manifest's `config` (checked by `check`: errors name
/// `manifest.json`), and the model `build` makes of them (errors name `model.safetensors`).
pub(crate) fn load_artifact<S: serde::de::DeserializeOwned, M>(
    dir: &Path,
    kind: &str,
    check: impl FnOnce(&S) -> Result<()>,
    build: impl FnOnce(S, &[u8]) -> Result<M>,
) -> Result<(M, Manifest)> {
    let (bytes, manifest) = crate::artifact::load_bytes(dir, kind, WEIGHTS_FILE)?;
    let manifest_path = dir.join(crate::artifact::MANIFEST_FILE);
    let invalid = |message: String| Error::Artifact { path: manifest_path.clone(), message };
    let spec: S = serde_json::from_value(manifest.config.clone()).map_err(|e| invalid(format!("config: {e}")))?;
    check(&spec).map_err(|e| invalid(e.to_string()))?;
    let model =
        build(spec, &bytes).map_err(|e| Error::Artifact { path: dir.join(WEIGHTS_FILE), message: e.to_string() })?;
    Ok((model, manifest))
}

/// A loaded `lstm_rt`: its spec and network.
#[derive(Debug)]
pub struct LstmForecaster {
    pub spec: LstmSpec,
    pub net: LstmNet,
}

impl LstmForecaster {
    /// Reads `model.safetensors` and `manifest.json` from `dir`: the weights' sha256 must be the
    /// manifest's, the kind `price_lstm_rt`, the inputs this build's.
    pub fn load(dir: &Path) -> Result<(LstmForecaster, Manifest)> {
        load_artifact(dir, ARTIFACT_KIND, LstmSpec::check, LstmForecaster::from_safetensors)
    }

    /// Builds the forecaster from safetensors bytes.
    pub fn from_safetensors(spec: LstmSpec, bytes: &[u8]) -> Result<LstmForecaster> {
        let net = LstmNet::from_safetensors(&spec.shape(), bytes)?;
        Ok(LstmForecaster { spec, net })
    }

    /// An untrained forecaster with seeded uniform weights (±1/√hidden): for tests and
    /// benchmarks that need the network's shape, not its skill.
    pub fn random(spec: LstmSpec, seed: u64) -> Result<LstmForecaster> {
        let net = LstmNet::random(&spec.shape(), seed, 2.0 / (spec.hidden as f64).sqrt())?;
        Ok(LstmForecaster { spec, net })
    }

    /// Quantiles (invariant space) `[issue][horizon]` for many issues at once: `None` where an
    /// issue lacks inputs.
    pub fn quantiles_z(&self, p: &HourlyPrices, issues: &[usize]) -> Result<Vec<Option<[[f32; 3]; HORIZONS]>>> {
        let w = self.spec.window;
        let mut steps = Vec::new();
        let mut heads = Vec::new();
        let mut which = Vec::new();
        for (n, &k) in issues.iter().enumerate() {
            if let Some((s, h)) = issue_inputs(p, &self.spec.scaler, w, k) {
                steps.extend_from_slice(&s);
                heads.extend_from_slice(&h);
                which.push(n);
            }
        }
        let mut out = vec![None; issues.len()];
        if which.is_empty() {
            return Ok(out);
        }
        let raw = self.net.forward(which.len(), w, &steps, &heads, &[])?;
        for (row, &n) in which.iter().enumerate() {
            let o = &raw[row * N_OUT..(row + 1) * N_OUT];
            let head = &heads[row * N_HEAD..(row + 1) * N_HEAD];
            out[n] = Some(std::array::from_fn(|h| decode(base(head, h), [o[3 * h], o[3 * h + 1], o[3 * h + 2]])));
        }
        Ok(out)
    }

    /// Forecasts issued at `k` for the 24 horizons, in $/MWh (the median as the point forecast);
    /// empty when the inputs are not there.
    pub fn forecast(&self, p: &HourlyPrices, k: usize) -> Result<Vec<HorizonForecast>> {
        let Some(q) = self.quantiles_z(p, &[k])?.pop().flatten() else { return Ok(Vec::new()) };
        let s = &self.spec.scaler;
        Ok(q.iter()
            .enumerate()
            .map(|(h, z)| {
                let quantiles = z.map(|v| s.inverse(f64::from(v)));
                HorizonForecast { horizon: h + 1, target_start_us: p.time(k + h), mean: quantiles[1], quantiles }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_quantiles_never_cross() {
        for base in [-3.0f32, 0.0, 2.5] {
            for o in [[0.0, 0.0, 0.0], [1.0, -80.0, -80.0], [-2.0, 90.0, 5.0], [0.3, -0.2, 0.1]] {
                let q = decode(base, o);
                assert!(q[0] <= q[1] && q[1] <= q[2], "{q:?} from {o:?}");
                assert!(q.iter().all(|v| v.is_finite()));
                assert_eq!(q[1], base + o[0]);
            }
        }
        // softplus(0) = ln 2.
        let q = decode(1.0, [0.0, 0.0, 0.0]);
        assert!((q[2] - 1.0 - std::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn names_match_the_inputs() {
        assert_eq!(head_input_names().len(), N_HEAD);
        let spec = LstmSpec::new("N", 4, 3, 2, Invariant { median: 0.0, scale: 1.0 });
        assert!(spec.check().is_ok());
        let unscaled = LstmSpec::new("N", 4, 3, 2, Invariant { median: 0.0, scale: 0.0 });
        assert!(unscaled.check().unwrap_err().to_string().contains("scaler: median 0 and scale 0"));
        assert_eq!(spec.weight_shapes()[3], ("layers.1.wx".to_string(), vec![3, 12]));
        assert_eq!(spec.weight_shapes().last().unwrap().1, vec![N_OUT]);
    }

    /// One layer, one hidden unit, one issue, worked by hand: with zero recurrent weights and
    /// input weights only on `rt_asinh`, each step's gates are sigmoid/tanh of that input.
    #[test]
    fn forward_matches_a_hand_computed_cell() {
        let spec = LstmSpec::new("N", 2, 1, 1, Invariant { median: 0.0, scale: 1.0 });
        let mut wx = vec![0f32; N_STEP * 4];
        wx[..4].copy_from_slice(&[1.0, 2.0, -1.0, 0.5]); // row of rt_asinh: i, f, o, u
        let mut head_w = vec![0f32; (1 + N_HEAD) * N_OUT];
        head_w[0] = 2.0; // h → output 0
        let t = |v: Vec<f32>, s: &[usize]| Tensor::from_vec(v, s, &Device::Cpu).unwrap();
        let tensors = HashMap::from([
            ("layers.0.wx".to_string(), t(wx, &[N_STEP, 4])),
            ("layers.0.wh".to_string(), t(vec![0.0; 4], &[1, 4])),
            ("layers.0.b".to_string(), t(vec![0.0; 4], &[4])),
            ("head.w".to_string(), t(head_w, &[1 + N_HEAD, N_OUT])),
            ("head.b".to_string(), t(vec![0.5; N_OUT], &[N_OUT])),
        ]);
        let net = LstmNet::from_tensors(&spec.shape(), tensors).unwrap();
        let mut steps = vec![0f32; 2 * N_STEP];
        steps[0] = 0.3;
        steps[N_STEP] = -0.7;
        let out = net.forward(1, 2, &steps, &[0.0; N_HEAD], &[]).unwrap();
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (mut h, mut c) = (0.0f64, 0.0f64);
        for x in [0.3f64, -0.7] {
            c = sig(2.0 * x) * c + sig(x) * (0.5 * x).tanh();
            h = sig(-x) * c.tanh();
        }
        assert!((f64::from(out[0]) - (2.0 * h + 0.5)).abs() < 1e-6, "{} vs {}", out[0], 2.0 * h + 0.5);
        assert_eq!(out[1], 0.5);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// Whatever happens from the issue hour on (real-time prices, day-ahead prices not yet
        /// published) leaves every quantile of the forecast unchanged.
        #[test]
        fn forecasts_ignore_what_is_unknown_at_the_issue(offset in 0usize..24 * 5, value in -5_000f64..5_000.0, nan in proptest::bool::ANY) {
            let p = super::super::synthetic::hourly_prices(24 * 20, &mut super::super::synthetic::Mix(3));
            let spec = LstmSpec::new("N", 48, 8, 2, Invariant::fit(&p.rt));
            let f = LstmForecaster::random(spec, 5).unwrap();
            let k = 24 * 12 + offset;
            let before = f.forecast(&p, k).unwrap();
            proptest::prop_assert_eq!(before.len(), HORIZONS);
            let mut later = p.clone();
            let v = if nan { f64::NAN } else { value };
            for i in k..later.len() {
                later.rt[i] = v;
                if later.da_published_us[i] > later.time(k) {
                    later.da[i] = -v;
                }
            }
            proptest::prop_assert_eq!(f.forecast(&later, k).unwrap(), before.clone());
            // Changing the last known hour does change it: the test can fail.
            let mut earlier = p.clone();
            earlier.rt[k - 1] += 200.0;
            proptest::prop_assert_ne!(f.forecast(&earlier, k).unwrap(), before);
        }
    }

    #[test]
    fn missing_or_misshapen_weights_are_named() {
        let spec = LstmSpec::new("N", 2, 1, 1, Invariant { median: 0.0, scale: 1.0 });
        let err = LstmNet::from_tensors(&spec.shape(), HashMap::new()).unwrap_err().to_string();
        assert!(err.contains("layers.0.wx"), "{err}");
        let bad =
            HashMap::from([("layers.0.wx".to_string(), Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap())]);
        let err = LstmNet::from_tensors(&spec.shape(), bad).unwrap_err().to_string();
        assert!(err.contains("[3, 4]") && err.contains("[8, 4]"), "{err}");
    }
}
