//! The price-forecast protocols: no forecast changes when data after its issue time changes,
//! quantiles never cross, the fitted model beats the naive ones on a market it can learn, and
//! bad input is refused by name.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use hcp_models::forecast::Trend;
use hcp_training::day_ahead::{DayAheadConfig, DnnWalk, MemberOrigins, evaluate_day_ahead};
use hcp_training::lstm::day_ahead::DnnConfig;
use hcp_training::realtime::{RealTimeConfig, evaluate_real_time};
use polars::prelude::*;

/// A deterministic pseudo-random stream in [-0.5, 0.5).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    }
}

/// An NP-format benchmark file: a load-driven price with daily and weekly shape.
fn epftoolbox_csv(dir: &Path, days: usize, bump_from_day: Option<usize>) -> PathBuf {
    let path = dir.join(format!("np-{bump_from_day:?}.csv"));
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, ",Price,Grid load forecast,Wind power forecast").unwrap();
    let mut noise = Noise(7);
    let mut level = 0.0;
    let start = NaiveDate::from_ymd_opt(2015, 1, 5).unwrap().and_hms_opt(0, 0, 0).unwrap();
    for d in 0..days {
        level = 0.8 * level + noise.next();
        for h in 0..24 {
            let load = 40_000.0 + 8_000.0 * ((h as f64 - 6.0) / 24.0 * std::f64::consts::TAU).sin()
                - if (d % 7) >= 5 { 3_000.0 } else { 0.0 }
                + 500.0 * noise.next();
            let wind = 3_000.0 + 1_000.0 * noise.next();
            let mut price = 5.0 + 0.0008 * load - 0.001 * wind + level + 0.3 * noise.next();
            if bump_from_day.is_some_and(|b| d >= b) {
                price += 500.0;
            }
            let t = start + Duration::hours((d * 24 + h) as i64);
            writeln!(f, "{},{price:.3},{load:.1},{wind:.1}", t.format("%Y-%m-%d %H:%M:%S")).unwrap();
        }
    }
    path
}

/// An ERCOT-format file for two points over a stretch without clock changes: the real-time
/// price follows the day-ahead one plus a persistent spread.
fn ercot_csv(dir: &Path, name: &str, days: usize, change_after: Option<(NaiveDate, u32)>) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp").unwrap();
    let mut noise = Noise(11);
    let mut spread = 0.0;
    let first = NaiveDate::from_ymd_opt(2024, 4, 1).unwrap();
    for d in 0..days {
        let date = first + Duration::days(d as i64);
        for he in 1..=24u32 {
            let dam = 30.0 + 15.0 * ((he as f64 - 8.0) / 24.0 * std::f64::consts::TAU).sin() + 3.0 * noise.next();
            spread = 0.9 * spread + 6.0 * noise.next();
            let mut rtm = dam + spread;
            let mut dam_out = dam;
            if let Some((cut_date, cut_he)) = change_after {
                // Real-time prices after the cut; day-ahead prices from the next delivery day on.
                if (date, he) > (cut_date, cut_he) {
                    rtm += 1_000.0;
                }
                if date > cut_date {
                    dam_out += 1_000.0;
                }
            }
            for (point, offset) in [("HB_WEST", 0.0), ("HB_NORTH", 2.0)] {
                writeln!(f, "{date},{he},{point},{:.3},{:.3}", dam_out + offset, rtm + offset).unwrap();
            }
        }
    }
    path
}

fn forecasts(out: &Path) -> DataFrame {
    let file = std::fs::File::open(out.join("forecasts.parquet")).unwrap();
    ParquetReader::new(file)
        .finish()
        .unwrap()
        .sort(["forecast_time", "target_time", "model_id", "output_type_id"], SortMultipleOptions::default())
        .unwrap()
}

fn issued_until(df: &DataFrame, cut_us: i64) -> DataFrame {
    df.clone().lazy().filter(col("forecast_time").cast(DataType::Int64).lt_eq(lit(cut_us))).collect().unwrap()
}

/// Lower quantile ≤ median ≤ upper quantile for every (issue, target, model).
fn assert_quantiles_never_cross(df: &DataFrame) {
    let q = df
        .clone()
        .lazy()
        .filter(col("output_type").eq(lit("quantile")))
        .group_by([col("forecast_time"), col("target_time"), col("model_id")])
        .agg([
            col("value").filter(col("output_type_id").eq(lit(0.1))).first().alias("q10"),
            col("value").filter(col("output_type_id").eq(lit(0.5))).first().alias("q50"),
            col("value").filter(col("output_type_id").eq(lit(0.9))).first().alias("q90"),
        ])
        .filter(col("q10").gt(col("q50")).or(col("q50").gt(col("q90"))))
        .collect()
        .unwrap();
    assert_eq!(q.height(), 0, "crossing quantiles: {q}");
}

#[test]
fn day_ahead_forecasts_ignore_prices_after_their_issue_and_lear_beats_the_naive() {
    let dir = tempfile::tempdir().unwrap();
    let cut_day = 150;
    let run = |input: PathBuf, out: &str| {
        let mut cfg = DayAheadConfig::new(input, 16_440 + 120, dir.path().join(out)); // 2015-01-05 + 120 d
        cfg.windows = vec![56, 84];
        cfg.band_days = 14;
        cfg.recalibrate_every = 3;
        cfg.threads = 2;
        // With and without the trend, so the no-look-ahead check covers the trend's filter too.
        cfg.trends = vec![Trend::None, Trend::HodrickPrescott { lambda: 1e6 }];
        // Two small perceptrons, fitted at the walk's first day and fine-tuned every 5 days.
        // Dropout draws its masks from each fit's own generator: two members on two threads
        // still give the same forecasts in both runs.
        let config = DnnConfig {
            hidden: vec![16],
            valid_days: 14,
            max_epochs: 30,
            finetune_epochs: 3,
            dropout: 0.1,
            ..DnnConfig::default()
        };
        // Alternating origins: member 0 measures its prices from day D-1's level, member 1 from
        // zero, so the no-look-ahead check covers both.
        // A weight other than the default's: the ensemble below is checked against it.
        cfg.dnn =
            Some(DnnWalk { config, members: 2, every: 5, origins: MemberOrigins::Alternate, ensemble_weight: 0.25 });
        let last = std::sync::Mutex::new((0, 0));
        let report = evaluate_day_ahead(&cfg, &|done, total| *last.lock().unwrap() = (done, total)).unwrap();
        // LEAR's 22 recalibrations of the 64 walked days, then 2 x 13 perceptron fits.
        assert_eq!(*last.lock().unwrap(), (22 + 26, 22 + 26));
        (report, forecasts(&cfg.out))
    };
    let (report, base) = run(epftoolbox_csv(dir.path(), 170, None), "base");
    let (_, changed) = run(epftoolbox_csv(dir.path(), 170, Some(cut_day)), "changed");
    assert_eq!(report.test_days, 50);
    // Day `cut_day` is forecast at its midnight from prices up to the day before.
    let cut_us = (16_440 + cut_day as i64) * 86_400_000_000;
    let (a, b) = (issued_until(&base, cut_us), issued_until(&changed, cut_us));
    // Naive x 3, LEAR of two windows with and without the trend, their
    // mean, the perceptrons' mean and its two members, and the ensemble.
    assert_eq!(a.height(), 31 * 24 * 4 * 12, "31 issue days x 24 h x (mean + 3 quantiles) x 12 models");
    let ids: Vec<&str> = report.windows.iter().map(|w| w.model_id.as_str()).collect();
    assert_eq!(ids, ["lear_56", "lear_84", "lear_56_hp1e6", "lear_84_hp1e6"]);
    assert!(ids.iter().all(|m| report.models.contains_key(*m)));
    assert!(a.equals_missing(&b), "a forecast issued before the change moved");
    assert!(!base.equals_missing(&changed), "the change is visible after the cut");
    assert_quantiles_never_cross(&base);
    let mae = |m: &str| report.models[m].scores.mae;
    assert!(mae("lear") < 0.8 * mae("naive_daily"), "LEAR {} vs naive {}", mae("lear"), mae("naive_daily"));
    assert!((report.models["seasonal_naive_weekly"].rmae - 1.0).abs() < 1e-12);
    assert!(mae("dnn") < 0.8 * mae("naive_daily"), "dnn {} vs naive {}", mae("dnn"), mae("naive_daily"));
    // ensemble_lear_dnn is 0.25 x dnn + 0.75 x lear, hour by hour.
    let means = |m: &str| -> Vec<f64> {
        let rows = base.clone().lazy().filter(col("model_id").eq(lit(m)).and(col("output_type").eq(lit("mean"))));
        let values = rows.collect().unwrap().column("value").unwrap().f64().unwrap().clone();
        values.into_no_null_iter().collect()
    };
    let (lear, dnn, ensemble) = (means("lear"), means("dnn"), means("ensemble_lear_dnn"));
    assert_eq!([lear.len(), dnn.len(), ensemble.len()], [50 * 24; 3]);
    for ((l, d), e) in lear.iter().zip(&dnn).zip(&ensemble) {
        assert!((0.25 * d + 0.75 * l - e).abs() < 1e-9, "ensemble {e} from lear {l} and dnn {d}");
    }
    // Each member is written too, and `dnn` is their mean.
    let (first, second) = (means("dnn_0"), means("dnn_1"));
    assert!(!report.models.contains_key("dnn_2"));
    for ((a, b), d) in first.iter().zip(&second).zip(&dnn) {
        assert!(((a + b) / 2.0 - d).abs() < 1e-9, "dnn {d} from members {a} and {b}");
    }
    assert_eq!(first.len(), dnn.len());
    assert_ne!(first, second);
    let dnn = report.dnn.as_ref().unwrap();
    assert!(dnn.fits.iter().all(|m| m.len() == 13 && m[1..].iter().all(|f| f.epochs_run <= 3)));
    assert_ne!(dnn.fits[0], dnn.fits[1], "two seeds, two networks");
}

#[test]
fn real_time_forecasts_use_only_what_was_published_at_issue() {
    let dir = tempfile::tempdir().unwrap();
    let cut = (NaiveDate::from_ymd_opt(2024, 5, 20).unwrap(), 10); // hour ending 10 Central
    let run = |input: PathBuf, out: &str| {
        let mut cfg = RealTimeConfig::new(
            input,
            "HB_WEST".into(),
            NaiveDate::from_ymd_opt(2024, 5, 15).unwrap(),
            dir.path().join(out),
        );
        cfg.test_end = Some(NaiveDate::from_ymd_opt(2024, 5, 24).unwrap());
        cfg.band_days = 3;
        cfg.threads = 2;
        // A small LSTM: trained on the hours before the walk, the same seed in both runs.
        cfg.lstm = Some(hcp_training::lstm::LstmConfig {
            window: 24,
            hidden: 8,
            batch: 32,
            max_epochs: 2,
            valid_days: 5,
            ..Default::default()
        });
        // Fine-tuned at the second recalibration: on hours before it only.
        cfg.lstm_finetune_epochs = 1;
        let mut epochs = 0;
        let report =
            evaluate_real_time(&cfg, &|_, _| {}, &mut |p| epochs += usize::from(p.valid_loss.is_some())).unwrap();
        let finetuned: usize = report.lstm_finetunes.iter().map(|f| f.fit.epochs_run).sum();
        assert_eq!(epochs, report.lstm_training.as_ref().unwrap().fit.epochs_run + finetuned);
        assert_eq!(report.lstm_finetunes.len(), report.recalibrations - 1);
        assert!(cfg.out.join("lstm_rt/model.safetensors").exists());
        (report, forecasts(&cfg.out))
    };
    let (report, base) = run(ercot_csv(dir.path(), "base.csv", 60, None), "base");
    let (_, changed) = run(ercot_csv(dir.path(), "changed.csv", 60, Some(cut)), "changed");
    // Hour ending 10 CDT on 2024-05-20 ends at 15:00 UTC: issues up to then know none of the
    // changed real-time prices; the day-ahead prices of May 21 appear at 13:30 CDT on May 20.
    let cut_us =
        NaiveDate::from_ymd_opt(2024, 5, 20).unwrap().and_hms_opt(15, 0, 0).unwrap().and_utc().timestamp_micros();
    let (a, b) = (issued_until(&base, cut_us), issued_until(&changed, cut_us));
    assert!(a.height() > 0);
    assert!(a.equals_missing(&b), "a forecast issued before the change moved");
    assert!(!base.equals_missing(&changed), "the change is visible after the cut");
    assert_quantiles_never_cross(&base);
    assert_eq!(report.issues, 10 * 24);
    let m = &report.models;
    // The spread persists for hours: lear_rt reads it off the last real-time hours.
    for h in 0..3 {
        let (lear, dam) = (m["lear_rt"].mae_by_horizon[h], m["dam_latest"].mae_by_horizon[h]);
        assert!(lear < 0.9 * dam, "horizon {}: lear_rt {lear} vs dam_latest {dam}", h + 1);
    }
    assert!(m["persistence"].mae_by_horizon[0] < m["persistence"].mae_by_horizon[23]);
    // The LSTM and the ensemble are scored on the same pairs as the rest.
    for id in ["lstm_rt", "ensemble_lear_lstm"] {
        assert_eq!(m[id].scores.n, m["lear_rt"].scores.n, "{id}");
        assert!(m[id].scores.mae.is_finite() && m[id].scores.coverage_80 > 0.0, "{id}");
    }
}

#[test]
fn bad_price_input_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let ercot = ercot_csv(dir.path(), "e.csv", 60, None);
    let cfg = RealTimeConfig::new(
        ercot.clone(),
        "HB_NOWHERE".into(),
        NaiveDate::from_ymd_opt(2024, 5, 15).unwrap(),
        dir.path().join("o"),
    );
    let err = evaluate_real_time(&cfg, &|_, _| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("HB_NOWHERE") && err.contains("HB_NORTH, HB_WEST"), "{err}");

    let early = RealTimeConfig::new(
        ercot,
        "HB_WEST".into(),
        NaiveDate::from_ymd_opt(2024, 4, 10).unwrap(),
        dir.path().join("o"),
    );
    let err = evaluate_real_time(&early, &|_, _| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("too little history"), "{err}");
    let mut reversed = early.clone();
    reversed.test_end = NaiveDate::from_ymd_opt(2024, 4, 9);
    let err = evaluate_real_time(&reversed, &|_, _| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("--test-end 2024-04-09 is before --test-start 2024-04-10"), "{err}");

    // A missing hour in a benchmark file names the hour.
    let np = epftoolbox_csv(dir.path(), 60, None);
    let text = std::fs::read_to_string(&np).unwrap();
    let gap: String = text.lines().enumerate().filter(|(i, _)| *i != 30).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&np, gap).unwrap();
    let err = evaluate_day_ahead(&DayAheadConfig::new(np, 16_440 + 50, dir.path().join("d")), &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("2015-01-06T05:00:00Z is missing"), "{err}");
    assert!(!dir.path().join("d").exists(), "nothing written on error");

    // The perceptron's settings are refused by name before any model is fitted.
    let mut cfg = DayAheadConfig::new(epftoolbox_csv(dir.path(), 60, None), 16_440 + 50, dir.path().join("n"));
    // So is a LEAR window too short to fit in (it was refused only once its fit began).
    cfg.windows = vec![56, 20];
    let err = evaluate_day_ahead(&cfg, &|_, _| panic!("nothing is fitted")).unwrap_err().to_string();
    assert!(err.contains("--windows 20: a LEAR calibrates on at least 21 days"), "{err}");
    cfg.windows = DayAheadConfig::new(dir.path().join("x"), 0, dir.path().join("y")).windows;
    cfg.dnn = Some(DnnWalk { members: 0, ..DnnWalk::default() });
    let err = evaluate_day_ahead(&cfg, &|_, _| panic!("nothing is fitted")).unwrap_err().to_string();
    assert!(err.contains("--dnn-members"), "{err}");
    cfg.dnn = Some(DnnWalk { config: DnnConfig { learning_rate: -1.0, ..DnnConfig::default() }, ..DnnWalk::default() });
    let err = evaluate_day_ahead(&cfg, &|_, _| panic!("nothing is fitted")).unwrap_err().to_string();
    assert!(err.contains("--dnn-learning-rate -1"), "{err}");
    for weight in [-0.1, 1.5, f64::NAN] {
        cfg.dnn = Some(DnnWalk { ensemble_weight: weight, ..DnnWalk::default() });
        let err = evaluate_day_ahead(&cfg, &|_, _| panic!("nothing is fitted")).unwrap_err().to_string();
        assert!(err.contains("--dnn-ensemble-weight") && err.contains("between 0 and 1"), "{err}");
    }
    // So is a LEAR model listed twice (its forecasts would share one model id).
    cfg.dnn = None;
    cfg.trends = vec![Trend::None, Trend::HodrickPrescott { lambda: 1e6 }, Trend::HodrickPrescott { lambda: 1e6 }];
    let err = evaluate_day_ahead(&cfg, &|_, _| panic!("nothing is fitted")).unwrap_err().to_string();
    assert!(err.contains("--lear-trends lists hp:1e6 twice"), "{err}");
    cfg.trends = vec![Trend::None];
    cfg.windows = vec![56, 84, 56];
    let err = evaluate_day_ahead(&cfg, &|_, _| panic!("nothing is fitted")).unwrap_err().to_string();
    assert!(err.contains("--windows lists 56 twice"), "{err}");
    assert!(!dir.path().join("n").exists(), "nothing written on error");
}

/// `--holidays` gives LEAR the market's calendar: NP's file reads Norway's, and a LEAR that sees
/// it learns what the weekdays and the load forecast cannot tell.
#[test]
fn holidays_are_read_from_the_markets_calendar() {
    let dir = tempfile::tempdir().unwrap();
    // 170 days from Monday 2015-01-05; prices 6 lower on Norway's holidays (Easter, 1, 14 and
    // 25 May 2015) than the load says.
    let file = epftoolbox_csv(dir.path(), 170, None);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines = text.lines();
    let mut discounted = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (time, rest) = line.split_once(',').unwrap();
        let (price, exogenous) = rest.split_once(',').unwrap();
        let date = NaiveDate::parse_from_str(&time[..10], "%Y-%m-%d").unwrap();
        let off = if hcp_datasets::holidays::Holidays::Norway.contains(date) { 6.0 } else { 0.0 };
        discounted.push_str(&format!("{time},{:.3},{exogenous}\n", price.parse::<f64>().unwrap() - off));
    }
    std::fs::write(&file, discounted).unwrap();
    let run = |holidays: bool, out: &str| {
        let mut cfg = DayAheadConfig::new(file.clone(), 16_440 + 110, dir.path().join(out));
        (cfg.windows, cfg.trends, cfg.recalibrate_every, cfg.band_days, cfg.holidays) =
            (vec![1092], vec![Trend::None], 7, 7, holidays);
        evaluate_day_ahead(&cfg, &|_, _| {}).unwrap()
    };
    let (with, without) = (run(true, "with"), run(false, "without"));
    assert_eq!(with.holidays, Some("norway"));
    assert_eq!(without.holidays, None);
    let json = std::fs::read_to_string(dir.path().join("with/metrics.json")).unwrap();
    assert!(json.contains(r#""holidays":"norway""#) || json.contains(r#""holidays": "norway""#), "{json}");
    // Scored on the test's holidays (1, 14 and 25 May) and every other day alike: the calendar
    // must win overall (0.70 against 0.80 when written).
    let (a, b) = (with.models["lear"].scores.mae, without.models["lear"].scores.mae);
    assert!(a < b, "LEAR's MAE with the calendar {a}, without {b}");
}
