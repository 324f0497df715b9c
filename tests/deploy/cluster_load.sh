#!/usr/bin/env bash
# WebSocket load through nginx to two servers sharing one stream over the Redis bus
# (deploy/local-cluster with redis-server, REDIS_ENABLED=true), using the project's load
# generator (the `loadgen` binary beside BIN, steady scenario). Gates on correctness only: at
# least 99 % of attempts upgraded, every client served, no snapshot lost, repeated or out of
# order and no epoch change for any client on either server (loadgen --max-lost 0 and the checks
# below), both servers in the same epoch with one leader and no hole let through by the bus.
# Prints the latencies, per-server connection counts, the bus's figures and the CPU and memory of
# nginx and each server (docs/load_testing_results.md).
#
#   bash tests/deploy/cluster_load.sh BIN [CONNECTIONS] [DURATION_S]   (LOADGEN= overrides the load generator)
#
# make test runs 300 connections for 10 s; make bench runs 2,000 for 30 s. Environment:
# CLIENTS_PER_SOURCE (20: spreads the clients over loopback sources so nginx's hash spreads them,
# and stays under the per-address bounds of 100), REPORT (a file for loadgen's JSON report),
# RUN_TIMEOUT_S (300), REDIS (true; false runs the servers without the bus, each its own stream).
#
# Every loadgen invocation of the deployment tests is in this script (the one place to adapt
# when the load generator's command line changes).
set -euo pipefail

BIN=${1:?usage: cluster_load.sh BIN [CONNECTIONS] [DURATION_S]}
# The load generator is its own workspace member, built by `make build` beside the server.
LOADGEN=${LOADGEN:-$(dirname "$BIN")/loadgen}
[[ -x $LOADGEN ]] || { echo "cluster_load: no load generator at $LOADGEN (run make build)" >&2; exit 2; }
CONNECTIONS=${2:-300}
DURATION_S=${3:-10}
CLIENTS_PER_SOURCE=${CLIENTS_PER_SOURCE:-20}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d -t lhm-cluster-load-XXXXXX)
REPORT=${REPORT:-$OUT/loadgen.json}
NAME=cluster_load
# shellcheck source=tests/deploy/cluster_common.sh
source "$HERE/cluster_common.sh"

# Synthetic 16 KiB snapshots every second (as the other load benchmarks), room for the swarm.
start_cluster "$BIN" "DEMO_SEED=false DEMO_SNAPSHOT_BYTES=16384 WS_UPDATE_INTERVAL=1 WS_MAX_CONNECTIONS=5000 \
HTTP_MAX_CONNECTIONS=5000 WS_IDLE_TIMEOUT=600 LOG_LEVEL=warn"

# CPU seconds of a process tree (its ticks over CLK_TCK).
cpu_s() { awk -v t="$(cpu_ticks "$1")" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'; }
active() { curl -fsS "http://$1/metrics" | awk '$1 == "ws_active_connections" {print $2}'; }

declare -A CPU0
for p in "$NGINX_PID" "$P1" "$P2"; do CPU0[$p]=$(cpu_s "$p"); done
START=$(date +%s.%N)

# Per-server connection counts and memory, sampled while the load runs.
(
  while true; do
    echo "$(date +%s) s1=$(active "$S1") s2=$(active "$S2") rss_nginx=$(rss_mib "$NGINX_PID") rss_s1=$(rss_mib "$P1") rss_s2=$(rss_mib "$P2")"
    sleep 2
  done
) >"$OUT/samples.txt" 2>/dev/null &
SAMPLER=$!

status=0
timeout "$RUN_TIMEOUT_S" "$LOADGEN" --scenario steady --target "$NGINX" --connections "$CONNECTIONS" \
  --clients-per-source "$CLIENTS_PER_SOURCE" --duration-s "$DURATION_S" --settle-timeout-s 60 --symbols BTCUSDT \
  --min-connect-rate 99 --max-lost 0 --json "$REPORT" >"$OUT/loadgen.txt" 2>&1 || status=$?
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
END=$(date +%s.%N)
curl -fsS "http://$S1/health" >"$OUT/health1.json" || true
curl -fsS "http://$S2/health" >"$OUT/health2.json" || true
WALL=$(awk -v a="$START" -v b="$END" 'BEGIN {printf "%.1f", b - a}')

cat "$OUT/loadgen.txt"
echo "--- through nginx $NGINX to $S1 (pid $P1) and $S2 (pid $P2)"
echo "per-server WebSockets and RSS (MiB) during the run:"
cat "$OUT/samples.txt"
for p in "$NGINX_PID" "$P1" "$P2"; do
  name=$([[ $p == "$NGINX_PID" ]] && echo nginx || echo "server pid $p")
  echo "$name: CPU $(awk -v a="${CPU0[$p]}" -v b="$(cpu_s "$p")" -v w="$WALL" 'BEGIN {printf "%.1f", (b - a) * 100 / w}') % of one core over ${WALL%.*} s, RSS $(rss_mib "$p") MiB at the end"
done
echo "bus, server 1: $(bus_line "$S1")"
echo "bus, server 2: $(bus_line "$S2")"

[[ $status == 0 ]] || { echo "cluster_load: loadgen failed (exit $status)" >&2; exit 1; }
# Correctness beyond loadgen's own gates: every client was served a first snapshot, none saw a
# reorder or an epoch change (no server restarted; with the bus, nobody failed over), the steady
# phase delivered about one snapshot a second to every open client, both servers carried
# clients, and with the bus both servers stream the same epoch with one leader and no hole let
# through.
python3 - "$REPORT" "$OUT/samples.txt" "$CONNECTIONS" "${REDIS:-true}" "$OUT/health1.json" "$OUT/health2.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
phases = report["phases"] if "phases" in report else [report]
problems = []
for phase in phases:
    if phase.get("reordered", 0) or phase.get("lost", 0) or phase.get("epoch_changes", 0):
        problems.append(f"{phase['name']}: lost {phase['lost']} reordered {phase['reordered']} epoch changes {phase['epoch_changes']}")
    if phase.get("server_closes"):
        problems.append(f"{phase['name']}: the server closed clients: {phase['server_closes']}")
first = phases[0]
if first["served"]["count"] < first["connect"]["upgraded"]:
    problems.append(f"served {first['served']['count']} of {first['connect']['upgraded']} upgraded clients")
both = False
for line in open(sys.argv[2]):
    fields = dict(f.split("=") for f in line.split()[1:] if "=" in f)
    try:
        if float(fields.get("s1") or 0) > 0 and float(fields.get("s2") or 0) > 0:
            both = True
    except ValueError:
        pass
if not both:
    problems.append("the clients were not spread over both servers")
# One snapshot a second (WS_UPDATE_INTERVAL=1): a client that stopped receiving loses no seq it
# could count, so the phase's total is checked against what every open client should have had.
steady = phases[-1]
expected = steady["clients_open_end"] * max(steady["seconds"] - 2, 0) * 0.8
if steady["snapshots"] < expected:
    problems.append(f"{steady['name']}: {steady['snapshots']} snapshots, fewer than {expected:.0f} for {steady['clients_open_end']} clients over {steady['seconds']:.0f} s")
if sys.argv[4] == "true":
    health = []
    for path in sys.argv[5:7]:
        try:
            health.append(json.load(open(path)))
        except (OSError, ValueError):
            problems.append(f"no /health from a server ({path})")
    if len(health) == 2:
        buses = [h.get("bus") or {} for h in health]
        roles = sorted(b.get("role", "none") for b in buses)
        if roles != ["follower", "leader"]:
            problems.append(f"bus roles {roles}, not one leader and one follower")
        for i, b in enumerate(buses, 1):
            if b.get("state") != "up" or b.get("gaps_let_through", 1) != 0:
                problems.append(f"server {i} bus state {b.get('state')}, gaps let through {b.get('gaps_let_through')}")
        epochs = {(h.get("snapshots", {}).get("BTCUSDT") or {}).get("epoch") for h in health}
        if len(epochs) != 1 or None in epochs:
            problems.append(f"the servers stream different epochs: {epochs}")
if problems:
    print("cluster_load: FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
bus = " over the Redis bus (one epoch on both servers)" if sys.argv[4] == "true" else ""
print(f"cluster_load: ok ({sys.argv[3]} connections through nginx{bus}, every snapshot in order)")
PY
