//! The "invariant" transformation of the open price-forecasting benchmark (Uniejewski, Weron and
//! Ziel 2018; `DataScaler('Invariant')` in epftoolbox): centre on the median, scale by the
//! normal-consistent median absolute deviation, then `asinh`. It tames spikes and negative
//! prices without a log's domain problems.

/// Median and scale of one column.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Invariant {
    pub median: f64,
    pub scale: f64,
}

/// `1 / Φ⁻¹(3/4)`: makes the MAD estimate the standard deviation of normal data (scipy's
/// `median_abs_deviation(scale="normal")`, which epftoolbox uses).
const MAD_TO_SD: f64 = 1.482_602_218_505_602;

impl Invariant {
    /// Fits on finite values. A column whose MAD is zero (more than half its values equal)
    /// falls back to the mean absolute deviation, then to 1: epftoolbox would divide by zero.
    pub fn fit(values: &[f64]) -> Invariant {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Invariant { median: 0.0, scale: 1.0 };
        }
        let median = median_in_place(&mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        let mad = median_in_place(&mut dev) * MAD_TO_SD;
        let scale = if mad > 0.0 {
            mad
        } else {
            let mean_abs = dev.iter().sum::<f64>() / dev.len() as f64;
            if mean_abs > 0.0 { mean_abs * (std::f64::consts::PI / 2.0).sqrt() } else { 1.0 }
        };
        Invariant { median, scale }
    }

    /// Checks a saved scaler: a finite median and a finite, positive scale.
    pub fn check(&self) -> Result<(), String> {
        if !self.median.is_finite() || !self.scale.is_finite() || self.scale <= 0.0 {
            return Err(format!(
                "scaler: median {} and scale {}; a finite median and a positive scale",
                self.median, self.scale
            ));
        }
        Ok(())
    }

    pub fn transform(&self, x: f64) -> f64 {
        ((x - self.median) / self.scale).asinh()
    }

    pub fn inverse(&self, z: f64) -> f64 {
        z.sinh() * self.scale + self.median
    }
}

fn median_in_place(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_values_and_round_trip() {
        // median 3, |x - 3| = [2, 1, 0, 1, 97] → MAD 1 → scale 1.4826.
        let s = Invariant::fit(&[1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!(s.median, 3.0);
        assert!((s.scale - MAD_TO_SD).abs() < 1e-15);
        assert!((s.transform(100.0) - (97.0 / MAD_TO_SD).asinh()).abs() < 1e-12);
        for x in [-500.0, -1.0, 0.0, 3.0, 37.5, 3000.0] {
            assert!((s.inverse(s.transform(x)) - x).abs() < 1e-9 * x.abs().max(1.0));
        }
    }

    #[test]
    fn a_mostly_constant_column_still_gets_a_positive_scale() {
        let s = Invariant::fit(&[0.0, 0.0, 0.0, 0.0, 8.0]);
        assert_eq!(s.median, 0.0);
        assert!(s.scale > 0.0 && s.scale.is_finite());
        assert_eq!(Invariant::fit(&[5.0; 4]).scale, 1.0);
    }
}
