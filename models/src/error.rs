//! Errors of `hcp-models`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that cannot be used: the message names the field or row.
    #[error("{0}")]
    Invalid(String),
    #[error("fitting {model}: {message}")]
    Fit { model: String, message: String },
    /// An artifact whose weights do not match the checksum in its manifest.
    #[error("{path}: checksum mismatch: manifest says sha256 {expected}, the file hashes to {actual}")]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("{path}: {message}")]
    Artifact { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
