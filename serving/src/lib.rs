//! The prediction HTTP endpoint of hcp (axum): forecasts, classification and schedule
//! proposals. Never compiles burn or polars. Empty until the serving issue lands.
