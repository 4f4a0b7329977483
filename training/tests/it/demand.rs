//! The demand protocol: forecasts issued before a change in the data do not move (the LSTM's
//! too), the fitted models learn a weekly market, pods become the hourly series exactly, bad
//! files are named.

use std::io::Write;
use std::path::{Path, PathBuf};

use hcp_datasets::rows::JobRow;
use hcp_training::demand::{DemandConfig, evaluate_demand, pods_series, read_demand};
use polars::prelude::*;

fn spot_csv(dir: &Path, name: &str, hours: usize, bump_from: Option<usize>) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "hour,gpus_requested_active,jobs_running,jobs_submitted,gpus_submitted,flag_trace_edge").unwrap();
    let mut state = 3u64;
    for t in 0..hours {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let noise = ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
        let daily = 300.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
        let weekly = if (t / 24) % 7 >= 5 { -800.0 } else { 0.0 };
        let mut active = 5_000.0 + 0.5 * t as f64 + daily + weekly + 100.0 * noise;
        if bump_from.is_some_and(|b| t >= b) {
            active += 3_000.0;
        }
        writeln!(f, "{t},{active:.2},100,10,{:.1},0", 50.0 + 40.0 * noise).unwrap();
    }
    path
}

fn forecasts(out: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(out.join("forecasts.parquet")).unwrap())
        .finish()
        .unwrap()
        .sort(["forecast_time", "target_time", "model_id", "output_type_id"], SortMultipleOptions::default())
        .unwrap()
}

#[test]
fn demand_forecasts_ignore_later_hours_and_learn_the_weekly_shape() {
    let dir = tempfile::tempdir().unwrap();
    let cut = 1_104; // an issue hour (day 46)
    let run = |input: PathBuf, out: &str| {
        let mut cfg = DemandConfig::new(input, 1_008 * 3600, dir.path().join(out));
        cfg.band_days = 7;
        cfg.threads = 2;
        cfg.lstm = Some(hcp_lstm::LstmConfig {
            window: 48,
            hidden: 8,
            batch: 32,
            learning_rate: 1e-2,
            max_epochs: 20,
            patience: 4,
            valid_days: 10,
            ..Default::default()
        });
        let mut epochs = 0;
        let report = evaluate_demand(&cfg, &|_, _| {}, &mut |p| epochs += usize::from(p.valid_loss.is_some())).unwrap();
        assert_eq!(epochs, report.lstm_training.as_ref().unwrap().fit.epochs_run);
        (report, forecasts(&cfg.out))
    };
    let (report, base) = run(spot_csv(dir.path(), "a.csv", 1_500, None), "a");
    let (_, changed) = run(spot_csv(dir.path(), "b.csv", 1_500, Some(cut)), "b");
    let until = |df: &DataFrame| {
        df.clone()
            .lazy()
            .filter(col("forecast_time").cast(DataType::Int64).lt_eq(lit(cut as i64 * 3_600_000_000)))
            .collect()
            .unwrap()
    };
    let (a, b) = (until(&base), until(&changed));
    assert_eq!(a.height(), 5 * 168 * 5 * 4, "issues at hours 1008..=1104 by day, 168 h, 5 models, mean + 3 quantiles");
    assert!(a.equals_missing(&b), "a forecast issued before the change moved");
    assert!(!base.equals_missing(&changed));
    let mae = |m: &str| report.models[m].scores.mae;
    eprintln!("{}", report.markdown());
    // The LSTM starts from persistence fading into the weekly naive forecast, which costs it its
    // first day on this trending series (persistence scores 5 times the naive's error here).
    for (m, bar) in [("lear_demand", 0.8), ("lstm_demand", 0.9)] {
        assert!(mae(m) < bar * mae("seasonal_naive_weekly"), "{m} {} vs {}", mae(m), mae("seasonal_naive_weekly"));
    }
    // lstm_demand's rows are there, and its model was saved.
    let q = base.clone().lazy().filter(col("model_id").eq(lit("lstm_demand"))).collect().unwrap();
    assert_eq!(q.height(), base.height() / 5);
    let (_, saved) = hcp_models::forecast::demand_lstm::DemandLstm::load(&dir.path().join("a/lstm_demand")).unwrap();
    assert_eq!(saved.kind, "demand_lstm");
}

#[test]
fn pods_become_gpu_hours_held_and_arrivals() {
    let pod = |created_s: i64, deleted_s: Option<i64>, num_gpu: i32, gpu_milli: i32| JobRow {
        job_id: format!("p{created_s}"),
        num_gpu,
        gpu_milli,
        creation_time_us: Some(created_s * 1_000_000),
        deletion_time_us: deleted_s.map(|s| s * 1_000_000),
        ..JobRow::default()
    };
    // Predates the trace (created at 0), half a GPU for 1.5 h; two whole GPUs from 1:30 to the
    // end (still running); a CPU-only pod. The series ends in the hour of the last creation.
    let series = pods_series(&[pod(0, Some(5_400), 1, 500), pod(5_400, None, 2, 1000), pod(9_000, Some(9_500), 0, 0)]);
    assert_eq!(series[0].name, "gpus_held");
    assert_eq!(series[0].values, vec![0.5, 0.25 + 1.0, 2.0]);
    assert_eq!(series[1].values, vec![0.0, 2.0, 0.0]);
}

#[test]
fn bad_demand_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = spot_csv(dir.path(), "s.csv", 50, None);
    let text = std::fs::read_to_string(&path).unwrap().replace("\n7,", "\n8,");
    std::fs::write(&path, text).unwrap();
    let err = read_demand(&path, None).unwrap_err().to_string();
    assert!(err.contains("s.csv:9: hour 8 where 7 was expected"), "{err}");
    let negative = spot_csv(dir.path(), "n.csv", 50, None);
    let text = std::fs::read_to_string(&negative).unwrap();
    let line: &str = text.lines().nth(12).unwrap();
    let fields: Vec<&str> = line.split(',').collect();
    std::fs::write(&negative, text.replace(line, &format!("11,{},100,10,-3,0", fields[1]))).unwrap();
    let err = read_demand(&negative, None).unwrap_err().to_string();
    assert!(err.contains("n.csv:13: gpus_submitted `-3` is negative"), "{err}");
    let ok = spot_csv(dir.path(), "t.csv", 50, None);
    let err = read_demand(&ok, Some("gpus_held")).unwrap_err().to_string();
    assert!(err.contains("gpus_requested_active, gpus_submitted"), "{err}");
    std::fs::write(dir.path().join("u.csv"), "a,b\n1,2\n").unwrap();
    let err = read_demand(&dir.path().join("u.csv"), None).unwrap_err().to_string();
    assert!(err.contains("not a demand file"), "{err}");

    // A test period that ends before it starts, or starts after the last whole week.
    let long = spot_csv(dir.path(), "l.csv", 24 * 60, None);
    let mut cfg = DemandConfig::new(long, 1_008 * 3600, dir.path().join("o"));
    cfg.test_end_s = Some(900 * 3600);
    let err = evaluate_demand(&cfg, &|_, _| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("--test-end 3240000 s is before --test-start 3628800 s"), "{err}");
    cfg.test_end_s = None;
    cfg.test_start_s = 1_400 * 3600;
    let err = evaluate_demand(&cfg, &|_, _| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("leaves no issue") && err.contains("the last issue with a whole week after it is at hour 1272"),
        "{err}"
    );
    assert!(!dir.path().join("o").exists(), "nothing written on error");
}
