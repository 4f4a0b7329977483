//! Every canonical schema round-trips through Parquet: random batches in, the same rows out.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use hcp_datasets::{PartitionKey, ReadOptions, Table, WriteOptions, read_table, write_table};
use proptest::prelude::*;

use crate::support::{files_below, row_strings};

/// A random cell value, wide enough for every column type.
#[derive(Debug, Clone)]
struct Cell {
    null: bool,
    int: i64,
    float: f64,
    text: String,
}

fn cell() -> impl Strategy<Value = Cell> {
    (
        any::<bool>(),
        any::<i64>(),
        prop_oneof![-1e6f64..1e6, Just(0.0), Just(-0.0), Just(f64::MAX), Just(f64::MIN_POSITIVE)],
        "\\PC{0,12}",
    )
        .prop_map(|(null, int, float, text)| Cell { null, int, float, text })
}

/// Timestamps from 1900 to 2100, in microseconds.
const TS_RANGE: i64 = 6_311_347_200_000_000;

fn partition_columns(table: Table) -> Vec<&'static str> {
    table
        .partition_keys()
        .iter()
        .filter_map(|k| match k {
            PartitionKey::Column(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// The column made unique per row so that keys never collide: the time column when it is part
/// of the key, otherwise the last key column.
fn unique_column(table: Table) -> &'static str {
    let keys = table.key_columns();
    match table.time_column() {
        Some(t) if keys.contains(&t) => t,
        _ => keys[keys.len() - 1],
    }
}

fn build_batch(table: Table, rows: &[Vec<Cell>]) -> RecordBatch {
    let schema = table.schema();
    let partitions = partition_columns(table);
    let unique = unique_column(table);
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let cells = rows.iter().map(|r| &r[j]);
            let nullable = f.is_nullable();
            let name = f.name().as_str();
            let is_unique = name == unique;
            // Forecast rows must also meet the forecast contract: means, no quantile level.
            if table == Table::Forecasts && name == "output_type" {
                return Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "mean"))) as ArrayRef;
            }
            if table == Table::Forecasts && name == "output_type_id" {
                return arrow::array::new_null_array(&DataType::Float64, rows.len());
            }
            let array: ArrayRef = match f.data_type() {
                DataType::Utf8 if partitions.contains(&name) => Arc::new(StringArray::from_iter_values(
                    cells.map(|c| ["a", "b-2", "c_3.x"][c.int.unsigned_abs() as usize % 3]),
                )),
                DataType::Utf8 => Arc::new(
                    cells
                        .enumerate()
                        .map(|(i, c)| {
                            if is_unique {
                                Some(format!("{i}:{}", c.text))
                            } else {
                                (!(nullable && c.null)).then(|| c.text.clone())
                            }
                        })
                        .collect::<StringArray>(),
                ),
                DataType::Timestamp(TimeUnit::Microsecond, _) => Arc::new(
                    cells
                        .enumerate()
                        .map(|(i, c)| {
                            let t = c.int.rem_euclid(TS_RANGE) - TS_RANGE / 2;
                            if is_unique {
                                Some((t / 1_000_000) * 1_000_000 + i as i64)
                            } else {
                                (!(nullable && c.null)).then_some(t)
                            }
                        })
                        .collect::<TimestampMicrosecondArray>()
                        .with_timezone("UTC"),
                ),
                DataType::Int64 => {
                    Arc::new(cells.map(|c| (!(nullable && c.null)).then_some(c.int)).collect::<Int64Array>())
                }
                DataType::Int32 => {
                    Arc::new(cells.map(|c| (!(nullable && c.null)).then_some(c.int as i32)).collect::<Int32Array>())
                }
                DataType::Float64 => {
                    Arc::new(cells.map(|c| (!(nullable && c.null)).then_some(c.float)).collect::<Float64Array>())
                }
                DataType::Boolean => Arc::new(
                    cells.map(|c| Some(c.int % 2 == 0).filter(|_| !(nullable && c.null))).collect::<BooleanArray>(),
                ),
                other => panic!("no generator for {other}"),
            };
            array
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn table_and_rows() -> impl Strategy<Value = (Table, Vec<Vec<Cell>>, usize)> {
    (0..Table::ALL.len()).prop_flat_map(|t| {
        let table = Table::ALL[t];
        let width = table.schema().fields().len();
        (Just(table), prop::collection::vec(prop::collection::vec(cell(), width), 1..60), 1usize..40)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_table_round_trips_through_parquet((table, rows, row_group) in table_and_rows()) {
        let dir = tempfile::tempdir().unwrap();
        let batch = build_batch(table, &rows);
        let mut opts = WriteOptions::new("prop", "proptest");
        opts.max_row_group_rows = row_group;
        let written = write_table(dir.path(), table, &batch, &opts).unwrap();
        prop_assert_eq!(written.iter().map(|w| w.rows).sum::<usize>(), batch.num_rows());
        let (back, stats) = read_table(dir.path(), table, &ReadOptions::default()).unwrap();
        prop_assert_eq!(back.schema(), table.schema());
        prop_assert_eq!(stats.files, written.len());
        prop_assert_eq!(row_strings(&back), row_strings(&batch));
    }
}

/// Zero rows per row group is refused before any file is written (it was written as one).
#[test]
fn zero_rows_per_row_group_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let width = Table::Prices.schema().fields().len();
    let rows = vec![vec![Cell { null: false, int: 0, float: 1.0, text: "t".into() }; width]];
    let mut opts = WriteOptions::new("zero", "test");
    opts.max_row_group_rows = 0;
    let err = write_table(dir.path(), Table::Prices, &build_batch(Table::Prices, &rows), &opts).unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: rows per row group: 0; at least 1");
    assert_eq!(files_below(dir.path()), Vec::<std::path::PathBuf>::new());
}

#[test]
fn rewriting_with_the_same_run_id_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<Cell>> = (0..10)
        .map(|i| {
            (0..Table::Prices.schema().fields().len())
                .map(|j| Cell {
                    null: false,
                    int: i * 3_600_000_000 + j as i64,
                    float: i as f64,
                    text: format!("t{i}"),
                })
                .collect()
        })
        .collect();
    let batch = build_batch(Table::Prices, &rows);
    let opts = WriteOptions::new("same", "test");
    let first = write_table(dir.path(), Table::Prices, &batch, &opts).unwrap();
    let bytes: Vec<Vec<u8>> = first.iter().map(|w| std::fs::read(&w.path).unwrap()).collect();
    let second = write_table(dir.path(), Table::Prices, &batch, &opts).unwrap();
    assert_eq!(first, second);
    for (w, b) in second.iter().zip(bytes) {
        assert_eq!(std::fs::read(&w.path).unwrap(), b, "{} changed", w.path.display());
    }
    let (back, _) = read_table(dir.path(), Table::Prices, &ReadOptions::default()).unwrap();
    assert_eq!(back.num_rows(), 10, "a re-run must not duplicate rows");
}
