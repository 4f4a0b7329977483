//! Quantile bands around a point forecast from the model's own recent out-of-sample errors
//! (empirical, per hour or horizon): what the naive baselines and LEAR publish as quantiles.

use std::collections::VecDeque;

use super::metrics::QUANTILES;

/// Errors (`actual − forecast`) of past forecasts whose outcome is known, per slot (an hour of
/// the day, or a horizon), most recent last.
#[derive(Debug, Clone)]
pub struct ErrorBands {
    window: usize,
    errors: Vec<VecDeque<f64>>,
}

impl ErrorBands {
    /// `slots` slots, each keeping its last `window` errors.
    pub fn new(slots: usize, window: usize) -> ErrorBands {
        ErrorBands { window, errors: vec![VecDeque::new(); slots] }
    }

    /// Records an error once its outcome is known.
    pub fn record(&mut self, slot: usize, error: f64) {
        let e = &mut self.errors[slot];
        e.push_back(error);
        if e.len() > self.window {
            e.pop_front();
        }
    }

    /// Errors known for a slot.
    pub fn known(&self, slot: usize) -> usize {
        self.errors[slot].len()
    }

    /// The quantiles at [`QUANTILES`] of `point + error`. Monotone in the level by
    /// construction, so they never cross. With no error known yet the band is the point.
    pub fn quantiles(&self, slot: usize, point: f64) -> [f64; 3] {
        self.offsets(slot).map(|o| point + o)
    }

    /// The error quantiles at [`QUANTILES`] themselves (zeros while none is known): callers
    /// that issue many forecasts between two updates compute them once.
    pub fn offsets(&self, slot: usize) -> [f64; 3] {
        let e = self.sorted(slot);
        if e.is_empty() {
            return [0.0; 3];
        }
        QUANTILES.map(|q| quantile_sorted(&e, q))
    }

    /// The split-conformal quantile of a slot's recorded values (scores) at `level`: the
    /// ⌈(n + 1)·level⌉-th smallest of the n known (the largest when that rank passes n; 0 while
    /// none is known).
    pub fn conformal(&self, slot: usize, level: f64) -> f64 {
        let e = self.sorted(slot);
        if e.is_empty() {
            return 0.0;
        }
        let rank = ((e.len() + 1) as f64 * level).ceil() as usize;
        e[rank.clamp(1, e.len()) - 1]
    }

    fn sorted(&self, slot: usize) -> Vec<f64> {
        let mut e: Vec<f64> = self.errors[slot].iter().copied().collect();
        e.sort_by(f64::total_cmp);
        e
    }
}

/// Linear interpolation between order statistics (type 7, numpy's default).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos.fract());
    if lo + 1 < sorted.len() { sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]) } else { sorted[lo] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Golden: scores 1..=9, level 0.8: rank ⌈10 × 0.8⌉ = 8, the score 8; level 0.95: rank 10
    /// passes n, the largest.
    #[test]
    fn conformal_quantile_is_the_finite_sample_rank() {
        let mut b = ErrorBands::new(1, 100);
        assert_eq!(b.conformal(0, 0.8), 0.0);
        for e in [5, 3, 9, 1, 7, 2, 8, 4, 6] {
            b.record(0, e as f64);
        }
        assert_eq!(b.conformal(0, 0.8), 8.0);
        assert_eq!(b.conformal(0, 0.95), 9.0);
    }

    #[test]
    fn keeps_the_window_and_interpolates() {
        let mut b = ErrorBands::new(1, 11);
        for e in 0..20 {
            b.record(0, e as f64);
        }
        assert_eq!(b.known(0), 11);
        // Errors 9..=19: q0.1 = 10, q0.5 = 14, q0.9 = 18.
        assert_eq!(b.quantiles(0, 100.0), [110.0, 114.0, 118.0]);
    }

    proptest! {
        #[test]
        fn quantiles_never_cross(errors in proptest::collection::vec(-1e4f64..1e4, 0..60), point in -500f64..500.0) {
            let mut b = ErrorBands::new(1, 30);
            for e in errors { b.record(0, e); }
            let q = b.quantiles(0, point);
            prop_assert!(q[0] <= q[1] && q[1] <= q[2]);
        }
    }
}
