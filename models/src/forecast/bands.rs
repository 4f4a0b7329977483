//! Quantile bands around a point forecast from the model's own recent out-of-sample errors
//! (empirical, per hour or horizon): what the naive baselines and LEAR publish as quantiles.
//!
//! The level-`l` quantile of n errors is their (n + 1)·l-th smallest, interpolated between
//! neighbouring ranks (Hyndman and Fan's type 6): a new error exchangeable with them falls
//! below the k-th smallest with probability k / (n + 1), so the 0.1 and 0.9 quantiles bound
//! 80 % of new errors on average. The more usual interpolation (type 7, numpy's default) puts
//! them at ranks 1 + (n − 1)·l, inside that: from the 28 errors of a demand band, ranks 3.7 and
//! 25.3, which bound about (25.3 − 3.7) / 29 = 74.5 % of new errors
//! (`next_error_is_covered_eighty_percent_of_the_time` checks type 6's 80 %).

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

    /// The quantiles at [`QUANTILES`] of `point + error` (finite-sample ranks, above).
    /// Monotone in the level by construction, so they never cross. With no error known yet the
    /// band is the point.
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
        QUANTILES.map(|q| rank_quantile_sorted(&e, q))
    }

    /// The split-conformal quantile of a slot's recorded values (scores) at `level`: the
    /// ⌈(n + 1)·level⌉-th smallest of the n known (the largest when that rank passes n; 0 while
    /// none is known).
    pub fn conformal(&self, slot: usize, level: f64) -> f64 {
        let e = self.sorted(slot);
        if e.is_empty() {
            return 0.0;
        }
        e[finite_sample_rank(e.len(), level).ceil() as usize - 1]
    }

    fn sorted(&self, slot: usize) -> Vec<f64> {
        let mut e: Vec<f64> = self.errors[slot].iter().copied().collect();
        e.sort_by(f64::total_cmp);
        e
    }
}

/// Checks a saved model's per-horizon band (offsets to its mean for the 0.1, 0.5 and 0.9
/// quantiles): one per horizon, finite, and not crossing.
pub fn check_offsets(offsets: &[[f64; 3]], horizons: usize) -> Result<(), String> {
    if offsets.len() != horizons {
        return Err(format!("band_offsets: {} horizons, the model forecasts {horizons}", offsets.len()));
    }
    for (h, o) in offsets.iter().enumerate() {
        if !o.iter().all(|v| v.is_finite()) || o[0] > o[1] || o[1] > o[2] {
            return Err(format!("band_offsets[{h}] (horizon {}): {o:?} is not three finite, ordered offsets", h + 1));
        }
    }
    Ok(())
}

/// The 1-based rank (n + 1)·level among n values, held within 1..=n: the rank below which a new
/// value exchangeable with them falls with probability `level`.
fn finite_sample_rank(n: usize, level: f64) -> f64 {
    (level * (n + 1) as f64).clamp(1.0, n as f64)
}

/// The [`finite_sample_rank`]-th smallest of `sorted`, interpolated between neighbouring ranks
/// (type 6).
fn rank_quantile_sorted(sorted: &[f64], level: f64) -> f64 {
    let n = sorted.len();
    let rank = finite_sample_rank(n, level);
    let (k, frac) = (rank.floor() as usize, rank.fract());
    if k < n { sorted[k - 1] + frac * (sorted[k] - sorted[k - 1]) } else { sorted[n - 1] }
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
        // Errors 9..=19 (n = 11): q0.1 at rank 12 × 0.1 = 1.2, 9 + 0.2; q0.5 at rank 6, 14;
        // q0.9 at rank 10.8, 18 + 0.8 (R's quantile(9:19, c(.1, .5, .9), type = 6)).
        let q = b.quantiles(0, 100.0);
        for (got, want) in q.iter().zip([109.2, 114.0, 118.8]) {
            assert!((got - want).abs() < 1e-9, "{q:?}");
        }
        // A single error is every quantile.
        let mut one = ErrorBands::new(1, 5);
        one.record(0, -3.0);
        assert_eq!(one.offsets(0), [-3.0; 3]);
    }

    /// Errors drawn independently from one distribution: the band from the last 28 (a demand
    /// band's window) covers the next error 80 % of the time, for any continuous distribution
    /// up to the interpolation between ranks; type 7's ranks would cover about 74.5 % (the
    /// module's note), outside the tolerance.
    #[test]
    fn next_error_is_covered_eighty_percent_of_the_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut b = ErrorBands::new(1, 28);
        let (mut covered, mut scored) = (0usize, 0usize);
        for i in 0..40_028 {
            // Skewed errors: an exponential's.
            let e = -(1.0 - rng.gen_range(0.0..1.0f64)).ln();
            if i >= 28 {
                let [lo, _, hi] = b.offsets(0);
                covered += usize::from(lo <= e && e <= hi);
                scored += 1;
            }
            b.record(0, e);
        }
        let coverage = covered as f64 / scored as f64;
        assert!((coverage - 0.8).abs() < 0.01, "coverage {coverage}");
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
