//! hcp-serving
