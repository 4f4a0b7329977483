//! The scheduler of hcp: the economics of an ASIC's operating point (argmin), a genetic
//! algorithm for job start times, the policies (the optimiser and the yardsticks it is held
//! against), the switching engine, the perfect-foresight LP bound (HiGHS) and backtests that
//! run them all through the simulators. Never compiles burn or polars.

pub mod backtest;
pub mod bound;
pub mod classify;
pub mod daemon;
pub mod economics;
pub mod engine;
pub mod error;
pub mod ga;
pub mod observe;
pub mod outlook;
pub mod policy;

pub use error::{Error, Result};

/// The joint-problem fleet of the backtests (`fleets/hb-west-joint.toml`).
pub const JOINT_FLEET: &str = include_str!("../../fleets/hb-west-joint.toml");
