//! Bitcoin network statistics → `btc_network`.
//!
//! Recognised inputs (by header, or by file name for the header-less series):
//! - `networkstats.csv` (Tullio, daily 2017-2019: difficulty, hashrate TH/s, price, revenue);
//! - `nonmissing.csv` (the same gap-filled by its authors with MissForest: kept under its own
//!   source name, `tullio_nonmissing`, so nobody mistakes imputed values for observations);
//! - blockchain.com chart exports, one series per file (`Timestamp,difficulty`,
//!   `Timestamp,miners-revenue`, `timestamp,hash-rate`, `timestamp,market-price`), merged by
//!   day; their timestamps at 23:00 are an export time-zone artefact and round to the nearest
//!   UTC midnight;
//! - the header-less raw series `difficulty.csv`, `hashrate.csv`, `marketprice.csv`,
//!   `minersrevenue.csv` (`DD/MM/YYYY HH:MM,value`);
//! - per-block statistics (`height,time,subsidy,totalfee,...`, satoshi), summed per UTC day into
//!   subsidy, fees and the fee share of miners' revenue.
//!
//! Hashprice (USD per TH/s per day) = miners' revenue / hashrate, on days that have both.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};

use super::csv_input::{CsvInput, FieldError, FieldResult, Fields, Lines, Tally};
use super::{Parsed, ParsedTable};
use crate::error::{Error, Result};
use crate::rows::{BtcNetworkRow, btc_network_batch};
use crate::schema::Table;
use crate::time::{MICROS_PER_DAY, MICROS_PER_SECOND, date_micros, naive_utc_micros};

const SATOSHI_PER_BTC: f64 = 1e8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Series {
    Difficulty,
    Hashrate,
    Price,
    Revenue,
}

impl Series {
    fn set(self, row: &mut BtcNetworkRow, v: f64) -> bool {
        let slot = match self {
            Series::Difficulty => &mut row.difficulty,
            Series::Hashrate => &mut row.hashrate_ths,
            Series::Price => &mut row.price_usd,
            Series::Revenue => &mut row.miners_revenue_usd,
        };
        slot.replace(v).is_none()
    }

    fn from_export_column(name: &str) -> Option<Series> {
        match name {
            "difficulty" => Some(Series::Difficulty),
            "hash-rate" => Some(Series::Hashrate),
            "market-price" => Some(Series::Price),
            "miners-revenue" => Some(Series::Revenue),
            _ => None,
        }
    }

    fn from_file_stem(stem: &str) -> Option<Series> {
        match stem {
            "difficulty" => Some(Series::Difficulty),
            "hashrate" => Some(Series::Hashrate),
            "marketprice" => Some(Series::Price),
            "minersrevenue" => Some(Series::Revenue),
            _ => None,
        }
    }
}

/// Rows by (source, day), with which series each already has.
#[derive(Default)]
struct Days {
    rows: BTreeMap<(String, i64), BtcNetworkRow>,
    seen: HashMap<(String, i64, Series), (String, u64)>,
}

impl Days {
    fn row(&mut self, source: &str, day_us: i64) -> &mut BtcNetworkRow {
        self.rows.entry((source.to_string(), day_us)).or_insert_with(|| BtcNetworkRow {
            source: source.to_string(),
            day_us,
            ..BtcNetworkRow::default()
        })
    }

    /// Records one value; a second value for the same series and day is a duplicate key.
    fn put(
        &mut self,
        source: &str,
        day_us: i64,
        series: Series,
        value: Option<f64>,
        at: (&str, u64),
    ) -> FieldResult<()> {
        let key = (source.to_string(), day_us, series);
        if let Some((file, line)) = self.seen.get(&key) {
            return Err(FieldError::row(format!(
                "duplicate key: {series:?} for {} already at {file}:{line}",
                crate::time::utc_date_string(day_us)
            )));
        }
        self.seen.insert(key, (at.0.to_string(), at.1));
        let row = self.row(source, day_us);
        if let Some(v) = value {
            series.set(row, v);
        }
        Ok(())
    }
}

pub(crate) fn parse(inputs: &[PathBuf]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut days = Days::default();
    let mut blocks = BlockDays::default();
    for path in inputs {
        let mut input = CsvInput::open(path)?;
        let header: Vec<&str> = input.header.iter().map(String::as_str).collect();
        let stem = file_stem(path);
        match header.as_slice() {
            ["", "date", "difficulty", "hashrate", "price", "revenue"] => {
                parse_daily(&mut input, "tullio_networkstats", "%d/%m/%Y", &mut days, &mut parsed)?;
            }
            ["", "dateB", "difficulty", "hashrate", "price", "revenue", "bitcoin"] => {
                parse_daily(&mut input, "tullio_nonmissing", "%Y-%m-%d", &mut days, &mut parsed)?;
            }
            [t, column] if t.eq_ignore_ascii_case("timestamp") => {
                let series = Series::from_export_column(column).ok_or_else(|| {
                    input.wrong_header("Timestamp,<difficulty|hash-rate|market-price|miners-revenue>")
                })?;
                parse_series(&mut input, "blockchain_com", series, "%Y-%m-%d %H:%M:%S", &mut days, &mut parsed)?;
            }
            ["height", "time", "subsidy", "totalfee", ..] => {
                parse_blocks(&mut input, &mut blocks, &mut parsed)?;
            }
            [first, _] if NaiveDateTime::parse_from_str(first, "%d/%m/%Y %H:%M").is_ok() => {
                let series = Series::from_file_stem(&stem).ok_or_else(|| {
                    Error::input(
                        path,
                        "header-less series: the file name must say which (difficulty, hashrate, marketprice, minersrevenue)",
                    )
                })?;
                let mut input = CsvInput::from_reader(path.display().to_string(), Lines::open(path)?, false)?;
                parse_series(&mut input, "tullio_series", series, "%d/%m/%Y %H:%M", &mut days, &mut parsed)?;
            }
            _ => {
                return Err(input.wrong_header(
                    "one of: `,date,difficulty,hashrate,price,revenue` (networkstats); \
                     `,dateB,difficulty,hashrate,price,revenue,bitcoin` (nonmissing); \
                     `Timestamp,<series>` (blockchain.com); `height,time,subsidy,totalfee,...` (block stats); \
                     or a header-less `DD/MM/YYYY HH:MM,value` series",
                ));
            }
        }
    }
    let mut rows: Vec<BtcNetworkRow> = days.rows.into_values().collect();
    for row in &mut rows {
        row.hashprice_usd_per_ths_day = match (row.miners_revenue_usd, row.hashrate_ths) {
            (Some(rev), Some(h)) if h > 0.0 => Some(rev / h),
            _ => None,
        };
    }
    rows.extend(blocks.into_rows());
    if !rows.is_empty() {
        parsed.tables.push(ParsedTable {
            table: Table::BtcNetwork,
            batch: btc_network_batch(&rows),
            source: "btc".into(),
            time_basis: None,
        });
    }
    Ok(parsed)
}

fn file_stem(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split('.').next().unwrap_or_default().to_string()
}

fn parse_daily(
    input: &mut CsvInput,
    source: &str,
    date_format: &str,
    days: &mut Days,
    parsed: &mut Parsed,
) -> Result<()> {
    let name = input.name.clone();
    let header = input.header.clone();
    let mut tally = Tally::new(&name, source);
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let d = f.required_str(1)?;
            let date = NaiveDate::parse_from_str(d, date_format)
                .map_err(|_| FieldError::field(&header[1], format!("`{d}` does not match {date_format}")))?;
            let values = [
                (Series::Difficulty, non_negative(&f, 2)?),
                (Series::Hashrate, non_negative(&f, 3)?),
                (Series::Price, non_negative(&f, 4)?),
                (Series::Revenue, non_negative(&f, 5)?),
            ];
            Ok((date_micros(date), values))
        })();
        let row = row.and_then(|(day, values)| {
            for (i, (series, v)) in values.into_iter().enumerate() {
                // Only the first series can be a duplicate: all four come together.
                let r = days.put(source, day, series, v, (&name, line));
                if i == 0 {
                    r?;
                }
            }
            Ok(())
        });
        tally.record(line, row);
    }
    tally.merge_into(parsed);
    Ok(())
}

fn non_negative(f: &Fields<'_>, i: usize) -> FieldResult<Option<f64>> {
    match f.opt_f64(i)? {
        Some(v) if v < 0.0 => Err(FieldError::field(&f.header[i], format!("{v} is negative"))),
        v => Ok(v),
    }
}

fn parse_series(
    input: &mut CsvInput,
    source: &str,
    series: Series,
    format: &str,
    days: &mut Days,
    parsed: &mut Parsed,
) -> Result<()> {
    let name = input.name.clone();
    let header = if input.header.is_empty() {
        vec!["timestamp".to_string(), format!("{series:?}").to_lowercase()]
    } else {
        input.header.clone()
    };
    let mut tally = Tally::new(&name, &format!("{source}_{series:?}").to_lowercase());
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let ts = f.required_str(0)?;
            let t = NaiveDateTime::parse_from_str(ts, format)
                .map_err(|_| FieldError::field(&header[0], format!("`{ts}` does not match {format}")))?;
            let us = naive_utc_micros(t);
            let day = (us + MICROS_PER_DAY / 2).div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
            let value = non_negative(&f, 1)?;
            days.put(source, day, series, value, (&name, line))
        })();
        tally.record(line, row);
    }
    tally.merge_into(parsed);
    Ok(())
}

/// Per-day sums of the per-block statistics.
#[derive(Default)]
struct BlockDays {
    days: BTreeMap<i64, (i32, i64, i64)>,
    heights: HashMap<i64, (String, u64)>,
}

impl BlockDays {
    fn into_rows(self) -> impl Iterator<Item = BtcNetworkRow> {
        self.days.into_iter().map(|(day_us, (blocks, subsidy, fees))| {
            let total = subsidy + fees;
            BtcNetworkRow {
                source: "block_stats".to_string(),
                day_us,
                blocks: Some(blocks),
                subsidy_btc: Some(subsidy as f64 / SATOSHI_PER_BTC),
                fees_btc: Some(fees as f64 / SATOSHI_PER_BTC),
                fee_share_ratio: (total > 0).then(|| fees as f64 / total as f64),
                ..BtcNetworkRow::default()
            }
        })
    }
}

/// The block subsidy at `height` in satoshi: 50 BTC halving every 210,000 blocks.
pub fn block_subsidy_sat(height: i64) -> i64 {
    let halvings = height / 210_000;
    if halvings >= 64 { 0 } else { 5_000_000_000 >> halvings }
}

/// Block time: Unix seconds, or `YYYY-MM-DD HH:MM:SS` in UTC (the 2025 fragment writes it so).
fn block_time_s(s: &str) -> Result<i64, String> {
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map(|t| naive_utc_micros(t) / MICROS_PER_SECOND)
        .map_err(|_| format!("`{s}` is neither Unix seconds nor YYYY-MM-DD HH:MM:SS"))
}

fn parse_blocks(input: &mut CsvInput, blocks: &mut BlockDays, parsed: &mut Parsed) -> Result<()> {
    let name = input.name.clone();
    let header = input.header.clone();
    let mut tally = Tally::new(&name, "block_stats");
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let height = f.non_negative_i64(0)?;
            let time = block_time_s(f.str(1)).map_err(|r| FieldError::field("time", r))?;
            let subsidy = f.non_negative_i64(2)?;
            let fees = f.non_negative_i64(3)?;
            let expected = block_subsidy_sat(height);
            if subsidy != expected {
                return Err(FieldError::field(
                    "subsidy",
                    format!("{subsidy} sat, the schedule pays {expected} sat at height {height}"),
                ));
            }
            if let Some((file, first)) = blocks.heights.get(&height) {
                return Err(FieldError::row(format!("duplicate key: height {height} already at {file}:{first}")));
            }
            blocks.heights.insert(height, (name.clone(), line));
            let day = (time * MICROS_PER_SECOND).div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
            let entry = blocks.days.entry(day).or_default();
            entry.0 += 1;
            entry.1 += subsidy;
            entry.2 += fees;
            Ok(())
        })();
        tally.record(line, row);
    }
    tally.merge_into(parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_schedule() {
        assert_eq!(block_subsidy_sat(0), 5_000_000_000);
        assert_eq!(block_subsidy_sat(209_999), 5_000_000_000);
        assert_eq!(block_subsidy_sat(210_000), 2_500_000_000);
        // April 2024 halving at height 840,000: 3.125 BTC.
        assert_eq!(block_subsidy_sat(840_000), 312_500_000);
    }
}
