//! GPU demand a week ahead: `lear_demand`, one lasso per hourly horizon (1..168) over the
//! series' recent hours, its values one and two weeks before the target, the last week's mean
//! and calendar dummies of the hour index, in invariant (asinh) space; and its saved form.
//!
//! Two guards keep it from doing worse than a naive forecast where a lasso in asinh space goes
//! wrong (a series that steps and holds, or that leaves its range: GPUs held by a few long
//! pods, arrivals that are zero for weeks and then are not). Its inputs are held within the
//! range its training hours saw, and each day ahead falls back to the last value or to the
//! value a week before the target ([`Fallback`]) when that beat the lasso by more than
//! [`FALLBACK_MARGIN`] over the [`SELECTION_DAYS`] days before the calibration.

use serde::{Deserialize, Serialize};

use super::lasso::{self, Design, Linear, PathConfig};
use super::scaler::Invariant;
use crate::error::{Error, Result};

/// A week of hourly horizons.
pub const HORIZONS: usize = 168;
/// How far back `lear_demand` reads: two weeks.
pub const LOOKBACK: usize = 336;
/// Days before a calibration on which each day ahead's forecaster is chosen.
pub const SELECTION_DAYS: usize = 14;
/// How much better than the lasso a naive forecast must have done there to replace it.
pub const FALLBACK_MARGIN: f64 = 0.1;

/// What forecasts one day ahead (24 horizons) of a calibrated `lear_demand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The horizon's lasso.
    #[default]
    Lasso,
    /// The last known hour.
    Persistence,
    /// The target hour a week before.
    WeeklyNaive,
}

impl Fallback {
    pub const ALL: [Fallback; 3] = [Fallback::Lasso, Fallback::Persistence, Fallback::WeeklyNaive];
}

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
/// targets in transformed space; the ranges its inputs are held in; per horizon, what forecasts
/// it. (Artifacts saved before the guards load without them: inputs unheld, every horizon its
/// lasso.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearDemand {
    scaler: Invariant,
    models: Vec<(Linear, f64, f64)>,
    /// Per horizon, the ranges its training rows' inputs spanned (transformed): the hourly
    /// values (the lags and the week-back targets), and the last week's means.
    #[serde(default)]
    input_ranges: Vec<[(f64, f64); 2]>,
    /// Per day ahead (horizons 1-24, 25-48, …); empty: every horizon its lasso.
    #[serde(default)]
    fallbacks: Vec<Fallback>,
}

impl LearDemand {
    /// The forecast of hour `k + h - 1` issued at `k`. The lasso's inputs are held within the
    /// ranges the training hours saw, and its prediction within the training targets' range (in
    /// asinh space) widened by half its width on each side: room for a trend, but `sinh` of a
    /// linear extrapolation on a sparse series (arrivals are mostly zero) gave numbers beyond
    /// any demand ever seen.
    pub fn forecast(&self, y: &[f64], k: usize, h: usize) -> f64 {
        match self.fallbacks.get((h - 1) / 24).copied().unwrap_or_default() {
            Fallback::Persistence => return y[k - 1],
            Fallback::WeeklyNaive => return y[k + h - 1 - 168],
            Fallback::Lasso => {}
        }
        let (model, lo, hi) = &self.models[h - 1];
        let mut x = features(y, &self.scaler, k, h);
        if let Some(&[(lo_value, hi_value), (lo_mean, hi_mean)]) = self.input_ranges.get(h - 1) {
            x[..MEAN_COLUMN].iter_mut().for_each(|v| *v = v.clamp(lo_value, hi_value));
            x[MEAN_COLUMN] = x[MEAN_COLUMN].clamp(lo_mean, hi_mean);
        }
        self.scaler.inverse(model.predict(&x).clamp(*lo, *hi))
    }

    /// What forecasts each day ahead (its lassos when none was chosen).
    pub fn fallbacks(&self) -> Vec<Fallback> {
        (0..HORIZONS / 24).map(|day| self.fallbacks.get(day).copied().unwrap_or_default()).collect()
    }
}

/// The smallest and largest of `values`.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)))
}

/// Columns of [`features`] before the last week's mean: the 24 lags and the two week-back targets.
const MEAN_COLUMN: usize = 26;

impl LearDemand {
    /// Calibrates at issue `k` on every earlier issue whose target is known (`y[..k]`), then
    /// chooses each day ahead's forecaster: the same calibration at `k` less [`SELECTION_DAYS`]
    /// forecasts every hourly issue of those days whose target is before `k`, and the last value
    /// or the week-before value replaces the lasso for that day's 24 horizons when its error
    /// there is below (1 − [`FALLBACK_MARGIN`]) of the lasso's. With too short a history for
    /// both calibrations, every horizon keeps its lasso.
    pub fn fit(y: &[f64], k: usize, path: &PathConfig) -> Result<LearDemand> {
        let mut model = Self::fit_lasso(y, k, path)?;
        let start = k.saturating_sub(SELECTION_DAYS * 24);
        if start >= LOOKBACK + HORIZONS + 24 * 7 {
            let earlier = Self::fit_lasso(y, start, path)?;
            model.fallbacks = (0..HORIZONS / 24)
                .map(|day| {
                    let mut error = [0.0; 3];
                    for h in day * 24 + 1..=day * 24 + 24 {
                        for i in start..=k - h {
                            let target = y[i + h - 1];
                            let forecasts = [earlier.forecast(y, i, h), y[i - 1], y[i + h - 1 - 168]];
                            error.iter_mut().zip(forecasts).for_each(|(e, f)| *e += (f - target).abs());
                        }
                    }
                    let bar = (1.0 - FALLBACK_MARGIN) * error[0];
                    let best = (1..3).filter(|&m| error[m] < bar).min_by(|&a, &b| error[a].total_cmp(&error[b]));
                    Fallback::ALL[best.unwrap_or(0)]
                })
                .collect();
        }
        Ok(model)
    }

    /// Every horizon's lasso calibrated at `k`.
    fn fit_lasso(y: &[f64], k: usize, path: &PathConfig) -> Result<LearDemand> {
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
                let (lo, hi) = span(z.iter().copied());
                let margin = 0.5 * (hi - lo);
                let inputs = [
                    span(rows.iter().flat_map(|r| r[..MEAN_COLUMN].iter().copied())),
                    span(rows.iter().map(|r| r[MEAN_COLUMN])),
                ];
                Ok(((lasso::fit_aic(&Design::new(&rows), &z, path).model, lo - margin, hi + margin), inputs))
            })
            .collect::<Result<Vec<_>>>()?;
        let (models, input_ranges) = models.into_iter().unzip();
        Ok(LearDemand { scaler, models, input_ranges, fallbacks: Vec::new() })
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

impl crate::artifact::Check for DemandForecaster {
    fn check(&self) -> std::result::Result<(), String> {
        let model = &self.model;
        model.scaler.check()?;
        if model.models.len() != HORIZONS {
            return Err(format!("models: {} lassos, the model has one per horizon ({HORIZONS})", model.models.len()));
        }
        let inputs = feature_names().len();
        for (i, (m, lo, hi)) in model.models.iter().enumerate() {
            let what = format!("models[{i}] (horizon {})", i + 1);
            m.check(&what, inputs)?;
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("{what}: its output range [{lo}, {hi}] is not a finite interval"));
            }
        }
        // Both guards may be absent (a model saved before them), not short.
        if !model.input_ranges.is_empty() {
            if model.input_ranges.len() != HORIZONS {
                return Err(format!(
                    "input_ranges: {} horizons, the model forecasts {HORIZONS}",
                    model.input_ranges.len()
                ));
            }
            for (i, ranges) in model.input_ranges.iter().enumerate() {
                if !ranges.iter().all(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi) {
                    return Err(format!("input_ranges[{i}] (horizon {}): {ranges:?} are not finite intervals", i + 1));
                }
            }
        }
        if !model.fallbacks.is_empty() && model.fallbacks.len() != HORIZONS / 24 {
            return Err(format!("fallbacks: {} days, the model forecasts {}", model.fallbacks.len(), HORIZONS / 24));
        }
        super::bands::check_offsets(&self.band_offsets, HORIZONS)
    }
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
                let o = self.band_offsets[h - 1];
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
    fn inputs_beyond_the_training_range_are_held_at_its_edge() {
        // A lasso that reads only the last week's mean (identity scaler), fitted where that mean
        // stayed within [0, 1] and the hourly values within [0, 2]; then issued after a week of
        // eight an hour (the v2023 arrivals' test: unguarded, `sinh` of such extrapolations
        // reached hundreds of GPUs, README).
        let mut coef = vec![0.0; feature_names().len()];
        coef[MEAN_COLUMN] = 1.0;
        coef[0] = 0.5;
        let model = LearDemand {
            scaler: Invariant { median: 0.0, scale: 1.0 },
            models: vec![(Linear { intercept: 0.0, coef }, -10.0, 10.0); HORIZONS],
            input_ranges: vec![[(0.0, 2f64.asinh()), (0.0, 1f64.asinh())]; HORIZONS],
            fallbacks: Vec::new(),
        };
        let y = vec![8.0; LOOKBACK + 24];
        let guarded = 1f64.asinh() + 0.5 * 2f64.asinh();
        for h in [1, 100, HORIZONS] {
            assert!((model.forecast(&y, y.len(), h) - guarded.sinh()).abs() < 1e-9);
        }
        let unguarded = LearDemand { input_ranges: Vec::new(), ..model };
        let free = 1.5 * 8f64.asinh();
        assert!((unguarded.forecast(&y, y.len(), 1) - free.sinh()).abs() < 1e-9);
    }

    #[test]
    fn a_series_that_steps_and_holds_falls_back_to_its_last_value() {
        // GPUs held by a few long pods: a level that holds for days, then steps up by one.
        let y: Vec<f64> = (0..24 * 60).map(|t| 6.0 + (t / (24 * 9)) as f64).collect();
        let k = y.len();
        let model = LearDemand::fit(&y, k, &PathConfig::default()).unwrap();
        let fallbacks = model.fallbacks();
        assert!(fallbacks.contains(&Fallback::Persistence), "{fallbacks:?}");
        // A day ahead's fallback forecasts its own rule at each of its 24 horizons.
        assert_eq!(fallbacks.len(), HORIZONS / 24);
        for (day, fallback) in fallbacks.iter().enumerate() {
            for h in day * 24 + 1..=day * 24 + 24 {
                let want = match fallback {
                    Fallback::Persistence => Some(y[k - 1]),
                    Fallback::WeeklyNaive => Some(y[k + h - 1 - 168]),
                    Fallback::Lasso => None,
                };
                if let Some(want) = want {
                    assert_eq!(model.forecast(&y, k, h), want, "day {}, horizon {h}", day + 1);
                }
            }
        }
        // Too short a history for the choice: every horizon its lasso.
        let short = LearDemand::fit(&y, 24 * 30, &PathConfig::default()).unwrap();
        assert!(short.fallbacks().iter().all(|f| *f == Fallback::Lasso));
    }

    #[test]
    fn a_calibration_reads_nothing_at_or_after_its_issue() {
        let y = series(24 * 50);
        let k = 24 * 45;
        let mut changed = y.clone();
        changed[k..].iter_mut().for_each(|v| *v = 1e6);
        let (a, b) = (
            LearDemand::fit(&y, k, &PathConfig::default()).unwrap(),
            LearDemand::fit(&changed, k, &PathConfig::default()).unwrap(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn a_model_saved_before_the_guards_loads_as_lassos_everywhere() {
        let y = series(24 * 40);
        let model = LearDemand::fit_lasso(&y, y.len(), &PathConfig::default()).unwrap();
        let mut saved = serde_json::to_value(&model).unwrap();
        let fields = saved.as_object_mut().unwrap();
        fields.remove("input_ranges").unwrap();
        fields.remove("fallbacks").unwrap();
        let old: LearDemand = serde_json::from_value(saved).unwrap();
        assert!(old.input_ranges.is_empty() && old.fallbacks().iter().all(|f| *f == Fallback::Lasso));
        assert_eq!(old.forecast(&y, y.len() - 168, 5), model.forecast(&y, y.len() - 168, 5));
    }

    #[test]
    fn a_malformed_artifact_is_refused_by_the_field_it_breaks() {
        let y = series(24 * 60);
        let forecaster = DemandForecaster {
            series: "s".into(),
            trained_hours: y.len(),
            model: LearDemand::fit(&y, y.len(), &PathConfig::default()).unwrap(),
            band_offsets: vec![[-1.0, 0.0, 1.0]; HORIZONS],
        };
        assert_eq!(forecaster.model.fallbacks.len(), HORIZONS / 24);
        let dir = tempfile::tempdir().unwrap();
        let names = feature_names();
        crate::artifact::save_edited(dir.path(), ARTIFACT_KIND, &names, &forecaster, |_| {});
        // Every float back as written (serde_json's `float_roundtrip`; without it this fails).
        assert_eq!(load(dir.path()).unwrap().0, forecaster);
        type Edit = fn(&mut serde_json::Value);
        let cases: [(Edit, &str); 7] = [
            (|m| drop(m["model"]["models"].as_array_mut().unwrap().pop()), "models: 167 lassos"),
            (
                |m| drop(m["model"]["models"][40][0]["coef"].as_array_mut().unwrap().pop()),
                "models[40] (horizon 41): 57 coefficients",
            ),
            (|m| m["model"]["models"][3][1] = 9.0.into(), "models[3] (horizon 4): its output range [9"),
            (|m| m["model"]["input_ranges"][7][0] = serde_json::json!([2.0, 1.0]), "input_ranges[7] (horizon 8)"),
            (|m| drop(m["model"]["fallbacks"].as_array_mut().unwrap().pop()), "fallbacks: 6 days"),
            (|m| m["model"]["scaler"]["scale"] = 0.0.into(), "scaler: median"),
            (|m| m["band_offsets"][5] = serde_json::json!([1.0, 0.0, -1.0]), "band_offsets[5] (horizon 6)"),
        ];
        for (edit, message) in cases {
            let dir = tempfile::tempdir().unwrap();
            crate::artifact::save_edited(dir.path(), ARTIFACT_KIND, &names, &forecaster, edit);
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(err.contains("model.json") && err.contains(message), "{message}: {err}");
        }
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
