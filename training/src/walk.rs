//! What every walk-forward evaluation shares: fitting recalibration blocks on worker threads,
//! picking the best model, and writing `forecasts.parquet`, `metrics.json` and `report.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use hcp_datasets::rows::{ForecastRow, forecasts_batch};
use hcp_datasets::writer::write_bytes_atomically;
use hcp_datasets::{Table, WriteOptions, write_parquet_file};
use hcp_models::forecast::Scores;
use serde::Serialize;

use crate::{Error, Result};

/// The most worker threads a walk takes.
pub const MAX_THREADS: usize = 1024;

/// A walk's workers by default: every core, at most [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}

/// Refuses a walk's counts that must be positive (recalibration days, band days, threads),
/// naming the flag of the first that is not; threads above [`MAX_THREADS`] too.
pub fn check_counts(recalibrate_every: usize, band_days: usize, threads: usize) -> Result<()> {
    for (flag, v) in [("--recalibrate-every", recalibrate_every), ("--band-days", band_days), ("--threads", threads)] {
        if v == 0 {
            return Err(Error::Invalid(format!("{flag} 0: must be positive")));
        }
    }
    if threads > MAX_THREADS {
        return Err(Error::Invalid(format!("--threads {threads}: at most {MAX_THREADS}")));
    }
    Ok(())
}

/// Runs `fit` for every block (recalibration point) on `threads` workers and returns the
/// results in block order; the first error stops the others and is returned.
/// `progress(done, total)` is called as blocks finish.
pub fn fit_blocks<T: Send>(
    blocks: &[usize],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    fit: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..blocks.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= blocks.len() || failure.lock().expect("no panic").is_some() {
                        break;
                    }
                    match fit(blocks[b]) {
                        Ok(r) => results.lock().expect("no panic")[b] = Some(r),
                        Err(e) => {
                            *failure.lock().expect("no panic") = Some(e);
                            return;
                        }
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, blocks.len());
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("no panic") {
        return Err(e);
    }
    Ok(results.into_inner().expect("no panic").into_iter().map(|r| r.expect("every block fitted")).collect())
}

/// The models, lowest MAE first.
pub fn by_mae<T>(models: &BTreeMap<String, T>, scores: impl Fn(&T) -> &Scores) -> Vec<(&String, &T)> {
    let mut sorted: Vec<_> = models.iter().collect();
    sorted.sort_by(|a, b| scores(a.1).mae.total_cmp(&scores(b.1).mae));
    sorted
}

/// The model with the lowest MAE.
pub fn best_by_mae<T>(models: &BTreeMap<String, T>, scores: impl Fn(&T) -> &Scores) -> String {
    by_mae(models, scores).first().map(|(id, _)| (*id).clone()).expect("at least one model")
}

/// Writes an evaluation's outputs under `out`, each atomically: the forecasts in the canonical
/// schema, the report as JSON and its human version.
pub fn write_outputs(
    out: &Path,
    opts: &WriteOptions,
    rows: &[ForecastRow],
    report: &impl Serialize,
    markdown: &str,
) -> Result<()> {
    write_parquet_file(&out.join("forecasts.parquet"), Table::Forecasts, &forecasts_batch(rows), opts)?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Invalid(e.to_string()))?;
    write_bytes_atomically(&out.join("metrics.json"), &json)?;
    write_bytes_atomically(&out.join("report.md"), markdown.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_block_order_and_the_error_wins() {
        let blocks: Vec<usize> = (0..50).collect();
        let out = fit_blocks(&blocks, 4, &|_, _| {}, |b| Ok(b * 2)).unwrap();
        assert_eq!(out, blocks.iter().map(|b| b * 2).collect::<Vec<_>>());
        let err =
            fit_blocks(
                &blocks,
                4,
                &|_, _| {},
                |b| if b == 17 { Err(Error::Invalid("block 17".into())) } else { Ok(b) },
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "block 17");
    }

    /// A zero count is refused by its flag, not run as one (`--threads 0` ran on one thread
    /// and reported "on 0 threads").
    #[test]
    fn zero_counts_and_too_many_threads_are_refused_by_flag() {
        assert!(check_counts(7, 28, MAX_THREADS).is_ok());
        let refused = |r: Result<()>| r.unwrap_err().to_string();
        assert_eq!(refused(check_counts(0, 28, 2)), "--recalibrate-every 0: must be positive");
        assert_eq!(refused(check_counts(7, 0, 2)), "--band-days 0: must be positive");
        assert_eq!(refused(check_counts(7, 28, 0)), "--threads 0: must be positive");
        assert_eq!(refused(check_counts(7, 28, MAX_THREADS + 1)), "--threads 1025: at most 1024");
    }
}
