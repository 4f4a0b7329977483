//! LEAR, the lasso-estimated autoregression of the open electricity-price benchmark (Lago,
//! Marcjasz, De Schutter and Weron, Applied Energy 293, 2021; Uniejewski, Nowotarski and Weron
//! 2016).
//!
//! One linear model per hour of the next day over: the 24 prices of days D-1, D-2, D-3 and D-7;
//! for each exogenous forecast its 24 values for days D, D-1 and D-7; and weekday dummies;
//! where the panel has the market's holiday calendar, whether D, D-1 and D-7 are holidays.
//! Prices and exogenous inputs pass through the [`Invariant`] transformation fitted on the
//! calibration window (per column); the dummies do not. Each hour's penalty is chosen by AIC
//! along the lasso path, on the columns as they are or, as the benchmark's published code did,
//! on the columns normalised ([`lasso::Selection`]). The benchmark's product is the average of
//! four such models calibrated on the last 56, 84, 1,092 and 1,456 days. A model can also be
//! calibrated on the window's prices less their long-term [`Trend`]: it then forecasts the
//! day's prices less the trend, and the trend's value on the day before is added back.

use super::lasso::{self, Design, Linear, PathConfig};
use super::panel::{Day, DayAheadPanel, HOURS};
use super::scaler::Invariant;
use super::trend::Trend;
use crate::error::{Error, Result};

/// Days of price history the features reach back.
pub const PRICE_LAGS: [usize; 4] = [1, 2, 3, 7];
/// Days of each exogenous forecast in the features (0 = the day forecast).
pub const EXOGENOUS_LAGS: [usize; 3] = [0, 1, 7];
/// The longest lag: a sample needs this many days before it.
pub const MAX_LAG: usize = 7;
/// The weekday dummies that end every feature vector (not scaled).
pub const WEEKDAY_DUMMIES: usize = 7;
/// Days whose holiday flag is a feature (0 = the day forecast), after the weekday dummies and
/// not scaled, when the panel has a holiday calendar.
pub const HOLIDAY_LAGS: [usize; 3] = [0, 1, 7];
/// The benchmark's calibration windows, days.
pub const BENCHMARK_WINDOWS: [usize; 4] = [56, 84, 1092, 1456];

/// Fewest training days a model accepts.
const MIN_SAMPLES: usize = 14;

/// The shortest calibration window a LEAR fits in, days: the first week only feeds lags, then
/// at least [`MIN_SAMPLES`] training days.
pub const MIN_WINDOW_DAYS: usize = MAX_LAG + MIN_SAMPLES;

/// The number of features of `panel`'s days.
pub fn feature_count(panel: &DayAheadPanel) -> usize {
    HOURS * PRICE_LAGS.len() + panel.exogenous.len() * HOURS * EXOGENOUS_LAGS.len() + unscaled_count(panel)
}

/// The unscaled 0/1 columns that end `panel`'s feature vectors: the weekday dummies, and the
/// holiday flags where the panel has them.
pub fn unscaled_count(panel: &DayAheadPanel) -> usize {
    WEEKDAY_DUMMIES + if panel.holiday.is_some() { HOLIDAY_LAGS.len() } else { 0 }
}

/// The raw (untransformed) features of day `d`; the last [`unscaled_count`] are the weekday
/// dummies and holiday flags. Reads prices of days before `d` only.
pub fn features(panel: &DayAheadPanel, d: usize) -> Vec<f64> {
    assert!(d >= MAX_LAG, "day {d} has no week of history");
    let mut x = Vec::with_capacity(feature_count(panel));
    for lag in PRICE_LAGS {
        x.extend_from_slice(&panel.price[d - lag]);
    }
    for series in &panel.exogenous {
        for lag in EXOGENOUS_LAGS {
            x.extend_from_slice(&series[d - lag]);
        }
    }
    let weekday = panel.weekday(d);
    x.extend((0..WEEKDAY_DUMMIES).map(|k| if k == weekday { 1.0 } else { 0.0 }));
    if panel.holiday.is_some() {
        x.extend(HOLIDAY_LAGS.map(|lag| if panel.holiday(d - lag) == Some(true) { 1.0 } else { 0.0 }));
    }
    x
}

/// A LEAR model calibrated on one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Lear {
    /// Training days actually used (the window less the first week, or less where the history
    /// is shorter).
    pub samples: usize,
    x_scalers: Vec<Invariant>,
    y_scalers: Vec<Invariant>,
    models: Vec<Linear>,
    pub alphas: Vec<f64>,
    /// What the prices were measured from.
    pub trend: Trend,
    /// Days from the first price the fit read to the day it forecast: the span a forecast
    /// recomputes the trend over (ending before the day it forecasts).
    span: usize,
}

impl Lear {
    /// Calibrates on the `window` days before day `d` (as the benchmark does: the window's
    /// first week only feeds lags), so it forecasts day `d` from prices up to `d - 1`.
    pub fn fit(panel: &DayAheadPanel, d: usize, window: usize, path: &PathConfig) -> Result<Lear> {
        Lear::fit_with_trend(panel, d, window, Trend::None, path)
    }

    /// [`Lear::fit`] on the prices less their `trend`, computed over the window alone.
    pub fn fit_with_trend(
        panel: &DayAheadPanel,
        d: usize,
        window: usize,
        trend: Trend,
        path: &PathConfig,
    ) -> Result<Lear> {
        if d > panel.days() {
            return Err(Error::Invalid(format!("day {d} is past the panel's {} days", panel.days())));
        }
        let first = d.saturating_sub(window) + MAX_LAG;
        if d < first + MIN_SAMPLES {
            return Err(Error::Fit {
                model: format!("lear_{window}"),
                message: format!(
                    "day {d} has {} training days before it, at least {MIN_SAMPLES} are needed after the first week",
                    d.saturating_sub(first)
                ),
            });
        }
        let span = d - (first - MAX_LAG);
        let (panel, _) = trend.remove(panel, d - span, d);
        let raw: Vec<Vec<f64>> = (first..d).map(|t| features(&panel, t)).collect();
        let x_scalers = feature_scalers(&raw.iter().collect::<Vec<_>>(), unscaled_count(&panel));
        let rows: Vec<Vec<f64>> = raw.into_iter().map(|r| transform(&x_scalers, r)).collect();
        let design = Design::new(&rows);
        let criterion = path.selection.criterion_design(&design);
        let mut y_scalers = Vec::with_capacity(HOURS);
        let mut models = Vec::with_capacity(HOURS);
        let mut alphas = Vec::with_capacity(HOURS);
        for h in 0..HOURS {
            let y: Vec<f64> = (first..d).map(|t| panel.price[t][h]).collect();
            let scaler = Invariant::fit(&y);
            let z: Vec<f64> = y.iter().map(|v| scaler.transform(*v)).collect();
            let chosen = lasso::fit_aic_with(&design, criterion.as_ref(), &z, path);
            y_scalers.push(scaler);
            models.push(chosen.model);
            alphas.push(chosen.alpha);
        }
        Ok(Lear { samples: d - first, x_scalers, y_scalers, models, alphas, trend, span })
    }

    /// The 24 prices of day `d`: reads prices up to `d - 1` and exogenous forecasts up to `d`.
    /// With a trend, the trend is recomputed over as many days as the fit read, ending at
    /// `d - 1`, and its value on `d - 1` added back.
    pub fn forecast(&self, panel: &DayAheadPanel, d: usize) -> Day {
        let (panel, level) = self.trend.remove(panel, d.saturating_sub(self.span), d);
        let x = transform(&self.x_scalers, features(&panel, d));
        std::array::from_fn(|h| self.y_scalers[h].inverse(self.models[h].predict(&x)) + level)
    }

    /// Nonzero coefficients per hour: how sparse the calibrated models are.
    pub fn nonzero(&self) -> Vec<usize> {
        self.models.iter().map(Linear::nonzero).collect()
    }
}

/// One [`Invariant`] per scaled column of `rows` (raw [`features`], all of one length): every
/// column but the last `unscaled` (the weekday dummies and holiday flags, [`unscaled_count`]).
pub fn feature_scalers(rows: &[&Vec<f64>], unscaled: usize) -> Vec<Invariant> {
    let n_scaled = rows[0].len() - unscaled;
    (0..n_scaled).map(|j| Invariant::fit(&rows.iter().map(|r| r[j]).collect::<Vec<_>>())).collect()
}

/// Raw features into the invariant space, column by column; the columns past the scalers (the
/// weekday dummies and holiday flags) as they are.
pub fn transform(scalers: &[Invariant], mut raw: Vec<f64>) -> Vec<f64> {
    for (v, s) in raw.iter_mut().zip(scalers) {
        *v = s.transform(*v);
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(days: usize) -> DayAheadPanel {
        crate::forecast::synthetic::load_driven_panel(days, 12345)
    }

    const HP: Trend = Trend::HodrickPrescott { lambda: 1e6 };

    #[test]
    fn learns_a_load_driven_market_better_than_the_naive_forecasts() {
        let p = panel(200);
        for trend in [Trend::None, HP] {
            let lear = Lear::fit_with_trend(&p, 150, 84, trend, &PathConfig::default()).unwrap();
            assert_eq!(lear.samples, 77);
            let (mut lear_err, mut naive_err) = (0.0, 0.0);
            for d in 150..200 {
                let f = lear.forecast(&p, d);
                for ((forecast, yesterday), actual) in f.iter().zip(&p.price[d - 1]).zip(&p.price[d]) {
                    lear_err += (forecast - actual).abs();
                    naive_err += (yesterday - actual).abs();
                }
            }
            assert!(lear_err < 0.8 * naive_err, "{trend}: LEAR {lear_err} vs naive {naive_err}");
            assert!(lear.nonzero().iter().all(|&k| k < feature_count(&p)), "the lasso drops features");
        }
    }

    #[test]
    fn a_detrended_model_is_the_plain_model_of_the_detrended_prices_with_the_trend_added_back() {
        let p = panel(200);
        let (fit_day, window) = (150, 84);
        let lear = Lear::fit_with_trend(&p, fit_day, window, HP, &PathConfig::default()).unwrap();
        let (at_fit, _) = HP.remove(&p, fit_day - window, fit_day);
        let plain = Lear::fit(&at_fit, fit_day, window, &PathConfig::default()).unwrap();
        assert_eq!(plain.samples, lear.samples);
        // Days after the fit (a weekly recalibration forecasts seven): the trend is recomputed
        // over the same number of days, ending the day before.
        for d in fit_day..fit_day + 7 {
            let (now, level) = HP.remove(&p, d - window, d);
            let want = plain.forecast(&now, d).map(|v| v + level);
            assert_eq!(lear.forecast(&p, d), want, "day {d}");
            assert!(level > 10.0, "the trend is a price level, {level}");
        }
    }

    #[test]
    fn the_forecast_ignores_the_prices_of_its_own_day_and_later() {
        let p = panel(120);
        for trend in [Trend::None, HP] {
            let lear = Lear::fit_with_trend(&p, 100, 56, trend, &PathConfig::default()).unwrap();
            let before = lear.forecast(&p, 100);
            let mut changed = p.clone();
            for d in 100..120 {
                changed.price[d] = [9999.0; HOURS];
            }
            let refit = Lear::fit_with_trend(&changed, 100, 56, trend, &PathConfig::default()).unwrap();
            assert_eq!(refit.forecast(&changed, 100), before, "{trend}");
            assert_eq!(lear.forecast(&changed, 100), before, "{trend}");
        }
    }

    #[test]
    fn holiday_flags_end_the_features_and_teach_a_holiday_discount() {
        // Every 9th day a holiday on which prices are 8 lower whatever the load: what the
        // weekday dummies and the load cannot tell, and the flags can.
        let holiday = |day: i64| day % 9 == 4;
        let mut p = panel(400).with_holidays(holiday);
        for (d, day) in p.price.iter_mut().enumerate() {
            if holiday(d as i64) {
                day.iter_mut().for_each(|v| *v -= 8.0);
            }
        }
        let x = features(&p, 13);
        assert_eq!(x.len(), feature_count(&p));
        assert_eq!(unscaled_count(&p), WEEKDAY_DUMMIES + HOLIDAY_LAGS.len());
        // Day 13 is a holiday, day 12 is not, day 6 is not.
        assert_eq!(x[x.len() - 3..], [1.0, 0.0, 0.0]);
        assert_eq!(features(&p, 14)[x.len() - 3..], [0.0, 1.0, 0.0], "the day after");
        assert_eq!(features(&p, 20)[x.len() - 3..], [0.0, 0.0, 1.0], "a week after");
        let without = DayAheadPanel { holiday: None, ..p.clone() };
        assert_eq!(features(&without, 13).len(), x.len() - HOLIDAY_LAGS.len());

        let error_on_holidays = |panel: &DayAheadPanel| {
            let lear = Lear::fit(panel, 300, 280, &PathConfig::default()).unwrap();
            let days: Vec<usize> = (300..400).filter(|&d| holiday(d as i64)).collect();
            let total: f64 = days
                .iter()
                .flat_map(|&d| lear.forecast(panel, d).into_iter().zip(panel.price[d]).map(|(f, a)| (f - a).abs()))
                .sum();
            total / (days.len() * HOURS) as f64
        };
        let (with_flags, blind) = (error_on_holidays(&p), error_on_holidays(&without));
        // The lasso shrinks a rare 0/1 column hard: 6.02 against 7.42 when written.
        assert!(with_flags < 0.9 * blind, "MAE on holidays: {with_flags} with the flags, {blind} without");
    }

    #[test]
    fn too_short_a_history_is_refused_by_name() {
        let p = panel(30);
        let err = Lear::fit(&p, 20, 56, &PathConfig::default()).unwrap_err().to_string();
        assert!(err.contains("lear_56") && err.contains("13 training days"), "{err}");
    }
}
