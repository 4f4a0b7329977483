//! `hcp exporter`: Prometheus exporters for the fleet's devices.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hcp_sim::exporter::{AsicExporterConfig, ExporterServer};

#[derive(Debug, Args)]
pub struct ExporterArgs {
    #[command(subcommand)]
    what: ExporterWhat,
}

#[derive(Debug, Subcommand)]
enum ExporterWhat {
    /// ASIC miners over the miner TCP API (LuxOS/CGMiner dialect; `hcp sim miners` speaks it):
    /// hashrate, power, temperatures, fans, shares, state, on /metrics.
    Asic(AsicArgs),
}

#[derive(Debug, Args)]
struct AsicArgs {
    /// A miner's API address, e.g. 127.0.0.2:4028; repeat for each.
    #[arg(long = "miner", required = true)]
    miners: Vec<SocketAddr>,
    #[arg(long, default_value = "127.0.0.1:9401")]
    listen: SocketAddr,
    /// Timeout of each request to a miner, ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Print one scrape to stdout and exit instead of serving.
    #[arg(long)]
    once: bool,
}

pub fn exporter_cmd(args: ExporterArgs) -> Result<()> {
    match args.what {
        ExporterWhat::Asic(a) => {
            let cfg = AsicExporterConfig { miners: a.miners, timeout: Duration::from_millis(a.timeout_ms) };
            if a.once {
                print!("{}", hcp_sim::exporter::scrape(&cfg));
                return Ok(());
            }
            let server = ExporterServer::spawn(a.listen, cfg).with_context(|| format!("binding {}", a.listen))?;
            println!("serving http://{}/metrics", server.local_addr());
            loop {
                std::thread::park();
            }
        }
    }
}
