//! Files written by hcp are read back by polars exactly as analysts read them: hive partitions
//! restored, UTC microsecond timestamps, values intact.

use hcp_datasets::rows::{PriceRow, prices_batch};
use hcp_datasets::time::MICROS_PER_HOUR;
use hcp_datasets::{Table, WriteOptions, write_table};
use hcp_training::{price_summary, scan_table};
use polars::prelude::*;

const T0: i64 = 1_735_603_200_000_000; // 2024-12-31T00:00:00Z: the history spans two years

fn rows() -> Vec<PriceRow> {
    let mut rows = Vec::new();
    for (node, offset) in [("HB_WEST", 0.0), ("LZ_WEST", 10.0)] {
        for h in 0..48 {
            rows.push(PriceRow {
                market: "ERCOT".into(),
                node: node.into(),
                interval_start_us: T0 + h * MICROS_PER_HOUR,
                interval_minutes: 60,
                currency: "USD",
                dam_price_per_mwh: Some(h as f64),
                // h = 5 is negative, h = 40 spikes, h = 7 is missing.
                rtm_price_per_mwh: match h {
                    5 => Some(-3.0),
                    7 => None,
                    40 => Some(250.0 + offset),
                    _ => Some(20.0 + offset),
                },
            });
        }
    }
    rows
}

#[test]
fn polars_scans_the_hive_layout_with_partitions_and_utc_times() {
    let dir = tempfile::tempdir().unwrap();
    let written =
        write_table(dir.path(), Table::Prices, &prices_batch(&rows()), &WriteOptions::new("t", "test")).unwrap();
    assert_eq!(written.len(), 2, "two years, two partitions");

    let df = scan_table(dir.path(), Table::Prices)
        .unwrap()
        .sort(["node", "interval_start"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    assert_eq!(df.height(), 96);
    let market = df.column("market").unwrap().str().unwrap();
    assert!((0..market.len()).all(|i| market.get(i) == Some("ERCOT")), "market restored from market=ERCOT/");
    let year = df.column("year").unwrap().cast(&DataType::Int64).unwrap();
    assert_eq!(year.i64().unwrap().get(0), Some(2024));
    assert_eq!(year.i64().unwrap().get(47), Some(2025));
    assert_eq!(
        df.column("interval_start").unwrap().dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
    let rtm = df.column("rtm_price_per_mwh").unwrap().f64().unwrap();
    assert_eq!(rtm.get(5), Some(-3.0));
    assert_eq!(rtm.get(7), None);
    assert_eq!(rtm.get(48 + 40), Some(260.0));
}

#[test]
fn price_summary_counts_hours_negatives_and_spikes() {
    let dir = tempfile::tempdir().unwrap();
    write_table(dir.path(), Table::Prices, &prices_batch(&rows()), &WriteOptions::new("t", "test")).unwrap();
    let s = price_summary(dir.path()).unwrap();
    assert_eq!(s.len(), 2);
    let west = &s[0];
    assert_eq!((west.market.as_str(), west.node.as_str(), west.currency.as_str()), ("ERCOT", "HB_WEST", "USD"));
    assert_eq!(west.hours, 48, "the hour without a real-time price counts its day-ahead price");
    assert_eq!((west.negative_hours, west.spike_hours), (1, 1));
    assert_eq!((west.min_price, west.max_price), (-3.0, 250.0));
    // Hour 7 has no real-time price: its day-ahead price (7.0) stands in.
    let expected_mean = (45.0 * 20.0 - 3.0 + 250.0 + 7.0) / 48.0;
    assert!((west.mean_price - expected_mean).abs() < 1e-12);
    assert_eq!(west.first, "2024-12-31T00:00Z");
    assert_eq!(west.last, "2025-01-01T23:00Z");
    assert_eq!(s[1].max_price, 260.0);
}

#[test]
fn a_missing_dataset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = price_summary(dir.path()).unwrap_err().to_string();
    assert!(err.contains("no `prices` dataset"), "{err}");
}

/// Regression: polars inferred `date=YYYY-MM-DD` partitions as dates and failed ("unsupported
/// data type when reading CSV: date") on the telemetry layout.
#[test]
fn date_partitions_are_read_as_strings() {
    use hcp_datasets::rows::{TelemetryRow, telemetry_batch};
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<TelemetryRow> = (0..48)
        .map(|h| TelemetryRow {
            source: "test".into(),
            device_id: "gpu-0".into(),
            time_us: T0 + h * MICROS_PER_HOUR,
            utilization_ratio: Some(0.5),
            ..TelemetryRow::default()
        })
        .collect();
    write_table(dir.path(), Table::Telemetry, &telemetry_batch(&rows), &WriteOptions::new("t", "test")).unwrap();
    assert_eq!(hcp_training::row_count(dir.path(), Table::Telemetry).unwrap(), Some(48));
    let df = scan_table(dir.path(), Table::Telemetry).unwrap().collect().unwrap();
    let dates = df.column("date").unwrap().str().unwrap();
    assert_eq!(dates.get(0), Some("2024-12-31"));
    assert_eq!(hcp_training::row_count(dir.path(), Table::Jobs).unwrap(), None);
}

/// `hcp train price` without `--point` trains a dataset's one node, and refuses a dataset of
/// several, naming them.
#[test]
fn the_only_node_of_a_prices_table_and_several_named() {
    let dir = tempfile::tempdir().unwrap();
    write_table(dir.path(), Table::Prices, &prices_batch(&rows()), &WriteOptions::new("t", "test")).unwrap();
    let err = hcp_training::price_model::read_node(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("2 nodes (HB_WEST, LZ_WEST); say which to train with --point"), "{err}");
    let one = tempfile::tempdir().unwrap();
    let west: Vec<PriceRow> = rows().into_iter().filter(|r| &*r.node == "HB_WEST").collect();
    write_table(one.path(), Table::Prices, &prices_batch(&west), &WriteOptions::new("t", "test")).unwrap();
    assert_eq!(hcp_training::price_model::read_node(one.path(), None).unwrap().node, "HB_WEST");
}
