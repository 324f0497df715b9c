//! DuckDB store: schema, inserts and the queries the engine and the REST endpoints need.
