//! `lstm_demand`: GPU demand a week ahead from an LSTM, its inputs, saved form and forward pass
//! in candle-core (training is `hcp-lstm`'s, as for `lstm_rt`; the network is the same
//! [`LstmNet`] with other inputs and 168 horizons).
//!
//! At issue `k` (the first hour not yet known) the network reads the `window` hours before `k`,
//! [`STEP_FEATURES`] per hour (the series in the invariant space, hour of day and day of week as
//! sine/cosine, from the series' own clock: hour 0 of a trace is the epoch). The head reads,
//! beside the last hidden state, the last value, the means of the last week and of the week
//! before, and the issue's hour of day ([`head_input_names`]): the level shift a linear layer
//! can add to the weekly naive forecast. Each horizon also reads its own [`SKIP_INPUTS`] through
//! weights of its own (`head.skip`): how the target hour two weeks back, the last value and the
//! last day's mean differ from the weekly naive value, so that a horizon can lean towards
//! persistence or the fortnight as a lasso over lags would. Outputs decode as `lstm_rt`'s
//! ([`decode`]) around the target hour's value a week earlier (the weekly seasonal naive
//! forecast): quantiles 0.1/0.5/0.9 that never cross. A first version whose dense head read the
//! 168 weekly naive values lost to the weekly naive forecast on a synthetic trending series:
//! 172 × 504 head weights against a few hundred training issues.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::QUANTILES;
use super::demand::HORIZONS;
use super::lstm::{LstmNet, NetShape, check_spec, cyclic, decode, load_artifact};
use super::scaler::Invariant;
use crate::artifact::Manifest;
use crate::error::{Error, Result};

pub const ARTIFACT_KIND: &str = "demand_lstm";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const STEP_FEATURES: [&str; 5] = ["y_asinh", "hour_sin", "hour_cos", "weekday_sin", "weekday_cos"];
pub const N_STEP: usize = STEP_FEATURES.len();
/// Head inputs: the last value, the means of the last week and of the week before, the issue's
/// hour of day (sine, cosine).
pub const N_HEAD: usize = 5;
/// Per-horizon inputs, each against the target hour's weekly naive value (invariant space).
pub const SKIP_INPUTS: [&str; 3] = ["y_target_minus_336h_vs_168h", "y_last_vs_168h", "y_mean_last_24h_vs_168h"];
pub const N_SKIP: usize = SKIP_INPUTS.len();
const WEEK: usize = 168;
const HOUR_US: i64 = 3_600_000_000;

/// The network's shape and inputs, saved as the manifest's `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandLstmSpec {
    pub series: String,
    pub window: usize,
    pub hidden: usize,
    pub layers: usize,
    pub scaler: Invariant,
    pub step_features: Vec<String>,
    pub head_inputs: Vec<String>,
    /// Per-horizon inputs ([`SKIP_INPUTS`]).
    pub skip_inputs: Vec<String>,
    pub quantiles: Vec<f64>,
    /// Hours of the series it was trained on (the last target it saw is the hour before).
    pub trained_hours: usize,
}

impl DemandLstmSpec {
    pub fn new(series: &str, window: usize, hidden: usize, layers: usize, scaler: Invariant) -> DemandLstmSpec {
        DemandLstmSpec {
            series: series.into(),
            window,
            hidden,
            layers,
            scaler,
            step_features: STEP_FEATURES.iter().map(|s| s.to_string()).collect(),
            head_inputs: head_input_names(),
            skip_inputs: SKIP_INPUTS.iter().map(|s| s.to_string()).collect(),
            quantiles: QUANTILES.to_vec(),
            trained_hours: 0,
        }
    }

    pub fn shape(&self) -> NetShape {
        NetShape {
            n_step: N_STEP,
            hidden: self.hidden,
            layers: self.layers,
            n_head: N_HEAD,
            horizons: HORIZONS,
            n_skip: N_SKIP,
        }
    }

    /// Hours of history an issue reads: the window, and two weeks for the head's inputs.
    pub fn lookback(&self) -> usize {
        self.window.max(2 * WEEK)
    }

    fn check(&self) -> Result<()> {
        let expected = DemandLstmSpec::new(&self.series, self.window, self.hidden, self.layers, self.scaler);
        check_spec(
            [self.window, self.hidden, self.layers],
            &self.scaler,
            &[&self.step_features, &self.head_inputs, &self.skip_inputs],
            &[&expected.step_features, &expected.head_inputs, &expected.skip_inputs],
            &self.quantiles,
        )
    }
}

pub fn head_input_names() -> Vec<String> {
    ["y_last_asinh", "y_mean_last_168h_asinh", "y_mean_168h_before_asinh", "issue_hour_sin", "issue_hour_cos"]
        .map(String::from)
        .to_vec()
}

/// Hour of day and day of week (Monday 0) of hour `t` of a series whose hour 0 starts at
/// `start_us` (UTC µs).
fn clock(start_us: i64, t: usize) -> (u8, u8) {
    let hours = start_us.div_euclid(HOUR_US) + t as i64;
    // 1970-01-01 was a Thursday.
    (hours.rem_euclid(24) as u8, (hours.div_euclid(24) + 3).rem_euclid(7) as u8)
}

/// The step inputs of hour `t`; `None` where the value is not a finite number.
pub fn step_features(y: &[f64], start_us: i64, scaler: &Invariant, t: usize) -> Option<[f32; N_STEP]> {
    if !y[t].is_finite() {
        return None;
    }
    let (hour, weekday) = clock(start_us, t);
    let (hs, hc) = cyclic(hour, 24.0);
    let (ws, wc) = cyclic(weekday, 7.0);
    Some([scaler.transform(y[t]) as f32, hs, hc, ws, wc])
}

/// What issue `k` gives the head: its inputs, per horizon the median's base (the target hour's
/// value a week earlier, invariant space) and the skip inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub inputs: [f32; N_HEAD],
    pub base: [f32; HORIZONS],
    pub skip: [[f32; N_SKIP]; HORIZONS],
}

/// The head of issue `k` (reading `y[..k]` only); `None` before two weeks of history or where
/// a value read is not finite.
pub fn head(y: &[f64], start_us: i64, scaler: &Invariant, k: usize) -> Option<Head> {
    if k < 2 * WEEK || k > y.len() {
        return None;
    }
    let z = |v: f64| v.is_finite().then(|| scaler.transform(v) as f32);
    let mut base = [0f32; HORIZONS];
    for (h, b) in base.iter_mut().enumerate() {
        // Target hour k + h, a week earlier: at most k - 1.
        *b = z(y[k + h - WEEK])?;
    }
    let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
    let (hs, hc) = cyclic(clock(start_us, k).0, 24.0);
    let last = z(y[k - 1])?;
    let inputs = [last, z(mean(&y[k - WEEK..k]))?, z(mean(&y[k - 2 * WEEK..k - WEEK]))?, hs, hc];
    let day = z(mean(&y[k - 24..k]))?;
    let mut skip = [[0f32; N_SKIP]; HORIZONS];
    for (h, s) in skip.iter_mut().enumerate() {
        // Target hour k + h, two weeks earlier: at most k - 1.
        *s = [z(y[k + h - 2 * WEEK])? - base[h], last - base[h], day - base[h]];
    }
    Some(Head { inputs, base, skip })
}

/// A loaded `lstm_demand`.
#[derive(Debug)]
pub struct DemandLstm {
    pub spec: DemandLstmSpec,
    pub net: LstmNet,
}

impl DemandLstm {
    /// Reads `model.safetensors` and `manifest.json` from `dir`, checksum, kind and inputs checked.
    pub fn load(dir: &Path) -> Result<(DemandLstm, Manifest)> {
        load_artifact(dir, ARTIFACT_KIND, DemandLstmSpec::check, DemandLstm::from_safetensors)
    }

    pub fn from_safetensors(spec: DemandLstmSpec, bytes: &[u8]) -> Result<DemandLstm> {
        let net = LstmNet::from_safetensors(&spec.shape(), bytes)?;
        Ok(DemandLstm { spec, net })
    }

    /// The whole input of issue `k`: `window × N_STEP` step inputs and the head.
    fn issue_inputs(&self, y: &[f64], start_us: i64, k: usize) -> Option<(Vec<f32>, Head)> {
        let s = &self.spec;
        let first = k.checked_sub(s.window)?;
        let head = head(y, start_us, &s.scaler, k)?;
        let mut steps = Vec::with_capacity(s.window * N_STEP);
        for t in first..k {
            steps.extend_from_slice(&step_features(y, start_us, &s.scaler, t)?);
        }
        Some((steps, head))
    }

    /// Quantiles (invariant space) `[issue][horizon]` of many issues at once, each reading
    /// `y[..k]` only: `None` where an issue lacks its inputs.
    pub fn quantiles_z(&self, y: &[f64], start_us: i64, issues: &[usize]) -> Result<Vec<Option<Vec<[f32; 3]>>>> {
        let mut steps = Vec::new();
        let mut inputs = Vec::new();
        let mut heads = Vec::new();
        let mut which = Vec::new();
        for (n, &k) in issues.iter().enumerate() {
            if let Some((s, h)) = self.issue_inputs(y, start_us, k) {
                steps.extend_from_slice(&s);
                inputs.extend_from_slice(&h.inputs);
                heads.push(h);
                which.push(n);
            }
        }
        let mut out = vec![None; issues.len()];
        if which.is_empty() {
            return Ok(out);
        }
        let n_out = self.spec.shape().n_out();
        let skip: Vec<f32> = heads.iter().flat_map(|h| h.skip.iter().flatten().copied()).collect();
        let raw = self.net.forward(which.len(), self.spec.window, &steps, &inputs, &skip)?;
        for (row, (&n, head)) in which.iter().zip(&heads).enumerate() {
            let o = &raw[row * n_out..(row + 1) * n_out];
            out[n] =
                Some((0..HORIZONS).map(|h| decode(head.base[h], [o[3 * h], o[3 * h + 1], o[3 * h + 2]])).collect());
        }
        Ok(out)
    }

    /// The 168 hours after `y` (issued at `y.len()`): the median as the mean, and the quantiles.
    pub fn forecast(&self, y: &[f64], start_us: i64) -> Result<Vec<(f64, [f64; 3])>> {
        let k = y.len();
        let need = self.spec.lookback();
        let Some(q) = self.quantiles_z(y, start_us, &[k])?.pop().flatten() else {
            return Err(Error::Invalid(format!(
                "{k} hours of history; lstm_demand reads the last {need}, every one a finite number"
            )));
        };
        let s = &self.spec.scaler;
        Ok(q.iter()
            .map(|z| {
                let quantiles = z.map(|v| s.inverse(f64::from(v)));
                (quantiles[1], quantiles)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(hours: usize) -> Vec<f64> {
        (0..hours)
            .map(|t| 40.0 + 10.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + (t % 7) as f64)
            .collect()
    }

    fn random(spec: DemandLstmSpec, seed: u64) -> DemandLstm {
        DemandLstm { net: LstmNet::random(&spec.shape(), seed, 0.3).unwrap(), spec }
    }

    #[test]
    fn the_clock_counts_from_the_series_start() {
        assert_eq!(clock(0, 0), (0, 3)); // the epoch: midnight, a Thursday
        assert_eq!(clock(0, 24 * 4 + 5), (5, 0)); // Monday 05:00
        assert_eq!(clock(-HOUR_US, 0), (23, 2)); // 1969-12-31 23:00, a Wednesday
        assert_eq!(head_input_names().len(), N_HEAD);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// The forecast issued at `k` reads nothing from `k` on: changing any later hour (to any
        /// value, or NaN) leaves every quantile unchanged; changing the last known hour moves it.
        #[test]
        fn forecasts_ignore_the_future(k in 340usize..500, value in -1e4f64..1e4, nan in proptest::bool::ANY) {
            let y = series(24 * 30);
            let spec = DemandLstmSpec::new("s", 48, 6, 2, Invariant::fit(&y));
            let m = random(spec, 3);
            let before = m.quantiles_z(&y, 0, &[k]).unwrap();
            proptest::prop_assert!(before[0].is_some());
            let mut later = y.clone();
            for v in &mut later[k..] {
                *v = if nan { f64::NAN } else { value };
            }
            proptest::prop_assert_eq!(&m.quantiles_z(&later, 0, &[k]).unwrap(), &before);
            proptest::prop_assert_eq!(m.forecast(&y[..k], 0).unwrap().len(), HORIZONS);
            let mut earlier = y.clone();
            earlier[k - 1] += 50.0;
            proptest::prop_assert_ne!(&m.quantiles_z(&earlier, 0, &[k]).unwrap(), &before);
        }
    }

    #[test]
    fn quantiles_are_ordered_and_short_or_broken_histories_are_refused() {
        let y = series(24 * 20);
        let m = random(DemandLstmSpec::new("s", 24, 4, 1, Invariant::fit(&y)), 1);
        for (mean, q) in m.forecast(&y, 0).unwrap() {
            assert!(q[0] <= q[1] && q[1] <= q[2] && mean == q[1], "{q:?}");
        }
        let err = m.forecast(&y[..100], 0).unwrap_err().to_string();
        assert!(err.contains("100 hours of history; lstm_demand reads the last 336"), "{err}");
        let mut gap = y.clone();
        gap[y.len() - 3] = f64::NAN;
        assert!(m.forecast(&gap, 0).is_err());
    }
}
