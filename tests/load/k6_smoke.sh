#!/usr/bin/env bash
# k6 smoke run of tests/load/ws_load_test.js against a real server: starts BIN on a free port with
# the synthetic snapshot producer, runs the plan's stages scaled to ~30 s with a handful of users,
# and stops the server. Exits with k6's status (non-zero when a threshold fails).
#
#   bash tests/load/k6_smoke.sh path/to/liquidationheatmap
set -euo pipefail

BIN=${1:?usage: k6_smoke.sh path/to/liquidationheatmap}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../support/server.sh"
trap stop_server EXIT

command -v k6 >/dev/null || { echo "k6_smoke: k6 is not installed (make deps-test installs it)" >&2; exit 2; }

start_server "$BIN" k6_smoke DEMO_SNAPSHOT_BYTES=16384 WS_UPDATE_INTERVAL=1

# Stages 1 + 5 + 2 + 2 min scaled by 0.05 = 30 s; peak 1,000 users scaled by 0.005 = 5.
TARGET_URL="ws://$ADDR/ws/heatmap" STAGE_SCALE=${STAGE_SCALE:-0.05} VU_SCALE=${VU_SCALE:-0.005} HOLD_S=${HOLD_S:-8} \
  timeout 120 k6 run --no-usage-report --quiet "$HERE/ws_load_test.js"
