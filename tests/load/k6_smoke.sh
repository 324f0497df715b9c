#!/usr/bin/env bash
# k6 smoke run of tests/load/ws_load_test.js against a real server: starts BIN on a free port with
# the synthetic snapshot producer, runs the plan's stages scaled to ~30 s with a handful of users,
# and stops the server. Exits with k6's status (non-zero when a threshold fails).
#
#   bash tests/load/k6_smoke.sh path/to/liquidationheatmap
set -euo pipefail

BIN=${1:?usage: k6_smoke.sh path/to/liquidationheatmap}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
SERVER_PID=

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# SIGINT/SIGTERM end the script through exit, so the EXIT trap above stops the server and
# removes the work folder however the script is stopped.
trap 'exit 130' INT
trap 'exit 143' TERM

command -v k6 >/dev/null || { echo "k6_smoke: k6 is not installed (make deps-test installs it)" >&2; exit 2; }

# The server writes its address on stdout; PORT=0 picks a free port.
(cd "$WORK" && exec env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 DUCKDB_PATH="$WORK/smoke.duckdb" \
  FRONTEND_DIR="$HERE/../../frontend" DEMO_SEED=false DEMO_SNAPSHOT_BYTES=16384 WS_UPDATE_INTERVAL=1 \
  LOG_LEVEL=warn "$BIN" serve >"$WORK/stdout" 2>"$WORK/stderr") &
SERVER_PID=$!

ADDR=
for _ in $(seq 1 600); do
  ADDR=$(sed -n 's#^listening on http://\(.*\)/$#\1#p' "$WORK/stdout" | head -n1)
  [[ -n "$ADDR" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "k6_smoke: server exited:" >&2; cat "$WORK/stderr" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "k6_smoke: server did not start within 60 s" >&2; cat "$WORK/stderr" >&2; exit 1; }

# Stages 1 + 5 + 2 + 2 min scaled by 0.05 = 30 s; peak 1,000 users scaled by 0.005 = 5.
TARGET_URL="ws://$ADDR/ws/heatmap" STAGE_SCALE=${STAGE_SCALE:-0.05} VU_SCALE=${VU_SCALE:-0.005} HOLD_S=${HOLD_S:-8} \
  timeout 120 k6 run --no-usage-report --quiet "$HERE/ws_load_test.js"
