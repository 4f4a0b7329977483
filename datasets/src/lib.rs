//! Canonical datasets of hcp: one Arrow schema per table, atomic hive-partitioned Parquet
//! writing, pruned and schema-checked reading, and ingestion of the real data formats.
//!
//! ```no_run
//! use hcp_datasets::{ReadOptions, Table, TimeRange, read_table, time::parse_instant};
//!
//! let range = TimeRange::new(parse_instant("2024-08-01").unwrap(), parse_instant("2024-09-01").unwrap());
//! let opts = ReadOptions {
//!     columns: Some(vec!["node".into(), "interval_start".into(), "rtm_price_per_mwh".into()]),
//!     time_range: Some(range),
//! };
//! let (batch, stats) = read_table("data".as_ref(), Table::Prices, &opts).unwrap();
//! println!("{} rows from {} of {} row groups", batch.num_rows(), stats.row_groups_read, stats.row_groups_total);
//! ```

mod contract;
pub mod error;
mod hash;
pub mod holidays;
pub mod ingest;
pub mod reader;
pub mod rows;
pub mod schema;
pub mod time;
pub mod writer;

pub use error::{Error, Result};
pub use reader::{ReadOptions, ReadStats, TimeRange, read_table};
pub use schema::{PartitionKey, SCHEMA_VERSION, Table};
pub use writer::{WriteOptions, WrittenFile, write_parquet_file, write_table};
