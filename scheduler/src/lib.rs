//! hcp-scheduler
