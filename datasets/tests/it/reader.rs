//! Reading back: projection, time-range pruning by row-group statistics, schema checks.

use std::fs::File;
use std::sync::Arc;

use arrow::array::{Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use hcp_datasets::rows::{PriceRow, prices_batch};
use hcp_datasets::time::MICROS_PER_HOUR;
use hcp_datasets::{Error, ReadOptions, Table, TimeRange, WriteOptions, read_table, write_table};
use parquet::arrow::ArrowWriter;

const T0: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

fn hourly(node: &str, hours: usize) -> Vec<PriceRow> {
    (0..hours)
        .map(|h| PriceRow {
            market: "ERCOT".into(),
            node: node.into(),
            interval_start_us: T0 + h as i64 * MICROS_PER_HOUR,
            interval_minutes: 60,
            currency: "USD",
            dam_price_per_mwh: Some(h as f64),
            rtm_price_per_mwh: (h % 7 != 0).then_some(-(h as f64)),
        })
        .collect()
}

fn write_prices(dir: &std::path::Path, rows: &[PriceRow], row_group: usize) {
    let mut opts = WriteOptions::new("r1", "test");
    opts.max_row_group_rows = row_group;
    write_table(dir, Table::Prices, &prices_batch(rows), &opts).unwrap();
}

#[test]
fn time_range_skips_row_groups_by_statistics() {
    let dir = tempfile::tempdir().unwrap();
    write_prices(dir.path(), &hourly("HB_WEST", 1000), 100);
    let range = TimeRange::new(T0 + 420 * MICROS_PER_HOUR, T0 + 470 * MICROS_PER_HOUR);
    let opts = ReadOptions { columns: Some(vec!["rtm_price_per_mwh".into(), "node".into()]), time_range: Some(range) };
    let (batch, stats) = read_table(dir.path(), Table::Prices, &opts).unwrap();
    assert_eq!(stats.row_groups_total, 10);
    assert_eq!(stats.row_groups_read, 1, "hours 420..470 lie in one row group of 100");
    assert_eq!(batch.num_rows(), 50);
    // Projection keeps the asked order and restores the partition column from the path.
    assert_eq!(batch.schema().field(0).name(), "rtm_price_per_mwh");
    let node = batch.column(1).as_any().downcast_ref::<StringArray>().unwrap();
    assert!(node.iter().all(|n| n == Some("HB_WEST")));
    let rtm = batch.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
    let expected: Vec<Option<f64>> = (420..470).map(|h| (h % 7 != 0).then_some(-(h as f64))).collect();
    assert_eq!(rtm.iter().collect::<Vec<_>>(), expected);
}

#[test]
fn range_boundaries_are_half_open() {
    let dir = tempfile::tempdir().unwrap();
    write_prices(dir.path(), &hourly("HB_WEST", 48), 10);
    let opts = ReadOptions {
        columns: Some(vec!["interval_start".into()]),
        time_range: Some(TimeRange::new(T0 + 10 * MICROS_PER_HOUR, T0 + 20 * MICROS_PER_HOUR)),
    };
    let (batch, _) = read_table(dir.path(), Table::Prices, &opts).unwrap();
    let t = batch.column(0).as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    assert_eq!(t.len(), 10);
    assert_eq!(t.value(0), T0 + 10 * MICROS_PER_HOUR);
    assert_eq!(t.value(9), T0 + 19 * MICROS_PER_HOUR);
}

#[test]
fn partitions_by_market_and_year() {
    let dir = tempfile::tempdir().unwrap();
    // 2024 is a leap year: 8784 hours, then 16 hours of 2025.
    write_prices(dir.path(), &hourly("HB_WEST", 8800), 65_536);
    let mut files: Vec<String> = crate::support::files_below(&dir.path().join("prices"))
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["prices/market=ERCOT/year=2024/part-r1.parquet", "prices/market=ERCOT/year=2025/part-r1.parquet"]
    );
}

#[test]
fn a_file_with_the_wrong_schema_is_refused_naming_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write_prices(dir.path(), &hourly("HB_WEST", 24), 100);
    // A foreign file where a price column is a string.
    let part = dir.path().join("prices/market=ERCOT/year=2023");
    std::fs::create_dir_all(&part).unwrap();
    let mut fields: Vec<Field> = Table::Prices.file_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[4] = Field::new("dam_price_per_mwh", DataType::Utf8, true);
    let schema = Arc::new(Schema::new(fields));
    let columns = schema.fields().iter().map(|f| arrow::array::new_empty_array(f.data_type())).collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(vec![
            parquet::file::metadata::KeyValue::new("hcp.table".into(), "prices".to_string()),
            parquet::file::metadata::KeyValue::new(
                "hcp.schema_version".into(),
                hcp_datasets::SCHEMA_VERSION.to_string(),
            ),
        ]))
        .build();
    let path = part.join("part-bad.parquet");
    let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let err = read_table(dir.path(), Table::Prices, &ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Schema { .. }), "{msg}");
    assert!(msg.contains("part-bad.parquet") && msg.contains("dam_price_per_mwh"), "{msg}");
    assert!(msg.contains("Utf8") && msg.contains("Float64"), "{msg}");
}

#[test]
fn a_file_of_another_table_or_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_prices(dir.path(), &hourly("HB_WEST", 24), 100);
    // Move the prices file under the exogenous table: its metadata says prices.
    let src = dir.path().join("prices/market=ERCOT/year=2024/part-r1.parquet");
    let dst_dir = dir.path().join("exogenous/market=ERCOT/year=2024");
    std::fs::create_dir_all(&dst_dir).unwrap();
    std::fs::copy(&src, dst_dir.join("part-r1.parquet")).unwrap();
    let msg = read_table(dir.path(), Table::Exogenous, &ReadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("file holds table `prices`"), "{msg}");
}

#[test]
fn unknown_columns_and_untimed_ranges_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_prices(dir.path(), &hourly("HB_WEST", 24), 100);
    let opts = ReadOptions { columns: Some(vec!["price_usd_per_mwh".into()]), time_range: None };
    let msg = read_table(dir.path(), Table::Prices, &opts).unwrap_err().to_string();
    assert!(msg.contains("no column `price_usd_per_mwh`") && msg.contains("rtm_price_per_mwh"), "{msg}");
    let opts = ReadOptions { columns: None, time_range: Some(TimeRange::new(0, 1)) };
    let msg = read_table(dir.path(), Table::GpuNodes, &opts).unwrap_err().to_string();
    assert!(msg.contains("no time column"), "{msg}");
}

/// A directory without the table names the datasets one level below it that hold it (`hcp
/// run`'s output for its `history/`), and says nothing more where there are none.
#[test]
fn a_missing_table_names_the_datasets_below_that_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    write_prices(&history, &hourly("HB_WEST", 24), 100);
    let msg = read_table(dir.path(), Table::Prices, &ReadOptions::default()).unwrap_err().to_string();
    let hint =
        format!("no `prices` dataset here (a dataset with one is in {}: give that directory)", history.display());
    assert!(msg.contains(&hint), "{msg}");
    let msg = read_table(&history, Table::Jobs, &ReadOptions::default()).unwrap_err().to_string();
    assert!(msg.ends_with("no `jobs` dataset here"), "{msg}");
}

#[test]
fn a_batch_with_duplicate_keys_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = hourly("HB_WEST", 5);
    rows.push(rows[2].clone());
    let err = write_table(dir.path(), Table::Prices, &prices_batch(&rows), &WriteOptions::new("d", "t")).unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
    assert!(crate::support::files_below(dir.path()).is_empty());
}

#[test]
fn a_duplicate_in_one_partition_leaves_no_file_of_another() {
    let dir = tempfile::tempdir().unwrap();
    // 2024 has 8784 hours; the duplicate is in the 2025 partition.
    let mut rows = hourly("HB_WEST", 8800);
    rows.push(rows[8790].clone());
    let err = write_table(dir.path(), Table::Prices, &prices_batch(&rows), &WriteOptions::new("d", "t")).unwrap_err();
    assert!(err.to_string().contains("year=2025"), "{err}");
    assert!(crate::support::files_below(dir.path()).is_empty(), "{:?}", crate::support::files_below(dir.path()));
}

#[test]
fn files_carry_source_run_id_schema_version_and_zstd() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let mut opts = WriteOptions::new("run-7", "unit test").with_time_basis("market_local_hour_index");
    opts.max_row_group_rows = 10;
    write_table(dir.path(), Table::Prices, &prices_batch(&hourly("HB_WEST", 25)), &opts).unwrap();
    let path = dir.path().join("prices/market=ERCOT/year=2024/part-run-7.parquet");
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    let kv: std::collections::HashMap<_, _> = meta
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv["hcp.table"], "prices");
    assert_eq!(kv["hcp.source"], "unit test");
    assert_eq!(kv["hcp.run_id"], "run-7");
    assert_eq!(kv["hcp.schema_version"], hcp_datasets::SCHEMA_VERSION.to_string());
    assert_eq!(kv["hcp.time_basis"], "market_local_hour_index");
    assert_eq!(meta.num_row_groups(), 3, "25 rows in row groups of 10");
    let compression = meta.row_group(0).column(0).compression();
    assert!(matches!(compression, parquet::basic::Compression::ZSTD(_)), "{compression:?}");
    // No temporary file is left beside the finished one.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from("part-run-7.parquet")]);
}
