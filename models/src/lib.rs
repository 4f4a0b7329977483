//! hcp-models
