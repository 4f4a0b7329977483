//! Forecast accuracy: point errors, pinball loss and interval coverage.

use serde::Serialize;

/// The quantile levels every hcp forecaster publishes.
pub const QUANTILES: [f64; 3] = [0.1, 0.5, 0.9];

/// Accumulates the errors of one model over a test set.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    n: usize,
    abs: f64,
    sq: f64,
    smape: f64,
    pinball: f64,
    covered: usize,
}

/// What an accumulator reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub n: usize,
    pub mae: f64,
    pub rmse: f64,
    /// Symmetric MAPE as the benchmark defines it, `|y - ŷ| / ((|y| + |ŷ|) / 2)`, in percent;
    /// a pair of zeros counts as no error.
    pub smape_percent: f64,
    /// Mean pinball loss over the levels of [`QUANTILES`].
    pub pinball: f64,
    /// Share of actuals inside the 0.1-0.9 interval.
    pub coverage_80: f64,
}

impl Accumulator {
    /// One target: its actual value, the point forecast and the quantiles at [`QUANTILES`].
    pub fn add(&mut self, actual: f64, point: f64, quantiles: &[f64; 3]) {
        let e = actual - point;
        self.n += 1;
        self.abs += e.abs();
        self.sq += e * e;
        let denom = (actual.abs() + point.abs()) / 2.0;
        if denom > 0.0 {
            self.smape += e.abs() / denom;
        }
        self.pinball +=
            QUANTILES.iter().zip(quantiles).map(|(&q, &v)| pinball(actual, v, q)).sum::<f64>() / QUANTILES.len() as f64;
        if quantiles[0] <= actual && actual <= quantiles[2] {
            self.covered += 1;
        }
    }

    pub fn merge(&mut self, other: &Accumulator) {
        self.n += other.n;
        self.abs += other.abs;
        self.sq += other.sq;
        self.smape += other.smape;
        self.pinball += other.pinball;
        self.covered += other.covered;
    }

    pub fn scores(&self) -> Scores {
        let n = self.n.max(1) as f64;
        Scores {
            n: self.n,
            mae: self.abs / n,
            rmse: (self.sq / n).sqrt(),
            smape_percent: 100.0 * self.smape / n,
            pinball: self.pinball / n,
            coverage_80: self.covered as f64 / n,
        }
    }

    pub fn mae(&self) -> f64 {
        self.abs / self.n.max(1) as f64
    }
}

/// The pinball (quantile) loss of forecasting `value` at level `q` when `actual` happened.
pub fn pinball(actual: f64, value: f64, q: f64) -> f64 {
    let e = actual - value;
    if e >= 0.0 { q * e } else { (q - 1.0) * e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_scores() {
        let mut a = Accumulator::default();
        // errors +2 and -4; intervals [9, 13] holds 12, [9, 11] misses 6.
        a.add(12.0, 10.0, &[9.0, 10.0, 13.0]);
        a.add(6.0, 10.0, &[9.0, 10.0, 11.0]);
        let s = a.scores();
        assert_eq!(s.mae, 3.0);
        assert!((s.rmse - 10f64.sqrt()).abs() < 1e-12);
        // 2/11 and 4/8 → mean 0.340909…
        assert!((s.smape_percent - 100.0 * (2.0 / 11.0 + 0.5) / 2.0).abs() < 1e-9);
        // pinball, first: 0.1·3 + 0.5·2 + 0.9·(−1)·(−0.1)… computed by hand:
        // q0.1 at 9 (e=3): 0.3; q0.5 at 10 (e=2): 1.0; q0.9 at 13 (e=-1): 0.1 → 1.4/3
        // second: q0.1 at 9 (e=-3): 2.7; q0.5 at 10 (e=-4): 2.0; q0.9 at 11 (e=-5): 0.5 → 5.2/3
        assert!((s.pinball - (1.4 / 3.0 + 5.2 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(s.coverage_80, 0.5);
    }
}
