#!/usr/bin/env bash
# Autobahn TestSuite cases 1-13 against /ws/echo of a real server, driven by the PyPI runner
# `kosoku` (which runs Autobahn's own case files). Starts BIN on a free loopback port with its own
# configuration and database in a temporary folder, stops it on exit (also on failure or ^C), and
# fails on any case that is not OK or INFORMATIONAL (autobahn_check.py names the one exception).
#
#   bash tests/conformance/autobahn.sh path/to/liquidationheatmap
# Environment: AUTOBAHN_REPORT_DIR keeps the per-case JSON/HTML reports (default: removed).
#
# Cases 12-13 (permessage-deflate) run with WS_COMPRESSION=true and WS_COMPRESSION_MIN_BYTES=0, so
# every echo is compressed, down to the 16-byte messages.
set -euo pipefail

BIN=${1:?usage: autobahn.sh path/to/liquidationheatmap}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../support/server.sh"
REPORTS=$(mktemp -d)
trap 'stop_server; rm -rf "$REPORTS"' EXIT

python3 -c 'import kosoku' 2>/dev/null || { echo "autobahn: kosoku is not installed (make deps-test installs it)" >&2; exit 2; }

# The echo endpoint takes Autobahn's largest messages (9.1.6 and 9.2.6 send 16 MiB). An echo is
# queued whole and counts against the per-client byte bound, so the bound is raised to hold two:
# the echo being written and the next one. WS_ENABLED=false: no heatmap producer runs.
start_server "$BIN" autobahn WS_ENABLED=false WS_ECHO_ENABLED=true \
  WS_ECHO_MAX_MESSAGE_BYTES=16777216 WS_MAX_QUEUE_BYTES=33554432 \
  WS_COMPRESSION=true WS_COMPRESSION_MIN_BYTES=0

status=0
timeout 2400 python3 "$HERE/autobahn_check.py" "ws://$ADDR/ws/echo" "${AUTOBAHN_REPORT_DIR:-$REPORTS}" || status=$?
if ! server_running; then
  echo "autobahn: the server died during the run:" >&2
  cat "$SERVER_WORK/stderr" >&2
  status=1
fi
exit "$status"
