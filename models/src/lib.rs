//! Inference models of hcp: the LSTM forward pass in candle-core, the workload classifier and
//! LEAR in linfa, the naive baselines, and artifact loading with checksum verification. No
//! training-only dependency (burn, polars) may enter this crate: `serving` and `scheduler`
//! build on it. Empty until the forecaster and classifier issues land.
