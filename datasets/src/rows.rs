//! Typed rows of the canonical tables and their conversion into Arrow batches.
//!
//! Producers (ingesters, simulators) collect rows and call the matching `*_batch` function; the
//! result is always in the table's canonical [`Table::schema`].

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};

use crate::schema::Table;

/// The largest electricity price, in either sign, that hcp accepts (currency per MWh): beyond
/// any the markets here clear (ERCOT's system-wide offer cap is $5,000/MWh, $9,000 until 2021;
/// its real-time prices in `../shared/data` span -$75 .. $3,121). A price past it is a
/// corrupted value or a unit mistake, refused where it enters (ingest, the price endpoint).
pub const PRICE_LIMIT_PER_MWH: f64 = 20_000.0;

/// Why `price` (per MWh, in `unit`: `per MWh`, `$/MWh`) is refused, when it lies beyond
/// [`PRICE_LIMIT_PER_MWH`]; `None` when it is within (or NaN, a missing value: the caller's).
pub fn price_beyond_limit(price: f64, unit: &str) -> Option<String> {
    (price.abs() > PRICE_LIMIT_PER_MWH).then(|| {
        // Past a billion, in scientific notation: `1e308` printed whole is 309 digits.
        let shown = if price.abs() < 1e9 { price.to_string() } else { format!("{price:e}") };
        format!("{shown} {unit} is beyond ±{PRICE_LIMIT_PER_MWH} (no market here clears there)")
    })
}

/// One hourly (or shorter) price. Market and node are shared strings: a price history repeats
/// a handful of them hundreds of thousands of times.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRow {
    pub market: Arc<str>,
    pub node: Arc<str>,
    pub interval_start_us: i64,
    pub interval_minutes: i32,
    pub currency: &'static str,
    pub dam_price_per_mwh: Option<f64>,
    pub rtm_price_per_mwh: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExogenousRow {
    pub market: String,
    pub node: String,
    pub interval_start_us: i64,
    pub variable: String,
    pub kind: &'static str,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BtcNetworkRow {
    pub source: String,
    pub day_us: i64,
    pub price_usd: Option<f64>,
    pub difficulty: Option<f64>,
    pub hashrate_ths: Option<f64>,
    pub miners_revenue_usd: Option<f64>,
    pub hashprice_usd_per_ths_day: Option<f64>,
    pub blocks: Option<i32>,
    pub subsidy_btc: Option<f64>,
    pub fees_btc: Option<f64>,
    pub fee_share_ratio: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRow {
    pub source: String,
    pub job_id: String,
    pub group_id: Option<String>,
    pub role: Option<String>,
    pub cpu_milli: i64,
    pub memory_mib: i64,
    pub num_gpu: i32,
    pub gpu_milli: i32,
    pub gpu_spec: Option<String>,
    pub qos: Option<String>,
    pub phase: Option<String>,
    pub creation_time_us: Option<i64>,
    pub scheduled_time_us: Option<i64>,
    pub deletion_time_us: Option<i64>,
    pub duration_s: Option<i64>,
    pub duration_censored: bool,
    /// `latency_sensitive` or `best_effort`; set by the workload simulator.
    pub job_class: Option<String>,
    pub value_usd_per_gpu_hour: Option<f64>,
    /// Latest completion time of best-effort work.
    pub deadline_time_us: Option<i64>,
    /// Latency objective of latency-sensitive serving, ms.
    pub sla_latency_ms: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuNodeRow {
    pub source: String,
    pub node_id: String,
    pub cpu_milli: i64,
    pub memory_mib: i64,
    pub num_gpu: i32,
    pub gpu_model: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetryRow {
    pub source: String,
    pub device_id: String,
    pub time_us: i64,
    pub power_w: Option<f64>,
    pub hashrate_ths: Option<f64>,
    pub utilization_ratio: Option<f64>,
    pub gpu_memory_used_bytes: Option<i64>,
    pub temperature_c: Option<f64>,
    pub state: Option<String>,
}

/// One value of a forecast in the long (hubverse) format: a mean, or one quantile level.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRow {
    pub forecast_time_us: i64,
    pub target_time_us: i64,
    pub target: Arc<str>,
    pub node: Arc<str>,
    pub model_id: Arc<str>,
    pub model_version: Arc<str>,
    pub run_id: Arc<str>,
    /// `None` for the mean, `Some(level)` for a quantile.
    pub quantile: Option<f64>,
    pub value: f64,
}

/// One scheduler action (the `decisions` table).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    pub decision_time_us: i64,
    pub effective_time_us: i64,
    pub site_id: String,
    pub plan_id: String,
    pub step: i32,
    pub device_id: String,
    pub action: &'static str,
    pub power_target_w: Option<f64>,
    pub job_id: Option<String>,
    pub policy: String,
    pub idempotency_key: String,
}

pub fn decisions_batch(rows: &[DecisionRow]) -> RecordBatch {
    batch(
        Table::Decisions,
        vec![
            times(rows.iter().map(|r| Some(r.decision_time_us))),
            times(rows.iter().map(|r| Some(r.effective_time_us))),
            strings(rows.iter().map(|r| r.site_id.as_str())),
            strings(rows.iter().map(|r| r.plan_id.as_str())),
            i32s(rows.iter().map(|r| Some(r.step))),
            strings(rows.iter().map(|r| r.device_id.as_str())),
            strings(rows.iter().map(|r| r.action)),
            f64s(rows.iter().map(|r| r.power_target_w)),
            opt_strings(rows.iter().map(|r| r.job_id.as_deref())),
            strings(rows.iter().map(|r| r.policy.as_str())),
            strings(rows.iter().map(|r| r.idempotency_key.as_str())),
        ],
    )
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn opt_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
}

fn f64s(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.collect::<Float64Array>())
}

fn i64s(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<Int64Array>())
}

fn i32s(values: impl Iterator<Item = Option<i32>>) -> ArrayRef {
    Arc::new(values.collect::<Int32Array>())
}

fn batch(table: Table, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(table.schema(), columns).expect("rows match the canonical schema")
}

pub fn prices_batch(rows: &[PriceRow]) -> RecordBatch {
    batch(
        Table::Prices,
        vec![
            strings(rows.iter().map(|r| &*r.market)),
            strings(rows.iter().map(|r| &*r.node)),
            times(rows.iter().map(|r| Some(r.interval_start_us))),
            i32s(rows.iter().map(|r| Some(r.interval_minutes))),
            strings(rows.iter().map(|r| r.currency)),
            f64s(rows.iter().map(|r| r.dam_price_per_mwh)),
            f64s(rows.iter().map(|r| r.rtm_price_per_mwh)),
        ],
    )
}

pub fn exogenous_batch(rows: &[ExogenousRow]) -> RecordBatch {
    batch(
        Table::Exogenous,
        vec![
            strings(rows.iter().map(|r| r.market.as_str())),
            strings(rows.iter().map(|r| r.node.as_str())),
            times(rows.iter().map(|r| Some(r.interval_start_us))),
            strings(rows.iter().map(|r| r.variable.as_str())),
            strings(rows.iter().map(|r| r.kind)),
            f64s(rows.iter().map(|r| r.value)),
        ],
    )
}

pub fn btc_network_batch(rows: &[BtcNetworkRow]) -> RecordBatch {
    batch(
        Table::BtcNetwork,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            times(rows.iter().map(|r| Some(r.day_us))),
            f64s(rows.iter().map(|r| r.price_usd)),
            f64s(rows.iter().map(|r| r.difficulty)),
            f64s(rows.iter().map(|r| r.hashrate_ths)),
            f64s(rows.iter().map(|r| r.miners_revenue_usd)),
            f64s(rows.iter().map(|r| r.hashprice_usd_per_ths_day)),
            i32s(rows.iter().map(|r| r.blocks)),
            f64s(rows.iter().map(|r| r.subsidy_btc)),
            f64s(rows.iter().map(|r| r.fees_btc)),
            f64s(rows.iter().map(|r| r.fee_share_ratio)),
        ],
    )
}

pub fn jobs_batch(rows: &[JobRow]) -> RecordBatch {
    batch(
        Table::Jobs,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            strings(rows.iter().map(|r| r.job_id.as_str())),
            opt_strings(rows.iter().map(|r| r.group_id.as_deref())),
            opt_strings(rows.iter().map(|r| r.role.as_deref())),
            i64s(rows.iter().map(|r| Some(r.cpu_milli))),
            i64s(rows.iter().map(|r| Some(r.memory_mib))),
            i32s(rows.iter().map(|r| Some(r.num_gpu))),
            i32s(rows.iter().map(|r| Some(r.gpu_milli))),
            opt_strings(rows.iter().map(|r| r.gpu_spec.as_deref())),
            opt_strings(rows.iter().map(|r| r.qos.as_deref())),
            opt_strings(rows.iter().map(|r| r.phase.as_deref())),
            times(rows.iter().map(|r| r.creation_time_us)),
            times(rows.iter().map(|r| r.scheduled_time_us)),
            times(rows.iter().map(|r| r.deletion_time_us)),
            i64s(rows.iter().map(|r| r.duration_s)),
            Arc::new(rows.iter().map(|r| Some(r.duration_censored)).collect::<BooleanArray>()),
            opt_strings(rows.iter().map(|r| r.job_class.as_deref())),
            f64s(rows.iter().map(|r| r.value_usd_per_gpu_hour)),
            times(rows.iter().map(|r| r.deadline_time_us)),
            i32s(rows.iter().map(|r| r.sla_latency_ms)),
        ],
    )
}

pub fn gpu_nodes_batch(rows: &[GpuNodeRow]) -> RecordBatch {
    batch(
        Table::GpuNodes,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            strings(rows.iter().map(|r| r.node_id.as_str())),
            i64s(rows.iter().map(|r| Some(r.cpu_milli))),
            i64s(rows.iter().map(|r| Some(r.memory_mib))),
            i32s(rows.iter().map(|r| Some(r.num_gpu))),
            opt_strings(rows.iter().map(|r| r.gpu_model.as_deref())),
        ],
    )
}

pub fn telemetry_batch(rows: &[TelemetryRow]) -> RecordBatch {
    batch(
        Table::Telemetry,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            strings(rows.iter().map(|r| r.device_id.as_str())),
            times(rows.iter().map(|r| Some(r.time_us))),
            f64s(rows.iter().map(|r| r.power_w)),
            f64s(rows.iter().map(|r| r.hashrate_ths)),
            f64s(rows.iter().map(|r| r.utilization_ratio)),
            i64s(rows.iter().map(|r| r.gpu_memory_used_bytes)),
            f64s(rows.iter().map(|r| r.temperature_c)),
            opt_strings(rows.iter().map(|r| r.state.as_deref())),
        ],
    )
}

pub fn forecasts_batch(rows: &[ForecastRow]) -> RecordBatch {
    batch(
        Table::Forecasts,
        vec![
            times(rows.iter().map(|r| Some(r.forecast_time_us))),
            times(rows.iter().map(|r| Some(r.target_time_us))),
            i32s(rows.iter().map(|r| Some(((r.target_time_us - r.forecast_time_us) / 60_000_000) as i32))),
            strings(rows.iter().map(|r| &*r.target)),
            strings(rows.iter().map(|r| &*r.node)),
            strings(rows.iter().map(|r| &*r.model_id)),
            strings(rows.iter().map(|r| &*r.model_version)),
            strings(rows.iter().map(|r| &*r.run_id)),
            strings(rows.iter().map(|r| if r.quantile.is_some() { "quantile" } else { "mean" })),
            f64s(rows.iter().map(|r| r.quantile)),
            f64s(rows.iter().map(|r| Some(r.value))),
        ],
    )
}

/// Typed access to the columns of a batch in a canonical schema (what `read_table` and
/// `ingest::parse` return), for turning batches back into rows.
struct Columns<'a> {
    table: Table,
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn new(table: Table, batch: &'a RecordBatch) -> crate::Result<Self> {
        for f in table.schema().fields() {
            match batch.schema().field_with_name(f.name()) {
                Ok(got) if got.data_type() == f.data_type() => {}
                Ok(got) => {
                    return Err(crate::Error::Invalid(format!(
                        "{table}: column `{}` is {}, expected {}",
                        f.name(),
                        got.data_type(),
                        f.data_type()
                    )));
                }
                Err(_) => return Err(crate::Error::Invalid(format!("{table}: column `{}` is missing", f.name()))),
            }
        }
        Ok(Columns { table, batch })
    }

    fn column(&self, name: &str) -> &'a ArrayRef {
        self.batch.column_by_name(name).unwrap_or_else(|| panic!("{}: checked column `{name}`", self.table))
    }
    fn str(&self, name: &str) -> &'a StringArray {
        self.column(name).as_string::<i32>()
    }
    fn opt_str(&self, name: &str, i: usize) -> Option<String> {
        let a = self.str(name);
        a.is_valid(i).then(|| a.value(i).to_string())
    }
    fn f64(&self, name: &str, i: usize) -> Option<f64> {
        let a = self.column(name).as_primitive::<Float64Type>();
        a.is_valid(i).then(|| a.value(i))
    }
    fn i64(&self, name: &str, i: usize) -> Option<i64> {
        let a = self.column(name).as_primitive::<Int64Type>();
        a.is_valid(i).then(|| a.value(i))
    }
    fn i32(&self, name: &str, i: usize) -> Option<i32> {
        let a = self.column(name).as_primitive::<Int32Type>();
        a.is_valid(i).then(|| a.value(i))
    }
    fn time(&self, name: &str, i: usize) -> Option<i64> {
        let a = self.column(name).as_primitive::<TimestampMicrosecondType>();
        a.is_valid(i).then(|| a.value(i))
    }
}

/// The rows of a `prices` batch. Currencies other than USD and EUR are refused.
pub fn price_rows(batch: &RecordBatch) -> crate::Result<Vec<PriceRow>> {
    let c = Columns::new(Table::Prices, batch)?;
    let (markets, nodes, currencies) = (c.str("market"), c.str("node"), c.str("currency"));
    let mut shared: std::collections::HashMap<&str, Arc<str>> = std::collections::HashMap::new();
    fn share<'a>(shared: &mut std::collections::HashMap<&'a str, Arc<str>>, s: &'a str) -> Arc<str> {
        shared.entry(s).or_insert_with(|| s.into()).clone()
    }
    (0..batch.num_rows())
        .map(|i| {
            let currency = match currencies.value(i) {
                "USD" => "USD",
                "EUR" => "EUR",
                other => return Err(crate::Error::Invalid(format!("prices row {i}: unknown currency `{other}`"))),
            };
            Ok(PriceRow {
                market: share(&mut shared, markets.value(i)),
                node: share(&mut shared, nodes.value(i)),
                interval_start_us: c.time("interval_start", i).unwrap_or_default(),
                interval_minutes: c.i32("interval_minutes", i).unwrap_or_default(),
                currency,
                dam_price_per_mwh: c.f64("dam_price_per_mwh", i),
                rtm_price_per_mwh: c.f64("rtm_price_per_mwh", i),
            })
        })
        .collect()
}

/// The rows of an `exogenous` batch. Kinds other than `forecast` and `actual` are refused.
pub fn exogenous_rows(batch: &RecordBatch) -> crate::Result<Vec<ExogenousRow>> {
    let c = Columns::new(Table::Exogenous, batch)?;
    let (markets, nodes, variables, kinds) = (c.str("market"), c.str("node"), c.str("variable"), c.str("kind"));
    (0..batch.num_rows())
        .map(|i| {
            let kind = match kinds.value(i) {
                "forecast" => "forecast",
                "actual" => "actual",
                other => return Err(crate::Error::Invalid(format!("exogenous row {i}: unknown kind `{other}`"))),
            };
            Ok(ExogenousRow {
                market: markets.value(i).to_string(),
                node: nodes.value(i).to_string(),
                interval_start_us: c.time("interval_start", i).unwrap_or_default(),
                variable: variables.value(i).to_string(),
                kind,
                value: c.f64("value", i),
            })
        })
        .collect()
}

/// The rows of a `btc_network` batch.
pub fn btc_network_rows(batch: &RecordBatch) -> crate::Result<Vec<BtcNetworkRow>> {
    let c = Columns::new(Table::BtcNetwork, batch)?;
    Ok((0..batch.num_rows())
        .map(|i| BtcNetworkRow {
            source: c.str("source").value(i).to_string(),
            day_us: c.time("day", i).unwrap_or_default(),
            price_usd: c.f64("price_usd", i),
            difficulty: c.f64("difficulty", i),
            hashrate_ths: c.f64("hashrate_ths", i),
            miners_revenue_usd: c.f64("miners_revenue_usd", i),
            hashprice_usd_per_ths_day: c.f64("hashprice_usd_per_ths_day", i),
            blocks: c.i32("blocks", i),
            subsidy_btc: c.f64("subsidy_btc", i),
            fees_btc: c.f64("fees_btc", i),
            fee_share_ratio: c.f64("fee_share_ratio", i),
        })
        .collect())
}

/// The rows of a `gpu_nodes` batch.
pub fn gpu_node_rows(batch: &RecordBatch) -> crate::Result<Vec<GpuNodeRow>> {
    let c = Columns::new(Table::GpuNodes, batch)?;
    Ok((0..batch.num_rows())
        .map(|i| GpuNodeRow {
            source: c.str("source").value(i).to_string(),
            node_id: c.str("node_id").value(i).to_string(),
            cpu_milli: c.i64("cpu_milli", i).unwrap_or_default(),
            memory_mib: c.i64("memory_mib", i).unwrap_or_default(),
            num_gpu: c.i32("num_gpu", i).unwrap_or_default(),
            gpu_model: c.opt_str("gpu_model", i),
        })
        .collect())
}

/// The values of a string column (e.g. telemetry `state`), nulls as empty strings.
pub fn string_values(column: &ArrayRef) -> Vec<String> {
    let a = column.as_string::<i32>();
    (0..a.len()).map(|i| if a.is_valid(i) { a.value(i).to_string() } else { String::new() }).collect()
}

/// The rows of a `jobs` batch.
pub fn job_rows(batch: &RecordBatch) -> crate::Result<Vec<JobRow>> {
    let c = Columns::new(Table::Jobs, batch)?;
    let censored = c.column("duration_censored").as_boolean();
    Ok((0..batch.num_rows())
        .map(|i| JobRow {
            source: c.str("source").value(i).to_string(),
            job_id: c.str("job_id").value(i).to_string(),
            group_id: c.opt_str("group_id", i),
            role: c.opt_str("role", i),
            cpu_milli: c.i64("cpu_milli", i).unwrap_or_default(),
            memory_mib: c.i64("memory_mib", i).unwrap_or_default(),
            num_gpu: c.i32("num_gpu", i).unwrap_or_default(),
            gpu_milli: c.i32("gpu_milli", i).unwrap_or_default(),
            gpu_spec: c.opt_str("gpu_spec", i),
            qos: c.opt_str("qos", i),
            phase: c.opt_str("phase", i),
            creation_time_us: c.time("creation_time", i),
            scheduled_time_us: c.time("scheduled_time", i),
            deletion_time_us: c.time("deletion_time", i),
            duration_s: c.i64("duration_s", i),
            duration_censored: censored.value(i),
            job_class: c.opt_str("job_class", i),
            value_usd_per_gpu_hour: c.f64("value_usd_per_gpu_hour", i),
            deadline_time_us: c.time("deadline_time", i),
            sla_latency_ms: c.i32("sla_latency_ms", i),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_beyond_the_limit_is_named_in_a_readable_form() {
        assert_eq!(price_beyond_limit(20_000.0, "$/MWh"), None);
        assert_eq!(price_beyond_limit(f64::NAN, "$/MWh"), None);
        let says = |p: f64| price_beyond_limit(p, "$/MWh").unwrap();
        assert_eq!(says(-25_000.5), "-25000.5 $/MWh is beyond ±20000 (no market here clears there)");
        assert_eq!(says(1e308), "1e308 $/MWh is beyond ±20000 (no market here clears there)");
        assert_eq!(says(f64::INFINITY), "inf $/MWh is beyond ±20000 (no market here clears there)");
    }

    #[test]
    fn price_and_job_rows_round_trip_through_batches() {
        let prices = vec![PriceRow {
            market: "ERCOT".into(),
            node: "HB_WEST".into(),
            interval_start_us: 1_700_000_000_000_000,
            interval_minutes: 60,
            currency: "USD",
            dam_price_per_mwh: Some(21.5),
            rtm_price_per_mwh: None,
        }];
        assert_eq!(price_rows(&prices_batch(&prices)).unwrap(), prices);
        let jobs = vec![JobRow {
            source: "sim".into(),
            job_id: "j1".into(),
            num_gpu: 2,
            gpu_milli: 1000,
            qos: Some("BE".into()),
            creation_time_us: Some(5),
            job_class: Some("best_effort".into()),
            value_usd_per_gpu_hour: Some(1.25),
            deadline_time_us: Some(99),
            ..JobRow::default()
        }];
        assert_eq!(job_rows(&jobs_batch(&jobs)).unwrap(), jobs);
    }

    #[test]
    fn a_batch_of_another_table_is_refused_naming_the_column() {
        let err = job_rows(&prices_batch(&[])).unwrap_err().to_string();
        assert!(err.contains("jobs") && err.contains("`source`"), "{err}");
    }
}
