//! Inference models of hcp and the linfa fitting behind them.
//!
//! Today: the workload classifier (decision tree, random forest and logistic regression fitted
//! with linfa, exported to plain structures that predict without linfa), its artifact with a
//! checksum, and the placement policy derived from a job's class. No training-only dependency
//! (burn, polars) may enter this crate: `serving` and `scheduler` build on it.

pub mod artifact;
pub mod classifier;
pub mod error;
pub mod forecast;

pub use error::{Error, Result};
