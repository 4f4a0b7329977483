//! Real-time price forecasting from hourly prices: the data grid, what is known at an issue
//! time, and `lear_rt`, the lasso per horizon and issue hour of day that `hcp evaluate price
//! --format ercot` measures and `hcp train price` saves. Building the grid (time zones,
//! publication times) is the caller's; this module only reads it.

use serde::{Deserialize, Serialize};

use super::lasso::{self, Design, Linear, PathConfig};
use super::scaler::Invariant;
use crate::error::{Error, Result};

const HOUR_US: i64 = 3_600_000_000;
pub const HORIZONS: usize = 24;
/// The latest issue a real-time sample reaches back to: a week and a day.
pub const MAX_LOOKBACK: usize = 168 + 24;

/// One settlement point's hourly prices on a dense UTC grid (missing hours are NaN).
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyPrices {
    pub node: String,
    pub start_us: i64,
    pub rt: Vec<f64>,
    pub da: Vec<f64>,
    /// When the day-ahead price of each hour became public.
    pub da_published_us: Vec<i64>,
    /// Local (Central) hour of day and weekday (Monday = 0) of each hour.
    pub hour_of_day: Vec<u8>,
    pub weekday: Vec<u8>,
}

impl HourlyPrices {
    pub fn len(&self) -> usize {
        self.rt.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rt.is_empty()
    }

    pub fn time(&self, i: usize) -> i64 {
        self.start_us + i as i64 * HOUR_US
    }

    /// The dense grid over `hours` (start µs, real-time, day-ahead; NaN where unknown), any
    /// order; hours between them missing are NaN. `calendar` gives each hour's local hour of
    /// day, weekday and day-ahead publication time. `None` when `hours` is empty.
    pub fn from_hours(
        node: &str,
        hours: &[(i64, f64, f64)],
        calendar: impl Fn(i64) -> (u8, u8, i64),
    ) -> Option<HourlyPrices> {
        let start_us = hours.iter().map(|h| h.0).min()?;
        let end_us = hours.iter().map(|h| h.0).max()?;
        let n = ((end_us - start_us) / HOUR_US + 1) as usize;
        let mut prices = HourlyPrices {
            node: node.to_string(),
            start_us,
            rt: vec![f64::NAN; n],
            da: vec![f64::NAN; n],
            da_published_us: Vec::with_capacity(n),
            hour_of_day: Vec::with_capacity(n),
            weekday: Vec::with_capacity(n),
        };
        for &(t, rt, da) in hours {
            let i = ((t - start_us) / HOUR_US) as usize;
            prices.rt[i] = rt;
            prices.da[i] = da;
        }
        for i in 0..n {
            let (hour, weekday, published) = calendar(prices.time(i));
            prices.hour_of_day.push(hour);
            prices.weekday.push(weekday);
            prices.da_published_us.push(published);
        }
        Some(prices)
    }

    /// The grid index of the first hour at or after `us`.
    pub fn index_at(&self, us: i64) -> usize {
        usize::try_from((us - self.start_us + HOUR_US - 1).div_euclid(HOUR_US)).unwrap_or(0)
    }

    /// The latest day-ahead price of target hour `j` known at issue index `k`, and whether it
    /// is the target's own.
    pub fn latest_da(&self, k: usize, j: usize) -> Option<(f64, bool)> {
        let issue = self.time(k);
        if self.da_published_us[j] <= issue && self.da[j].is_finite() {
            return Some((self.da[j], true));
        }
        let y = j.checked_sub(24)?;
        (self.da_published_us[y] <= issue && self.da[y].is_finite()).then_some((self.da[y], false))
    }
}

/// The inputs of `lear_rt` for issue `k`, horizon `h` (1-based), prices through `scaler`;
/// `None` when one is missing.
pub fn features(p: &HourlyPrices, scaler: &Invariant, k: usize, h: usize) -> Option<Vec<f64>> {
    let j = k + h - 1;
    if k < MAX_LOOKBACK || j >= p.len() {
        return None;
    }
    let (da, own) = p.latest_da(k, j)?;
    let mut x = Vec::with_capacity(63 + 2 * DA_AROUND);
    let mut push = |v: f64| {
        x.push(scaler.transform(v));
        v.is_finite()
    };
    let mut ok = true;
    for lag in 1..=24 {
        ok &= push(p.rt[k - lag]);
    }
    for lag in 1..=3 {
        ok &= push(p.da[k - lag]);
    }
    // The target's hour yesterday and a week ago.
    ok &= push(p.rt[j - 24]);
    ok &= push(p.rt[j - 168]);
    if !ok {
        return None;
    }
    // The latest day-ahead price, split by whether it is the target's own: the weight of
    // yesterday's price for the same hour is not that of the target's own.
    let z = scaler.transform(da);
    x.push(if own { z } else { 0.0 });
    x.push(if own { 0.0 } else { z });
    x.push(f64::from(u8::from(own)));
    x.extend((0..24).map(|hod| f64::from(u8::from(p.hour_of_day[j] == hod))));
    x.extend((0..7).map(|wd| f64::from(u8::from(p.weekday[j] == wd))));
    // The day-ahead market's profile around the target: the latest day-ahead price of each of
    // the DA_AROUND hours before and after it (the target's own stands in where there is none:
    // past the data's end, or a clock change's missing hour).
    for d in 1..=DA_AROUND {
        for t in [j - d, j + d] {
            let v = if t < p.len() { p.latest_da(k, t).map_or(da, |(v, _)| v) } else { da };
            x.push(scaler.transform(v));
        }
    }
    Some(x)
}

/// Hours either side of the target whose latest day-ahead prices `lear_rt` reads.
pub const DA_AROUND: usize = 12;

/// `lear_rt` calibrated at one issue time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearRt {
    scaler: Invariant,
    /// `models[hour_of_day_of_issue * HORIZONS + h - 1]`.
    models: Vec<Linear>,
    /// Whether the models forecast the target's price less its latest day-ahead price (both in
    /// the invariant space), so each lasso shrinks towards the day-ahead price rather than
    /// towards a constant: every fit since December 1, 2026. Artifacts saved before have
    /// `false`: their models forecast the price itself.
    #[serde(default)]
    from_day_ahead: bool,
}

impl LearRt {
    /// Fits on issues in `[first, k)` whose targets are over by `k`: one model per horizon and
    /// hour of day of the issue (what is known, and how the day-ahead price relates to the
    /// target, depends on the time of day of the issue).
    pub fn fit(p: &HourlyPrices, first: usize, k: usize, path: &PathConfig) -> Result<LearRt> {
        let known: Vec<f64> = (first.saturating_sub(MAX_LOOKBACK)..k)
            .flat_map(|i| [p.rt[i], p.da[i]])
            .filter(|v| v.is_finite())
            .collect();
        let scaler = Invariant::fit(&known);
        let mut models = Vec::with_capacity(24 * HORIZONS);
        for hod in 0..24u8 {
            for h in 1..=HORIZONS {
                let mut rows = Vec::new();
                let mut y = Vec::new();
                for i in first.max(MAX_LOOKBACK)..k {
                    let j = i + h - 1;
                    if p.hour_of_day[i] != hod || j + 1 > k || !p.rt[j].is_finite() {
                        continue;
                    }
                    if let (Some(x), Some(origin)) = (features(p, &scaler, i, h), day_ahead_origin(p, &scaler, i, j)) {
                        rows.push(x);
                        y.push(scaler.transform(p.rt[j]) - origin);
                    }
                }
                if rows.len() < 28 {
                    return Err(Error::Fit {
                        model: "lear_rt".into(),
                        message: format!(
                            "horizon {h}, issue hour {hod}: only {} complete training days before hour {k} of the grid",
                            rows.len()
                        ),
                    });
                }
                models.push(lasso::fit_aic(&Design::new(&rows), &y, path).model);
            }
        }
        Ok(LearRt { scaler, models, from_day_ahead: true })
    }

    pub fn forecast(&self, p: &HourlyPrices, k: usize, h: usize) -> Option<f64> {
        let x = features(p, &self.scaler, k, h)?;
        let model = &self.models[usize::from(p.hour_of_day[k]) * HORIZONS + h - 1];
        let origin = match self.from_day_ahead {
            true => day_ahead_origin(p, &self.scaler, k, k + h - 1)?,
            false => 0.0,
        };
        Some(self.scaler.inverse(origin + model.predict(&x)))
    }
}

/// What `lear_rt`'s models forecast from: target hour `j`'s latest day-ahead price known at
/// issue `k`, in the invariant space. The fit subtracts it from the target and the forecast adds
/// it back.
fn day_ahead_origin(p: &HourlyPrices, scaler: &Invariant, k: usize, j: usize) -> Option<f64> {
    Some(scaler.transform(p.latest_da(k, j)?.0))
}

/// Names of [`features`]' columns, in order: what an artifact's manifest records.
pub fn feature_names() -> Vec<String> {
    let mut names: Vec<String> = (1..=24).map(|l| format!("rt_lag_{l}h")).collect();
    names.extend((1..=3).map(|l| format!("da_lag_{l}h")));
    names.push("rt_target_minus_24h".into());
    names.push("rt_target_minus_168h".into());
    names.push("da_latest_own".into());
    names.push("da_latest_previous_day".into());
    names.push("da_own_published".into());
    names.extend((0..24).map(|h| format!("target_hour_{h}")));
    names.extend((0..7).map(|d| format!("target_weekday_{d}")));
    for d in 1..=DA_AROUND {
        names.push(format!("da_latest_target_minus_{d}h"));
        names.push(format!("da_latest_target_plus_{d}h"));
    }
    names
}

pub const ARTIFACT_KIND: &str = "price_lear_rt";

/// The saved real-time price forecaster: `lear_rt` for one node and the error quantiles of its
/// time-ordered holdout per horizon (its 0.1/0.5/0.9 band).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceForecaster {
    pub node: String,
    /// The last hour (start, UTC µs) whose price the model was fitted on.
    pub trained_until_us: i64,
    pub model: LearRt,
    /// Per horizon, offsets to add to the mean for the 0.1, 0.5 and 0.9 quantiles.
    pub band_offsets: Vec<[f64; 3]>,
}

/// One horizon of a forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonForecast {
    pub horizon: usize,
    pub target_start_us: i64,
    pub mean: f64,
    pub quantiles: [f64; 3],
}

/// Loads a saved price forecaster (checksum and features verified).
pub fn load(dir: &std::path::Path) -> Result<(PriceForecaster, crate::artifact::Manifest)> {
    crate::artifact::load(dir, ARTIFACT_KIND, &feature_names())
}

impl crate::artifact::Check for PriceForecaster {
    fn check(&self) -> std::result::Result<(), String> {
        self.model.scaler.check()?;
        if self.model.models.len() != 24 * HORIZONS {
            return Err(format!(
                "models: {} lassos, the model has one per issue hour and horizon ({})",
                self.model.models.len(),
                24 * HORIZONS
            ));
        }
        let inputs = feature_names().len();
        for (i, m) in self.model.models.iter().enumerate() {
            m.check(&format!("models[{i}] (issue hour {}, horizon {})", i / HORIZONS, i % HORIZONS + 1), inputs)?;
        }
        super::bands::check_offsets(&self.band_offsets, HORIZONS)
    }
}

impl PriceForecaster {
    /// Forecasts issued at grid index `k` (the first hour whose price is unknown) for every
    /// horizon whose inputs exist.
    pub fn forecast(&self, p: &HourlyPrices, k: usize) -> Vec<HorizonForecast> {
        (1..=HORIZONS)
            .filter_map(|h| {
                let mean = self.model.forecast(p, k, h)?;
                let o = self.band_offsets[h - 1];
                Some(HorizonForecast {
                    horizon: h,
                    target_start_us: p.time(k + h - 1),
                    mean,
                    quantiles: o.map(|v| mean + v),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(hours: usize) -> HourlyPrices {
        let mut rt = Vec::new();
        let mut da = Vec::new();
        let mut spread = 0.0;
        let mut state = 5u64;
        for t in 0..hours {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            let d = 30.0 + 10.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
            spread = 0.8 * spread + 5.0 * noise;
            da.push(d);
            rt.push(d + spread);
        }
        HourlyPrices {
            node: "N".into(),
            start_us: 0,
            // Day-ahead prices of a day are public 10 hours before it starts.
            da_published_us: (0..hours).map(|t| ((t / 24 * 24) as i64 - 10) * HOUR_US).collect(),
            hour_of_day: (0..hours).map(|t| (t % 24) as u8).collect(),
            weekday: (0..hours).map(|t| (t / 24 % 7) as u8).collect(),
            rt,
            da,
        }
    }

    #[test]
    fn feature_names_match_the_features() {
        let p = grid(400);
        let s = Invariant::fit(&p.rt);
        assert_eq!(features(&p, &s, 300, 5).unwrap().len(), feature_names().len());
    }

    #[test]
    fn the_day_ahead_profile_reads_each_neighbour_as_published_at_the_issue() {
        let p = grid(24 * 60);
        let s = Invariant::fit(&p.rt);
        let plus = |x: &[f64], d: usize| x[x.len() - 2 * DA_AROUND + 2 * (d - 1) + 1];
        let minus = |x: &[f64], d: usize| x[x.len() - 2 * DA_AROUND + 2 * (d - 1)];
        // Issued at 16:00 of day 50, after day 51's prices came out (10 hours before it starts):
        // the target 20:00 and 12 hours on (08:00 of day 51) read their own prices.
        let (k, h) = (24 * 50 + 16, 5);
        let j = k + h - 1;
        let x = features(&p, &s, k, h).unwrap();
        assert_eq!(plus(&x, 12), s.transform(p.da[j + 12]));
        assert_eq!(minus(&x, 12), s.transform(p.da[j - 12]));
        // Issued at 10:00, before they came out: the hours of day 51 read the same hour of day 50.
        let (k, h) = (24 * 50 + 10, 11);
        let j = k + h - 1;
        let x = features(&p, &s, k, h).unwrap();
        assert_eq!(plus(&x, 3), s.transform(p.da[j + 3]), "20:00 + 3 h is 23:00 of day 50, published");
        assert_eq!(plus(&x, 4), s.transform(p.da[j + 4 - 24]), "00:00 of day 51 is not: the day before's");
    }

    #[test]
    fn a_malformed_artifact_is_refused_by_the_field_it_breaks() {
        let p = grid(24 * 60);
        let model = LearRt::fit(&p, 0, 24 * 50, &PathConfig::default()).unwrap();
        let f = PriceForecaster {
            node: "N".into(),
            trained_until_us: 0,
            model,
            band_offsets: vec![[-1.0, 0.0, 1.0]; HORIZONS],
        };
        let names = feature_names();
        type Edit = fn(&mut serde_json::Value);
        let cases: [(Edit, &str); 4] = [
            (|_| {}, ""),
            (|m| drop(m["model"]["models"].as_array_mut().unwrap().pop()), "models: 575 lassos"),
            (
                |m| m["model"]["models"][30]["coef"] = serde_json::json!([1.0]),
                "models[30] (issue hour 1, horizon 7): 1 coefficients, the model reads 87 inputs",
            ),
            (|m| drop(m["band_offsets"].as_array_mut().unwrap().pop()), "band_offsets: 23 horizons"),
        ];
        for (edit, message) in cases {
            let dir = tempfile::tempdir().unwrap();
            crate::artifact::save_edited(dir.path(), ARTIFACT_KIND, &names, &f, edit);
            match load(dir.path()) {
                Ok((loaded, _)) => assert!(message.is_empty() && loaded == f, "{message}: loaded"),
                Err(err) => assert!(err.to_string().contains(message) && !message.is_empty(), "{message}: {err}"),
            }
        }
        // A directory of models given for one (`hcp run`'s OUT/models): named, with its models.
        let parent = tempfile::tempdir().unwrap();
        crate::artifact::save_edited(&parent.path().join("price-N"), ARTIFACT_KIND, &names, &f, |_| {});
        let err = load(parent.path()).unwrap_err().to_string();
        assert!(err.contains("not a model but a directory of models (price-N): give one of them"), "{err}");
    }

    /// The models forecast the price's excess over the target's latest day-ahead price; an
    /// artifact saved before that (no `from_day_ahead`) reads its models as the price itself.
    #[test]
    fn models_forecast_from_the_day_ahead_price_and_older_artifacts_from_zero() {
        let p = grid(24 * 60);
        let model = LearRt::fit(&p, 0, 24 * 50, &PathConfig::default()).unwrap();
        assert!(model.from_day_ahead);
        let mut saved = serde_json::to_value(&model).unwrap();
        saved.as_object_mut().unwrap().remove("from_day_ahead");
        let older: LearRt = serde_json::from_value(saved).unwrap();
        assert!(!older.from_day_ahead);
        let (k, h) = (24 * 50 + 7, 9);
        let x = features(&p, &model.scaler, k, h).unwrap();
        let lasso = &model.models[usize::from(p.hour_of_day[k]) * HORIZONS + h - 1];
        let da = model.scaler.transform(p.latest_da(k, k + h - 1).unwrap().0);
        let (new, old) = (model.forecast(&p, k, h).unwrap(), older.forecast(&p, k, h).unwrap());
        assert!((new - model.scaler.inverse(da + lasso.predict(&x))).abs() < 1e-9, "{new}");
        assert!((old - model.scaler.inverse(lasso.predict(&x))).abs() < 1e-9, "{old}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever happens from the issue hour on (real-time prices, day-ahead prices not yet
        /// published) leaves the forecast unchanged; the quantiles never cross.
        #[test]
        fn forecasts_ignore_what_is_unknown_at_the_issue(offset in 0usize..24 * 8, value in -5_000f64..5_000.0) {
            let p = grid(24 * 60);
            let model = LearRt::fit(&p, 0, 24 * 50, &PathConfig::default()).unwrap();
            let f = PriceForecaster { node: "N".into(), trained_until_us: 0, model, band_offsets: vec![[-1.0, 0.0, 1.0]; HORIZONS] };
            let k = 24 * 50 + offset;
            let before = f.forecast(&p, k);
            proptest::prop_assert_eq!(before.len(), HORIZONS);
            let mut later = p.clone();
            for i in k..later.len() {
                later.rt[i] = value;
                if later.da_published_us[i] > later.time(k) {
                    later.da[i] = -value;
                }
            }
            proptest::prop_assert_eq!(f.forecast(&later, k), before.clone());
            proptest::prop_assert!(before.iter().all(|h| h.quantiles[0] < h.quantiles[1] && h.quantiles[1] < h.quantiles[2]));
        }
    }
}
