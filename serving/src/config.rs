//! What `hcp serve` runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::ApiKeys;
use crate::error::{Error, Result};

/// The most inference workers `hcp serve` starts.
pub const MAX_WORKERS: usize = 1024;

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
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()).min(MAX_WORKERS),
            drain: Duration::ZERO,
        }
    }

    /// Refuses limits a server could not work under, naming the flag: none in flight, a body
    /// limit below any request's size, no time to answer, a proposal's GA budget that leaves
    /// no time to answer within the timeout, no workers or thousands of them. `hcp serve`
    /// checks them; [`crate::App::new`] does not, so a test may shed every request.
    pub fn check(&self) -> Result<()> {
        let l = &self.limits;
        let ranges: [(&str, u64, u64, u64); 6] = [
            ("--max-in-flight", l.max_in_flight as u64, 1, 1_000_000),
            ("--body-limit", l.body_bytes as u64, 1_024, 1 << 30),
            ("--timeout-ms", l.request_timeout_ms, 1, 3_600_000),
            ("--propose-ga-ms", l.propose_ga_ms, 1, 60_000),
            ("--workers", self.workers as u64, 1, MAX_WORKERS as u64),
            ("--drain-ms", u64::try_from(self.drain.as_millis()).unwrap_or(u64::MAX), 0, 3_600_000),
        ];
        for (flag, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(Error::Config(format!("{flag} {v}: {lo} to {hi}")));
            }
        }
        if l.propose_ga_ms >= l.request_timeout_ms {
            return Err(Error::Config(format!(
                "--propose-ga-ms {} leaves /v1/schedule/propose no time to answer within --timeout-ms {}",
                l.propose_ga_ms, l.request_timeout_ms
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServeConfig {
        ServeConfig::new(PathBuf::from("models"), "127.0.0.1:0".parse().unwrap(), ApiKeys::open())
    }

    /// The defaults serve; each limit a server cannot work under is refused by its flag (a
    /// body limit of 0 would answer every POST 413; `--workers 100000` aborted the process).
    #[test]
    fn limits_a_server_cannot_work_under_are_refused_by_flag() {
        assert!(config().check().is_ok());
        let refused = |edit: &dyn Fn(&mut ServeConfig)| {
            let mut c = config();
            edit(&mut c);
            c.check().unwrap_err().to_string()
        };
        assert_eq!(refused(&|c| c.limits.max_in_flight = 0), "--max-in-flight 0: 1 to 1000000");
        assert_eq!(refused(&|c| c.limits.body_bytes = 0), "--body-limit 0: 1024 to 1073741824");
        assert_eq!(refused(&|c| c.limits.request_timeout_ms = 0), "--timeout-ms 0: 1 to 3600000");
        assert_eq!(refused(&|c| c.workers = 100_000), "--workers 100000: 1 to 1024");
        assert_eq!(refused(&|c| c.drain = Duration::from_secs(7_200)), "--drain-ms 7200000: 0 to 3600000");
        assert_eq!(
            refused(&|c| c.limits.request_timeout_ms = 100),
            "--propose-ga-ms 100 leaves /v1/schedule/propose no time to answer within --timeout-ms 100"
        );
    }
}
