//! Atomic, hive-partitioned, zstd-compressed Parquet writing of canonical tables.
//!
//! A batch is split by the table's [`PartitionKey`]s into `table/key=value/.../part-<run_id>.parquet`.
//! Each file is written under a hidden temporary name in its final directory, synced, then
//! renamed into place: readers see a whole file or none. A partition is never rewritten in
//! place by another run; a re-run with the same `run_id` replaces its own file with identical
//! content, so it is idempotent.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array};
use arrow::compute::take;
use arrow::row::{RowConverter, SortField};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Error, Result};
use crate::hash::FastHash;
use crate::schema::{PartitionKey, SCHEMA_VERSION, TIME_BASIS_KEY, Table};
use crate::time::{MICROS_PER_DAY, utc_date_string, utc_year};

/// Rows per row group by default: large enough for good compression, small enough that a time
/// filter over a year of hourly prices skips most of a file.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

/// How to write one batch of a table.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Names the files (`part-<run_id>.parquet`); letters, digits, `-`, `_`, `.` only.
    pub run_id: String,
    /// Where the rows came from (`hcp.source` in the file metadata).
    pub source: String,
    /// `hcp.time_basis`, for tables whose timestamps are not plain instants.
    pub time_basis: Option<String>,
    pub max_row_group_rows: usize,
    pub zstd_level: i32,
}

impl WriteOptions {
    pub fn new(run_id: impl Into<String>, source: impl Into<String>) -> Self {
        WriteOptions {
            run_id: run_id.into(),
            source: source.into(),
            time_basis: None,
            max_row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            zstd_level: 3,
        }
    }

    pub fn with_time_basis(mut self, basis: impl Into<String>) -> Self {
        self.time_basis = Some(basis.into());
        self
    }
}

/// One file that [`write_table`] put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub rows: usize,
}

/// The metadata keys every hcp Parquet file carries.
pub const SOURCE_KEY: &str = "hcp.source";
pub const RUN_ID_KEY: &str = "hcp.run_id";
pub const TABLE_KEY: &str = "hcp.table";
pub const SCHEMA_VERSION_KEY: &str = "hcp.schema_version";

/// Writes `batch` (in the table's full [`Table::schema`]) under `root/<table>/`.
///
/// Rows are sorted by the table's key columns within each file; two rows with the same key are
/// refused, as is a batch whose schema is not the canonical one.
pub fn write_table(root: &Path, table: Table, batch: &RecordBatch, opts: &WriteOptions) -> Result<Vec<WrittenFile>> {
    check_safe_name("run id", &opts.run_id)?;
    check_batch_schema(root, table, batch)?;
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let groups: Vec<(String, Vec<u32>)> = partition_rows(table, batch)?.into_iter().collect();
    // Every partition is sorted and checked before any file is written, so a duplicate key in
    // one partition leaves no file of another behind.
    let prepared: Vec<(String, RecordBatch)> = parallel_map(groups, |(dir, rows)| {
        let part = take_batch(batch, &UInt32Array::from(rows))?;
        let sorted = sort_by_key(table, &part, &dir)?;
        crate::contract::check(table, &sorted)?;
        Ok((dir, drop_path_columns(table, &sorted)?))
    })
    .into_iter()
    .collect::<Result<_>>()?;
    parallel_map(prepared, |(dir, stored)| {
        let path = write_file_atomically(&root.join(table.name()).join(&dir), table, &stored, opts)?;
        Ok(WrittenFile { path, rows: stored.num_rows() })
    })
    .into_iter()
    .collect()
}

/// Applies `f` to every item on up to `available_parallelism` scoped threads, keeping order.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let results = std::sync::Mutex::new((0..n).map(|_| None).collect::<Vec<Option<R>>>());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue lock").next();
                    let Some((i, item)) = next else { break };
                    let r = f(item);
                    results.lock().expect("results lock")[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().expect("results lock").into_iter().map(|r| r.expect("every item mapped")).collect()
}

fn check_safe_name(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} `{value}` must be non-empty and use only letters, digits, `-`, `_` and `.`"
        )))
    }
}

pub(crate) fn check_batch_schema(path: &Path, table: Table, batch: &RecordBatch) -> Result<()> {
    let expected = table.schema();
    let actual = batch.schema();
    if let Some(detail) = schema_difference(&expected, &actual) {
        return Err(Error::Schema { path: path.to_path_buf(), table: table.name(), detail });
    }
    Ok(())
}

/// Describes the first difference between two schemas in names, types and nullability (field
/// metadata is documentation and is not compared), or `None` when they agree.
pub(crate) fn schema_difference(
    expected: &arrow::datatypes::Schema,
    actual: &arrow::datatypes::Schema,
) -> Option<String> {
    for (i, want) in expected.fields().iter().enumerate() {
        let Some(got) = actual.fields().get(i) else {
            return Some(format!("missing column `{}` ({})", want.name(), want.data_type()));
        };
        if got.name() != want.name() {
            return Some(match actual.index_of(want.name()) {
                Ok(j) => format!("column `{}` at position {j}, expected at {i}", want.name()),
                Err(_) => format!("missing column `{}` (found `{}` at position {i})", want.name(), got.name()),
            });
        }
        if got.data_type() != want.data_type() {
            return Some(format!(
                "column `{}` has type {}, expected {}",
                want.name(),
                got.data_type(),
                want.data_type()
            ));
        }
        if got.is_nullable() && !want.is_nullable() {
            return Some(format!("column `{}` is nullable, expected non-null", want.name()));
        }
    }
    if actual.fields().len() > expected.fields().len() {
        let extra: Vec<_> = actual.fields()[expected.fields().len()..].iter().map(|f| f.name().as_str()).collect();
        return Some(format!("unexpected column(s) {}", extra.join(", ")));
    }
    None
}

/// Groups row indices by their partition directory (`market=ERCOT/year=2024`).
///
/// Each key is first coded per row as a small integer (one hash lookup, no allocation), then
/// rows are grouped by their codes; directory names are built once per partition.
fn partition_rows(table: Table, batch: &RecordBatch) -> Result<BTreeMap<String, Vec<u32>>> {
    let keys = table.partition_keys();
    assert!(keys.len() <= 2, "partition codes hold two keys");
    let mut codes = [vec![0u32; batch.num_rows()], vec![0u32; batch.num_rows()]];
    let mut labels: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for (k, key) in keys.iter().enumerate() {
        match key {
            PartitionKey::Column(c) => {
                let col = string_column(batch, c)?;
                let mut seen: HashMap<&str, u32, FastHash> = HashMap::default();
                for (row, v) in col.iter().enumerate() {
                    let v = v.unwrap_or_default();
                    codes[k][row] = match seen.get(v) {
                        Some(&code) => code,
                        None => {
                            check_safe_name(&format!("partition value of `{c}`"), v)?;
                            let code = labels[k].len() as u32;
                            labels[k].push(format!("{c}={v}"));
                            seen.insert(v, code);
                            code
                        }
                    };
                }
            }
            PartitionKey::Year { key: dir_key, from } | PartitionKey::Date { key: dir_key, from } => {
                let yearly = matches!(key, PartitionKey::Year { .. });
                let mut seen: HashMap<i64, u32, FastHash> = HashMap::default();
                for (row, &us) in timestamp_column(batch, from)?.values().iter().enumerate() {
                    let day = us.div_euclid(MICROS_PER_DAY);
                    codes[k][row] = match seen.get(&day) {
                        Some(&code) => code,
                        None => {
                            let label = if yearly {
                                format!("{dir_key}={}", utc_year(us))
                            } else {
                                format!("{dir_key}={}", utc_date_string(us))
                            };
                            // Days of one year share a label: reuse its code.
                            let code = match labels[k].iter().position(|l| *l == label) {
                                Some(i) => i as u32,
                                None => {
                                    labels[k].push(label);
                                    (labels[k].len() - 1) as u32
                                }
                            };
                            seen.insert(day, code);
                            code
                        }
                    };
                }
            }
        }
    }
    let mut groups: HashMap<[u32; 2], Vec<u32>, FastHash> = HashMap::default();
    for (row, (&a, &b)) in codes[0].iter().zip(&codes[1]).enumerate() {
        groups.entry([a, b]).or_default().push(row as u32);
    }
    Ok(groups
        .into_iter()
        .map(|(code, rows)| {
            let dir = (0..keys.len()).map(|k| labels[k][code[k] as usize].as_str()).collect::<Vec<_>>().join("/");
            (dir, rows)
        })
        .collect())
}

pub(crate) fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::Invalid(format!("column `{name}` is missing or not a string column")))
}

pub(crate) fn timestamp_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a TimestampMicrosecondArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        .ok_or_else(|| Error::Invalid(format!("column `{name}` is missing or not a microsecond timestamp")))
}

fn take_batch(batch: &RecordBatch, indices: &UInt32Array) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), indices, None))
        .collect::<Result<Vec<ArrayRef>, _>>()
        .map_err(|e| Error::arrow("selecting partition rows", e))?;
    RecordBatch::try_new(batch.schema(), columns).map_err(|e| Error::arrow("selecting partition rows", e))
}

/// Sorts rows by the table's key and refuses duplicate keys.
fn sort_by_key(table: Table, batch: &RecordBatch, partition: &str) -> Result<RecordBatch> {
    let key_columns: Vec<ArrayRef> =
        table.key_columns().iter().map(|k| batch.column_by_name(k).cloned().expect("schema checked")).collect();
    let converter = RowConverter::new(key_columns.iter().map(|c| SortField::new(c.data_type().clone())).collect())
        .map_err(|e| Error::arrow("sorting by key", e))?;
    let rows = converter.convert_columns(&key_columns).map_err(|e| Error::arrow("sorting by key", e))?;
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_unstable_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)).then(a.cmp(&b)));
    if let Some(w) = order.windows(2).find(|w| rows.row(w[0] as usize) == rows.row(w[1] as usize)) {
        let keys = table
            .key_columns()
            .iter()
            .map(|k| {
                let col = batch.column_by_name(k).expect("schema checked");
                format!("{k}={}", display_value(col, w[0] as usize))
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::Invalid(format!("duplicate key in table `{table}` partition `{partition}`: {keys}")));
    }
    take_batch(batch, &UInt32Array::from(order))
}

fn drop_path_columns(table: Table, batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = table.file_schema();
    let columns =
        schema.fields().iter().map(|f| batch.column_by_name(f.name()).cloned().expect("schema checked")).collect();
    RecordBatch::try_new(schema, columns).map_err(|e| Error::arrow("dropping partition columns", e))
}

fn writer_properties(table: Table, opts: &WriteOptions) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(opts.zstd_level).map_err(|e| Error::Invalid(format!("zstd level: {e}")))?;
    if opts.max_row_group_rows == 0 {
        return Err(Error::Invalid("rows per row group: 0; at least 1".into()));
    }
    let mut metadata = vec![
        KeyValue::new(TABLE_KEY.to_string(), table.name().to_string()),
        KeyValue::new(SCHEMA_VERSION_KEY.to_string(), SCHEMA_VERSION.to_string()),
        KeyValue::new(SOURCE_KEY.to_string(), opts.source.clone()),
        KeyValue::new(RUN_ID_KEY.to_string(), opts.run_id.clone()),
    ];
    if let Some(basis) = &opts.time_basis {
        metadata.push(KeyValue::new(TIME_BASIS_KEY.to_string(), basis.clone()));
    }
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(opts.max_row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(Some(metadata))
        .set_created_by(format!("hcp {}", env!("CARGO_PKG_VERSION")))
        .build())
}

fn write_file_atomically(dir: &Path, table: Table, batch: &RecordBatch, opts: &WriteOptions) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let final_path = dir.join(format!("part-{}.parquet", opts.run_id));
    let tmp_path = dir.join(format!(".part-{}.parquet.tmp-{}", opts.run_id, std::process::id()));
    let result = (|| {
        let file = File::create(&tmp_path).map_err(|e| Error::io(&tmp_path, e))?;
        let props = writer_properties(table, opts)?;
        let mut writer =
            ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| Error::parquet(&tmp_path, e))?;
        writer.write(batch).map_err(|e| Error::parquet(&tmp_path, e))?;
        let file = writer.into_inner().map_err(|e| Error::parquet(&tmp_path, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp_path, e))?;
        fs::rename(&tmp_path, &final_path).map_err(|e| Error::io(&final_path, e))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(final_path.clone())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

/// Writes one whole table (every column of its canonical schema, sorted as given) to a single
/// Parquet file, atomically: for evaluation outputs such as `forecasts.parquet`, read as is by
/// polars and DuckDB.
pub fn write_parquet_file(path: &Path, table: Table, batch: &RecordBatch, opts: &WriteOptions) -> Result<()> {
    check_batch_schema(path, table, batch)?;
    let props = writer_properties(table, opts)?;
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).map_err(|e| Error::parquet(path, e))?;
    writer.write(batch).map_err(|e| Error::parquet(path, e))?;
    writer.close().map_err(|e| Error::parquet(path, e))?;
    write_bytes_atomically(path, &bytes)
}

/// Writes `bytes` to `path` the way every hcp output is written: a hidden temporary file in
/// the same directory (created if needed), synced, then renamed into place, so a reader sees the
/// whole file or the previous one. For reports, calibrations and other non-table files.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        std::io::Write::write_all(&mut file, bytes).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// One cell for messages; timestamps as RFC 3339 (arrow's own display needs chrono-tz for "UTC").
fn display_value(col: &ArrayRef, row: usize) -> String {
    if col.is_null(row) {
        return "null".to_string();
    }
    match col.as_any().downcast_ref::<TimestampMicrosecondArray>() {
        Some(t) => crate::time::format_micros(t.value(row)),
        None => arrow::util::display::array_value_to_string(col, row).unwrap_or_default(),
    }
}

/// Builds a string column of one repeated value (partition columns restored on read).
pub(crate) fn constant_string(value: &str, len: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, len)))
}
