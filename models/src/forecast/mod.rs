//! Price forecasting models of the day-ahead benchmark: naive baselines and LEAR, with their
//! quantile bands and accuracy measures.

pub mod bands;
pub mod demand;
pub mod demand_lstm;
pub mod demand_model;
pub mod lasso;
pub mod lear;
pub mod lstm;
pub mod metrics;
pub mod naive;
pub mod panel;
pub mod price;
pub mod realtime;
pub mod scaler;
pub mod synthetic;
pub mod trend;

pub use bands::ErrorBands;
pub use lear::Lear;
pub use metrics::{Accumulator, QUANTILES, Scores};
pub use naive::Naive;
pub use panel::{Day, DayAheadPanel, HOURS};
pub use trend::Trend;
