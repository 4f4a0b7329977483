//! Electricity prices: a model calibrated on a real hourly series, and replay of a real series.
//!
//! The model is a Gaussian copula. Each real price is replaced by its normal score (the normal
//! quantile of its rank), which splits into three parts fitted in closed form:
//! a mean by local hour of the week (daily and weekly shape), a daily level that follows an
//! AR(1) from day to day (weather regimes, seasons) and an hourly AR(1) around it (intraday
//! persistence, clustered spikes). Simulation runs the three parts forward and maps the latent
//! value back through the real series' quantile function, so the level, the spread, the spike
//! rate and size and the share of negative hours are those of the data by construction; the
//! persistence at 1 h, 24 h and 168 h comes from the fitted dynamics and is checked.
//! Day-ahead prices load on the same daily level and hourly state plus their own noise, mapped
//! through the day-ahead quantile function.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;
use hcp_datasets::rows::PriceRow;
use hcp_datasets::time::MICROS_PER_HOUR;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::stats::{PriceStats, correlation, normal_cdf, normal_quantile, quantile_sorted};

/// A quantile function stored as values at fixed levels, dense in the tails where spikes live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileTable {
    pub levels: Vec<f64>,
    pub values: Vec<f64>,
}

impl QuantileTable {
    /// Levels 0, 0.0001, 0.0002, 0.0005, then every 0.001 to 0.999, then 0.9995, 0.9998,
    /// 0.9999, 1.
    fn standard_levels() -> Vec<f64> {
        let mut l = vec![0.0, 0.0001, 0.0002, 0.0005];
        l.extend((1..1000).map(|i| i as f64 / 1000.0));
        l.extend([0.9995, 0.9998, 0.9999, 1.0]);
        l
    }

    pub fn from_sample(sample: &[f64]) -> QuantileTable {
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        let levels = Self::standard_levels();
        let values = levels.iter().map(|&l| round4(quantile_sorted(&sorted, l))).collect();
        QuantileTable { levels, values }
    }

    /// The value at level `u` in [0, 1], linear between stored levels.
    pub fn value_at(&self, u: f64) -> f64 {
        let i = self.levels.partition_point(|&l| l < u).clamp(1, self.levels.len() - 1);
        let (l0, l1) = (self.levels[i - 1], self.levels[i]);
        let w = ((u - l0) / (l1 - l0)).clamp(0.0, 1.0);
        self.values[i - 1] + w * (self.values[i] - self.values[i - 1])
    }

    fn validate(&self, what: &str) -> Result<()> {
        let ok = self.levels.len() == self.values.len()
            && self.levels.len() >= 2
            && self.levels.windows(2).all(|w| w[0] < w[1])
            && self.values.windows(2).all(|w| w[0] <= w[1])
            && self.values.iter().all(|v| v.is_finite());
        if ok {
            Ok(())
        } else {
            Err(Error::Calibration(format!("{what}: quantile table is not increasing and finite")))
        }
    }
}

/// Everything the price model needs, fitted by `hcp sim calibrate` and stored as JSON in
/// `sim/calibration/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceCalibration {
    pub market: String,
    pub node: String,
    /// IANA zone of the market's clock; hour-of-week shapes are in local time.
    pub timezone: String,
    /// Input file(s) and the command that derived the numbers.
    pub source: String,
    pub command: String,
    pub first_hour_utc: String,
    pub last_hour_utc: String,
    pub rtm_quantiles: QuantileTable,
    pub dam_quantiles: QuantileTable,
    /// Mean normal score by local hour of the week, Monday 00:00 first (168 values).
    pub hour_of_week_mean: Vec<f64>,
    pub daily_phi: f64,
    pub daily_sigma: f64,
    pub hourly_phi: f64,
    pub hourly_sigma: f64,
    /// Day-ahead normal score = shape_loading × hour-of-week mean + level_loading × daily
    /// level + hourly_loading × hourly state + AR(1) noise.
    pub dam_shape_loading: f64,
    pub dam_level_loading: f64,
    pub dam_hourly_loading: f64,
    /// The day-ahead noise is an hourly AR(1) of its own (day-ahead prices are smooth).
    pub dam_noise_phi: f64,
    pub dam_noise_sigma: f64,
    /// The real series' statistics, the targets of the calibration test.
    pub real_rtm: PriceStats,
    pub real_dam: PriceStats,
}

/// The built-in calibrations, fitted on the real ERCOT file (see the README).
const BUILTIN: [(&str, &str); 2] = [
    ("ercot_hb_west", include_str!("../calibration/ercot_hb_west.json")),
    ("ercot_lz_west", include_str!("../calibration/ercot_lz_west.json")),
];

impl PriceCalibration {
    /// A built-in calibration by name (`ercot_hb_west`, `ercot_lz_west`) or a JSON file path.
    pub fn load(name_or_path: &str) -> Result<PriceCalibration> {
        let (origin, text) = match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (format!("built-in calibration `{n}`"), t.to_string()),
            None => {
                let text = std::fs::read_to_string(name_or_path).map_err(|e| {
                    let names: Vec<_> = BUILTIN.iter().map(|b| b.0).collect();
                    Error::Config(format!(
                        "price calibration `{name_or_path}`: not a built-in ({}) and not readable: {e}",
                        names.join(", ")
                    ))
                })?;
                (name_or_path.to_string(), text)
            }
        };
        let cal: PriceCalibration =
            serde_json::from_str(&text).map_err(|e| Error::Calibration(format!("{origin}: {e}")))?;
        cal.validate().map_err(|e| Error::Calibration(format!("{origin}: {e}")))?;
        Ok(cal)
    }

    /// The built-in calibration for a node (`HB_WEST` → `ercot_hb_west`), if there is one.
    pub fn builtin_for_node(node: &str) -> Option<&'static str> {
        let name = format!("ercot_{}", node.to_ascii_lowercase());
        BUILTIN.iter().map(|b| b.0).find(|n| *n == name)
    }

    fn validate(&self) -> Result<()> {
        self.rtm_quantiles.validate("rtm_quantiles")?;
        self.dam_quantiles.validate("dam_quantiles")?;
        self.timezone.parse::<Tz>().map_err(|_| Error::Calibration(format!("unknown timezone `{}`", self.timezone)))?;
        let phis_ok = [self.daily_phi, self.hourly_phi, self.dam_noise_phi].iter().all(|p| p.abs() < 1.0);
        let sigmas_ok = [self.daily_sigma, self.hourly_sigma, self.dam_noise_sigma].iter().all(|s| *s >= 0.0);
        if self.hour_of_week_mean.len() != 168 || !phis_ok || !sigmas_ok {
            return Err(Error::Calibration("needs 168 hour-of-week means, |phi| < 1 and sigma >= 0".into()));
        }
        Ok(())
    }

    /// Fits a calibration to one node's hourly rows (any order; duplicates refused).
    pub fn fit(rows: &[PriceRow], timezone: &str, source: &str, command: &str) -> Result<PriceCalibration> {
        let tz: Tz = timezone.parse().map_err(|_| Error::Calibration(format!("unknown timezone `{timezone}`")))?;
        let first = rows.first().ok_or_else(|| Error::Calibration("no price rows to fit".into()))?;
        if let Some(other) = rows.iter().find(|r| r.node != first.node) {
            return Err(Error::Calibration(format!("rows of two nodes: {} and {}", first.node, other.node)));
        }
        let grid = HourlyGrid::from_rows(rows)?;
        let rtm_present: Vec<f64> = grid.rtm.iter().flatten().copied().collect();
        let dam_present: Vec<f64> = grid.dam.iter().flatten().copied().collect();
        if rtm_present.len() < 24 * 7 * 8 || dam_present.len() < 24 * 7 * 8 {
            return Err(Error::Calibration(format!(
                "{}: {} real-time and {} day-ahead hours; at least 8 weeks of each are needed",
                first.node,
                rtm_present.len(),
                dam_present.len()
            )));
        }
        let z = normal_scores(&grid.rtm);
        let zd = normal_scores(&grid.dam);
        let how: Vec<usize> = (0..grid.len()).map(|h| local_hour_of_week(&tz, grid.time_us(h))).collect();
        let day: Vec<i64> = (0..grid.len()).map(|h| local_day(&tz, grid.time_us(h))).collect();

        let mut sums = [(0.0, 0usize); 168];
        for h in 0..grid.len() {
            if let Some(v) = z[h] {
                sums[how[h]].0 += v;
                sums[how[h]].1 += 1;
            }
        }
        let shape: Vec<f64> = sums.iter().map(|(s, n)| if *n > 0 { s / *n as f64 } else { 0.0 }).collect();

        // Daily level: mean residual per local day with at least 20 hours.
        let mut by_day: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
        for h in 0..grid.len() {
            if let Some(v) = z[h] {
                let e = by_day.entry(day[h]).or_default();
                e.0 += v - shape[how[h]];
                e.1 += 1;
            }
        }
        let level: BTreeMap<i64, f64> =
            by_day.into_iter().filter(|(_, (_, n))| *n >= 20).map(|(d, (s, n))| (d, s / n as f64)).collect();
        let level_pairs: Vec<(f64, f64)> =
            level.iter().filter_map(|(d, v)| Some((*v, *level.get(&(d + 1))?))).collect();
        let (daily_phi, daily_sigma) = ar1(&level_pairs, level.values().copied());

        let hourly: Vec<Option<f64>> =
            (0..grid.len()).map(|h| Some(z[h]? - shape[how[h]] - level.get(&day[h])?)).collect();
        let hourly_pairs: Vec<(f64, f64)> =
            hourly.iter().zip(hourly.iter().skip(1)).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect();
        let (hourly_phi, hourly_sigma) = ar1(&hourly_pairs, hourly.iter().flatten().copied());

        // Day-ahead loadings by least squares on (shape + level, hourly state).
        let mut xs = Vec::new();
        let mut at = Vec::new();
        for h in 0..grid.len() {
            if let (Some(d), Some(e), Some(l)) = (zd[h], hourly[h], level.get(&day[h])) {
                xs.push(([shape[how[h]], *l, e], d));
                at.push(h);
            }
        }
        let [a_shape, a_level, b] = least_squares_3(&xs);
        let mut noise: Vec<Option<f64>> = vec![None; grid.len()];
        for (&h, (x, y)) in at.iter().zip(&xs) {
            noise[h] = Some(y - a_shape * x[0] - a_level * x[1] - b * x[2]);
        }
        let noise_pairs: Vec<(f64, f64)> =
            noise.iter().zip(noise.iter().skip(1)).filter_map(|(p, q)| Some(((*p)?, (*q)?))).collect();
        let (dam_noise_phi, dam_noise_sigma) = ar1(&noise_pairs, noise.iter().flatten().copied());

        let iso = |us: i64| hcp_datasets::time::format_micros(us);
        Ok(PriceCalibration {
            market: first.market.to_string(),
            node: first.node.to_string(),
            timezone: timezone.to_string(),
            source: source.to_string(),
            command: command.to_string(),
            first_hour_utc: iso(grid.start_us),
            last_hour_utc: iso(grid.time_us(grid.len() - 1)),
            rtm_quantiles: QuantileTable::from_sample(&rtm_present),
            dam_quantiles: QuantileTable::from_sample(&dam_present),
            hour_of_week_mean: shape.iter().map(|v| round6(*v)).collect(),
            daily_phi: round6(daily_phi),
            daily_sigma: round6(daily_sigma),
            hourly_phi: round6(hourly_phi),
            hourly_sigma: round6(hourly_sigma),
            dam_shape_loading: round6(a_shape),
            dam_level_loading: round6(a_level),
            dam_hourly_loading: round6(b),
            dam_noise_phi: round6(dam_noise_phi),
            dam_noise_sigma: round6(dam_noise_sigma),
            real_rtm: PriceStats::of_hourly(&grid.rtm),
            real_dam: PriceStats::of_hourly(&grid.dam),
        })
    }
}

/// AR(1) coefficient from lag-1 pairs and the innovation sd that keeps the sample variance.
fn ar1(pairs: &[(f64, f64)], values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    let phi = correlation(pairs).clamp(-0.999, 0.999);
    (phi, (var * (1.0 - phi * phi)).sqrt())
}

/// Least squares `y = Σ b_i x_i` over three regressors (no intercept: every score has mean
/// zero), by the normal equations and Cramer's rule.
fn least_squares_3(rows: &[([f64; 3], f64)]) -> [f64; 3] {
    let mut m = [[0.0; 3]; 3];
    let mut v = [0.0; 3];
    for (x, y) in rows {
        for i in 0..3 {
            v[i] += x[i] * y;
            for j in 0..3 {
                m[i][j] += x[i] * x[j];
            }
        }
    }
    let det3 = |a: &[[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det3(&m);
    std::array::from_fn(|k| {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = v[i];
        }
        det3(&mk) / d
    })
}

/// Normal scores of the present values: the normal quantile of (rank + 0.5) / n, ties sharing
/// their mean rank.
fn normal_scores(series: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut idx: Vec<(usize, f64)> = series.iter().enumerate().filter_map(|(i, v)| Some((i, (*v)?))).collect();
    idx.sort_by(|a, b| a.1.total_cmp(&b.1));
    let n = idx.len() as f64;
    let mut out = vec![None; series.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && idx[j + 1].1 == idx[i].1 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0;
        let score = normal_quantile((rank + 0.5) / n);
        for k in &idx[i..=j] {
            out[k.0] = Some(score);
        }
        i = j + 1;
    }
    out
}

fn local_hour_of_week(tz: &Tz, time_us: i64) -> usize {
    let t = DateTime::from_timestamp_micros(time_us).expect("in range").with_timezone(tz);
    t.weekday().num_days_from_monday() as usize * 24 + t.hour() as usize
}

fn local_day(tz: &Tz, time_us: i64) -> i64 {
    let t = DateTime::from_timestamp_micros(time_us).expect("in range").with_timezone(tz);
    t.date_naive().num_days_from_ce() as i64
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One node's prices on a regular hourly grid; missing hours are `None`.
#[derive(Debug, Clone)]
pub struct HourlyGrid {
    pub start_us: i64,
    pub rtm: Vec<Option<f64>>,
    pub dam: Vec<Option<f64>>,
}

impl HourlyGrid {
    pub fn from_rows(rows: &[PriceRow]) -> Result<HourlyGrid> {
        let start_us = rows.iter().map(|r| r.interval_start_us).min().ok_or(Error::Calibration("no rows".into()))?;
        let end_us = rows.iter().map(|r| r.interval_start_us).max().unwrap_or(start_us);
        let len = ((end_us - start_us) / MICROS_PER_HOUR + 1) as usize;
        let mut grid = HourlyGrid { start_us, rtm: vec![None; len], dam: vec![None; len] };
        let mut seen = vec![false; len];
        for r in rows {
            if r.interval_minutes != 60 || (r.interval_start_us - start_us) % MICROS_PER_HOUR != 0 {
                return Err(Error::Calibration(format!(
                    "{} at {}: not an hourly interval on the hour",
                    r.node,
                    hcp_datasets::time::format_micros(r.interval_start_us)
                )));
            }
            let h = ((r.interval_start_us - start_us) / MICROS_PER_HOUR) as usize;
            if std::mem::replace(&mut seen[h], true) {
                return Err(Error::Calibration(format!(
                    "{}: two rows for {}",
                    r.node,
                    hcp_datasets::time::format_micros(r.interval_start_us)
                )));
            }
            grid.rtm[h] = r.rtm_price_per_mwh.filter(|p| p.is_finite());
            grid.dam[h] = r.dam_price_per_mwh.filter(|p| p.is_finite());
        }
        Ok(grid)
    }

    pub fn len(&self) -> usize {
        self.rtm.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rtm.is_empty()
    }
    pub fn time_us(&self, h: usize) -> i64 {
        self.start_us + h as i64 * MICROS_PER_HOUR
    }
}

/// A running price model for one node.
#[derive(Debug, Clone)]
pub struct PriceModel {
    cal: Arc<PriceCalibration>,
    tz: Tz,
    /// Standard deviation of the latent real-time and day-ahead scores implied by the fit, so
    /// that the latent values map to uniform levels.
    rtm_sd: f64,
    dam_sd: f64,
}

impl PriceModel {
    pub fn new(cal: PriceCalibration) -> Result<PriceModel> {
        cal.validate()?;
        let tz =
            cal.timezone.parse().map_err(|_| Error::Calibration(format!("unknown timezone `{}`", cal.timezone)))?;
        let m = cal.hour_of_week_mean.iter().sum::<f64>() / 168.0;
        let shape_var = cal.hour_of_week_mean.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 168.0;
        let level_var = cal.daily_sigma.powi(2) / (1.0 - cal.daily_phi.powi(2));
        let hourly_var = cal.hourly_sigma.powi(2) / (1.0 - cal.hourly_phi.powi(2));
        let rtm_sd = (shape_var + level_var + hourly_var).sqrt();
        let (a_shape, a_level, b) = (cal.dam_shape_loading, cal.dam_level_loading, cal.dam_hourly_loading);
        let noise_var = cal.dam_noise_sigma.powi(2) / (1.0 - cal.dam_noise_phi.powi(2));
        let dam_sd =
            (a_shape * a_shape * shape_var + a_level * a_level * level_var + b * b * hourly_var + noise_var).sqrt();
        Ok(PriceModel { cal: Arc::new(cal), tz, rtm_sd, dam_sd })
    }

    pub fn calibration(&self) -> &PriceCalibration {
        &self.cal
    }

    /// `hours` hourly (real-time, day-ahead) prices from `start_us` (on the hour). `shocks`
    /// supplies the standard normal innovations, so that several nodes can share part of them.
    pub fn generate(
        &self,
        start_us: i64,
        hours: usize,
        shocks: &mut dyn FnMut() -> (f64, f64, f64),
    ) -> Vec<(f64, f64)> {
        let c = &*self.cal;
        let stationary_level = c.daily_sigma / (1.0 - c.daily_phi.powi(2)).sqrt();
        let stationary_hourly = c.hourly_sigma / (1.0 - c.hourly_phi.powi(2)).sqrt();
        let stationary_noise = c.dam_noise_sigma / (1.0 - c.dam_noise_phi.powi(2)).sqrt();
        let (s0, s1, s2) = shocks();
        let mut level = stationary_level * s0;
        let mut hourly = stationary_hourly * s1;
        let mut dam_noise = stationary_noise * s2;
        let mut day = local_day(&self.tz, start_us);
        let mut out = Vec::with_capacity(hours);
        for h in 0..hours {
            let t = start_us + h as i64 * MICROS_PER_HOUR;
            let (e_level, e_hourly, e_dam) = shocks();
            let d = local_day(&self.tz, t);
            if d != day {
                level = c.daily_phi * level + c.daily_sigma * e_level;
                day = d;
            }
            if h > 0 {
                hourly = c.hourly_phi * hourly + c.hourly_sigma * e_hourly;
                dam_noise = c.dam_noise_phi * dam_noise + c.dam_noise_sigma * e_dam;
            }
            let shape = c.hour_of_week_mean[local_hour_of_week(&self.tz, t)];
            let z = shape + level + hourly;
            let zd =
                c.dam_shape_loading * shape + c.dam_level_loading * level + c.dam_hourly_loading * hourly + dam_noise;
            let rtm = c.rtm_quantiles.value_at(normal_cdf(z / self.rtm_sd));
            let dam = c.dam_quantiles.value_at(normal_cdf(zd / self.dam_sd));
            out.push((round4(rtm), round4(dam)));
        }
        out
    }
}

/// How the simulated nodes' prices are produced.
#[derive(Debug, Clone)]
pub enum PriceSource {
    /// Calibrated models, one per node, whose innovations share a common part with the given
    /// correlation (neighbouring West Texas nodes move together).
    Synthetic { models: Vec<PriceModel>, shock_correlation: f64 },
    /// Real rows played back as they are, gaps and all.
    Replay(Vec<PriceRow>),
}

impl PriceSource {
    /// Hourly rows for every node from `start_us` for `hours` hours.
    pub fn rows(&self, start_us: i64, hours: usize, rng: &Rng) -> Vec<PriceRow> {
        match self {
            PriceSource::Replay(rows) => {
                let end = start_us + hours as i64 * MICROS_PER_HOUR;
                rows.iter().filter(|r| r.interval_start_us >= start_us && r.interval_start_us < end).cloned().collect()
            }
            PriceSource::Synthetic { models, shock_correlation } => {
                let rho = shock_correlation.clamp(0.0, 1.0);
                let own = (1.0 - rho * rho).sqrt();
                let mut common = rng.fork(0x0c0a);
                let draws: Vec<(f64, f64, f64)> =
                    (0..=hours).map(|_| (common.normal(), common.normal(), common.normal())).collect();
                let mut out = Vec::with_capacity(hours * models.len());
                for (n, model) in models.iter().enumerate() {
                    let mut mine = rng.fork(0x0de0 + n as u64);
                    let mut i = 0;
                    let mut shocks = || {
                        let c = draws[i.min(hours)];
                        i += 1;
                        (
                            rho * c.0 + own * mine.normal(),
                            rho * c.1 + own * mine.normal(),
                            rho * c.2 + own * mine.normal(),
                        )
                    };
                    let cal = model.calibration();
                    let market: Arc<str> = cal.market.as_str().into();
                    let node: Arc<str> = cal.node.as_str().into();
                    for (h, (rtm, dam)) in model.generate(start_us, hours, &mut shocks).into_iter().enumerate() {
                        out.push(PriceRow {
                            market: market.clone(),
                            node: node.clone(),
                            interval_start_us: start_us + h as i64 * MICROS_PER_HOUR,
                            interval_minutes: 60,
                            currency: "USD",
                            dam_price_per_mwh: Some(dam),
                            rtm_price_per_mwh: Some(rtm),
                        });
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_table_interpolates_and_hits_the_ends() {
        let sample: Vec<f64> = (0..=1000).map(|i| i as f64).collect();
        let t = QuantileTable::from_sample(&sample);
        assert_eq!(t.value_at(0.0), 0.0);
        assert_eq!(t.value_at(1.0), 1000.0);
        assert!((t.value_at(0.5) - 500.0).abs() < 1e-9);
        assert!((t.value_at(0.12345) - 123.45).abs() < 1e-6);
    }

    #[test]
    fn normal_scores_are_symmetric_and_share_ties() {
        let s = normal_scores(&[Some(3.0), None, Some(1.0), Some(2.0), Some(2.0), Some(5.0)]);
        assert_eq!(s[1], None);
        assert_eq!(s[3], s[4]);
        assert!((s[2].unwrap() + s[5].unwrap()).abs() < 1e-12);
    }

    #[test]
    fn builtin_calibrations_load_and_name_their_source() {
        for (name, _) in BUILTIN {
            let cal = PriceCalibration::load(name).unwrap();
            assert!(cal.command.contains("hcp sim calibrate"), "{name}");
            assert_eq!(cal.hour_of_week_mean.len(), 168);
        }
        let err = PriceCalibration::load("no_such_calibration").unwrap_err().to_string();
        assert!(err.contains("ercot_hb_west") && err.contains("no_such_calibration"), "{err}");
    }
}
