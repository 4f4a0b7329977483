//! `hcp query`: polars SQL over the Parquet that hcp writes, for a quick look without a notebook.
//!
//! Every table found under the directory is registered under its name: hive-partitioned
//! datasets (`prices/market=.../`, `forecasts/target=.../`, ...) in the directory itself or one
//! level down (`hcp run`'s `history/`, `forecasts/`, `evaluation/`), and single Parquet files
//! there (`decisions.parquet` of a backtest, `forecasts.parquet` of an evaluation). A name found
//! twice is registered once per place, qualified by its directory (`evaluation_forecasts`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcp_datasets::Table;
use polars::prelude::*;
use polars::sql::SQLContext;

use crate::history::scan_table;
use crate::{Error, Result};

/// One table a query can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The SQL name.
    pub name: String,
    /// A dataset root's table directory, or a Parquet file.
    pub path: PathBuf,
    /// The canonical table it holds, when a hive dataset; `None` for a single file.
    pub table: Option<Table>,
}

/// The tables under `root`, sorted by name.
pub fn discover(root: &Path) -> Result<Vec<Registered>> {
    if !root.is_dir() {
        return Err(Error::Invalid(format!("{}: not a directory", root.display())));
    }
    let mut found: Vec<(String, Registered)> = Vec::new();
    let mut places = vec![(String::new(), root.to_path_buf())];
    for entry in sorted_entries(root)? {
        if entry.is_dir() {
            places.push((file_name(&entry), entry));
        }
    }
    for (qualifier, dir) in &places {
        for table in Table::ALL {
            let table_dir = dir.join(table.name());
            if is_hive_root(&table_dir, table)? {
                found.push((
                    qualifier.clone(),
                    Registered { name: table.name().into(), path: table_dir, table: Some(table) },
                ));
            }
        }
        for file in sorted_entries(dir)? {
            if file.is_file() && file.extension().is_some_and(|e| e == "parquet") {
                let stem = file.file_stem().map(|s| identifier(&s.to_string_lossy())).unwrap_or_default();
                found.push((qualifier.clone(), Registered { name: stem, path: file, table: None }));
            }
        }
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (_, r) in &found {
        *count.entry(r.name.clone()).or_default() += 1;
    }
    let mut tables: Vec<Registered> = found
        .into_iter()
        .map(|(qualifier, mut r)| {
            if count[&r.name] > 1 && !qualifier.is_empty() {
                r.name = format!("{}_{}", identifier(&qualifier), r.name);
            }
            r
        })
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    if tables.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no Parquet table here or one directory down (looked for {} and *.parquet)",
            root.display(),
            Table::ALL.map(|t| format!("{}/", t.name())).join(", ")
        )));
    }
    Ok(tables)
}

/// A directory named after `table` whose entries are its first partition key's directories.
fn is_hive_root(dir: &Path, table: Table) -> Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let prefix = format!("{}=", table.partition_keys()[0].key());
    Ok(sorted_entries(dir)?.iter().any(|e| e.is_dir() && file_name(e).starts_with(&prefix)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
    let mut entries = Vec::new();
    for entry in read {
        entries.push(entry.map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?.path());
    }
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A name usable unquoted in SQL: lower case letters, digits and `_`.
fn identifier(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Runs `sql` over the tables under `root` and collects the answer.
pub fn query(root: &Path, sql: &str) -> Result<DataFrame> {
    let tables = discover(root)?;
    let mut ctx = SQLContext::new();
    for t in &tables {
        let frame = match t.table {
            Some(table) => scan_table(t.path.parent().expect("a table directory has a parent"), table)?,
            None => LazyFrame::scan_parquet(PlRefPath::new(t.path.display().to_string()), ScanArgsParquet::default())?,
        };
        ctx.register(&t.name, frame);
    }
    let names = || tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    let frame = ctx.execute(sql).map_err(|e| Error::Invalid(format!("SQL: {e} (tables here: {})", names())))?;
    frame.collect().map_err(|e| Error::Invalid(format!("SQL: {e} (tables here: {})", names())))
}

/// The answer as an aligned text table: a header, the column types, the first `limit` rows
/// (numbers right-aligned, nulls as `null`) and a line with the shape.
pub fn render(df: &DataFrame, limit: usize) -> String {
    let shown = df.height().min(limit);
    let columns = df.columns();
    let cells: Vec<Vec<String>> = columns
        .iter()
        .map(|c| {
            let mut v = vec![c.name().to_string(), c.dtype().to_string()];
            // Strings as they are (their Display form adds quotes), everything else displayed.
            let text = |a: AnyValue<'_>| a.get_str().map_or_else(|| a.to_string(), str::to_string);
            v.extend((0..shown).map(|i| c.get(i).map(text).unwrap_or_default()));
            v
        })
        .collect();
    let widths: Vec<usize> = cells.iter().map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let numeric: Vec<bool> = columns.iter().map(|c| c.dtype().is_primitive_numeric()).collect();
    let mut out = String::new();
    for row in 0..shown + 2 {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(
                |((col, w), num)| {
                    if *num && row >= 2 { format!("{:>w$}", col[row]) } else { format!("{:<w$}", col[row]) }
                },
            )
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let more = if shown < df.height() { format!(", first {shown} shown (--limit)") } else { String::new() };
    out.push_str(&format!("{} rows × {} columns{more}\n", df.height(), df.width()));
    out
}

/// The answer written to `path` as CSV or Parquet (by its extension), whole or not at all: an
/// existing file is replaced only once the new one is complete.
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => CsvWriter::new(&mut bytes).finish(df)?,
        Some("parquet") => {
            ParquetWriter::new(&mut bytes).finish(df)?;
        }
        _ => {
            return Err(Error::Invalid(format!("--out {}: the file must end in .csv or .parquet", path.display())));
        }
    }
    hcp_datasets::writer::write_bytes_atomically(path, &bytes)?;
    Ok(())
}
