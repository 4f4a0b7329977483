//! Errors of the simulators.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A fleet or fault configuration that cannot be simulated; the message names the field.
    #[error("configuration: {0}")]
    Config(String),
    /// A command the world refuses as it runs (a job not queued, a pool or group it does not
    /// have); the message names the command.
    #[error("{0}")]
    Refused(String),
    /// A calibration that cannot be fitted or loaded.
    #[error("calibration: {0}")]
    Calibration(String),
    #[error(transparent)]
    Data(#[from] hcp_datasets::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
