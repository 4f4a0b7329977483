//! What `hcp serve` runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::ApiKeys;

/// Limits on requests and work, reported by `/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Limits {
    /// Largest request body, bytes (413 above).
    pub body_bytes: usize,
    /// Requests handled at once; more get 429 with `Retry-After`.
    pub max_in_flight: usize,
    /// A request not answered in this long gets 503, ms.
    pub request_timeout_ms: u64,
    /// Inference items one worker runs per wake-up.
    pub max_batch: usize,
    /// Jobs in one `/v1/classify` request.
    pub max_jobs: usize,
    /// Hours of history in one forecast request.
    pub max_history_hours: usize,
    /// Time the genetic algorithm of `/v1/schedule/propose` may take, ms.
    pub propose_ga_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1 << 20,
            max_in_flight: 512,
            request_timeout_ms: 10_000,
            max_batch: 64,
            max_jobs: 1024,
            max_history_hours: 24 * 366,
            propose_ga_ms: 100,
        }
    }
}

/// Everything `hcp serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub models_dir: PathBuf,
    pub addr: SocketAddr,
    pub keys: ApiKeys,
    pub limits: Limits,
    /// Inference worker threads.
    pub workers: usize,
    /// After a shutdown signal: how long `/v2/health/ready` answers 503 while requests are
    /// still taken (for a load balancer to notice), before in-flight work is finished and the
    /// server exits.
    pub drain: Duration,
}

impl ServeConfig {
    pub fn new(models_dir: PathBuf, addr: SocketAddr, keys: ApiKeys) -> ServeConfig {
        ServeConfig {
            models_dir,
            addr,
            keys,
            limits: Limits::default(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            drain: Duration::ZERO,
        }
    }
}
