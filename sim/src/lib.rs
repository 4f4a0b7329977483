//! Simulators of the world hcp decides in: the electricity market, the ASIC and GPU fleets and
//! their workloads. Deterministic for a seed.
//!
//! Today it holds the seeded random source and the synthetic price history that `hcp run`
//! uses when no data is given; the calibrated market, fleet and workload simulators build on
//! them.

pub mod market;
pub mod rng;
