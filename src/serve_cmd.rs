//! `hcp serve`: the prediction HTTP endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use hcp_serving::{ApiKeys, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory whose subdirectories are model artifacts (`hcp train`, `hcp run`'s out/run/models).
    #[arg(long, env = "HCP_SERVE_MODELS")]
    models: PathBuf,
    #[arg(long, env = "HCP_SERVE_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// API keys file: `ROLE SHA256_HEX [LABEL]` per line (roles: read, operate). Keys are also
    /// read from HCP_API_KEYS (`ROLE:KEY,...`).
    #[arg(long, env = "HCP_SERVE_KEYS_FILE")]
    keys: Option<PathBuf>,
    /// Serve without authentication (every caller may operate): for a trusted loopback only.
    #[arg(long, env = "HCP_SERVE_NO_AUTH", value_parser = clap::builder::BoolishValueParser::new())]
    no_auth: bool,
    /// Requests handled at once; more get 429 with Retry-After.
    #[arg(long, env = "HCP_SERVE_MAX_IN_FLIGHT", default_value_t = 512)]
    max_in_flight: usize,
    /// Largest request body, bytes.
    #[arg(long, env = "HCP_SERVE_BODY_LIMIT", default_value_t = 1 << 20)]
    body_limit: usize,
    /// A request not answered in this long gets 503, ms.
    #[arg(long, env = "HCP_SERVE_TIMEOUT_MS", default_value_t = 10_000)]
    timeout_ms: u64,
    /// Time the genetic algorithm of /v1/schedule/propose may take, ms.
    #[arg(long, env = "HCP_SERVE_PROPOSE_GA_MS", default_value_t = 100)]
    propose_ga_ms: u64,
    /// Inference worker threads (default: one per core).
    #[arg(long, env = "HCP_SERVE_WORKERS")]
    workers: Option<usize>,
    #[command(flatten)]
    log: crate::logging::LogArgs,
    /// After SIGTERM: answer /v2/health/ready with 503 for this long before closing, ms.
    #[arg(long, env = "HCP_SERVE_DRAIN_MS", default_value_t = 0)]
    drain_ms: u64,
}

pub fn serve_cmd(a: ServeArgs) -> Result<()> {
    let _logs = crate::logging::init(&a.log, "hcp-serve")?;
    // Checked here, not by clap: either may come from the environment, which clap's conflict
    // message would not say.
    if a.no_auth && a.keys.is_some() {
        anyhow::bail!("--no-auth (or HCP_SERVE_NO_AUTH) with --keys (or HCP_SERVE_KEYS_FILE): choose one");
    }
    let mut keys = if a.no_auth { ApiKeys::open() } else { ApiKeys::default() };
    if let Some(path) = &a.keys {
        keys.add_file(path)?;
    }
    if let Ok(value) = std::env::var("HCP_API_KEYS") {
        if a.no_auth {
            anyhow::bail!("--no-auth with HCP_API_KEYS set: choose one");
        }
        keys.add_env(&value)?;
    }
    let mut cfg = ServeConfig::new(a.models, a.addr, keys);
    cfg.limits.max_in_flight = a.max_in_flight;
    cfg.limits.body_bytes = a.body_limit;
    cfg.limits.request_timeout_ms = a.timeout_ms;
    cfg.limits.propose_ga_ms = a.propose_ga_ms;
    if let Some(w) = a.workers {
        cfg.workers = w;
    }
    cfg.drain = Duration::from_millis(a.drain_ms);
    hcp_serving::run_until_signal(cfg).context("hcp serve")
}
