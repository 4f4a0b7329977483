//! Errors of the scheduler.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Sim(#[from] hcp_sim::Error),
    #[error("{0}")]
    Data(#[from] hcp_datasets::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(String),
    #[error("LP solver: {0}")]
    Solver(String),
    #[error("argmin: {0}")]
    Argmin(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }
}
