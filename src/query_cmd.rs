//! `hcp query`: polars SQL over the Parquet datasets hcp writes.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use hcp_training::query;

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A directory of hcp's Parquet: a dataset root (`hcp ingest`, `hcp sim`), `hcp run`'s output
    /// (its `history/`, `forecasts/`, `evaluation/` and `backtest/` one level down), or an
    /// evaluation's or backtest's output. Every table found is named after its directory or
    /// file (`prices`, `telemetry`, `decisions`, ...); `--tables` lists them.
    #[arg(long, env = "HCP_DATA")]
    data: PathBuf,
    /// The query, in polars' SQL dialect, e.g.
    /// "SELECT node, avg(rtm_price_per_mwh) FROM prices GROUP BY node".
    #[arg(required_unless_present = "tables")]
    sql: Option<String>,
    /// Write every row of the answer to this file (.csv or .parquet; not over or into a table
    /// under --data) instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows printed (the answer's size is printed beside them).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// List the tables found under --data, with their places, and exit.
    #[arg(long)]
    tables: bool,
}

pub fn query_cmd(a: QueryArgs) -> Result<()> {
    if a.tables {
        for t in query::discover(&a.data)? {
            println!("{:<24} {}", t.name, t.path.display());
        }
        return Ok(());
    }
    let Some(sql) = a.sql else { bail!("no query given") };
    if let Some(out) = &a.out {
        query::check_out(&a.data, out)?;
    }
    let mut answer = query::query(&a.data, &sql).with_context(|| format!("querying {}", a.data.display()))?;
    match &a.out {
        Some(path) => {
            query::write(&mut answer, path)?;
            println!("{} rows × {} columns -> {}", answer.height(), answer.width(), path.display());
        }
        None => print!("{}", query::render(&answer, a.limit)),
    }
    Ok(())
}
