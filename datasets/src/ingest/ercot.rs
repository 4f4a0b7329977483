//! ERCOT hourly settlement point prices and the system/ancillary-service file.
//!
//! ERCOT keys every hour by `delivery_date` (Central local date) and `hour_ending` 1..24. The
//! ingester turns that into the UTC start of the interval:
//! - normal days: hour ending `h` starts `h - 1` hours after local midnight;
//! - the 23-hour day (March): hour ending 2 does not exist (02:00 CST is 03:00 CDT), so hour
//!   ending 3 is the day's second hour; a row for hour ending 2 is rejected;
//! - the 25-hour day (November): hour endings 1 and 2 are the first two hours (CDT), the
//!   repeated hour is hour ending 2 with ERCOT's DST flag `Y`, and hour ending 3 is the fourth
//!   hour. Files without a DST-flag column (like the one in `../shared/data`) carry 24 rows
//!   that day: the repeated hour is simply absent, a one-hour gap in UTC, never a shift.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::US::Central;

use super::csv_input::{CsvInput, FieldError, FieldResult, Fields, Tally};
use super::{FastHash, Parsed, ParsedTable, Rejection};
use crate::error::Result;
use crate::rows::{ExogenousRow, PriceRow, exogenous_batch, prices_batch};
use crate::schema::Table;
use crate::time::{MICROS_PER_HOUR, format_micros};

const MARKET: &str = "ERCOT";
const PRICE_HEADER: [&str; 5] = ["delivery_date", "hour_ending", "settlement_point", "dam_lmp", "rtm_lmp"];

/// System-file columns and the canonical variable names they become.
const SYSTEM_VARIABLES: [(&str, &str); 12] = [
    ("wind_gen_mw", "wind_gen_mw"),
    ("solar_gen_mw", "solar_gen_mw"),
    ("gas_gen_mw", "gas_gen_mw"),
    ("coal_gen_mw", "coal_gen_mw"),
    ("nuclear_gen_mw", "nuclear_gen_mw"),
    ("total_gen_mw", "total_gen_mw"),
    ("net_load_mw", "net_load_mw"),
    ("regup", "regup_price_usd_per_mw_h"),
    ("regdn", "regdn_price_usd_per_mw_h"),
    ("rrs", "rrs_price_usd_per_mw_h"),
    ("nspin", "nspin_price_usd_per_mw_h"),
    ("ecrs", "ecrs_price_usd_per_mw_h"),
];

/// UTC microseconds at which ERCOT's hour `hour_ending` of `date` starts; `repeated` marks the
/// second 01:00-02:00 hour of the 25-hour day (ERCOT's `DSTFlag = Y`).
pub fn ercot_interval_start(date: NaiveDate, hour_ending: u32, repeated: bool) -> Result<i64, String> {
    let day = local_day(date)?;
    interval_start_in_day(date, day, hour_ending, repeated)
}

fn interval_start_in_day(
    date: NaiveDate,
    (midnight_us, day_hours): (i64, u32),
    hour_ending: u32,
    repeated: bool,
) -> Result<i64, String> {
    let index = match (day_hours, hour_ending, repeated) {
        (_, 0 | 25.., _) => return Err(format!("hour_ending {hour_ending} is outside 1..=24")),
        (24, h, false) => h - 1,
        (23, 2, false) => {
            return Err(format!(
                "hour_ending 2 does not exist on {date}, the 23-hour day (02:00 CST becomes 03:00 CDT)"
            ));
        }
        (23, 1, false) => 0,
        (23, h, false) => h - 2,
        (25, h @ (1 | 2), false) => h - 1,
        (25, 2, true) => 2,
        (25, h, false) => h,
        (_, h, true) => {
            return Err(format!(
                "DST flag set on hour_ending {h} of {date}; only hour ending 2 of the 25-hour day repeats"
            ));
        }
        (n, _, _) => return Err(format!("{date} has {n} hours in US/Central")),
    };
    Ok(midnight_us + i64::from(index) * MICROS_PER_HOUR)
}

/// UTC microseconds of local midnight starting `date`, and the number of hours in that day.
fn local_day(date: NaiveDate) -> Result<(i64, u32), String> {
    let midnight = |d: NaiveDate| -> Result<i64, String> {
        Central
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .map(|t| t.timestamp_micros())
            .ok_or_else(|| format!("local midnight of {d} is ambiguous in US/Central"))
    };
    let start = midnight(date)?;
    let next = date.succ_opt().ok_or_else(|| format!("{date} has no next day"))?;
    let end = midnight(next)?;
    Ok((start, ((end - start) / MICROS_PER_HOUR) as u32))
}

/// A parsed local day: its date, UTC midnight and length in hours.
type LocalDay = (NaiveDate, (i64, u32));

/// Caches date parsing and time-zone lookups per `delivery_date` string.
#[derive(Default)]
struct DayCache(HashMap<String, Result<LocalDay, String>, FastHash>);

impl DayCache {
    fn day(&mut self, s: &str) -> Result<LocalDay, String> {
        if let Some(d) = self.0.get(s) {
            return d.clone();
        }
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| format!("`{s}` is not a YYYY-MM-DD date"))
            .and_then(|date| Ok((date, local_day(date)?)));
        self.0.insert(s.to_string(), d.clone());
        d
    }
}

pub(crate) fn parse(inputs: &[PathBuf]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut prices = Vec::new();
    let mut system = Vec::new();
    let mut price_keys = PriceKeys::default();
    let mut system_keys: HashMap<i64, (String, u64)> = HashMap::new();
    for path in inputs {
        let mut input = CsvInput::open(path)?;
        if input.header.first().map(String::as_str) != Some("delivery_date") {
            return Err(input.wrong_header(&PRICE_HEADER.join(",")));
        }
        if input.header.get(2).map(String::as_str) == Some("settlement_point") {
            parse_prices(&mut input, &mut prices, &mut price_keys, &mut parsed)?;
        } else {
            parse_system(&mut input, &mut system, &mut system_keys, &mut parsed)?;
        }
    }
    price_keys.reject_duplicates(&mut prices, &mut parsed);
    if !prices.is_empty() {
        parsed.tables.push(ParsedTable {
            table: Table::Prices,
            batch: prices_batch(&prices),
            source: "ercot".into(),
            time_basis: None,
        });
    }
    if !system.is_empty() {
        parsed.tables.push(ParsedTable {
            table: Table::Exogenous,
            batch: exogenous_batch(&system),
            source: "ercot_system".into(),
            time_basis: None,
        });
    }
    Ok(parsed)
}

/// The interval start of a row's `delivery_date`, `hour_ending` and optional DST flag.
fn row_start(f: &Fields<'_>, days: &mut DayCache, dst_col: Option<usize>) -> FieldResult<i64> {
    let (date, day) = days.day(f.str(0)).map_err(|r| FieldError::field("delivery_date", r))?;
    let hour = f.i32_in(1, 1, 24)? as u32;
    let repeated = match dst_col.map(|c| f.str(c)) {
        None | Some("N" | "n" | "" | "false") => false,
        Some("Y" | "y" | "true") => true,
        Some(other) => return Err(FieldError::field("dst_flag", format!("`{other}` is not Y or N"))),
    };
    interval_start_in_day(date, day, hour, repeated).map_err(|r| FieldError::field("hour_ending", r))
}

fn dst_column(input: &CsvInput) -> Option<usize> {
    input.header.iter().position(|h| h.eq_ignore_ascii_case("dst_flag") || h.eq_ignore_ascii_case("dstflag"))
}

/// Interned settlement points and the key of every accepted price row, for the duplicate-key
/// pass that runs once all price files are read (a sort is far cheaper than a hash map of
/// every key on the parsing path).
#[derive(Default)]
struct PriceKeys {
    nodes: HashMap<String, (u32, Arc<str>), FastHash>,
    /// (node, interval start, file, line) of `rows[i]`.
    keys: Vec<(u32, i64, u32, u64)>,
    /// Index into `Parsed::files` of each price file.
    files: Vec<usize>,
}

impl PriceKeys {
    fn node(&mut self, node: &str) -> (u32, Arc<str>) {
        match self.nodes.get(node) {
            Some((id, shared)) => (*id, shared.clone()),
            None => {
                let entry = (self.nodes.len() as u32, Arc::<str>::from(node));
                self.nodes.insert(node.to_string(), entry.clone());
                entry
            }
        }
    }

    /// Rejects every row whose (node, interval) an earlier row (by file, then line) already
    /// has, moving it from accepted to rejected in its file's summary.
    fn reject_duplicates(self, rows: &mut Vec<PriceRow>, parsed: &mut Parsed) {
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        order.sort_unstable_by_key(|&i| {
            let k = &self.keys[i as usize];
            (k.0, k.1, i)
        });
        let mut duplicate = vec![false; rows.len()];
        let mut found = Vec::new();
        let Some(&first) = order.first() else { return };
        // Within a run of equal keys the order is by row index: the run's first row is the
        // earliest, and every later one collides with it.
        let mut run_first = first;
        for w in order.windows(2) {
            let (a, b) = (&self.keys[w[0] as usize], &self.keys[w[1] as usize]);
            if (a.0, a.1) == (b.0, b.1) {
                duplicate[w[1] as usize] = true;
                found.push((w[1], run_first));
            } else {
                run_first = w[1];
            }
        }
        if found.is_empty() {
            return;
        }
        for (dup, first) in found {
            let (d, f) = (&self.keys[dup as usize], &self.keys[first as usize]);
            let file = &mut parsed.files[self.files[d.2 as usize]];
            file.rows_accepted -= 1;
            file.rows_rejected += 1;
            let first_file = &parsed.files[self.files[f.2 as usize]].file;
            let reason = format!(
                "duplicate key: {} interval starting {} already at {first_file}:{}",
                rows[dup as usize].node,
                format_micros(d.1),
                f.3
            );
            let file = parsed.files[self.files[d.2 as usize]].file.clone();
            parsed.rejections.push(Rejection { file, line: d.3, field: None, reason });
        }
        let position: HashMap<&str, usize> =
            parsed.files.iter().enumerate().map(|(i, f)| (f.file.as_str(), i)).collect();
        let mut rejections = std::mem::take(&mut parsed.rejections);
        rejections.sort_by_key(|r| (position.get(r.file.as_str()).copied().unwrap_or(usize::MAX), r.line));
        parsed.rejections = rejections;
        let mut i = 0;
        rows.retain(|_| {
            i += 1;
            !duplicate[i - 1]
        });
    }
}

fn parse_prices(
    input: &mut CsvInput,
    rows: &mut Vec<PriceRow>,
    seen: &mut PriceKeys,
    parsed: &mut Parsed,
) -> Result<()> {
    let dst_col = dst_column(input);
    let expected_len = PRICE_HEADER.len() + usize::from(dst_col.is_some());
    if input.header.len() != expected_len || input.header[..5] != PRICE_HEADER {
        return Err(input.wrong_header(&PRICE_HEADER.join(",")));
    }
    let name = input.name.clone();
    let header = input.header.clone();
    let mut tally = Tally::new(&name, "ercot_prices");
    let mut days = DayCache::default();
    let file = seen.files.len() as u32;
    let market: Arc<str> = MARKET.into();
    seen.files.push(parsed.files.len());
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let start = row_start(&f, &mut days, dst_col)?;
            let node = f.required_str(2)?;
            let dam = f.opt_price(3)?;
            let rtm = f.opt_price(4)?;
            let (id, node_id) = seen.node(node);
            seen.keys.push((id, start, file, line));
            Ok(PriceRow {
                market: market.clone(),
                node: node_id,
                interval_start_us: start,
                interval_minutes: 60,
                currency: "USD",
                dam_price_per_mwh: dam,
                rtm_price_per_mwh: rtm,
            })
        })();
        if let Some(row) = tally.record(line, row) {
            rows.push(row);
        }
    }
    tally.merge_into(parsed);
    Ok(())
}

fn parse_system(
    input: &mut CsvInput,
    rows: &mut Vec<ExogenousRow>,
    seen: &mut HashMap<i64, (String, u64)>,
    parsed: &mut Parsed,
) -> Result<()> {
    let dst_col = dst_column(input);
    if input.header.get(1).map(String::as_str) != Some("hour_ending") {
        return Err(input.wrong_header("delivery_date,hour_ending,<system columns>"));
    }
    // Every other column must be a known system series.
    let mut columns = Vec::new();
    for (i, h) in input.header.iter().enumerate().skip(2) {
        if Some(i) == dst_col {
            continue;
        }
        match SYSTEM_VARIABLES.iter().find(|(col, _)| col == h) {
            Some((_, variable)) => columns.push((i, *variable)),
            None => {
                let known: Vec<_> = SYSTEM_VARIABLES.iter().map(|(c, _)| *c).collect();
                return Err(input.wrong_header(&format!(
                    "delivery_date,hour_ending, then any of {} (unknown column `{h}`)",
                    known.join(",")
                )));
            }
        }
    }
    let name = input.name.clone();
    let header = input.header.clone();
    let mut tally = Tally::new(&name, "ercot_system");
    let mut days = DayCache::default();
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let start = row_start(&f, &mut days, dst_col)?;
            let values = columns.iter().map(|&(i, v)| Ok((v, f.opt_f64(i)?))).collect::<FieldResult<Vec<_>>>()?;
            if let Some((file, first)) = seen.get(&start) {
                return Err(FieldError::row(format!(
                    "duplicate key: {} hour_ending {} already at {file}:{first}",
                    f.str(0),
                    f.str(1)
                )));
            }
            seen.insert(start, (name.clone(), line));
            Ok((start, values))
        })();
        if let Some((start, values)) = tally.record(line, row) {
            rows.extend(values.into_iter().map(|(variable, value)| ExogenousRow {
                market: MARKET.to_string(),
                node: "SYSTEM".to_string(),
                interval_start_us: start,
                variable: variable.to_string(),
                kind: "actual",
                value,
            }));
        }
    }
    tally.merge_into(parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_micros;

    fn start(date: &str, h: u32, repeated: bool) -> Result<String, String> {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        ercot_interval_start(d, h, repeated).map(format_micros)
    }

    // Expected values: US/Central is UTC-6 (CST) and UTC-5 (CDT); in 2024 CDT ran from
    // 2024-03-10 02:00 CST to 2024-11-03 02:00 CDT.
    #[test]
    fn normal_days_in_cst_and_cdt() {
        assert_eq!(start("2024-01-01", 1, false).unwrap(), "2024-01-01T06:00:00Z");
        assert_eq!(start("2024-01-01", 24, false).unwrap(), "2024-01-02T05:00:00Z");
        assert_eq!(start("2024-07-01", 1, false).unwrap(), "2024-07-01T05:00:00Z");
        assert_eq!(start("2024-07-01", 24, false).unwrap(), "2024-07-02T04:00:00Z");
    }

    #[test]
    fn twenty_three_hour_day_skips_hour_ending_two() {
        assert_eq!(start("2024-03-10", 1, false).unwrap(), "2024-03-10T06:00:00Z");
        assert!(start("2024-03-10", 2, false).unwrap_err().contains("does not exist"));
        assert_eq!(start("2024-03-10", 3, false).unwrap(), "2024-03-10T07:00:00Z");
        assert_eq!(start("2024-03-10", 24, false).unwrap(), "2024-03-11T04:00:00Z");
    }

    #[test]
    fn twenty_five_hour_day_has_a_repeated_hour() {
        assert_eq!(start("2024-11-03", 1, false).unwrap(), "2024-11-03T05:00:00Z");
        assert_eq!(start("2024-11-03", 2, false).unwrap(), "2024-11-03T06:00:00Z");
        assert_eq!(start("2024-11-03", 2, true).unwrap(), "2024-11-03T07:00:00Z");
        assert_eq!(start("2024-11-03", 3, false).unwrap(), "2024-11-03T08:00:00Z");
        assert_eq!(start("2024-11-03", 24, false).unwrap(), "2024-11-04T05:00:00Z");
        assert!(start("2024-11-03", 5, true).is_err());
    }

    #[test]
    fn every_hour_of_a_year_is_distinct_and_consecutive() {
        let mut all = Vec::new();
        let mut d = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        while d.year() == 2024 {
            let (_, n) = local_day(d).unwrap();
            for h in 1..=24 {
                if let Ok(t) = ercot_interval_start(d, h, false) {
                    all.push(t);
                }
                if n == 25 && h == 2 {
                    all.push(ercot_interval_start(d, 2, true).unwrap());
                }
            }
            d = d.succ_opt().unwrap();
        }
        assert_eq!(all.len(), 366 * 24);
        assert!(all.windows(2).all(|w| w[1] - w[0] == MICROS_PER_HOUR));
    }

    use chrono::Datelike;
}
