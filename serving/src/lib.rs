//! The prediction HTTP endpoint of hcp (axum): price and demand forecasts, workload
//! classification and schedule proposals under `/v1`, the Open Inference Protocol v2 under
//! `/v2`, `/metrics`, `/info` and `/openapi.json`. Models are `hcp train` artifacts, verified
//! and smoke-tested at load. Never compiles burn or polars.

pub mod app;
pub mod auth;
pub mod batcher;
pub mod classify;
pub mod config;
pub mod error;
pub mod forecast;
pub mod logging;
pub mod metrics;
pub mod oip;
pub mod openapi;
pub mod propose;
pub mod registry;

pub use app::{App, router, run_until_signal, serve};
pub use auth::{ApiKeys, Role};
pub use config::{Limits, ServeConfig};
pub use error::{ApiError, Error, Result};
