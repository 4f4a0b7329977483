//! The process's logs: one JSON object a line on stderr (`tracing`'s JSON formatter), for the
//! long-running commands (`hcp serve`, `hcp scheduler`), whose spans carry W3C trace ids; with
//! the `otlp` feature, the same spans exported over OTLP/HTTP to a collector.

use anyhow::Result;
use clap::Args;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Level of the JSON log lines on stderr: error, warn, info, debug or trace.
    #[arg(long, env = "HCP_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Also export the spans (requests, decisions) over OTLP/HTTP (JSON) to this collector,
    /// e.g. http://127.0.0.1:4318 (they go to /v1/traces under it). Needs a build with
    /// `--features otlp`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

/// Keeps the exporter alive; dropping it sends what is still buffered.
#[derive(Debug)]
pub struct LogGuard {
    #[cfg(feature = "otlp")]
    otlp: Option<crate::otlp::Exporter>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(e) = self.otlp.take() {
            e.shutdown();
        }
    }
}

/// Installs the JSON formatter (and the OTLP exporter when asked) for the whole process;
/// `service` names it to the collector (`hcp-serve`, `hcp-scheduler`).
pub fn init(args: &LogArgs, service: &str) -> Result<LogGuard> {
    let level: tracing::Level = args
        .log_level
        .parse()
        .map_err(|_| anyhow::anyhow!("--log-level {}: one of error, warn, info, debug, trace", args.log_level))?;
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::filter::LevelFilter::from_level(level));
    let registry = tracing_subscriber::registry().with(json);
    match &args.otlp_endpoint {
        None => {
            registry.try_init()?;
            Ok(LogGuard {
                #[cfg(feature = "otlp")]
                otlp: None,
            })
        }
        #[cfg(feature = "otlp")]
        Some(endpoint) => {
            let (exporter, layer) = crate::otlp::Exporter::new(endpoint, service)?;
            registry.with(layer.with_filter(tracing_subscriber::filter::LevelFilter::from_level(level))).try_init()?;
            Ok(LogGuard { otlp: Some(exporter) })
        }
        #[cfg(not(feature = "otlp"))]
        Some(endpoint) => {
            let _ = service;
            anyhow::bail!(
                "--otlp-endpoint {endpoint}: this hcp was built without OTLP export (cargo build --features otlp)"
            )
        }
    }
}
