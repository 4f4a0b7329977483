//! Integration tests of hcp-training (one binary, as STYLE.md asks: polars links once).

mod classifier;
mod demand;
mod polars_reads_hcp;
mod price;
mod query;
