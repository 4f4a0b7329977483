//! Ingestion of the real data formats into canonical tables.
//!
//! Each format module parses its inputs completely into typed rows before anything is written,
//! so a file-level failure (wrong header, truncated gzip, empty file) leaves no output at all.
//! Row-level problems are [`Rejection`]s: reported with file, line, field and reason, counted
//! per file, never silently dropped. For every file `rows_read == rows_accepted + rows_rejected`.

mod alibaba;
pub mod btc;
mod csv_input;
mod epftoolbox;
mod ercot;

use std::fmt;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use serde::Serialize;

use crate::error::{Error, Result};
pub(crate) use crate::hash::FastHash;
use crate::schema::Table;
use crate::writer::{DEFAULT_ROW_GROUP_ROWS, WriteOptions, WrittenFile, write_table};

pub use epftoolbox::TIME_BASIS as EPFTOOLBOX_TIME_BASIS;
pub use ercot::ercot_interval_start;

/// The real formats `hcp ingest` reads (see `../shared/data/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ERCOT hourly settlement point prices and the system/ancillary-service file.
    Ercot,
    /// The open day-ahead price benchmark of Lago et al. (NP, PJM, DE).
    Epftoolbox,
    /// Alibaba GPU traces: v2023 pods and node lists, v2025 DLRM instances, v2026 GenAI telemetry.
    Alibaba,
    /// Bitcoin daily network statistics and per-block statistics.
    Btc,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Ercot => "ercot",
            Format::Epftoolbox => "epftoolbox",
            Format::Alibaba => "alibaba",
            Format::Btc => "btc",
        }
    }
}

/// One input row that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub file: String,
    /// 1-based line in the (decompressed) file.
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}:{}: field `{}`: {}", self.file, self.line, field, self.reason),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.reason),
        }
    }
}

/// Per-file counts. `rows_read == rows_accepted + rows_rejected` always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub kind: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
}

/// Rows written to one table by one ingest run.
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub rows_written: usize,
    pub files: Vec<PathBuf>,
}

/// Everything an ingest run did: the per-file summary, every rejection and what was written.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub format: String,
    pub run_id: String,
    pub files: Vec<FileSummary>,
    pub tables: Vec<TableSummary>,
    pub rejections: Vec<Rejection>,
    /// Where the report itself was written (`<out>/_ingest/<run_id>.json`).
    pub report_path: PathBuf,
}

/// How to run an ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub out: PathBuf,
    /// Names the written files; default: a hash of the format and the inputs' bytes, so that
    /// ingesting the same files again rewrites the same files (idempotent).
    pub run_id: Option<String>,
    /// Refuse to write anything if any row is rejected.
    pub strict: bool,
    pub max_row_group_rows: usize,
}

impl IngestOptions {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        IngestOptions { out: out.into(), run_id: None, strict: false, max_row_group_rows: DEFAULT_ROW_GROUP_ROWS }
    }
}

/// One table's worth of parsed rows, with the metadata its files carry.
#[derive(Debug)]
pub struct ParsedTable {
    pub table: Table,
    pub batch: RecordBatch,
    pub source: String,
    pub time_basis: Option<&'static str>,
}

/// The result of parsing all inputs of one format.
#[derive(Debug, Default)]
pub struct Parsed {
    pub tables: Vec<ParsedTable>,
    pub files: Vec<FileSummary>,
    pub rejections: Vec<Rejection>,
}

impl Parsed {
    /// The parsed batches of one table.
    pub fn batches(&self, table: Table) -> impl Iterator<Item = &RecordBatch> {
        self.tables.iter().filter(move |t| t.table == table).map(|t| &t.batch)
    }
}

/// Parses `inputs` in `format` into canonical batches without writing anything: for callers
/// that work on the rows in memory (calibration). Rejected rows are in `rejections`.
pub fn parse(format: Format, inputs: &[PathBuf]) -> Result<Parsed> {
    if inputs.is_empty() {
        return Err(Error::Invalid("no input files given".into()));
    }
    match format {
        Format::Ercot => ercot::parse(inputs),
        Format::Epftoolbox => epftoolbox::parse(inputs),
        Format::Alibaba => alibaba::parse(inputs),
        Format::Btc => btc::parse(inputs),
    }
}

/// Parses `inputs` in `format` and writes the canonical tables under `opts.out`.
pub fn ingest(format: Format, inputs: &[PathBuf], opts: &IngestOptions) -> Result<IngestReport> {
    let parsed = parse(format, inputs)?;
    let rejected: u64 = parsed.files.iter().map(|f| f.rows_rejected).sum();
    if opts.strict && rejected > 0 {
        return Err(Error::StrictRejected { rejected, rejections: parsed.rejections });
    }
    let valid: usize = parsed.tables.iter().map(|t| t.batch.num_rows()).sum();
    if valid == 0 {
        return Err(Error::NothingValid { files: inputs.len(), rejected, rejections: parsed.rejections });
    }

    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => default_run_id(format, inputs)?,
    };
    let mut tables: Vec<TableSummary> = Vec::new();
    for t in &parsed.tables {
        let mut wopts = WriteOptions::new(run_id.clone(), t.source.clone());
        wopts.time_basis = t.time_basis.map(str::to_string);
        wopts.max_row_group_rows = opts.max_row_group_rows;
        let written: Vec<WrittenFile> = write_table(&opts.out, t.table, &t.batch, &wopts)?;
        match tables.iter_mut().find(|s| s.table == t.table.name()) {
            Some(s) => {
                s.rows_written += written.iter().map(|w| w.rows).sum::<usize>();
                s.files.extend(written.into_iter().map(|w| w.path));
            }
            None => tables.push(TableSummary {
                table: t.table.name().to_string(),
                rows_written: written.iter().map(|w| w.rows).sum(),
                files: written.into_iter().map(|w| w.path).collect(),
            }),
        }
    }

    let report_dir = opts.out.join("_ingest");
    let report = IngestReport {
        format: format.name().to_string(),
        report_path: report_dir.join(format!("{run_id}.json")),
        run_id,
        files: parsed.files,
        tables,
        rejections: parsed.rejections,
    };
    write_report(&report)?;
    Ok(report)
}

fn write_report(report: &IngestReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Invalid(format!("report: {e}")))?;
    crate::writer::write_bytes_atomically(&report.report_path, &json)
}

/// `<format>-<16 hex digits>`: FNV-1a over the format name and every input's bytes. Stable
/// across builds and platforms, unlike `std`'s hasher.
fn default_run_id(format: Format, inputs: &[PathBuf]) -> Result<String> {
    let mut hash = Fnv1a::default();
    hash.write(format.name().as_bytes());
    for path in inputs {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        hash.write(&(bytes.len() as u64).to_le_bytes());
        hash.write(&bytes);
    }
    Ok(format!("{}-{:016x}", format.name(), hash.0))
}

/// The 64-bit FNV-1a hash.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(pub u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
