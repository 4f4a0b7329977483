//! Training of `lstm_rt`, the LSTM real-time price forecaster, in burn (ndarray CPU backend with
//! autodiff; a GPU through burn's CubeCL backend on wgpu with the `gpu` feature). What the network reads and how its outputs decode is `hcp_models::forecast::lstm`,
//! which also runs the trained network in candle-core; this crate fits the weights and writes
//! them as safetensors with a manifest that inference reads.
//!
//! - [`net`]: the network as burn parameters (the four gates of a layer in one matrix) and its
//!   pinball loss.
//! - [`fused`]: an LSTM layer over the whole window as one burn autodiff operation with its own
//!   backward pass, and the same layer as burn tensor operations.
//! - [`kernel`]: that layer's arithmetic in plain Rust (SIMD products, vectorised gates).
//! - [`samples`]: the training issues of a price grid and their batches.
//! - [`train`]: Adam, a time-ordered validation split, early stopping, checkpoints, the artifact.
//! - [`day_ahead`]: `dnn`, the day-ahead perceptron of the benchmark's protocol.
//! - [`demand`]: `lstm_demand`, GPU demand a week ahead, through the same training loop.

pub mod day_ahead;
pub mod demand;
pub mod fused;
pub mod kernel;
pub mod net;
pub mod samples;
pub mod train;

pub use demand::{DemandTrainReport, Series, TrainedDemand, train_demand};
pub use train::{FitReport, LstmConfig, Progress, TrainDevice, TrainReport, Trained, train, train_from};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Models(#[from] hcp_models::Error),
    #[error("burn: {0}")]
    Burn(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
