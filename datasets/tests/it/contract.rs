//! The forecast contract: quantiles never cross, levels and output types are valid.

use std::sync::Arc;

use hcp_datasets::rows::{ForecastRow, forecasts_batch};
use hcp_datasets::{ReadOptions, Table, WriteOptions, read_table, write_table};
use proptest::prelude::*;

use crate::support::files_below;

const ISSUE: i64 = 1_719_792_000_000_000; // 2024-07-01T00:00:00Z
const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];

fn forecast(horizon_h: i64, quantile: Option<f64>, value: f64) -> ForecastRow {
    ForecastRow {
        forecast_time_us: ISSUE,
        target_time_us: ISSUE + horizon_h * 3_600_000_000,
        target: Arc::from("rtm_price_per_mwh"),
        node: Arc::from("HB_WEST"),
        model_id: Arc::from("lstm"),
        model_version: Arc::from("v1"),
        run_id: Arc::from("r1"),
        quantile,
        value,
    }
}

/// Rows for `values.len()` horizons, each with three quantiles from sorted offsets and a mean.
fn forecasts(values: &[(f64, [f64; 3])]) -> Vec<ForecastRow> {
    let mut rows = Vec::new();
    for (h, (mean, qs)) in values.iter().enumerate() {
        rows.push(forecast(h as i64 + 1, None, *mean));
        for (level, q) in LEVELS.iter().zip(qs) {
            rows.push(forecast(h as i64 + 1, Some(*level), *q));
        }
    }
    rows
}

fn sorted3() -> impl Strategy<Value = [f64; 3]> {
    prop::array::uniform3(-500.0f64..3000.0).prop_map(|mut a| {
        a.sort_by(f64::total_cmp);
        a
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn non_crossing_quantiles_are_written_and_read_back(values in prop::collection::vec((-100.0f64..100.0, sorted3()), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = forecasts(&values);
        rows.reverse(); // the writer sorts
        write_table(dir.path(), Table::Forecasts, &forecasts_batch(&rows), &WriteOptions::new("r1", "t")).unwrap();
        let (back, _) = read_table(dir.path(), Table::Forecasts, &ReadOptions::default()).unwrap();
        prop_assert_eq!(back.num_rows(), values.len() * 4);
    }

    #[test]
    fn crossing_quantiles_are_refused_and_nothing_is_written(
        values in prop::collection::vec((-100.0f64..100.0, sorted3()), 1..30),
        which in any::<prop::sample::Index>(),
        gap in 0.01f64..100.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut values = values;
        let h = which.index(values.len());
        // Push the 0.1 quantile above the 0.5 quantile.
        values[h].1[0] = values[h].1[1] + gap;
        let err = write_table(dir.path(), Table::Forecasts, &forecasts_batch(&forecasts(&values)), &WriteOptions::new("r1", "t"))
            .unwrap_err()
            .to_string();
        prop_assert!(err.contains("quantiles cross"), "{}", err);
        prop_assert!(files_below(dir.path()).is_empty());
    }
}

#[test]
fn invalid_levels_and_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (rows, expected) in [
        (vec![forecast(1, Some(1.5), 1.0)], "output_type_id in (0, 1)"),
        (vec![forecast(1, None, f64::NAN)], "not finite"),
    ] {
        let err = write_table(dir.path(), Table::Forecasts, &forecasts_batch(&rows), &WriteOptions::new("r1", "t"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected) && err.contains("rtm_price_per_mwh at HB_WEST"), "{err}");
    }
}
