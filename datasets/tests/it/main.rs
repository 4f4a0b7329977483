//! Integration tests of `hcp-datasets`, in one binary (one link step).

mod contract;
mod ingest_malformed;
mod ingest_real;
mod reader;
mod roundtrip;
mod support;
