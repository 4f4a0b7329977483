//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch, TimestampMicrosecondArray};
use arrow::util::display::array_value_to_string;

/// `../shared/data` beside the project, or `HCP_SHARED_DATA`; `None` (with a visible message)
/// when it is not there, so the tests that need it skip rather than fail on a bare machine.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("HCP_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: real data not found at {} (set HCP_SHARED_DATA)", dir.display());
        None
    }
}

/// Every row of a batch as one string, nulls shown as `∅`, for order-free comparison.
pub fn row_strings(batch: &RecordBatch) -> Vec<String> {
    let mut rows: Vec<String> = (0..batch.num_rows())
        .map(|i| {
            batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        "∅".to_string()
                    } else if let Some(t) = c.as_any().downcast_ref::<TimestampMicrosecondArray>() {
                        format!("t{}", t.value(i))
                    } else {
                        array_value_to_string(c, i).unwrap()
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    rows.sort();
    rows
}

/// All files below `dir` (hidden ones included), for "nothing was written" checks.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_below(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
