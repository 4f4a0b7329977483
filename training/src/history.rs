//! Reading the canonical Parquet datasets with polars, as an analyst would.

use std::path::Path;

use hcp_datasets::Table;
use polars::prelude::*;

use crate::{Error, Result};

/// A lazy scan of every file of `table` under `dataset`, with the hive partition columns
/// (`market=`, `year=`, ...) restored from the directory names.
pub fn scan_table(dataset: &Path, table: Table) -> Result<LazyFrame> {
    let dir = dataset.join(table.name());
    if !dir.is_dir() {
        return Err(Error::Invalid(format!("{}: no `{table}` dataset here", dir.display())));
    }
    let args = ScanArgsParquet { hive_options: HiveOptions::new_enabled(), ..ScanArgsParquet::default() };
    let pattern = format!("{}/**/*.parquet", dir.display());
    Ok(LazyFrame::scan_parquet(PlRefPath::new(pattern), args)?)
}

/// Per-node statistics of the real-time price in a `prices` dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceSummary {
    pub market: String,
    pub node: String,
    pub hours: u64,
    pub first: String,
    pub last: String,
    pub mean_rtm: f64,
    pub min_rtm: f64,
    pub max_rtm: f64,
    pub negative_hours: u64,
    pub spike_hours: u64,
}

/// Hours, mean, extremes, negative-price hours and spike hours (> $100/MWh) of the real-time
/// price per market and node, computed by polars over the hive-partitioned files.
pub fn price_summary(dataset: &Path) -> Result<Vec<PriceSummary>> {
    let rtm = col("rtm_price_per_mwh");
    let df = scan_table(dataset, Table::Prices)?
        .group_by([col("market"), col("node")])
        .agg([
            rtm.clone().count().alias("hours"),
            col("interval_start").min().dt().to_string("%Y-%m-%dT%H:%MZ").alias("first"),
            col("interval_start").max().dt().to_string("%Y-%m-%dT%H:%MZ").alias("last"),
            rtm.clone().mean().alias("mean"),
            rtm.clone().min().alias("min"),
            rtm.clone().max().alias("max"),
            rtm.clone().lt(lit(0.0)).sum().alias("negative"),
            rtm.gt(lit(100.0)).sum().alias("spikes"),
        ])
        .sort(["market", "node"], SortMultipleOptions::default())
        .collect()?;
    let s = |name: &str| df.column(name).map_err(Error::from);
    let (market, node, first, last) = (s("market")?.str()?, s("node")?.str()?, s("first")?.str()?, s("last")?.str()?);
    let hours = s("hours")?.cast(&DataType::UInt64)?;
    let hours = hours.u64()?;
    let negative = s("negative")?.cast(&DataType::UInt64)?;
    let negative = negative.u64()?;
    let spikes = s("spikes")?.cast(&DataType::UInt64)?;
    let spikes = spikes.u64()?;
    let (mean, min, max) = (s("mean")?.f64()?, s("min")?.f64()?, s("max")?.f64()?);
    Ok((0..df.height())
        .map(|i| PriceSummary {
            market: market.get(i).unwrap_or_default().to_string(),
            node: node.get(i).unwrap_or_default().to_string(),
            hours: hours.get(i).unwrap_or(0),
            first: first.get(i).unwrap_or_default().to_string(),
            last: last.get(i).unwrap_or_default().to_string(),
            mean_rtm: mean.get(i).unwrap_or(f64::NAN),
            min_rtm: min.get(i).unwrap_or(f64::NAN),
            max_rtm: max.get(i).unwrap_or(f64::NAN),
            negative_hours: negative.get(i).unwrap_or(0),
            spike_hours: spikes.get(i).unwrap_or(0),
        })
        .collect())
}
