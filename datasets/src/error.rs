//! The one error type of `hcp-datasets`.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or ingesting a dataset.
///
/// Every variant names the file it concerns; row-level problems during ingestion are not errors
/// but [`crate::ingest::Rejection`]s, reported and counted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A Parquet file whose schema is not the canonical one of its table.
    #[error("{path}: schema mismatch for table `{table}`: {detail}")]
    Schema { path: PathBuf, table: &'static str, detail: String },
    /// An input file that cannot be ingested at all (wrong header, empty, truncated, ...).
    #[error("{path}: {detail}")]
    Input { path: PathBuf, detail: String },
    /// Ingestion produced no valid row from any input; nothing was written.
    #[error("no valid rows in {files} input file(s); {rejected} row(s) rejected{}", first_of(rejections))]
    NothingValid { files: usize, rejected: u64, rejections: Vec<crate::ingest::Rejection> },
    /// `--strict` ingestion met rejected rows; nothing was written.
    #[error("{rejected} row(s) rejected in strict mode; nothing was written{}", first_of(rejections))]
    StrictRejected { rejected: u64, rejections: Vec<crate::ingest::Rejection> },
    #[error("invalid argument: {0}")]
    Invalid(String),
}

fn first_of(rejections: &[crate::ingest::Rejection]) -> String {
    rejections.first().map(|r| format!(" (first: {r})")).unwrap_or_default()
}

impl Error {
    /// The rejected rows behind an ingest that wrote nothing, for the caller to show.
    pub fn rejections(&self) -> &[crate::ingest::Rejection] {
        match self {
            Error::NothingValid { rejections, .. } | Error::StrictRejected { rejections, .. } => rejections,
            _ => &[],
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Input { path: path.into(), detail: detail.into() }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet { path: path.into(), source }
    }

    pub(crate) fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
