//! The open day-ahead price benchmark's protocol (epftoolbox): walk the test period day by
//! day; the 24 prices of day D are forecast from prices up to D-1 and the exogenous forecasts
//! up to D; models are recalibrated every `recalibrate_every` days on data before the day they
//! are recalibrated on.
//!
//! Every model publishes a mean and the 0.1/0.5/0.9 quantiles. The quantiles are the point
//! plus the empirical quantiles of the model's own errors over the last `band_days` days whose
//! prices are known (per hour of the day); the walk starts `band_days` before the test so the
//! first test day already has them. Those warm-up days are not scored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hcp_datasets::holidays::Holidays;
use hcp_datasets::ingest::{Format, parse};
use hcp_datasets::rows::{exogenous_rows, price_rows};
use hcp_datasets::{Table, WriteOptions};
use hcp_lstm::day_ahead::{DayAheadDnn, DnnConfig, DnnFit, FinetuneScalers, PriceOrigin, ValidSplit, parse_choice};
use hcp_models::forecast::lasso::{PathConfig, Selection};
use hcp_models::forecast::lear::{self, Lear};
use hcp_models::forecast::{Accumulator, Day, DayAheadPanel, ErrorBands, HOURS, Naive, Scores, Trend};
use serde::Serialize;

use crate::forecast_rows::{Forecast, RowLabels};
use crate::walk::{best_by_mae, by_mae, fit_blocks, write_outputs};
use crate::{Error, Result};

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;

/// One benchmark market read from its file.
#[derive(Debug, Clone)]
pub struct MarketHistory {
    pub market: String,
    pub node: String,
    pub currency: String,
    pub panel: DayAheadPanel,
}

/// Reads an epftoolbox CSV (plain or gzipped) into a day-by-hour panel. Rejected rows, gaps and
/// partial days are errors that name the file and the hour: the protocol needs every hour.
pub fn read_epftoolbox(input: &Path) -> Result<MarketHistory> {
    let parsed = parse(Format::Epftoolbox, &[input.to_path_buf()])?;
    if let Some(r) = parsed.rejections.first() {
        return Err(Error::Invalid(format!("{} rows rejected; the first: {r}", parsed.rejections.len())));
    }
    let mut prices = Vec::new();
    for batch in parsed.batches(Table::Prices) {
        prices.extend(price_rows(batch)?);
    }
    let mut exogenous = Vec::new();
    for batch in parsed.batches(Table::Exogenous) {
        exogenous.extend(exogenous_rows(batch)?);
    }
    prices.sort_by_key(|r| r.interval_start_us);
    let first = prices.first().ok_or_else(|| Error::Invalid(format!("{}: no prices", input.display())))?;
    let start = first.interval_start_us;
    if start.rem_euclid(DAY_US) != 0 {
        return Err(Error::Invalid(format!("{}: the first hour is not midnight", input.display())));
    }
    let hour_name = |us: i64| hcp_datasets::time::format_micros(us);
    let mut price = Vec::with_capacity(prices.len());
    for (i, r) in prices.iter().enumerate() {
        let expected = start + i as i64 * HOUR_US;
        if r.interval_start_us != expected {
            return Err(Error::Invalid(format!(
                "{}: hour {} is missing (the next row is {})",
                input.display(),
                hour_name(expected),
                hour_name(r.interval_start_us)
            )));
        }
        price.push(r.dam_price_per_mwh.unwrap_or(f64::NAN));
    }
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &exogenous {
        let values = series.entry(r.variable.clone()).or_insert_with(|| vec![f64::NAN; price.len()]);
        let i = (r.interval_start_us - start) / HOUR_US;
        if let Some(v) = usize::try_from(i).ok().and_then(|i| values.get_mut(i)) {
            *v = r.value.unwrap_or(f64::NAN);
        }
    }
    let panel = DayAheadPanel::from_hourly(start / DAY_US, &price, series.into_iter().collect())
        .map_err(|e| Error::Invalid(format!("{}: {e}", input.display())))?;
    Ok(MarketHistory {
        market: first.market.to_string(),
        node: first.node.to_string(),
        currency: first.currency.to_string(),
        panel,
    })
}

/// What `hcp evaluate price --format epftoolbox` runs.
#[derive(Debug, Clone)]
pub struct DayAheadConfig {
    pub input: PathBuf,
    /// First test day, days since 1970-01-01 (in the file's hour index).
    pub test_start_day: i64,
    /// Last test day, inclusive; the file's last day when `None`.
    pub test_end_day: Option<i64>,
    /// LEAR calibration windows, days.
    pub windows: Vec<usize>,
    /// What LEAR's prices are measured from: one model per window and trend (`--lear-trends`).
    pub trends: Vec<Trend>,
    /// Whether days D, D-1 and D-7 being public holidays of the market are inputs of LEAR and
    /// the perceptron (`--holidays`; the calendar is the market's, [`Holidays::of_market`]).
    pub holidays: bool,
    pub recalibrate_every: usize,
    pub band_days: usize,
    pub threads: usize,
    pub path: PathConfig,
    /// The day-ahead perceptron beside LEAR (`--dnn`).
    pub dnn: Option<DnnWalk>,
    pub out: PathBuf,
    pub run_id: String,
}

/// How the walk runs the day-ahead perceptron: `members` networks (seeds `config.seed`,
/// `config.seed + 1`, …), each fitted from random weights at the walk's first day and then
/// fine-tuned every `every` days on the days before it (`config.finetune_scalers`: with their
/// scalers refitted there, or the first fit's kept); `dnn` is their mean and
/// `ensemble_lear_dnn` is `ensemble_weight` × `dnn` + (1 − `ensemble_weight`) × `lear`. Each
/// member's price origin is `origins`' choice for it (it replaces `config.origin`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnnWalk {
    pub config: DnnConfig,
    pub members: usize,
    pub every: usize,
    pub origins: MemberOrigins,
    /// `dnn`'s weight in `ensemble_lear_dnn`, in [0, 1].
    pub ensemble_weight: f64,
}

/// `dnn`'s weight in `ensemble_lear_dnn` by default: chosen with [`DEFAULT_SELECTION`] and
/// [`DEFAULT_TRENDS`] on the validation periods before the test periods
/// (`scripts/ensemble_weights.py`; README, "Choosing LEAR's penalty, trends and the ensemble's
/// weight together").
pub const DEFAULT_ENSEMBLE_WEIGHT: f64 = 0.5;

impl Default for DnnWalk {
    fn default() -> Self {
        DnnWalk {
            config: DnnConfig::default(),
            members: 4,
            every: 7,
            origins: MemberOrigins::Alternate,
            ensemble_weight: DEFAULT_ENSEMBLE_WEIGHT,
        }
    }
}

/// The members' price origins ([`PriceOrigin`]): all from zero, all from day D-1's level, or
/// alternating (members 0, 2, … from D-1's level, 1, 3, … from zero), so the mean has networks
/// of both kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberOrigins {
    Zero,
    LastDay,
    Alternate,
}

impl MemberOrigins {
    /// Member `m`'s origin.
    pub fn of(self, m: usize) -> PriceOrigin {
        match self {
            MemberOrigins::Zero => PriceOrigin::Zero,
            MemberOrigins::LastDay => PriceOrigin::LastDay,
            MemberOrigins::Alternate if m.is_multiple_of(2) => PriceOrigin::LastDay,
            MemberOrigins::Alternate => PriceOrigin::Zero,
        }
    }
}

impl std::str::FromStr for MemberOrigins {
    type Err = Error;

    fn from_str(s: &str) -> Result<MemberOrigins> {
        let choices = [
            ("zero", MemberOrigins::Zero),
            ("last-day", MemberOrigins::LastDay),
            ("alternate", MemberOrigins::Alternate),
        ];
        Ok(parse_choice("member origins", s, &choices)?)
    }
}

impl DayAheadConfig {
    pub fn new(input: PathBuf, test_start_day: i64, out: PathBuf) -> DayAheadConfig {
        DayAheadConfig {
            input,
            test_start_day,
            test_end_day: None,
            windows: lear::BENCHMARK_WINDOWS.to_vec(),
            trends: DEFAULT_TRENDS.to_vec(),
            holidays: false,
            recalibrate_every: 1,
            band_days: 91,
            threads: crate::walk::default_threads(),
            path: PathConfig { selection: DEFAULT_SELECTION, ..PathConfig::default() },
            dnn: None,
            out,
            run_id: "evaluate".into(),
        }
    }
}

/// One model's scores on the test period.
#[derive(Debug, Clone, Serialize)]
pub struct ModelScores {
    #[serde(flatten)]
    pub scores: Scores,
    /// MAE over MAE of the weekly seasonal naive on the same targets.
    pub rmae: f64,
    pub mae_by_hour: Vec<f64>,
}

/// LEAR's trends by default: the benchmark's model alone, chosen on the validation periods
/// with [`DEFAULT_SELECTION`] (README, "Choosing LEAR's penalty, trends and the ensemble's
/// weight together").
pub const DEFAULT_TRENDS: [Trend; 1] = [Trend::None];

/// How the walk's LEAR chooses its penalties by default: as the benchmark's published code did,
/// chosen on the validation periods (README, the same paragraph). Every other lasso keeps
/// [`PathConfig::default`]'s.
pub const DEFAULT_SELECTION: Selection = Selection::Epftoolbox;

/// Training days a LEAR model actually had (fewer than the window where history is short).
#[derive(Debug, Clone, Serialize)]
pub struct WindowUse {
    pub model_id: String,
    pub window_days: usize,
    pub trend: Trend,
    pub min_samples: usize,
    pub max_samples: usize,
}

/// `metrics.json` of a day-ahead evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct DayAheadReport {
    pub protocol: &'static str,
    pub input: String,
    pub market: String,
    pub node: String,
    pub currency: String,
    /// The exogenous forecasts LEAR read, as the file names them.
    pub exogenous: Vec<String>,
    /// The holiday calendar whose flags LEAR and the perceptron read (`--holidays`), if any.
    pub holidays: Option<&'static str>,
    /// How LEAR's penalties were chosen (`--lear-penalty`).
    pub lear_penalty: &'static str,
    pub train_start: String,
    pub test_start: String,
    pub test_end: String,
    pub test_days: usize,
    pub recalibrate_every_days: usize,
    pub recalibrations: usize,
    pub band_days: usize,
    pub windows: Vec<WindowUse>,
    pub models: BTreeMap<String, ModelScores>,
    /// What the perceptron's fits did, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnn: Option<DnnReport>,
    pub best_model: String,
    pub threads: usize,
    pub elapsed_s: f64,
}

/// The perceptron's fits in a walk.
#[derive(Debug, Clone, Serialize)]
pub struct DnnReport {
    #[serde(flatten)]
    pub walk: DnnWalk,
    /// Every fit, member by member, in day order: the first from random weights, the others
    /// fine-tunes.
    pub fits: Vec<Vec<DnnFit>>,
    pub elapsed_s: f64,
}

const ENSEMBLE: &str = "lear";
const DNN: &str = "dnn";
const LEAR_DNN: &str = "ensemble_lear_dnn";

/// The first item that an earlier one equals (a flag's list naming one thing twice).
fn first_repeat<T: PartialEq>(items: &[T]) -> Option<&T> {
    items.iter().enumerate().find_map(|(i, x)| items[..i].contains(x).then_some(x))
}

fn window_id(window: usize, trend: Trend) -> String {
    format!("lear_{window}{}", trend.id_suffix())
}

/// Runs the walk-forward evaluation and writes `forecasts.parquet`, `metrics.json` and
/// `report.md` under `cfg.out`. `progress(done, total)` is called as recalibrations finish.
pub fn evaluate_day_ahead(cfg: &DayAheadConfig, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<DayAheadReport> {
    let started = Instant::now();
    crate::walk::check_counts(cfg.recalibrate_every, cfg.band_days, cfg.threads)?;
    if cfg.windows.is_empty() || cfg.trends.is_empty() {
        return Err(Error::Invalid("--windows and --lear-trends must each name at least one".into()));
    }
    if let Some(w) = cfg.windows.iter().find(|&&w| w < lear::MIN_WINDOW_DAYS) {
        return Err(Error::Invalid(format!(
            "--windows {w}: a LEAR calibrates on at least {} days (a week of lags, then 14 to fit)",
            lear::MIN_WINDOW_DAYS
        )));
    }
    if let Some(w) = first_repeat(&cfg.windows) {
        return Err(Error::Invalid(format!("--windows lists {w} twice")));
    }
    if let Some(t) = first_repeat(&cfg.trends) {
        return Err(Error::Invalid(format!("--lear-trends lists {t} twice")));
    }
    // One LEAR per trend and window, in that order.
    let specs: Vec<(usize, Trend)> =
        cfg.trends.iter().flat_map(|&t| cfg.windows.iter().map(move |&w| (w, t))).collect();
    // The perceptron's settings are checked before LEAR's minutes of fitting, not after.
    if let Some(walk) = &cfg.dnn {
        if walk.members == 0 || walk.every == 0 {
            return Err(Error::Invalid("--dnn-members and --dnn-every must be positive".into()));
        }
        if !(0.0..=1.0).contains(&walk.ensemble_weight) {
            return Err(Error::Invalid(format!(
                "--dnn-ensemble-weight {} is not a weight between 0 and 1",
                walk.ensemble_weight
            )));
        }
        walk.config.check()?;
    }
    let history = read_epftoolbox(&cfg.input)?;
    let calendar = match cfg.holidays {
        false => None,
        true => Some(Holidays::of_market(&history.market).ok_or_else(|| {
            Error::Invalid(format!("--holidays: no holiday calendar for the market {}", history.market))
        })?),
    };
    let history = match calendar {
        Some(cal) => MarketHistory { panel: history.panel.with_holidays(|day| cal.contains_day(day)), ..history },
        None => history,
    };
    let panel = &history.panel;
    let day_name = |d: usize| hcp_datasets::time::utc_date_string((panel.first_day + d as i64) * DAY_US);
    let index = |day: i64, what: &str| -> Result<usize> {
        usize::try_from(day - panel.first_day).ok().filter(|&d| d < panel.days()).ok_or_else(|| {
            Error::Invalid(format!(
                "{what} {} is outside the data ({} .. {})",
                hcp_datasets::time::utc_date_string(day * DAY_US),
                day_name(0),
                day_name(panel.days() - 1)
            ))
        })
    };
    let test_start = index(cfg.test_start_day, "--test-start")?;
    let test_end = match cfg.test_end_day {
        Some(d) => index(d, "--test-end")?,
        None => panel.days() - 1,
    };
    if test_end < test_start {
        return Err(Error::Invalid("--test-end is before --test-start".into()));
    }
    // The earliest day any window can be fitted for: a week of lags plus 28 training days.
    let earliest = lear::MAX_LAG + 28;
    if test_start < earliest {
        return Err(Error::Invalid(format!(
            "--test-start {} leaves {test_start} days of history; at least {earliest} are needed",
            day_name(test_start)
        )));
    }
    let walk_start = test_start.saturating_sub(cfg.band_days).max(earliest);
    let blocks: Vec<usize> = (walk_start..=test_end).step_by(cfg.recalibrate_every).collect();
    // The progress counts LEAR's recalibrations, then the perceptrons' fits.
    let dnn_fits = cfg.dnn.as_ref().map_or(0, |w| w.members * (test_end + 1 - walk_start).div_ceil(w.every));

    // Per block, per model: the LEAR forecasts of the block's days and the training days used.
    let fitted = fit_blocks(&blocks, cfg.threads, &|done, total| progress(done, total + dnn_fits), |first| {
        let last = (first + cfg.recalibrate_every - 1).min(test_end);
        specs
            .iter()
            .map(|&(window, trend)| {
                let model = Lear::fit_with_trend(panel, first, window, trend, &cfg.path)?;
                let days: Vec<Day> = (first..=last).map(|d| model.forecast(panel, d)).collect();
                Ok((days, model.samples))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    // LEAR forecasts per model, by day offset from walk_start; training days per model.
    let mut lear_points: Vec<Vec<Day>> = vec![Vec::with_capacity(test_end + 1 - walk_start); specs.len()];
    let mut samples = vec![(usize::MAX, 0); specs.len()];
    for block in fitted {
        for (w, (days, n)) in block.into_iter().enumerate() {
            lear_points[w].extend(days);
            samples[w] = (samples[w].0.min(n), samples[w].1.max(n));
        }
    }

    let (dnn_points, dnn_report) = match &cfg.dnn {
        Some(walk) => {
            let started = Instant::now();
            let lear_fits = blocks.len();
            let members = walk_dnn(panel, walk, walk_start, test_end, cfg.threads, &|done, _| {
                progress(lear_fits + done, lear_fits + dnn_fits)
            })?;
            let (points, fits) = members.into_iter().map(|m| (m.days, m.fits)).unzip();
            (points, Some(DnnReport { walk: walk.clone(), fits, elapsed_s: started.elapsed().as_secs_f64() }))
        }
        None => (Vec::new(), None),
    };
    let lear_mean = |d: usize| -> Day {
        std::array::from_fn(|h| lear_points.iter().map(|w| w[d - walk_start][h]).sum::<f64>() / specs.len() as f64)
    };
    let dnn_mean = |d: usize| -> Day {
        std::array::from_fn(|h| dnn_points.iter().map(|m| m[d - walk_start][h]).sum::<f64>() / dnn_points.len() as f64)
    };
    // `dnn`'s weight in `ensemble_lear_dnn` (read only when the perceptron runs).
    let dnn_weight = cfg.dnn.as_ref().map_or(0.0, |walk| walk.ensemble_weight);

    // Every model's point forecast per day, in a fixed order.
    let mut model_ids: Vec<String> = Naive::ALL.iter().map(|n| n.id().to_string()).collect();
    model_ids.extend(specs.iter().map(|&(w, t)| window_id(w, t)));
    model_ids.push(ENSEMBLE.to_string());
    if cfg.dnn.is_some() {
        model_ids.extend([DNN.to_string(), LEAR_DNN.to_string()]);
        // Each member on its own (`dnn_0`, `dnn_1`, …), so rules over the members can be scored
        // from the forecasts alone.
        model_ids.extend((0..dnn_points.len()).map(|m| format!("{DNN}_{m}")));
    }
    let point = |m: usize, d: usize| -> Day {
        let lear_end = Naive::ALL.len() + specs.len();
        if m < Naive::ALL.len() {
            Naive::ALL[m].forecast(panel, d).expect("a week of history before every walked day")
        } else if m < lear_end {
            lear_points[m - Naive::ALL.len()][d - walk_start]
        } else if m == lear_end {
            lear_mean(d)
        } else if m == lear_end + 1 {
            dnn_mean(d)
        } else if m == lear_end + 2 {
            let (lear, dnn) = (lear_mean(d), dnn_mean(d));
            std::array::from_fn(|h| dnn_weight * dnn[h] + (1.0 - dnn_weight) * lear[h])
        } else {
            dnn_points[m - lear_end - 3][d - walk_start]
        }
    };

    let names: Vec<Arc<str>> = model_ids.iter().map(|m| Arc::from(m.as_str())).collect();
    let labels = RowLabels::new("dam_price_per_mwh", &history.node, env!("CARGO_PKG_VERSION"), &cfg.run_id);
    let mut bands: Vec<ErrorBands> = model_ids.iter().map(|_| ErrorBands::new(HOURS, cfg.band_days)).collect();
    let mut totals: Vec<Accumulator> = vec![Accumulator::default(); model_ids.len()];
    let mut by_hour: Vec<Vec<Accumulator>> = vec![vec![Accumulator::default(); HOURS]; model_ids.len()];
    let mut rows = Vec::new();
    for d in walk_start..=test_end {
        let issue = (panel.first_day + d as i64) * DAY_US;
        for m in 0..model_ids.len() {
            let p = point(m, d);
            for h in 0..HOURS {
                let actual = panel.price[d][h];
                if d >= test_start {
                    let q = bands[m].quantiles(h, p[h]);
                    totals[m].add(actual, p[h], &q);
                    by_hour[m][h].add(actual, p[h], &q);
                    let target_us = issue + h as i64 * HOUR_US;
                    labels.push(
                        &mut rows,
                        &names[m],
                        Forecast { issue_us: issue, target_us, mean: p[h], quantiles: q },
                    );
                }
            }
            // Day d's prices are known once it is over: its errors shape later bands only.
            for (h, (actual, forecast)) in panel.price[d].iter().zip(p).enumerate() {
                bands[m].record(h, actual - forecast);
            }
        }
    }

    let weekly = model_ids.iter().position(|m| m == Naive::Weekly.id()).expect("weekly naive is always run");
    let weekly_mae = totals[weekly].mae();
    let models: BTreeMap<String, ModelScores> = model_ids
        .iter()
        .enumerate()
        .map(|(m, id)| {
            let scores = totals[m].scores();
            let rmae = if weekly_mae > 0.0 { scores.mae / weekly_mae } else { f64::NAN };
            (id.clone(), ModelScores { scores, rmae, mae_by_hour: by_hour[m].iter().map(Accumulator::mae).collect() })
        })
        .collect();
    let best_model = best_by_mae(&models, |m| &m.scores);
    let report = DayAheadReport {
        protocol: "epftoolbox day-ahead: day D from prices to D-1 and exogenous forecasts to D",
        input: cfg.input.display().to_string(),
        market: history.market.clone(),
        node: history.node.clone(),
        currency: history.currency.clone(),
        exogenous: panel.exogenous_names.clone(),
        holidays: calendar.map(Holidays::name),
        lear_penalty: cfg.path.selection.name(),
        train_start: day_name(0),
        test_start: day_name(test_start),
        test_end: day_name(test_end),
        test_days: test_end + 1 - test_start,
        recalibrate_every_days: cfg.recalibrate_every,
        recalibrations: blocks.len(),
        band_days: cfg.band_days,
        windows: specs
            .iter()
            .zip(samples)
            .map(|(&(w, trend), (lo, hi))| WindowUse {
                model_id: window_id(w, trend),
                window_days: w,
                trend,
                min_samples: lo,
                max_samples: hi,
            })
            .collect(),
        models,
        dnn: dnn_report,
        best_model,
        threads: cfg.threads,
        elapsed_s: started.elapsed().as_secs_f64(),
    };

    let opts = WriteOptions::new(
        cfg.run_id.clone(),
        format!("hcp evaluate price --format epftoolbox {}", cfg.input.display()),
    )
    .with_time_basis(hcp_datasets::ingest::EPFTOOLBOX_TIME_BASIS);
    write_outputs(&cfg.out, &opts, &rows, &report, &report.markdown())?;
    Ok(report)
}

/// Every member's forecasts of days `walk_start..=test_end` and its fits (members on
/// `threads` workers). `progress(done, total)` counts fits.
fn walk_dnn(
    panel: &DayAheadPanel,
    walk: &DnnWalk,
    walk_start: usize,
    test_end: usize,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<DnnMember>> {
    let starts: Vec<usize> = (walk_start..=test_end).step_by(walk.every).collect();
    let members: Vec<usize> = (0..walk.members).collect();
    let total = members.len() * starts.len();
    let done = AtomicUsize::new(0);
    fit_blocks(&members, threads, &|_, _| {}, |m| {
        let config = DnnConfig { seed: walk.config.seed + m as u64, origin: walk.origins.of(m), ..walk.config.clone() };
        let mut days = Vec::with_capacity(test_end + 1 - walk_start);
        let mut fits = Vec::with_capacity(starts.len());
        let mut last: Option<DayAheadDnn> = None;
        for &first in &starts {
            let dnn = DayAheadDnn::fit(panel, first, &config, last.as_ref())?;
            let block: Vec<usize> = (first..=(first + walk.every - 1).min(test_end)).collect();
            days.extend(dnn.forecast(panel, &block));
            fits.push(dnn.fit.clone());
            last = Some(dnn);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        }
        Ok(DnnMember { days, fits })
    })
}

/// One network's forecasts of the walked days and its fits.
struct DnnMember {
    days: Vec<Day>,
    fits: Vec<DnnFit>,
}

impl DayAheadReport {
    /// `report.md`: what the run did and every model's scores, best first.
    pub fn markdown(&self) -> String {
        let r = self;
        let mut s = format!(
            "# Day-ahead price forecasts: {} ({})\n\nTest {} .. {} ({} days), trained on data from {}; \
         recalibrated every {} day(s); quantiles from each model's last {} days of errors.\n\n\
         | model | MAE | rMAE | sMAPE % | RMSE | pinball | 80% coverage |\n|---|---|---|---|---|---|---|\n",
            r.market,
            r.currency,
            r.test_start,
            r.test_end,
            r.test_days,
            r.train_start,
            r.recalibrate_every_days,
            r.band_days
        );
        for (id, m) in by_mae(&r.models, |m| &m.scores) {
            s += &format!(
                "| {id} | {:.3} | {:.3} | {:.2} | {:.3} | {:.3} | {:.3} |\n",
                m.scores.mae, m.rmae, m.scores.smape_percent, m.scores.rmse, m.scores.pinball, m.scores.coverage_80
            );
        }
        s += "\nLEAR models (training days used, min..max):";
        for w in &r.windows {
            s += &format!(" `{}`: {}..{};", w.model_id, w.min_samples, w.max_samples);
        }
        if let Some(dnn) = &r.dnn {
            let fits: usize = dnn.fits.iter().map(Vec::len).sum();
            let epochs: usize = dnn.fits.iter().flatten().map(|f| f.epochs_run).sum();
            let first: Vec<String> =
                dnn.fits.iter().filter_map(|m| m.first()).map(|f| f.best_epoch.to_string()).collect();
            s += &format!(
                "\n\ndnn: {} networks of hidden layers {:?}, each fitted on the last {} days ({} of them validating: {}) \
                 and fine-tuned every {} days (scalers {}; prices from {}): {fits} fits, {epochs} epochs (best epoch of the first fits: {}) in {:.1} s. \
                 `ensemble_lear_dnn` is w × `dnn` + (1 − w) × `lear`, w = {}.",
                dnn.walk.members,
                dnn.walk.config.hidden,
                dnn.walk.config.window_days,
                dnn.walk.config.valid_days,
                match dnn.walk.config.valid_split {
                    ValidSplit::Last => "the last",
                    ValidSplit::Random => "drawn at random",
                },
                dnn.walk.every,
                match dnn.walk.config.finetune_scalers {
                    FinetuneScalers::Refit => "refitted",
                    FinetuneScalers::Keep => "kept",
                },
                match dnn.walk.origins {
                    MemberOrigins::Zero => "zero",
                    MemberOrigins::LastDay => "day D-1's level",
                    MemberOrigins::Alternate => "day D-1's level in members 0, 2, …, zero in the others",
                },
                first.join(", "),
                dnn.elapsed_s,
                dnn.walk.ensemble_weight
            );
        }
        s += &format!("\n\n{} recalibrations on {} threads in {:.1} s.\n", r.recalibrations, r.threads, r.elapsed_s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternating_origins_measure_even_members_from_yesterdays_level() {
        use PriceOrigin::{LastDay, Zero};
        let of = |origins: MemberOrigins| (0..4).map(|m| origins.of(m)).collect::<Vec<_>>();
        assert_eq!(of(MemberOrigins::Alternate), [LastDay, Zero, LastDay, Zero]);
        assert_eq!(of(MemberOrigins::Zero), [Zero; 4]);
        assert_eq!(of(MemberOrigins::LastDay), [LastDay; 4]);
        assert_eq!("alternate".parse::<MemberOrigins>().unwrap(), MemberOrigins::Alternate);
    }
}
