# Sourced by the deployment load scripts (cluster_load.sh, soak.sh): starts deploy/local-cluster,
# stops it on exit, and measures its processes. The caller sets OUT (a temporary folder this
# removes on exit) and NAME (the prefix of its error messages) before sourcing.

CLUSTER_PID=
# Deciseconds local-cluster gets to print "ready" (the servers seed their demo databases).
CLUSTER_START_DECISECONDS_MAX=900

cleanup() {
  if [[ -n "$CLUSTER_PID" ]]; then
    kill -TERM "$CLUSTER_PID" 2>/dev/null || true
    wait "$CLUSTER_PID" 2>/dev/null || true
  fi
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_cluster BIN "SERVER_ENV": starts the cluster with the Redis bus (REDIS=false in the
# caller's environment: without), waits until it is ready, then sets NGINX, NGINX_PID, S1, S2
# (server addresses) and P1, P2 (their pids).
start_cluster() {
  REDIS=${REDIS:-true} SERVER_ENV="$2" LHM_BIN=$1 bash "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local-cluster" >"$OUT/cluster.out" &
  CLUSTER_PID=$!
  for _ in $(seq 1 "$CLUSTER_START_DECISECONDS_MAX"); do
    grep -q '^ready ' "$OUT/cluster.out" && break
    kill -0 "$CLUSTER_PID" 2>/dev/null || { echo "$NAME: local-cluster exited" >&2; exit 1; }
    sleep 0.1
  done
  grep -q '^ready ' "$OUT/cluster.out" || { echo "$NAME: local-cluster did not start" >&2; exit 1; }
  NGINX=$(cluster_value nginx) NGINX_PID=$(cluster_value nginx_pid)
  S1=$(cluster_value server1) S2=$(cluster_value server2) P1=$(cluster_value pid1) P2=$(cluster_value pid2)
}

# A `key=value` line local-cluster printed.
cluster_value() { sed -n "s/^$1=//p" "$OUT/cluster.out"; }

# A process and its children (nginx's workers).
proc_tree() { echo "$1" $(pgrep -P "$1" || true); }
# CPU clock ticks (utime+stime) of a process tree; CLK_TCK per second.
cpu_ticks() { local t=0 p; for p in $(proc_tree "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
# RSS of a process tree, MiB.
rss_mib() { local t=0 p; for p in $(proc_tree "$1"); do t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $((t / 1024)); }

# One line of a server's /health `bus` object (role, state, counters, lag), or "bus=off".
bus_line() {
  curl -fsS "http://$1/health" | python3 -c '
import json, sys
bus = json.load(sys.stdin).get("bus")
keys = ["node_id", "role", "state", "published", "received", "recovered_from_history", "duplicates_dropped", "gaps_let_through", "reconnects", "lag_ms"]
print("bus=off" if bus is None else " ".join(f"{k}={bus.get(k)}" for k in keys))'
}
