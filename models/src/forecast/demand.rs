//! GPU demand a week ahead: `lear_demand`, one lasso per hourly horizon (1..168) over the
//! series' recent hours, its values one and two weeks before the target, the last week's mean
//! and calendar dummies of the hour index, in invariant (asinh) space; and its saved form.

use serde::{Deserialize, Serialize};

use super::lasso::{self, Design, Linear, PathConfig};
use super::scaler::Invariant;
use crate::error::{Error, Result};

/// A week of hourly horizons.
pub const HORIZONS: usize = 168;
/// How far back `lear_demand` reads: two weeks.
pub const LOOKBACK: usize = 336;

/// Inputs of `lear_demand` at issue `k` (the first unknown hour) for horizon `h` (1-based).
pub fn features(y: &[f64], s: &Invariant, k: usize, h: usize) -> Vec<f64> {
    let j = k + h - 1;
    let mut x: Vec<f64> = (1..=24).map(|lag| s.transform(y[k - lag])).collect();
    x.push(s.transform(y[j - 168]));
    x.push(s.transform(y[j - 336]));
    x.push(s.transform(y[k - 168..k].iter().sum::<f64>() / 168.0));
    x.extend((0..24).map(|hod| f64::from(u8::from(j % 24 == hod))));
    x.extend((0..7).map(|dow| f64::from(u8::from((j / 24) % 7 == dow))));
    x
}

/// `lear_demand` calibrated at one issue: per horizon, the model and the range of its training
/// targets in transformed space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearDemand {
    scaler: Invariant,
    models: Vec<(Linear, f64, f64)>,
}

impl LearDemand {
    /// A prediction is held within the training targets' range (in asinh space) widened by
    /// half its width on each side: room for a trend, but `sinh` of a linear extrapolation on a
    /// sparse series (arrivals are mostly zero) gave numbers beyond any demand ever seen.
    pub fn forecast(&self, y: &[f64], k: usize, h: usize) -> f64 {
        let (model, lo, hi) = &self.models[h - 1];
        self.scaler.inverse(model.predict(&features(y, &self.scaler, k, h)).clamp(*lo, *hi))
    }
}

impl LearDemand {
    /// Calibrates at issue `k` on every earlier issue whose target is known (`y[..k]`).
    pub fn fit(y: &[f64], k: usize, path: &PathConfig) -> Result<LearDemand> {
        let scaler = Invariant::fit(&y[..k]);
        let models = (1..=HORIZONS)
            .map(|h| {
                let issues: Vec<usize> = (LOOKBACK..k).filter(|i| i + h <= k).collect();
                if issues.len() < 24 * 7 {
                    return Err(Error::Fit {
                        model: "lear_demand".into(),
                        message: format!(
                            "horizon {h}: {} training hours before hour {k}; at least a week is needed",
                            issues.len()
                        ),
                    });
                }
                let rows: Vec<Vec<f64>> = issues.iter().map(|&i| features(y, &scaler, i, h)).collect();
                let z: Vec<f64> = issues.iter().map(|&i| scaler.transform(y[i + h - 1])).collect();
                let (lo, hi) = z.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
                let margin = 0.5 * (hi - lo);
                Ok((lasso::fit_aic(&Design::new(&rows), &z, path).model, lo - margin, hi + margin))
            })
            .collect::<Result<_>>()?;
        Ok(LearDemand { scaler, models })
    }
}

/// Names of [`features`]' columns, in order.
pub fn feature_names() -> Vec<String> {
    let mut names: Vec<String> = (1..=24).map(|l| format!("lag_{l}h")).collect();
    names.extend(["target_minus_168h", "target_minus_336h", "mean_last_168h"].map(String::from));
    names.extend((0..24).map(|h| format!("target_hour_{h}")));
    names.extend((0..7).map(|d| format!("target_day_{d}")));
    names
}

pub const ARTIFACT_KIND: &str = "demand_lear";

/// The saved demand forecaster: the model, the series it forecasts and its holdout error
/// quantiles per horizon (the 0.1/0.5/0.9 band).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandForecaster {
    pub series: String,
    /// Hours of history it was fitted on.
    pub trained_hours: usize,
    pub model: LearDemand,
    pub band_offsets: Vec<[f64; 3]>,
}

/// Loads a saved demand forecaster (checksum and features verified).
pub fn load(dir: &std::path::Path) -> Result<(DemandForecaster, crate::artifact::Manifest)> {
    crate::artifact::load(dir, ARTIFACT_KIND, &feature_names())
}

impl DemandForecaster {
    /// The next 168 hours after `y` (issue at `y.len()`): mean and quantiles per horizon.
    pub fn forecast(&self, y: &[f64]) -> Result<Vec<(f64, [f64; 3])>> {
        let k = y.len();
        if k < LOOKBACK {
            return Err(Error::Invalid(format!("{} hours of history; the model reads {LOOKBACK}", k)));
        }
        // Targets beyond the history are read only through their own lags (a week or two
        // back), which the history holds for every horizon; pad so indexing stays in bounds.
        let mut padded = y.to_vec();
        padded.resize(k + HORIZONS, f64::NAN);
        Ok((1..=HORIZONS)
            .map(|h| {
                let mean = self.model.forecast(&padded, k, h);
                let o = self.band_offsets.get(h - 1).copied().unwrap_or([0.0; 3]);
                (mean, o.map(|v| mean + v))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(hours: usize) -> Vec<f64> {
        (0..hours)
            .map(|t| {
                100.0
                    + 30.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                    + if (t / 24) % 7 >= 5 { -40.0 } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn names_match_features_and_the_forecast_reads_only_the_history() {
        let y = series(24 * 40);
        let s = Invariant::fit(&y);
        assert_eq!(features(&y, &s, 24 * 30, 100).len(), feature_names().len());
        let model = LearDemand::fit(&y, 24 * 40, &PathConfig::default()).unwrap();
        let f = DemandForecaster {
            series: "s".into(),
            trained_hours: y.len(),
            model,
            band_offsets: vec![[-1.0, 0.0, 1.0]; HORIZONS],
        };
        let out = f.forecast(&y).unwrap();
        assert_eq!(out.len(), HORIZONS);
        assert!(out.iter().all(|(m, q)| m.is_finite() && q[0] < q[1] && q[1] < q[2]));
        // The shape repeats weekly: the forecast of next week follows it.
        for (h, (mean, _)) in out.iter().enumerate() {
            let truth = series(24 * 40 + HORIZONS)[24 * 40 + h];
            assert!((mean - truth).abs() < 5.0, "horizon {}: {mean} vs {truth}", h + 1);
        }
    }
}
