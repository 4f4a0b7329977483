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

    /// The first of `checks` (a field and whether it is in range) that fails, as a
    /// configuration error naming `what` and the field.
    pub(crate) fn first_out_of_range(what: &str, checks: &[(&str, bool)]) -> Result<()> {
        match checks.iter().find(|c| !c.1) {
            Some((field, _)) => Err(Error::Config(format!("{what}: `{field}` is out of range"))),
            None => Ok(()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
