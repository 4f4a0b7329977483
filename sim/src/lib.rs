//! Simulators of the world hcp decides in: the electricity market, the ASIC and GPU fleets and
//! their workloads. Deterministic for a seed.

pub mod asic;
pub mod btc;
pub mod calibrate;
pub mod error;
pub mod exporter;
pub mod faults;
pub mod fleet;
pub mod gpu;
pub mod history;
pub mod miner_api;
pub mod price;
pub mod rng;
pub mod site_server;
pub mod stats;
pub mod workload;
pub mod world;

pub use error::{Error, Result};
