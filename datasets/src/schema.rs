//! The canonical tables: one Arrow schema each, documented field by field.
//!
//! Conventions (DESIGN.md, "Data contracts"):
//! - every instant is `timestamp[us, UTC]`; local market time exists only inside the ingesters;
//! - units are in column names (`_per_mwh`, `_w`, `_ths`, `_mib`, `_s`, `_ratio`);
//! - each field carries its description in the Arrow field metadata (`description`), so the
//!   documentation travels inside every Parquet file.
//!
//! Prices carry a `currency` column rather than `usd` in the column name: the benchmark markets
//! NP and DE are quoted in EUR, and a column named `_usd_` holding euros would be a lie.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Name of the file metadata key saying how a table's timestamps relate to real instants when
/// they are not plain UTC instants (`market_local_hour_index`, `offset_from_trace_start`).
pub const TIME_BASIS_KEY: &str = "hcp.time_basis";

/// Version of the canonical schemas written into every file (`hcp.schema_version`).
/// Readers refuse files with another version.
pub const SCHEMA_VERSION: u32 = 2;

/// The Arrow type of every instant on disk.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// One canonical table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Prices,
    Exogenous,
    BtcNetwork,
    Jobs,
    GpuNodes,
    Telemetry,
    Forecasts,
    Decisions,
}

/// How a table's rows are spread over hive directories (`key=value/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKey {
    /// A low-cardinality string column; its value moves into the path and out of the file, as
    /// Hive, Spark, polars and DuckDB expect.
    Column(&'static str),
    /// The UTC year of a timestamp column, under the given directory key; the column stays in
    /// the file.
    Year { key: &'static str, from: &'static str },
    /// The UTC date (`YYYY-MM-DD`) of a timestamp column, under the given directory key.
    Date { key: &'static str, from: &'static str },
}

impl PartitionKey {
    /// The directory key (`market` in `market=ERCOT/`).
    pub fn key(&self) -> &'static str {
        match self {
            PartitionKey::Column(c) => c,
            PartitionKey::Year { key, .. } | PartitionKey::Date { key, .. } => key,
        }
    }
}

fn field(name: &str, data_type: DataType, nullable: bool, description: &str) -> Field {
    Field::new(name, data_type, nullable)
        .with_metadata(HashMap::from([("description".to_string(), description.to_string())]))
}

fn utf8(name: &str, nullable: bool, description: &str) -> Field {
    field(name, DataType::Utf8, nullable, description)
}

fn f64_(name: &str, nullable: bool, description: &str) -> Field {
    field(name, DataType::Float64, nullable, description)
}

fn i64_(name: &str, nullable: bool, description: &str) -> Field {
    field(name, DataType::Int64, nullable, description)
}

fn i32_(name: &str, nullable: bool, description: &str) -> Field {
    field(name, DataType::Int32, nullable, description)
}

fn ts(name: &str, nullable: bool, description: &str) -> Field {
    field(name, timestamp_type(), nullable, description)
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Prices,
        Table::Exogenous,
        Table::BtcNetwork,
        Table::Jobs,
        Table::GpuNodes,
        Table::Telemetry,
        Table::Forecasts,
        Table::Decisions,
    ];

    /// The table's name, also its directory under a dataset root.
    pub fn name(self) -> &'static str {
        match self {
            Table::Prices => "prices",
            Table::Exogenous => "exogenous",
            Table::BtcNetwork => "btc_network",
            Table::Jobs => "jobs",
            Table::GpuNodes => "gpu_nodes",
            Table::Telemetry => "telemetry",
            Table::Forecasts => "forecasts",
            Table::Decisions => "decisions",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The timestamp column that orders the table and drives time-range pruning; node lists
    /// have none.
    pub fn time_column(self) -> Option<&'static str> {
        match self {
            Table::Prices | Table::Exogenous => Some("interval_start"),
            Table::BtcNetwork => Some("day"),
            Table::Jobs => Some("creation_time"),
            Table::GpuNodes => None,
            Table::Telemetry => Some("time"),
            Table::Forecasts => Some("target_time"),
            Table::Decisions => Some("decision_time"),
        }
    }

    /// Columns that identify a row: no two rows of one dataset share them. Rows are sorted by
    /// them inside each file (the time column first where it is part of the key).
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Table::Prices => &["market", "node", "interval_start"],
            Table::Exogenous => &["market", "node", "variable", "interval_start"],
            Table::BtcNetwork => &["source", "day"],
            Table::Jobs => &["source", "job_id"],
            Table::GpuNodes => &["source", "node_id"],
            Table::Telemetry => &["source", "device_id", "time"],
            Table::Forecasts => &[
                "target",
                "node",
                "model_id",
                "run_id",
                "forecast_time",
                "target_time",
                "output_type",
                "output_type_id",
            ],
            Table::Decisions => &["idempotency_key"],
        }
    }

    /// How files of this table are laid out in hive directories.
    pub fn partition_keys(self) -> &'static [PartitionKey] {
        match self {
            Table::Prices | Table::Exogenous => {
                &[PartitionKey::Column("market"), PartitionKey::Year { key: "year", from: "interval_start" }]
            }
            Table::BtcNetwork | Table::Jobs | Table::GpuNodes => &[PartitionKey::Column("source")],
            Table::Telemetry => &[PartitionKey::Column("source"), PartitionKey::Date { key: "date", from: "time" }],
            Table::Forecasts => {
                &[PartitionKey::Column("target"), PartitionKey::Date { key: "forecast_date", from: "forecast_time" }]
            }
            Table::Decisions => {
                &[PartitionKey::Column("site_id"), PartitionKey::Date { key: "date", from: "decision_time" }]
            }
        }
    }

    /// The full logical schema, partition columns included.
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            Table::Prices => vec![
                utf8("market", false, "market: ERCOT, or the benchmark markets NP, PJM, DE"),
                utf8("node", false, "settlement point, hub or zone (ERCOT), benchmark price zone otherwise"),
                ts(
                    "interval_start",
                    false,
                    "start of the delivery interval, UTC; for the epftoolbox benchmark the market-local hour index written as if it were UTC (see hcp.time_basis)",
                ),
                i32_("interval_minutes", false, "length of the delivery interval in minutes"),
                utf8("currency", false, "ISO 4217 currency of the prices (USD, EUR)"),
                f64_(
                    "dam_price_per_mwh",
                    true,
                    "day-ahead market price, currency per MWh; null when the source has none",
                ),
                f64_(
                    "rtm_price_per_mwh",
                    true,
                    "real-time price (hourly mean of the 15-minute prices for ERCOT), currency per MWh; null when the source has none",
                ),
            ],
            Table::Exogenous => vec![
                utf8("market", false, "market the series belongs to"),
                utf8("node", false, "zone or SYSTEM for system-wide series"),
                ts(
                    "interval_start",
                    false,
                    "start of the interval the value describes, UTC (epftoolbox: hour index, see prices)",
                ),
                utf8(
                    "variable",
                    false,
                    "series name with its unit, e.g. wind_gen_mw, load_forecast_mw, regup_price_usd_per_mw_h",
                ),
                utf8(
                    "kind",
                    false,
                    "`actual` (measured) or `forecast` (known ahead of the interval, usable as exogenous input)",
                ),
                f64_("value", true, "the value in the unit the variable names; null when the source has none"),
            ],
            Table::BtcNetwork => vec![
                utf8("source", false, "data source, e.g. tullio_networkstats, blockchain_com, block_stats"),
                ts("day", false, "UTC day (midnight)"),
                f64_("price_usd", true, "bitcoin price, USD"),
                f64_("difficulty", true, "network difficulty"),
                f64_("hashrate_ths", true, "network hashrate, TH/s"),
                f64_("miners_revenue_usd", true, "miners' revenue that day, subsidy plus fees, USD"),
                f64_("hashprice_usd_per_ths_day", true, "miners' revenue per TH/s per day, USD (revenue / hashrate)"),
                i32_("blocks", true, "blocks in the day covered by the source (block statistics only)"),
                f64_("subsidy_btc", true, "block subsidy paid that day, BTC"),
                f64_("fees_btc", true, "transaction fees paid that day, BTC"),
                f64_("fee_share_ratio", true, "fees / (subsidy + fees), 0-1"),
            ],
            Table::Jobs => vec![
                utf8("source", false, "trace the job comes from, e.g. alibaba_v2023_default, alibaba_v2025_dlrm"),
                utf8("job_id", false, "pod or instance name as in the trace"),
                utf8("group_id", true, "application group (v2025 app_name)"),
                utf8("role", true, "instance role (v2025: CN CPU node, HN heterogeneous GPU node)"),
                i64_("cpu_milli", false, "CPU requested, milli-cores"),
                i64_("memory_mib", false, "memory requested, MiB"),
                i32_("num_gpu", false, "GPUs requested"),
                i32_("gpu_milli", false, "share of each GPU requested, milli (1000 = whole GPU)"),
                utf8("gpu_spec", true, "accepted GPU models separated by |, null when unconstrained"),
                utf8("qos", true, "quality of service: LS, BE, Burstable, Guaranteed"),
                utf8("phase", true, "pod phase at the end of the trace: Succeeded, Running, Pending, Failed"),
                ts(
                    "creation_time",
                    true,
                    "creation, UTC; traces that give seconds from their start are stored as 1970-01-01T00:00:00Z + offset (hcp.time_basis = offset_from_trace_start); null if before the trace",
                ),
                ts("scheduled_time", true, "scheduling, UTC (same basis as creation_time); null if unknown"),
                ts("deletion_time", true, "deletion, UTC (same basis as creation_time); null if after the trace"),
                i64_("duration_s", true, "deletion minus creation where both are known"),
                field(
                    "duration_censored",
                    DataType::Boolean,
                    false,
                    "true when the job was still running or pending at the end of the trace, so duration_s is a lower bound (or null)",
                ),
                utf8("job_class", true, "latency_sensitive or best_effort (simulated jobs; traces leave it null)"),
                f64_("value_usd_per_gpu_hour", true, "what running the job earns per GPU-hour, USD (simulated jobs)"),
                ts("deadline_time", true, "latest completion of best-effort work, UTC (simulated jobs)"),
                i32_("sla_latency_ms", true, "latency objective of latency-sensitive serving, ms (simulated jobs)"),
            ],
            Table::GpuNodes => vec![
                utf8("source", false, "trace the node list comes from"),
                utf8("node_id", false, "node name as in the trace"),
                i64_("cpu_milli", false, "CPU capacity, milli-cores"),
                i64_("memory_mib", false, "memory capacity, MiB"),
                i32_("num_gpu", false, "GPUs on the node"),
                utf8("gpu_model", true, "GPU model (G1-G3 are undisclosed internal codes); null for CPU-only nodes"),
            ],
            Table::Telemetry => vec![
                utf8("source", false, "where the samples come from (a simulator run, a trace)"),
                utf8("device_id", false, "device, container or group identifier"),
                ts("time", false, "sample time, UTC"),
                f64_("power_w", true, "electrical power, W"),
                f64_("hashrate_ths", true, "hashrate, TH/s (ASICs)"),
                f64_("utilization_ratio", true, "GPU utilisation (duty cycle), 0-1"),
                i64_("gpu_memory_used_bytes", true, "GPU memory used, bytes"),
                f64_("temperature_c", true, "temperature, degrees Celsius"),
                utf8("state", true, "device state: running, sleeping, failed, ..."),
            ],
            Table::Forecasts => vec![
                ts("forecast_time", false, "issue time of the forecast, UTC"),
                ts("target_time", false, "time the forecast is for, UTC"),
                i32_("horizon_minutes", false, "target_time minus forecast_time, minutes"),
                utf8("target", false, "forecast variable, e.g. rtm_price_per_mwh"),
                utf8("node", false, "site id or market node"),
                utf8("model_id", false, "model name"),
                utf8("model_version", false, "model version (artifact checksum prefix or semver)"),
                utf8("run_id", false, "run that produced the forecast"),
                utf8("output_type", false, "`mean` or `quantile`"),
                f64_("output_type_id", true, "quantile level for quantile rows, null for mean"),
                f64_("value", false, "forecast value in the unit of target"),
            ],
            Table::Decisions => vec![
                ts("decision_time", false, "when the plan was decided, UTC"),
                ts("effective_time", false, "the plan step the action belongs to, UTC"),
                utf8("site_id", false, "site"),
                utf8("plan_id", false, "plan that produced the action"),
                i32_("step", false, "step index within the plan"),
                utf8("device_id", false, "device or device group acted on"),
                utf8("action", false, "set_power_target, sleep, wake, place_job, preempt_job, ..."),
                f64_("power_target_w", true, "power target for set_power_target, W"),
                utf8("job_id", true, "job for placement actions"),
                utf8("policy", false, "policy that decided (optimiser, threshold, always_on, ...)"),
                utf8(
                    "idempotency_key",
                    false,
                    "site/device/plan/step key; applying an action twice has no further effect",
                ),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    /// The schema of the columns stored inside each file: the logical schema without the
    /// partition columns that live in the directory names.
    pub fn file_schema(self) -> SchemaRef {
        let schema = self.schema();
        let in_path: Vec<&str> = self
            .partition_keys()
            .iter()
            .filter_map(|k| match k {
                PartitionKey::Column(c) => Some(*c),
                _ => None,
            })
            .collect();
        Arc::new(Schema::new(
            schema.fields().iter().filter(|f| !in_path.contains(&f.name().as_str())).cloned().collect::<Vec<_>>(),
        ))
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_time_key_and_partition_columns() {
        for table in Table::ALL {
            let schema = table.schema();
            if let Some(time) = table.time_column() {
                let f = schema.field_with_name(time).unwrap();
                assert_eq!(f.data_type(), &timestamp_type(), "{table}");
            }
            for key in table.key_columns() {
                assert!(schema.field_with_name(key).is_ok(), "{table}: key {key}");
            }
            for key in table.partition_keys() {
                match key {
                    PartitionKey::Column(c) => {
                        let f = schema.field_with_name(c).unwrap();
                        assert_eq!(f.data_type(), &DataType::Utf8, "{table}: {c}");
                        assert!(!f.is_nullable(), "{table}: partition column {c} nullable");
                    }
                    PartitionKey::Year { from, .. } | PartitionKey::Date { from, .. } => {
                        assert_eq!(schema.field_with_name(from).unwrap().data_type(), &timestamp_type());
                    }
                }
            }
            for f in schema.fields() {
                assert!(f.metadata().contains_key("description"), "{table}.{} undocumented", f.name());
            }
            assert_eq!(Table::from_name(table.name()), Some(table));
        }
    }
}
