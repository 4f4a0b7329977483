//! Reading the canonical Parquet datasets: with polars, as an analyst would, and jobs as rows.

use std::path::Path;
use std::sync::Arc;

use hcp_datasets::{PartitionKey, Table};
use polars::prelude::*;

use crate::{Error, Result};

/// A lazy scan of every file of `table` under `dataset`, with the hive partition columns
/// (`market=`, `year=`, ...) restored from the directory names.
pub fn scan_table(dataset: &Path, table: Table) -> Result<LazyFrame> {
    let dir = dataset.join(table.name());
    if !dir.is_dir() {
        return Err(Error::Invalid(format!("{}: no `{table}` dataset here", dir.display())));
    }
    // The partition columns' types are given rather than inferred: `date=2024-07-01` stays a
    // string (this build of polars parses no dates from text), `year=` is an integer.
    let hive_schema: Schema = table
        .partition_keys()
        .iter()
        .map(|k| match k {
            PartitionKey::Year { key, .. } => Field::new((*key).into(), DataType::Int32),
            other => Field::new(other.key().into(), DataType::String),
        })
        .collect();
    let hive_options = HiveOptions { schema: Some(Arc::new(hive_schema)), ..HiveOptions::new_enabled() };
    let args = ScanArgsParquet { hive_options, ..ScanArgsParquet::default() };
    let pattern = format!("{}/**/*.parquet", dir.display());
    Ok(LazyFrame::scan_parquet(PlRefPath::new(pattern), args)?)
}

/// Per-node statistics of the realised price in a `prices` dataset: the real-time price where
/// the source has one (ERCOT), else the day-ahead price (the epftoolbox markets).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceSummary {
    pub market: String,
    pub node: String,
    pub currency: String,
    pub hours: u64,
    pub first: String,
    pub last: String,
    pub mean_price: f64,
    pub min_price: f64,
    pub max_price: f64,
    pub negative_hours: u64,
    pub spike_hours: u64,
}

/// Hours, mean, extremes, negative-price hours and spike hours (above 100 per MWh) of the
/// realised price per market and node, computed by polars over the hive-partitioned files.
pub fn price_summary(dataset: &Path) -> Result<Vec<PriceSummary>> {
    let rtm = col("rtm_price_per_mwh");
    let realised = when(rtm.clone().is_not_null()).then(rtm).otherwise(col("dam_price_per_mwh"));
    let price = col("price");
    let df = scan_table(dataset, Table::Prices)?
        .with_column(realised.alias("price"))
        .group_by([col("market"), col("node"), col("currency")])
        .agg([
            price.clone().count().alias("hours"),
            col("interval_start").min().dt().to_string("%Y-%m-%dT%H:%MZ").alias("first"),
            col("interval_start").max().dt().to_string("%Y-%m-%dT%H:%MZ").alias("last"),
            price.clone().mean().alias("mean"),
            price.clone().min().alias("min"),
            price.clone().max().alias("max"),
            price.clone().lt(lit(0.0)).sum().alias("negative"),
            price.gt(lit(100.0)).sum().alias("spikes"),
        ])
        .sort(["market", "node"], SortMultipleOptions::default())
        .collect()?;
    let s = |name: &str| df.column(name).map_err(Error::from);
    let (market, node, first, last) = (s("market")?.str()?, s("node")?.str()?, s("first")?.str()?, s("last")?.str()?);
    let currency = s("currency")?.str()?;
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
            currency: currency.get(i).unwrap_or_default().to_string(),
            hours: hours.get(i).unwrap_or(0),
            first: first.get(i).unwrap_or_default().to_string(),
            last: last.get(i).unwrap_or_default().to_string(),
            mean_price: mean.get(i).unwrap_or(f64::NAN),
            min_price: min.get(i).unwrap_or(f64::NAN),
            max_price: max.get(i).unwrap_or(f64::NAN),
            negative_hours: negative.get(i).unwrap_or(0),
            spike_hours: spikes.get(i).unwrap_or(0),
        })
        .collect())
}

/// Rows of `table` in `dataset`, or `None` when the dataset has no such table.
pub fn row_count(dataset: &Path, table: Table) -> Result<Option<u64>> {
    if !dataset.join(table.name()).is_dir() {
        return Ok(None);
    }
    let df = scan_table(dataset, table)?.select([len().alias("rows")]).collect()?;
    let rows = df.column("rows")?.cast(&DataType::UInt64)?;
    Ok(rows.u64()?.get(0))
}

/// The jobs of a dataset's `jobs` table, all of them or only those of `job_source`: ingested
/// traces are separate clusters, so callers that add jobs up name one.
pub fn dataset_jobs(dir: &Path, job_source: Option<&str>) -> Result<Vec<hcp_datasets::rows::JobRow>> {
    let (batch, _) = hcp_datasets::read_table(dir, Table::Jobs, &hcp_datasets::ReadOptions::default())?;
    let mut jobs = hcp_datasets::rows::job_rows(&batch)?;
    if let Some(wanted) = job_source {
        let sources: std::collections::BTreeSet<String> = jobs.iter().map(|j| j.source.clone()).collect();
        if !sources.contains(wanted) {
            return Err(Error::Invalid(format!(
                "{}: no jobs of source `{wanted}`; the sources are {}",
                dir.display(),
                sources.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        jobs.retain(|j| j.source == wanted);
    }
    Ok(jobs)
}
