//! Reading canonical tables back: schema checked, columns projected, row groups skipped by
//! their time statistics.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;

use crate::error::{Error, Result};
use crate::schema::{SCHEMA_VERSION, Table};
use crate::writer::{SCHEMA_VERSION_KEY, TABLE_KEY, constant_string, schema_difference, timestamp_column};

/// A half-open time interval `[start, end)` in UTC microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_us: i64,
    pub end_us: i64,
}

impl TimeRange {
    pub fn new(start_us: i64, end_us: i64) -> Self {
        TimeRange { start_us, end_us }
    }

    fn overlaps(&self, min_us: i64, max_us: i64) -> bool {
        min_us < self.end_us && max_us >= self.start_us
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Columns in the order wanted; `None` reads the whole logical schema.
    pub columns: Option<Vec<String>>,
    /// Only rows whose time column falls in the range (the table must have a time column).
    pub time_range: Option<TimeRange>,
}

/// What a read touched: proof that pruning happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub files: usize,
    pub row_groups_total: usize,
    pub row_groups_read: usize,
    pub rows: usize,
}

/// Reads every file of `table` under `root/<table>/` into one batch.
pub fn read_table(root: &Path, table: Table, opts: &ReadOptions) -> Result<(RecordBatch, ReadStats)> {
    let logical = table.schema();
    let out_schema = output_schema(table, &logical, opts)?;
    let time_col = match (opts.time_range, table.time_column()) {
        (Some(_), None) => {
            return Err(Error::Invalid(format!("table `{table}` has no time column to filter on")));
        }
        (_, t) => t,
    };
    let mut stats = ReadStats::default();
    let mut batches = Vec::new();
    for (path, partition) in list_files(&root.join(table.name()), table)? {
        stats.files += 1;
        batches.extend(read_file(&path, table, &partition, &out_schema, time_col, opts, &mut stats)?);
    }
    let batch = concat_batches(&out_schema, &batches).map_err(|e| Error::arrow("concatenating batches", e))?;
    stats.rows = batch.num_rows();
    Ok((batch, stats))
}

fn output_schema(table: Table, logical: &SchemaRef, opts: &ReadOptions) -> Result<SchemaRef> {
    match &opts.columns {
        None => Ok(logical.clone()),
        Some(cols) => {
            let fields = cols
                .iter()
                .map(|c| {
                    logical.field_with_name(c).cloned().map_err(|_| {
                        let names: Vec<_> = logical.fields().iter().map(|f| f.name().as_str()).collect();
                        Error::Invalid(format!("table `{table}` has no column `{c}` (columns: {})", names.join(", ")))
                    })
                })
                .collect::<Result<Vec<Field>>>()?;
            Ok(Arc::new(Schema::new(fields)))
        }
    }
}

/// Partition values read from a file's directories: `[("market", "ERCOT"), ("year", "2024")]`.
type PartitionValues = Vec<(String, String)>;

/// Every visible `.parquet` file below `dir`, sorted, with its partition values from the path.
fn list_files(dir: &Path, table: Table) -> Result<Vec<(PathBuf, PartitionValues)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        // A directory one level up from a dataset (`hcp run`'s output for its `history/`):
        // name the datasets below it that hold the table.
        let mut below: Vec<String> = dir
            .parent()
            .and_then(|root| std::fs::read_dir(root).ok())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join(table.name()).is_dir())
            .map(|d| d.display().to_string())
            .collect();
        below.sort();
        let hint = match below.as_slice() {
            [] => String::new(),
            found => format!(" (a dataset with one is in {}: give that directory)", found.join(", ")),
        };
        return Err(Error::input(dir, format!("no `{table}` dataset here{hint}")));
    }
    walk(dir, dir, table, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, table: Table, out: &mut Vec<(PathBuf, PartitionValues)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            walk(root, &path, table, out)?;
        } else if name.ends_with(".parquet") {
            let partition = parse_partition(root, &path, table)?;
            out.push((path, partition));
        }
    }
    Ok(())
}

fn parse_partition(root: &Path, path: &Path, table: Table) -> Result<PartitionValues> {
    let rel = path.strip_prefix(root).expect("walked from root");
    let dirs: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
    let keys = table.partition_keys();
    let bad = |detail: String| Error::Schema { path: path.to_path_buf(), table: table.name(), detail };
    if dirs.len() != keys.len() {
        let want: Vec<_> = keys.iter().map(|k| format!("{}=...", k.key())).collect();
        return Err(bad(format!("expected partition directories {}", want.join("/"))));
    }
    dirs.iter()
        .zip(keys)
        .map(|(c, key)| {
            let s = c.as_os_str().to_string_lossy();
            match s.split_once('=') {
                Some((k, v)) if k == key.key() => Ok((k.to_string(), v.to_string())),
                _ => Err(bad(format!("directory `{s}` is not `{}=<value>`", key.key()))),
            }
        })
        .collect()
}

fn read_file(
    path: &Path,
    table: Table,
    partition: &[(String, String)],
    out_schema: &SchemaRef,
    time_col: Option<&str>,
    opts: &ReadOptions,
    stats: &mut ReadStats,
) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    check_file(path, table, &builder)?;

    let file_schema = builder.schema().clone();
    let metadata = builder.metadata().clone();
    stats.row_groups_total += metadata.num_row_groups();

    let row_groups: Vec<usize> = match (opts.time_range, time_col) {
        (Some(range), Some(col)) => {
            let leaf = builder.parquet_schema().columns().iter().position(|c| c.name() == col).expect("schema checked");
            (0..metadata.num_row_groups())
                .filter(|&i| match metadata.row_group(i).column(leaf).statistics() {
                    Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                        (Some(&lo), Some(&hi)) => range.overlaps(lo, hi),
                        _ => true,
                    },
                    _ => true,
                })
                .collect()
        }
        _ => (0..metadata.num_row_groups()).collect(),
    };
    stats.row_groups_read += row_groups.len();
    if row_groups.is_empty() {
        return Ok(Vec::new());
    }

    // File columns needed: the requested ones stored in the file, plus the time column to filter.
    let mut needed: Vec<usize> =
        out_schema.fields().iter().filter_map(|f| file_schema.index_of(f.name()).ok()).collect();
    if let (Some(_), Some(col)) = (opts.time_range, time_col) {
        needed.push(file_schema.index_of(col).expect("schema checked"));
    }
    needed.sort_unstable();
    needed.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), needed);
    let reader =
        builder.with_row_groups(row_groups).with_projection(mask).build().map_err(|e| Error::parquet(path, e))?;

    let mut pieces = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::arrow(path.display().to_string(), e))?;
        let batch = match (opts.time_range, time_col) {
            (Some(range), Some(col)) => {
                let times = timestamp_column(&batch, col)?;
                let keep: BooleanArray =
                    times.iter().map(|t| Some(t.is_some_and(|t| t >= range.start_us && t < range.end_us))).collect();
                filter_record_batch(&batch, &keep).map_err(|e| Error::arrow("time filter", e))?
            }
            _ => batch,
        };
        let columns: Vec<ArrayRef> = out_schema
            .fields()
            .iter()
            .map(|f| match batch.column_by_name(f.name()) {
                Some(c) => c.clone(),
                None => {
                    let value = partition
                        .iter()
                        .find(|(k, _)| k == f.name())
                        .map(|(_, v)| v.as_str())
                        .expect("every logical column is in the file or the path");
                    constant_string(value, batch.num_rows())
                }
            })
            .collect();
        pieces.push(
            RecordBatch::try_new(out_schema.clone(), columns)
                .map_err(|e| Error::arrow(path.display().to_string(), e))?,
        );
    }
    Ok(pieces)
}

/// Refuses files that are not this table's, or not in the schema version this build reads.
fn check_file(path: &Path, table: Table, builder: &ParquetRecordBatchReaderBuilder<File>) -> Result<()> {
    let bad = |detail: String| Error::Schema { path: path.to_path_buf(), table: table.name(), detail };
    let kv = builder.metadata().file_metadata().key_value_metadata();
    let get = |key: &str| kv.and_then(|kv| kv.iter().find(|e| e.key == key)).and_then(|e| e.value.clone());
    match get(TABLE_KEY) {
        Some(t) if t == table.name() => {}
        Some(t) => return Err(bad(format!("file holds table `{t}`"))),
        None => return Err(bad(format!("no `{TABLE_KEY}` metadata: not written by hcp"))),
    }
    match get(SCHEMA_VERSION_KEY) {
        Some(v) if v == SCHEMA_VERSION.to_string() => {}
        Some(v) => return Err(bad(format!("schema version {v}, this build reads {SCHEMA_VERSION}"))),
        None => return Err(bad(format!("no `{SCHEMA_VERSION_KEY}` metadata"))),
    }
    if let Some(detail) = schema_difference(&table.file_schema(), builder.schema()) {
        return Err(bad(detail));
    }
    Ok(())
}
