//! The scheduler of hcp: problem model, GA + argmin optimiser, perfect-foresight bound,
//! baselines, switching engine, daemon and backtest. Never compiles burn or polars. Empty until
//! the scheduler issue lands.
