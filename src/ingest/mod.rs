//! Parsers for the market-data files the product ingests, and the `ingest` command.
