//! The open day-ahead electricity price benchmark (Lago, Marcjasz, De Schutter and Weron,
//! Applied Energy 293, 2021): hourly price plus two exogenous day-ahead forecasts per market.
//!
//! The benchmark's files have exactly 24 market-local hours every day (its authors smoothed the
//! clock changes). hcp keeps that hour index exactly as written and stores it as if it were UTC
//! wall-clock time (`hcp.time_basis = market_local_hour_index`), so forecasts line up hour for
//! hour with the benchmark's own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDateTime, Timelike};

use super::csv_input::{CsvInput, FieldError, Fields, Tally};
use super::{Parsed, ParsedTable};
use crate::error::{Error, Result};
use crate::rows::{ExogenousRow, PriceRow, exogenous_batch, prices_batch};
use crate::schema::Table;
use crate::time::naive_utc_micros;

pub const TIME_BASIS: &str = "market_local_hour_index";

/// One benchmark market: how its header reads and what its columns become.
struct Market {
    market: &'static str,
    node: &'static str,
    currency: &'static str,
    header: [&'static str; 3],
    exogenous: [&'static str; 2],
}

const MARKETS: [Market; 3] = [
    Market {
        market: "NP",
        node: "SYSTEM",
        currency: "EUR",
        header: ["Price", "Grid load forecast", "Wind power forecast"],
        exogenous: ["grid_load_forecast_mw", "wind_power_forecast_mw"],
    },
    Market {
        market: "PJM",
        node: "COMED",
        currency: "USD",
        // "foecast" is the benchmark's own spelling.
        header: ["Zonal COMED price", "System load forecast", "Zonal COMED load foecast"],
        exogenous: ["system_load_forecast_mw", "comed_load_forecast_mw"],
    },
    Market {
        market: "DE",
        node: "DE",
        currency: "EUR",
        header: ["Price", "Ampirion Load Forecast", "PV+Wind Forecast"],
        exogenous: ["load_forecast_mw", "wind_solar_forecast_mw"],
    },
];

pub(crate) fn parse(inputs: &[PathBuf]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut prices = Vec::new();
    let mut exogenous = Vec::new();
    let mut seen: HashMap<(&'static str, i64), (String, u64)> = HashMap::new();
    for path in inputs {
        let mut input = CsvInput::open(path)?;
        let market = MARKETS
            .iter()
            .find(|m| input.header.len() == 4 && input.header[0].is_empty() && input.header[1..] == m.header)
            .ok_or_else(|| {
                let expected: Vec<_> =
                    MARKETS.iter().map(|m| format!("{}: `,{}`", m.market, m.header.join(","))).collect();
                Error::input(
                    path,
                    format!(
                        "wrong header: expected one of {}; found `{}`",
                        expected.join("; "),
                        input.header.join(",")
                    ),
                )
            })?;
        let name = input.name.clone();
        let header = input.header.clone();
        let mut tally = Tally::new(&name, &format!("epftoolbox_{}", market.market));
        let (market_id, node_id): (Arc<str>, Arc<str>) = (market.market.into(), market.node.into());
        while let Some((line, record)) = input.next_record()? {
            let row = (|| {
                let f = Fields::new(record, &header)?;
                let ts = f.str(0);
                let t = NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S")
                    .map_err(|_| FieldError::field("timestamp", format!("`{ts}` is not YYYY-MM-DD HH:MM:SS")))?;
                if t.minute() != 0 || t.second() != 0 {
                    return Err(FieldError::field("timestamp", format!("`{ts}` is not on the hour")));
                }
                let start = naive_utc_micros(t);
                let price = f.price(1)?;
                let exog = [f.opt_f64(2)?, f.opt_f64(3)?];
                if let Some((file, first)) = seen.get(&(market.market, start)) {
                    return Err(FieldError::row(format!("duplicate key: hour {ts} already at {file}:{first}")));
                }
                seen.insert((market.market, start), (name.clone(), line));
                Ok((start, price, exog))
            })();
            if let Some((start, price, exog)) = tally.record(line, row) {
                prices.push(PriceRow {
                    market: market_id.clone(),
                    node: node_id.clone(),
                    interval_start_us: start,
                    interval_minutes: 60,
                    currency: market.currency,
                    dam_price_per_mwh: Some(price),
                    rtm_price_per_mwh: None,
                });
                for (variable, value) in market.exogenous.iter().zip(exog) {
                    exogenous.push(ExogenousRow {
                        market: market.market.to_string(),
                        node: market.node.to_string(),
                        interval_start_us: start,
                        variable: (*variable).to_string(),
                        kind: "forecast",
                        value,
                    });
                }
            }
        }
        tally.merge_into(&mut parsed);
    }
    if !prices.is_empty() {
        parsed.tables.push(ParsedTable {
            table: Table::Prices,
            batch: prices_batch(&prices),
            source: "epftoolbox".into(),
            time_basis: Some(TIME_BASIS),
        });
        parsed.tables.push(ParsedTable {
            table: Table::Exogenous,
            batch: exogenous_batch(&exogenous),
            source: "epftoolbox".into(),
            time_basis: Some(TIME_BASIS),
        });
    }
    Ok(parsed)
}
