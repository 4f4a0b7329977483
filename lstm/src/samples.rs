//! Training samples: issues of a price grid whose inputs exist and whose 24 targets are known,
//! and their batches as burn tensors.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use hcp_models::forecast::lstm::{self, N_HEAD, N_STEP, head_inputs, step_features};
use hcp_models::forecast::realtime::{HORIZONS, HourlyPrices};
use hcp_models::forecast::scaler::Invariant;

use crate::net::Batch;

/// The step inputs of every hour of the grid and the head inputs of every issue, computed once.
#[derive(Debug, Clone)]
pub struct Grid<'a> {
    pub prices: &'a HourlyPrices,
    pub scaler: Invariant,
    pub window: usize,
    steps: Vec<[f32; N_STEP]>,
    heads: Vec<Option<[f32; N_HEAD]>>,
}

/// Issues usable for training in a range, and how many were left out, by reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issues {
    pub issues: Vec<usize>,
    pub left_out: BTreeMap<String, usize>,
}

impl<'a> Grid<'a> {
    pub fn new(prices: &'a HourlyPrices, scaler: Invariant, window: usize) -> Grid<'a> {
        let steps = (0..prices.len()).map(|t| step_features(prices, &scaler, t)).collect();
        let heads = (0..prices.len()).map(|k| head_inputs(prices, &scaler, k)).collect();
        Grid { prices, scaler, window, steps, heads }
    }

    /// Issues `k` in `[first, end)` whose 24 target hours end by `end` (so every target is over
    /// before the hour `end` starts), with a full window, the head inputs and every target's
    /// price; the others are counted by reason.
    pub fn issues(&self, first: usize, end: usize) -> Issues {
        let mut out = Issues::default();
        let mut skip = |why: &str| *out.left_out.entry(why.into()).or_insert(0) += 1;
        let p = self.prices;
        for k in first..end.saturating_sub(HORIZONS - 1) {
            if k < self.window {
                skip("less than a window of history");
            } else if (k..k + HORIZONS).any(|j| !p.rt[j].is_finite()) {
                skip("a target's real-time price missing");
            } else if self.heads[k].is_none() {
                skip("no day-ahead price known for a target");
            } else {
                out.issues.push(k);
            }
        }
        out
    }

    /// The batch of `issues` on `device`.
    pub fn batch(&self, issues: &[usize], device: &Device) -> Batch {
        let n = issues.len();
        let w = self.window;
        let mut seq = Vec::with_capacity(w * n * N_STEP);
        for t in 0..w {
            for &k in issues {
                seq.extend_from_slice(&self.steps[k - w + t]);
            }
        }
        let mut head = Vec::with_capacity(n * N_HEAD);
        let mut base = Vec::with_capacity(n * HORIZONS);
        let mut target = Vec::with_capacity(n * HORIZONS);
        for &k in issues {
            let x = self.heads[k].expect("issues have their head inputs");
            head.extend_from_slice(&x);
            base.extend((0..HORIZONS).map(|h| lstm::base(&x, h)));
            target.extend((0..HORIZONS).map(|h| self.scaler.transform(self.prices.rt[k + h]) as f32));
        }
        Batch {
            seq: Tensor::from_data(TensorData::new(seq, [w, n, N_STEP]), device),
            head: Tensor::from_data(TensorData::new(head, [n, N_HEAD]), device),
            skip: None,
            base: Tensor::from_data(TensorData::new(base, [n, HORIZONS]), device),
            target: Tensor::from_data(TensorData::new(target, [n, HORIZONS]), device),
        }
    }
}
