//! Inference models of hcp and the linfa fitting behind them.
//!
//! The workload classifier (decision tree, random forest and logistic regression fitted with
//! linfa, exported to plain structures that predict without linfa) and the placement policy
//! derived from a job's class; the price and demand forecasters (naive baselines, LEAR and its
//! real-time variant, and the LSTM's forward pass in candle-core); their artifacts with
//! checksums. No training-only dependency (burn, polars) may enter this crate: `serving` and
//! `scheduler` build on it.

pub mod artifact;
pub mod classifier;
pub mod error;
pub mod forecast;

pub use error::{Error, Result};
