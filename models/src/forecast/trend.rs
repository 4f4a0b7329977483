//! The long-term trend a LEAR model can be calibrated without: the seasonal-component LEAR of
//! Jędrzejewski, Marcjasz and Weron ("Importance of the long-term seasonal component in
//! day-ahead electricity price forecasting revisited", Energies 14, 2021; after Nowotarski and
//! Weron 2016). The prices of a calibration window, less the Hodrick-Prescott trend of their
//! daily means, are what the model fits and forecasts; the forecast gets back the trend's last
//! value (the trend of day D is taken to be that of D-1).

use std::borrow::Cow;

use super::panel::{DayAheadPanel, HOURS};
use crate::error::{Error, Result};

/// What a LEAR model's prices are measured from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// The prices as they are: the benchmark's LEAR.
    None,
    /// The prices less the Hodrick-Prescott trend of the window's daily means, smoothing
    /// `lambda` (per day²; 1e6 follows swings of about a year and a half).
    HodrickPrescott { lambda: f64 },
}

impl Trend {
    /// `none` or `hp:LAMBDA` (a positive number, e.g. `hp:1e6`); an error names `flag`.
    pub fn parse(flag: &str, word: &str) -> Result<Trend> {
        if word == "none" {
            return Ok(Trend::None);
        }
        match word.strip_prefix("hp:").map(str::parse::<f64>) {
            Some(Ok(lambda)) if lambda.is_finite() && lambda > 0.0 => Ok(Trend::HodrickPrescott { lambda }),
            _ => Err(Error::Invalid(format!(
                "{flag}: {word:?} is neither none nor hp:LAMBDA with a positive LAMBDA (e.g. hp:1e6)"
            ))),
        }
    }

    /// What a model id carries for this trend: nothing for [`Trend::None`], `_hp1e6` for
    /// `hp:1e6`.
    pub fn id_suffix(&self) -> String {
        match self {
            Trend::None => String::new(),
            Trend::HodrickPrescott { lambda } => format!("_hp{lambda:e}"),
        }
    }

    /// `panel` with the prices of days `lo..end` less their day's trend, computed from those
    /// days only, and the trend of day `end - 1`. Borrowed as it is, with 0, for
    /// [`Trend::None`]. Days outside `lo..end` keep their prices; a model must not read them.
    pub fn remove<'a>(&self, panel: &'a DayAheadPanel, lo: usize, end: usize) -> (Cow<'a, DayAheadPanel>, f64) {
        let Trend::HodrickPrescott { lambda } = *self else {
            return (Cow::Borrowed(panel), 0.0);
        };
        assert!(lo < end && end <= panel.days(), "days {lo}..{end} of a panel of {}", panel.days());
        let means: Vec<f64> = panel.price[lo..end].iter().map(|day| day.iter().sum::<f64>() / HOURS as f64).collect();
        let trend = hodrick_prescott(&means, lambda);
        let mut detrended = panel.clone();
        for (day, level) in detrended.price[lo..end].iter_mut().zip(&trend) {
            day.iter_mut().for_each(|p| *p -= level);
        }
        (Cow::Owned(detrended), trend[trend.len() - 1])
    }
}

impl std::fmt::Display for Trend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trend::None => f.write_str("none"),
            Trend::HodrickPrescott { lambda } => write!(f, "hp:{lambda:e}"),
        }
    }
}

/// The Hodrick-Prescott trend τ of `y`: the minimiser of Σ (y − τ)² + λ Σ (Δ²τ)², the solution
/// of (I + λ K'K) τ = y with K the second differences, by a Cholesky factorisation of that
/// five-diagonal matrix (linear in the length). A straight line is its own trend, and the
/// trend keeps the series' sum.
pub fn hodrick_prescott(y: &[f64], lambda: f64) -> Vec<f64> {
    let n = y.len();
    if n < 3 || lambda == 0.0 {
        return y.to_vec();
    }
    // band[i][o] = A[i][i + o] for o = 0, 1, 2: each row of K adds λ (1, −2, 1)'(1, −2, 1).
    let mut band = vec![[1.0, 0.0, 0.0]; n];
    const K: [f64; 3] = [1.0, -2.0, 1.0];
    for i in 0..n - 2 {
        for p in 0..3 {
            for q in p..3 {
                band[i + p][q - p] += lambda * K[p] * K[q];
            }
        }
    }
    // low[i][o] = L[i][i − o], A = L L'.
    let mut low = vec![[0.0f64; 3]; n];
    for j in 0..n {
        let pivot = (band[j][0] - low[j][1..=j.min(2)].iter().map(|v| v * v).sum::<f64>()).sqrt();
        low[j][0] = pivot;
        for i in j + 1..(j + 3).min(n) {
            // A[i][j] less Σ L[i][k] L[j][k] over the k < j both rows hold.
            let overlap: f64 = (i.saturating_sub(2)..j).map(|k| low[i][i - k] * low[j][j - k]).sum();
            low[i][i - j] = (band[j][i - j] - overlap) / pivot;
        }
    }
    // L z = y, then L' τ = z.
    let mut z = vec![0.0; n];
    for i in 0..n {
        let known: f64 = (i.saturating_sub(2)..i).map(|k| low[i][i - k] * z[k]).sum();
        z[i] = (y[i] - known) / low[i][0];
    }
    let mut tau = vec![0.0; n];
    for i in (0..n).rev() {
        let known: f64 = (i + 1..(i + 3).min(n)).map(|k| low[k][k - i] * tau[k]).sum();
        tau[i] = (z[i] - known) / low[i][0];
    }
    tau
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (I + λ K'K) τ = y by Gaussian elimination on the dense matrix: the definition, slowly.
    fn dense(y: &[f64], lambda: f64) -> Vec<f64> {
        let n = y.len();
        let mut a = vec![vec![0.0; n + 1]; n];
        for (i, row) in a.iter_mut().enumerate() {
            row[i] = 1.0;
            row[n] = y[i];
        }
        for r in 0..n - 2 {
            let k = [(r, 1.0), (r + 1, -2.0), (r + 2, 1.0)];
            for &(i, ki) in &k {
                for &(j, kj) in &k {
                    a[i][j] += lambda * ki * kj;
                }
            }
        }
        for c in 0..n {
            for r in c + 1..n {
                let (pivots, rest) = a.split_at_mut(r);
                let f = rest[0][c] / pivots[c][c];
                for (x, p) in rest[0][c..].iter_mut().zip(&pivots[c][c..]) {
                    *x -= f * p;
                }
            }
        }
        let mut x = vec![0.0; n];
        for r in (0..n).rev() {
            x[r] = (a[r][n] - (r + 1..n).map(|j| a[r][j] * x[j]).sum::<f64>()) / a[r][r];
        }
        x
    }

    #[test]
    fn golden_values_lines_and_the_dense_solution() {
        // By hand: with τ = y − λ K' s and s = K τ, s = −2 / (1 + 6λ); at λ = 1, τ = (2, 3, 2) / 7.
        let t = hodrick_prescott(&[0.0, 1.0, 0.0], 1.0);
        for (got, want) in t.iter().zip([2.0 / 7.0, 3.0 / 7.0, 2.0 / 7.0]) {
            assert!((got - want).abs() < 1e-15, "{t:?}");
        }
        let line: Vec<f64> = (0..50).map(|i| 3.0 - 0.25 * i as f64).collect();
        for (got, want) in hodrick_prescott(&line, 1e6).iter().zip(&line) {
            assert!((got - want).abs() < 1e-6, "a line is its own trend: {got} vs {want}");
        }
        let y: Vec<f64> = (0..40).map(|i| (i as f64 * 0.7).sin() * 10.0 + (i % 7) as f64 + 0.1 * i as f64).collect();
        for lambda in [0.5, 100.0, 1e6] {
            let t = hodrick_prescott(&y, lambda);
            for (got, want) in t.iter().zip(dense(&y, lambda)) {
                assert!((got - want).abs() < 1e-8 * want.abs().max(1.0), "λ {lambda}: {got} vs {want}");
            }
            assert!((t.iter().sum::<f64>() - y.iter().sum::<f64>()).abs() < 1e-7, "the sum is kept");
        }
        assert_eq!(hodrick_prescott(&y, 0.0), y);
        assert_eq!(hodrick_prescott(&y[..2], 1e6), y[..2]);
    }

    #[test]
    fn the_words_parse_and_name_the_models() {
        assert_eq!(Trend::parse("--lear-trends", "none").unwrap(), Trend::None);
        let hp = Trend::parse("--lear-trends", "hp:1e6").unwrap();
        assert_eq!(hp, Trend::HodrickPrescott { lambda: 1e6 });
        assert_eq!((hp.id_suffix(), hp.to_string()), ("_hp1e6".to_string(), "hp:1e6".to_string()));
        assert_eq!(Trend::parse("f", "hp:250").unwrap().id_suffix(), "_hp2.5e2");
        assert_eq!(Trend::None.id_suffix(), "");
        for bad in ["hp", "hp:", "hp:0", "hp:-3", "hp:inf", "hp:x", "HP:1e6", "trend"] {
            let err = Trend::parse("--lear-trends", bad).unwrap_err().to_string();
            assert!(err.contains("--lear-trends") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn removing_the_trend_reads_only_the_days_it_is_given() {
        let days = 30;
        let price: Vec<f64> = (0..days * HOURS).map(|i| 20.0 + (i / HOURS) as f64 + (i % HOURS) as f64 * 0.1).collect();
        let panel = DayAheadPanel::from_hourly(16_000, &price, vec![]).unwrap();
        let (plain, level) = Trend::None.remove(&panel, 5, 20);
        assert!(matches!(plain, Cow::Borrowed(_)) && level == 0.0);
        let hp = Trend::HodrickPrescott { lambda: 1e6 };
        let (detrended, level) = hp.remove(&panel, 5, 20);
        // The daily means climb by one a day, a line: the trend is the mean itself.
        assert!((level - (20.0 + 19.0 + 1.15)).abs() < 1e-6, "{level}");
        assert!((detrended.price[12][0] - -1.15).abs() < 1e-6);
        assert_eq!(detrended.price[4], panel.price[4]);
        assert_eq!(detrended.price[20], panel.price[20]);
        // Prices after the span do not move it.
        let mut changed = panel.clone();
        changed.price[20..].iter_mut().for_each(|d| d[3] += 500.0);
        assert_eq!(hp.remove(&changed, 5, 20).1, level);
    }
}
