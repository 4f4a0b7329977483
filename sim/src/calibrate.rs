//! `hcp sim calibrate`: fits the price model to a real ERCOT file and writes the calibration
//! JSON that the simulator embeds.

use std::path::{Path, PathBuf};

use hcp_datasets::ingest::{Format, parse};
use hcp_datasets::rows::price_rows;

use crate::error::{Error, Result};
use crate::price::PriceCalibration;

/// What to calibrate.
#[derive(Debug, Clone)]
pub struct CalibrateConfig {
    /// ERCOT hourly price file(s) (`ercot_dam_rtm_hourly_15sp.csv.gz`).
    pub inputs: Vec<PathBuf>,
    pub nodes: Vec<String>,
    /// Directory the `ercot_<node>.json` files go to.
    pub out: PathBuf,
}

/// Fits one calibration per node and writes it; returns the written paths.
pub fn calibrate_prices(cfg: &CalibrateConfig) -> Result<Vec<(PathBuf, PriceCalibration)>> {
    let parsed = parse(Format::Ercot, &cfg.inputs)?;
    let mut rows = Vec::new();
    for t in parsed.tables.iter().filter(|t| t.table == hcp_datasets::Table::Prices) {
        rows.extend(price_rows(&t.batch)?);
    }
    let names: Vec<String> =
        cfg.inputs.iter().map(|p| p.file_name().unwrap_or(p.as_os_str()).to_string_lossy().into_owned()).collect();
    let mut written = Vec::new();
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    for node in &cfg.nodes {
        let mine: Vec<_> = rows.iter().filter(|r| &*r.node == node.as_str()).cloned().collect();
        if mine.is_empty() {
            return Err(Error::Calibration(format!("no rows for settlement point `{node}` in {}", names.join(", "))));
        }
        let command = format!("hcp sim calibrate --node {node} {}", names.join(" "));
        let source = format!("{} ({} rows rejected at parse)", names.join(", "), parsed.rejections.len());
        let cal = PriceCalibration::fit(&mine, "America/Chicago", &source, &command)?;
        let path = cfg.out.join(format!("ercot_{}.json", node.to_ascii_lowercase()));
        write_json(&path, &cal)?;
        written.push((path, cal));
    }
    Ok(written)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Calibration(e.to_string()))?;
    text.push('\n');
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
