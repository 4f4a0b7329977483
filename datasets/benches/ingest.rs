//! Ingest throughput and peak memory on the full ERCOT price file.
//!
//! `cargo bench -p hcp-datasets --bench ingest` (release profile). Prints rows/s over repeated
//! runs (min, median, max) and the process's peak resident memory, to compare with
//! `scripts/bench_ingest_polars.py` doing the same CSV → Parquet conversion in Python polars.
//! Set `HCP_SHARED_DATA` to point elsewhere than `../shared/data`, `HCP_BENCH_RUNS` to repeat
//! more or less than 7 times.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hcp_datasets::ingest::{Format, IngestOptions, ingest};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    // cargo bench passes `--bench`; any other argument is ignored.
    let data = std::env::var_os("HCP_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let file = data.join("ercot/ercot_dam_rtm_hourly_15sp.csv.gz");
    if !file.is_file() {
        eprintln!("SKIPPED ingest bench: {} not found (set HCP_SHARED_DATA)", file.display());
        return;
    }
    let runs: usize = std::env::var("HCP_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let mut seconds = Vec::with_capacity(runs);
    let mut rows = 0;
    for run in 0..=runs {
        let out = tempfile::tempdir().expect("temp dir");
        let start = Instant::now();
        let report =
            ingest(Format::Ercot, std::slice::from_ref(&file), &IngestOptions::new(out.path())).expect("ingest");
        let elapsed = start.elapsed().as_secs_f64();
        rows = report.files[0].rows_read;
        if run > 0 {
            seconds.push(elapsed); // run 0 warms the page cache
        }
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    println!("ingest ercot prices: {rows} rows, {runs} runs after one warm-up");
    println!("  time   min {:.3} s  median {:.3} s  max {:.3} s", seconds[0], median, seconds[seconds.len() - 1]);
    println!("  rate   {:.0} rows/s (median)", rows as f64 / median);
    if let Some(mib) = peak_rss_mib() {
        println!("  peak resident memory {mib:.1} MiB (whole bench process)");
    }
}
