//! Data contracts beyond the schema, checked before a file is written.
//!
//! Forecasts (DESIGN.md): `output_type` is `mean` or `quantile`; a quantile row has a level in
//! (0, 1), a mean row none; values are finite; and the quantiles of one forecast (same target,
//! node, model, run, issue and target time) never cross.

use arrow::array::{Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};

use crate::error::{Error, Result};
use crate::schema::Table;
use crate::time::format_micros;

/// Checks `batch`, sorted by the table's key, against the table's contract.
pub(crate) fn check(table: Table, batch: &RecordBatch) -> Result<()> {
    match table {
        Table::Forecasts => check_forecasts(batch),
        _ => Ok(()),
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<T>()).expect("schema checked")
}

fn check_forecasts(batch: &RecordBatch) -> Result<()> {
    let strings = |n| column::<StringArray>(batch, n);
    let times = |n| column::<TimestampMicrosecondArray>(batch, n);
    let (target, node, model, run) = (strings("target"), strings("node"), strings("model_id"), strings("run_id"));
    let (issued, valid_for) = (times("forecast_time"), times("target_time"));
    let kind = strings("output_type");
    let level = column::<Float64Array>(batch, "output_type_id");
    let value = column::<Float64Array>(batch, "value");
    let describe = |i: usize| {
        format!(
            "{} at {} for {} ({} {}, run {})",
            target.value(i),
            node.value(i),
            format_micros(valid_for.value(i)),
            model.value(i),
            format_micros(issued.value(i)),
            run.value(i)
        )
    };
    let bad = |i: usize, detail: String| Error::Invalid(format!("forecast {}: {detail}", describe(i)));
    let same_forecast = |a: usize, b: usize| {
        target.value(a) == target.value(b)
            && node.value(a) == node.value(b)
            && model.value(a) == model.value(b)
            && run.value(a) == run.value(b)
            && issued.value(a) == issued.value(b)
            && valid_for.value(a) == valid_for.value(b)
    };
    for i in 0..batch.num_rows() {
        if !value.value(i).is_finite() {
            return Err(bad(i, format!("value {} is not finite", value.value(i))));
        }
        match kind.value(i) {
            "mean" if level.is_null(i) => {}
            "mean" => return Err(bad(i, "a mean row has no output_type_id".into())),
            "quantile" => {
                if level.is_null(i) || !(level.value(i) > 0.0 && level.value(i) < 1.0) {
                    return Err(bad(i, "a quantile row needs an output_type_id in (0, 1)".into()));
                }
                // Rows are sorted by key, so the previous row is the next lower quantile of the
                // same forecast when there is one.
                if i > 0 && same_forecast(i - 1, i) && kind.value(i - 1) == "quantile" {
                    let (lo, hi) = (value.value(i - 1), value.value(i));
                    if hi < lo {
                        return Err(bad(
                            i,
                            format!(
                                "quantiles cross: q{} = {hi} is below q{} = {lo}",
                                level.value(i),
                                level.value(i - 1)
                            ),
                        ));
                    }
                }
            }
            other => return Err(bad(i, format!("output_type `{other}` is neither mean nor quantile"))),
        }
    }
    Ok(())
}
