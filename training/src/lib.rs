//! Feature pipelines (polars), training and evaluation protocols.
//!
//! The polars view of the canonical datasets that hcp writes — the same hive layout analysts
//! read with polars or DuckDB — with the price-history summary of `hcp run` and `hcp query`'s
//! SQL; the forecasters' training, forecasts and walk-forward evaluations; the classifier's.

pub mod classifier;
pub mod day_ahead;
pub mod demand;
pub mod demand_model;
pub mod forecast_rows;
pub mod history;
pub mod price_model;
pub mod query;
pub mod realtime;
pub mod walk;

pub use history::{PriceSummary, price_summary, row_count, scan_table};

/// Errors of `hcp-training`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Polars(#[from] polars::error::PolarsError),
    #[error(transparent)]
    Data(#[from] hcp_datasets::Error),
    #[error(transparent)]
    Model(#[from] hcp_models::Error),
    #[error(transparent)]
    Lstm(#[from] hcp_lstm::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The LSTM forecaster's training, for callers that configure it.
pub use hcp_lstm as lstm;

pub type Result<T, E = Error> = std::result::Result<T, E>;
