#!/usr/bin/env bash
# The plan's staging soak through nginx: tests/load/ws_load_test.js (k6; ramp to 1,000 virtual
# users over 10 minutes) against deploy/local-cluster (two servers sharing one stream over the
# Redis bus, redis-server, nginx; REDIS=false: without the bus), with the
# servers' and nginx's memory, CPU, descriptors and queue bytes sampled every SAMPLE_S seconds, so
# docs/load_testing_results.md can say whether anything grew. In make bench only (bench-deploy).
#
#   bash tests/deploy/soak.sh BIN
# Environment: STAGE_SCALE (1 = 10 minutes; 0.1 = 1 minute), VU_SCALE (1 = 1,000 users),
# SAMPLE_S (30), SNAPSHOT_BYTES (16384: the synthetic snapshot size, as the other load benchmarks),
# SOURCES (250: k6 spreads its users over 127.0.2.1-127.0.2.SOURCES with
# --local-ips, so nginx's per-address limit and the hash see distinct clients).
set -euo pipefail

BIN=${1:?usage: soak.sh BIN}
HERE=$(cd "$(dirname "$0")" && pwd)
STAGE_SCALE=${STAGE_SCALE:-1}
VU_SCALE=${VU_SCALE:-1}
SAMPLE_S=${SAMPLE_S:-30}
SOURCES=${SOURCES:-250}
SNAPSHOT_BYTES=${SNAPSHOT_BYTES:-16384}
OUT=$(mktemp -d -t lhm-soak-XXXXXX)
command -v k6 >/dev/null || { echo "soak: k6 is not installed (make deps-test installs it)" >&2; exit 2; }
NAME=soak
# shellcheck source=tests/deploy/cluster_common.sh
source "$HERE/cluster_common.sh"

start_cluster "$BIN" "DEMO_SEED=false DEMO_SNAPSHOT_BYTES=$SNAPSHOT_BYTES WS_UPDATE_INTERVAL=1 LOG_LEVEL=warn"

fds() { local t=0 p; for p in $(proc_tree "$1"); do t=$((t + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done; echo "$t"; }
metric() { curl -fsS "http://$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m {print $2}'; }
HZ=$(getconf CLK_TCK)

(
  echo "| t (s) | WS s1 | WS s2 | RSS s1 / s2 / nginx (MiB) | CPU s1 / s2 / nginx (% of a core) | fds s1 / s2 / nginx | queue bytes s1 / s2 |"
  echo "| ---: | ---: | ---: | --- | --- | --- | --- |"
  t0=$(date +%s); declare -A last
  for p in "$P1" "$P2" "$NGINX_PID"; do last[$p]=$(cpu_ticks "$p"); done
  while true; do
    sleep "$SAMPLE_S"
    cpu=()
    for p in "$P1" "$P2" "$NGINX_PID"; do
      now=$(cpu_ticks "$p"); cpu+=("$(awk -v d=$((now - last[$p])) -v hz="$HZ" -v s="$SAMPLE_S" 'BEGIN {printf "%.0f", d / hz / s * 100}')"); last[$p]=$now
    done
    echo "| $(( $(date +%s) - t0 )) | $(metric "$S1" ws_active_connections) | $(metric "$S2" ws_active_connections) | $(rss_mib "$P1") / $(rss_mib "$P2") / $(rss_mib "$NGINX_PID") | ${cpu[0]} / ${cpu[1]} / ${cpu[2]} | $(fds "$P1") / $(fds "$P2") / $(fds "$NGINX_PID") | $(metric "$S1" ws_queue_bytes) / $(metric "$S2" ws_queue_bytes) |"
  done
) >"$OUT/samples.md" 2>/dev/null &
SAMPLER=$!

status=0
TARGET_URL="ws://$NGINX/ws/heatmap" STAGE_SCALE=$STAGE_SCALE VU_SCALE=$VU_SCALE \
  k6 run --no-usage-report --local-ips "127.0.2.1-127.0.2.$SOURCES" "$HERE/../load/ws_load_test.js" >"$OUT/k6.txt" 2>&1 || status=$?
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
tail -n 45 "$OUT/k6.txt"
echo "--- through nginx $NGINX to $S1 and $S2 (stage scale $STAGE_SCALE, user scale $VU_SCALE, snapshots of $SNAPSHOT_BYTES bytes)"
cat "$OUT/samples.md"
echo "disconnects by reason, server 1: $(curl -fsS "http://$S1/metrics" | awk '$1 ~ /^ws_disconnects_total/ && $2 > 0' | tr '\n' ' ')"
echo "disconnects by reason, server 2: $(curl -fsS "http://$S2/metrics" | awk '$1 ~ /^ws_disconnects_total/ && $2 > 0' | tr '\n' ' ')"
echo "bus, server 1: $(bus_line "$S1")"
echo "bus, server 2: $(bus_line "$S2")"
exit "$status"
