//! `hcp ingest`: real files in, canonical Parquet out, every rejected row reported.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use hcp_datasets::ingest::{Format, IngestOptions, IngestReport, ingest as run_ingest};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Which real format the inputs are in.
    #[arg(value_enum)]
    format: FormatArg,
    /// Input files (plain or gzipped CSV; tar.gz for the Alibaba GenAI traces).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Dataset directory to write the canonical tables into.
    #[arg(long, env = "HCP_DATASET")]
    out: PathBuf,
    /// Names the written files; default: a hash of the inputs, so re-ingesting is idempotent.
    #[arg(long)]
    run_id: Option<String>,
    /// Write nothing if any row is rejected.
    #[arg(long)]
    strict: bool,
    /// Most rows per Parquet row group (at least 1).
    #[arg(long, default_value_t = hcp_datasets::writer::DEFAULT_ROW_GROUP_ROWS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    row_group_rows: usize,
    /// How many rejections to print (all are in the JSON report).
    #[arg(long, default_value_t = 20)]
    show_rejections: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Ercot,
    Epftoolbox,
    Alibaba,
    Btc,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Ercot => Format::Ercot,
            FormatArg::Epftoolbox => Format::Epftoolbox,
            FormatArg::Alibaba => Format::Alibaba,
            FormatArg::Btc => Format::Btc,
        }
    }
}

pub fn ingest(args: IngestArgs) -> Result<()> {
    crate::given_once("input", args.inputs.iter().map(|i| crate::same_place(i)))?;
    let format: Format = args.format.into();
    let mut opts = IngestOptions::new(&args.out);
    opts.run_id = args.run_id;
    opts.strict = args.strict;
    opts.max_row_group_rows = args.row_group_rows;
    let report = match run_ingest(format, &args.inputs, &opts) {
        Ok(report) => report,
        Err(e) => {
            print_rejections(e.rejections(), args.show_rejections);
            return Err(e).with_context(|| format!("ingesting {} input(s) as {}", args.inputs.len(), format.name()));
        }
    };
    print_report(&report, args.show_rejections);
    Ok(())
}

pub fn print_report(report: &IngestReport, show_rejections: usize) {
    println!("{:<60} {:<32} {:>10} {:>10} {:>9}", "file", "kind", "read", "accepted", "rejected");
    for f in &report.files {
        println!(
            "{:<60} {:<32} {:>10} {:>10} {:>9}",
            shorten(&f.file, 60),
            f.kind,
            f.rows_read,
            f.rows_accepted,
            f.rows_rejected
        );
    }
    for t in &report.tables {
        println!("wrote {:>9} rows to `{}` in {} file(s)", t.rows_written, t.table, t.files.len());
    }
    print_rejections(&report.rejections, show_rejections);
    println!("run {}; report {}", report.run_id, report.report_path.display());
}

fn print_rejections(rejections: &[hcp_datasets::ingest::Rejection], show: usize) {
    for r in rejections.iter().take(show) {
        eprintln!("rejected {r}");
    }
    if rejections.len() > show {
        eprintln!("... {} more rejections", rejections.len() - show);
    }
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s.chars().rev().take(n - 3).collect::<Vec<_>>().into_iter().rev().collect();
        format!("...{tail}")
    }
}
