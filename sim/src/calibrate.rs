//! `hcp sim calibrate`: fits the simulators to the real data and writes the calibration files
//! that the simulator embeds (`sim/calibration/*.json`).
//!
//! Prices: the ERCOT hourly file, per settlement point. Workloads: the Alibaba v2023 pods with
//! their node list, and the v2025 DLRM instances. Bitcoin: blockchain.com price and hashrate
//! since 2017, per-block fee statistics since 2023.

use std::path::{Path, PathBuf};

use hcp_datasets::Table;
use hcp_datasets::ingest::{Format, Parsed, parse};
use hcp_datasets::rows::{btc_network_rows, gpu_node_rows, job_rows, price_rows};

use crate::btc::BtcCalibration;
use crate::error::{Error, Result};
use crate::price::PriceCalibration;
use crate::workload::{WorkloadCalibration, fit_trace};

/// The real files, relative to a directory laid out like `../shared/data`.
pub const ERCOT_PRICES: &str = "ercot/ercot_dam_rtm_hourly_15sp.csv.gz";
pub const V2023_PODS: &str = "alibaba/v2023/openb_pod_list_default.csv";
pub const V2023_GPU_NODES: &str = "alibaba/v2023/openb_node_list_gpu_node.csv";
pub const V2025_DLRM: &str = "alibaba/v2025/disaggregated_DLRM_trace.csv.gz";
pub const BTC_FILES: [&str; 3] = [
    "btc/blockchain_com_2009_2022/bitcoin-all-time-market-price.csv",
    "btc/blockchain_com_2009_2022/bitcoin-all-time-hash-rate.csv",
    "btc/block_stats_fragments/block_stats_selected_ranges.csv.gz",
];

/// What to calibrate.
#[derive(Debug, Clone)]
pub struct CalibrateConfig {
    /// A directory laid out like `../shared/data`.
    pub data: PathBuf,
    /// ERCOT settlement points to fit.
    pub nodes: Vec<String>,
    /// Directory the calibration files go to.
    pub out: PathBuf,
}

/// Everything one calibration run wrote.
#[derive(Debug)]
pub struct Calibrated {
    pub prices: Vec<(PathBuf, PriceCalibration)>,
    pub workloads: (PathBuf, WorkloadCalibration),
    pub btc: (PathBuf, BtcCalibration),
}

pub fn calibrate_all(cfg: &CalibrateConfig) -> Result<Calibrated> {
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    let prices = calibrate_prices(&[cfg.data.join(ERCOT_PRICES)], &cfg.nodes, &cfg.out)?;
    let workloads = calibrate_workloads(&cfg.data)?;
    let workloads_path = cfg.out.join("alibaba_workloads.json");
    write_json(&workloads_path, &workloads)?;
    let btc = calibrate_btc(&cfg.data)?;
    let btc_path = cfg.out.join("btc.json");
    write_json(&btc_path, &btc)?;
    Ok(Calibrated { prices, workloads: (workloads_path, workloads), btc: (btc_path, btc) })
}

fn file_names(inputs: &[PathBuf]) -> Vec<String> {
    inputs.iter().map(|p| p.file_name().unwrap_or(p.as_os_str()).to_string_lossy().into_owned()).collect()
}

fn parse_existing(format: Format, inputs: &[PathBuf]) -> Result<Parsed> {
    if let Some(missing) = inputs.iter().find(|p| !p.exists()) {
        return Err(Error::Calibration(format!("{} does not exist", missing.display())));
    }
    Ok(parse(format, inputs)?)
}

/// Fits one price calibration per node and writes `ercot_<node>.json` under `out`.
pub fn calibrate_prices(inputs: &[PathBuf], nodes: &[String], out: &Path) -> Result<Vec<(PathBuf, PriceCalibration)>> {
    let parsed = parse_existing(Format::Ercot, inputs)?;
    let mut rows = Vec::new();
    for batch in parsed.batches(Table::Prices) {
        rows.extend(price_rows(batch)?);
    }
    let names = file_names(inputs);
    let mut written = Vec::new();
    for node in nodes {
        let mine: Vec<_> = rows.iter().filter(|r| &*r.node == node.as_str()).cloned().collect();
        if mine.is_empty() {
            return Err(Error::Calibration(format!("no rows for settlement point `{node}` in {}", names.join(", "))));
        }
        let command = format!("hcp sim calibrate --data DIR --node {node} (reads DIR/{ERCOT_PRICES})");
        let source = format!("{} ({} rows rejected at parse)", names.join(", "), parsed.rejections.len());
        let cal = PriceCalibration::fit(&mine, "America/Chicago", &source, &command)?;
        let path = out.join(format!("ercot_{}.json", node.to_ascii_lowercase()));
        write_json(&path, &cal)?;
        written.push((path, cal));
    }
    Ok(written)
}

/// Fits the v2023 and v2025 workloads.
pub fn calibrate_workloads(data: &Path) -> Result<WorkloadCalibration> {
    let v2023 = parse_existing(Format::Alibaba, &[data.join(V2023_PODS), data.join(V2023_GPU_NODES)])?;
    let mut pods = Vec::new();
    let mut gpus = 0u64;
    for batch in v2023.batches(Table::Jobs) {
        pods.extend(job_rows(batch)?);
    }
    for batch in v2023.batches(Table::GpuNodes) {
        gpus += gpu_node_rows(batch)?.iter().map(|n| n.num_gpu.max(0) as u64).sum::<u64>();
    }
    let source_2023 = pods.first().map(|p| p.source.clone()).unwrap_or_default();
    let mut traces = vec![fit_trace(&source_2023, &pods, gpus)?];

    let v2025 = parse_existing(Format::Alibaba, &[data.join(V2025_DLRM)])?;
    let mut dlrm = Vec::new();
    for batch in v2025.batches(Table::Jobs) {
        dlrm.extend(job_rows(batch)?);
    }
    // No node list for v2025: the cluster's size is taken as the most GPUs held at once.
    let peak = peak_gpus(&dlrm);
    traces.push(fit_trace("alibaba_v2025_dlrm", &dlrm, peak)?);
    Ok(WorkloadCalibration {
        command: format!(
            "hcp sim calibrate --data DIR (reads DIR/{V2023_PODS}, DIR/{V2023_GPU_NODES}, DIR/{V2025_DLRM})"
        ),
        traces,
    })
}

/// Most GPUs held by live jobs at once (jobs without a creation time count from the start,
/// jobs without a deletion time to the end).
fn peak_gpus(jobs: &[hcp_datasets::rows::JobRow]) -> u64 {
    let mut events: Vec<(i64, i64)> = Vec::new();
    for j in jobs.iter().filter(|j| j.num_gpu > 0) {
        events.push((j.creation_time_us.unwrap_or(i64::MIN), j.num_gpu as i64));
        events.push((j.deletion_time_us.unwrap_or(i64::MAX), -(j.num_gpu as i64)));
    }
    events.sort();
    let (mut live, mut peak) = (0i64, 0i64);
    for (_, d) in events {
        live += d;
        peak = peak.max(live);
    }
    peak as u64
}

/// Fits the Bitcoin network process on data from 2017 on.
pub fn calibrate_btc(data: &Path) -> Result<BtcCalibration> {
    let inputs: Vec<PathBuf> = BTC_FILES.iter().map(|f| data.join(f)).collect();
    let parsed = parse_existing(Format::Btc, &inputs)?;
    let mut rows = Vec::new();
    for batch in parsed.batches(Table::BtcNetwork) {
        rows.extend(btc_network_rows(batch)?);
    }
    let since = hcp_datasets::time::parse_instant("2017-01-01").expect("a valid date");
    let command = format!("hcp sim calibrate --data DIR (reads {})", BTC_FILES.map(|f| format!("DIR/{f}")).join(", "));
    BtcCalibration::fit(&rows, since, &command)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Calibration(e.to_string()))?;
    text.push('\n');
    Ok(hcp_datasets::writer::write_bytes_atomically(path, text.as_bytes())?)
}
