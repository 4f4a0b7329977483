//! Each ingester on the real files in `../shared/data` (skipped with a message when absent).
//!
//! Expected counts are the files' data lines (`zcat FILE | wc -l` minus the header); the price
//! facts were read off the CSVs with awk.

use std::path::{Path, PathBuf};

use arrow::array::{Array, Float64Array, Int32Array, StringArray, TimestampMicrosecondArray};
use hcp_datasets::ingest::{Format, IngestOptions, IngestReport, ingest};
use hcp_datasets::time::{format_micros, parse_instant};
use hcp_datasets::{ReadOptions, Table, TimeRange, read_table};

use crate::support::shared_data;

fn run(format: Format, data: &Path, files: &[&str]) -> (tempfile::TempDir, IngestReport) {
    let out = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = files.iter().map(|f| data.join(f)).collect();
    let report = ingest(format, &inputs, &IngestOptions::new(out.path())).unwrap();
    for f in &report.files {
        assert_eq!(f.rows_read, f.rows_accepted + f.rows_rejected, "{}", f.file);
    }
    (out, report)
}

fn range(from: &str, to: &str) -> Option<TimeRange> {
    Some(TimeRange::new(parse_instant(from).unwrap(), parse_instant(to).unwrap()))
}

fn prices_of(dir: &Path, node: &str, from: &str, to: &str) -> Vec<(String, Option<f64>, Option<f64>)> {
    let opts = ReadOptions {
        columns: Some(vec![
            "node".into(),
            "interval_start".into(),
            "dam_price_per_mwh".into(),
            "rtm_price_per_mwh".into(),
        ]),
        time_range: range(from, to),
    };
    let (b, _) = read_table(dir, Table::Prices, &opts).unwrap();
    let nodes = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let t = b.column(1).as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    let dam = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    let rtm = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
    let mut out: Vec<_> = (0..b.num_rows())
        .filter(|&i| nodes.value(i) == node)
        .map(|i| {
            (
                format_micros(t.value(i)),
                (!dam.is_null(i)).then(|| dam.value(i)),
                (!rtm.is_null(i)).then(|| rtm.value(i)),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn ercot_prices_all_points_clock_changes_spike_and_negatives() {
    let Some(data) = shared_data("ercot_prices") else { return };
    let (out, report) = run(Format::Ercot, &data, &["ercot/ercot_dam_rtm_hourly_15sp.csv.gz"]);
    assert_eq!(report.files[0].rows_read, 191_850);
    assert_eq!(report.files[0].rows_rejected, 0, "{:?}", report.rejections.first());
    assert_eq!(report.tables[0].rows_written, 191_850);

    let (all, _) = read_table(out.path(), Table::Prices, &ReadOptions::default()).unwrap();
    let nodes = all.column_by_name("node").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let mut distinct: Vec<&str> = nodes.iter().flatten().collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 15, "{distinct:?}");
    let rtm = all.column_by_name("rtm_price_per_mwh").unwrap();
    assert_eq!(rtm.null_count(), 30, "the two spring-forward days' hour 3 rows carry no prices");

    // 23-hour day: hour endings 1 and 3 are consecutive UTC hours (then the file's week gap).
    let spring = prices_of(out.path(), "HB_WEST", "2024-03-10T06:00:00Z", "2024-03-17T00:00:00Z");
    assert_eq!(spring.len(), 2);
    assert_eq!(spring[0].0, "2024-03-10T06:00:00Z");
    assert_eq!(spring[1].0, "2024-03-10T07:00:00Z");
    assert_eq!(spring[0].2, Some(119.6725));
    assert_eq!(spring[1].2, None);

    // 25-hour day without a DST flag: 24 rows, the repeated hour (07:00Z) absent, not shifted.
    let fall = prices_of(out.path(), "HB_WEST", "2024-11-03T05:00:00Z", "2024-11-04T06:00:00Z");
    assert_eq!(fall.len(), 24);
    let hours: Vec<&str> = fall.iter().map(|r| &r.0[11..13]).collect();
    assert_eq!(&hours[..4], ["05", "06", "08", "09"]);
    assert_eq!(fall[0].1, Some(6.63));
    assert_eq!(fall[23].0, "2024-11-04T05:00:00Z");
    assert_eq!(fall[23].2, Some(24.6225));

    // The file's highest real-time price: LZ_AEN, 2024-08-20 hour ending 20 CDT = 00:00Z.
    let spike = prices_of(out.path(), "LZ_AEN", "2024-08-21T00:00:00Z", "2024-08-21T01:00:00Z");
    assert_eq!(spike, [("2024-08-21T00:00:00Z".to_string(), Some(666.03), Some(3120.5276))]);

    // Negative prices are kept: 1279 negative real-time hours at HB_WEST.
    let west = prices_of(out.path(), "HB_WEST", "2024-01-01", "2025-07-01");
    assert_eq!(west.iter().filter(|r| r.2.is_some_and(|p| p < 0.0)).count(), 1279);
}

#[test]
fn ercot_system_file_becomes_exogenous_series() {
    let Some(data) = shared_data("ercot_system") else { return };
    let (out, report) = run(Format::Ercot, &data, &["ercot/ercot_system_hourly_exog.csv.gz"]);
    assert_eq!(report.files[0].rows_read, 12_790);
    assert_eq!(report.files[0].rows_rejected, 0);
    assert_eq!(report.tables[0].table, "exogenous");
    assert_eq!(report.tables[0].rows_written, 12_790 * 12);
    let opts = ReadOptions {
        columns: Some(vec!["variable".into(), "value".into()]),
        time_range: range("2024-01-01T06:00:00Z", "2024-01-01T07:00:00Z"),
    };
    let (b, _) = read_table(out.path(), Table::Exogenous, &opts).unwrap();
    let vars = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let vals = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
    let wind = (0..b.num_rows()).find(|&i| vars.value(i) == "wind_gen_mw").unwrap();
    assert_eq!(vals.value(wind), 15_796.3);
    let regup = (0..b.num_rows()).find(|&i| vars.value(i) == "regup_price_usd_per_mw_h").unwrap();
    assert_eq!(vals.value(regup), 1.11);
}

#[test]
fn epftoolbox_markets_keep_the_benchmark_hour_index() {
    let Some(data) = shared_data("epftoolbox") else { return };
    let (out, report) =
        run(Format::Epftoolbox, &data, &["epftoolbox/NP.csv.gz", "epftoolbox/PJM.csv.gz", "epftoolbox/DE.csv.gz"]);
    for f in &report.files {
        assert_eq!((f.rows_read, f.rows_rejected), (34_944, 0), "{}", f.file);
    }
    let (p, _) = read_table(out.path(), Table::Prices, &ReadOptions::default()).unwrap();
    assert_eq!(p.num_rows(), 3 * 34_944);
    // 34,944 hours = 1,456 days × 24: every day has exactly 24 hours, clock changes smoothed.
    let np = prices_of(out.path(), "SYSTEM", "2013-03-31", "2013-04-01");
    assert_eq!(np.len(), 24, "NP's spring clock-change day keeps 24 hours");
    let np = prices_of(out.path(), "SYSTEM", "2013-01-01T00:00:00Z", "2013-01-01T02:00:00Z");
    assert_eq!(np[0], ("2013-01-01T00:00:00Z".to_string(), Some(31.05), None));
    assert_eq!(np[1].1, Some(30.47));
    let comed = prices_of(out.path(), "COMED", "2013-01-01T00:00:00Z", "2013-01-01T01:00:00Z");
    assert_eq!(comed[0].1, Some(25.464211));
    let de = prices_of(out.path(), "DE", "2012-01-01", "2016-02-01");
    assert!(de.iter().filter(|r| r.1.is_some_and(|p| p < 0.0)).count() > 50, "DE negative prices kept");

    let (x, _) = read_table(out.path(), Table::Exogenous, &ReadOptions::default()).unwrap();
    assert_eq!(x.num_rows(), 3 * 34_944 * 2);
    let vars = x.column_by_name("variable").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    for v in [
        "grid_load_forecast_mw",
        "wind_power_forecast_mw",
        "system_load_forecast_mw",
        "comed_load_forecast_mw",
        "load_forecast_mw",
        "wind_solar_forecast_mw",
    ] {
        assert!(vars.iter().any(|s| s == Some(v)), "{v}");
    }
}

#[test]
fn alibaba_pods_nodes_dlrm_and_genai() {
    let Some(data) = shared_data("alibaba") else { return };
    let (out, report) = run(
        Format::Alibaba,
        &data,
        &[
            "alibaba/v2023/openb_pod_list_default.csv",
            "alibaba/v2023/openb_pod_list_multigpu50.csv",
            "alibaba/v2023/openb_node_list_all_node.csv",
            "alibaba/v2025/disaggregated_DLRM_trace.csv.gz",
            "alibaba/v2026-GenAI/pod_gpu_duty_cycle_anon.tar.gz",
            "alibaba/v2026-GenAI/pod_gpu_memory_used_bytes_anon.tar.gz",
        ],
    );
    let counts: Vec<(u64, u64)> = report.files.iter().map(|f| (f.rows_read, f.rows_rejected)).collect();
    assert_eq!(
        counts,
        [(5_706, 0), (9_061, 0), (1_523, 0), (23_871, 0), (157_417, 0), (161_413, 0)],
        "{:?}",
        report.rejections.first()
    );

    let (jobs, _) = read_table(out.path(), Table::Jobs, &ReadOptions::default()).unwrap();
    assert_eq!(jobs.num_rows(), 5_706 + 9_061 + 23_871);
    let source = jobs.column_by_name("source").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let qos = jobs.column_by_name("qos").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let gpus = jobs.column_by_name("num_gpu").unwrap().as_any().downcast_ref::<Int32Array>().unwrap();
    let v2023 = (0..jobs.num_rows()).filter(|&i| source.value(i) == "alibaba_v2023_default");
    let mut classes: Vec<&str> = v2023.map(|i| qos.value(i)).collect();
    classes.sort_unstable();
    classes.dedup();
    assert_eq!(classes, ["BE", "Burstable", "Guaranteed", "LS"]);
    let hn = (0..jobs.num_rows()).filter(|&i| source.value(i) == "alibaba_v2025_dlrm" && gpus.value(i) > 0).count();
    assert_eq!(hn, 7_386, "the trace's README: 7,386 HN (GPU) instances");

    let (nodes, _) = read_table(out.path(), Table::GpuNodes, &ReadOptions::default()).unwrap();
    assert_eq!(nodes.num_rows(), 1_523);

    let (t, _) = read_table(out.path(), Table::Telemetry, &ReadOptions::default()).unwrap();
    // Duty-cycle and memory samples of one container and minute merge into one row: every
    // sample is in exactly one row, rows without a metric have it null.
    let util = t.column_by_name("utilization_ratio").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    let mem = t.column_by_name("gpu_memory_used_bytes").unwrap();
    assert_eq!(t.num_rows() - util.null_count(), 157_417);
    assert_eq!(t.num_rows() - mem.null_count(), 161_413);
    assert!(t.num_rows() >= 161_413);
    assert!(util.iter().flatten().all(|u| (0.0..=1.0).contains(&u)));
}

#[test]
fn btc_daily_stats_hashprice_and_fee_share() {
    let Some(data) = shared_data("btc") else { return };
    let (out, report) = run(
        Format::Btc,
        &data,
        &[
            "btc/tullio_2017_2019/networkstats.csv",
            "btc/blockchain_com_2009_2022/bitcoin-1year-miners-revenue.csv",
            "btc/blockchain_com_2009_2022/bitcoin-1year-miner-difficulty.csv",
            "btc/blockchain_com_2009_2022/bitcoin-all-time-hash-rate.csv",
            "btc/block_stats_fragments/block_stats_selected_ranges.csv.gz",
        ],
    );
    let counts: Vec<(u64, u64)> = report.files.iter().map(|f| (f.rows_read, f.rows_rejected)).collect();
    assert_eq!(counts, [(1_096, 0), (365, 0), (365, 0), (1_673, 0), (62_371, 0)], "{:?}", report.rejections.first());

    let opts = ReadOptions {
        columns: Some(vec![
            "source".into(),
            "hashprice_usd_per_ths_day".into(),
            "fee_share_ratio".into(),
            "blocks".into(),
        ]),
        time_range: range("2017-01-01", "2017-01-02"),
    };
    let (b, _) = read_table(out.path(), Table::BtcNetwork, &opts).unwrap();
    let src = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let hp = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
    let i = (0..b.num_rows()).find(|&i| src.value(i) == "tullio_networkstats").unwrap();
    // networkstats.csv, 2017-01-01: revenue 1970085.325 USD / hashrate 2463610.662 TH/s.
    assert!((hp.value(i) - 1_970_085.325 / 2_463_610.662).abs() < 1e-9);

    // Block statistics: fee share in 2023 is a few percent of miners' revenue.
    let opts = ReadOptions {
        columns: Some(vec!["source".into(), "fee_share_ratio".into(), "blocks".into()]),
        time_range: range("2023-03-01", "2023-03-02"),
    };
    let (b, _) = read_table(out.path(), Table::BtcNetwork, &opts).unwrap();
    let share = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
    let blocks = b.column(2).as_any().downcast_ref::<Int32Array>().unwrap();
    assert_eq!(b.num_rows(), 1);
    assert!((100..200).contains(&blocks.value(0)), "{}", blocks.value(0));
    assert!((0.005..0.2).contains(&share.value(0)), "{}", share.value(0));
}
