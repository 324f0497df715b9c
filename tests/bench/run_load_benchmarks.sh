#!/usr/bin/env bash
# The load benchmarks recorded in docs/load_testing_results.md. Each case starts a fresh server
# (BIN serve, free port, synthetic 16 KiB snapshots every second), runs one `LOADGEN` scenario
# against it, and stops it; every case runs REPEATS times and the medians are printed as a
# Markdown table. Bounded: every loadgen run has its own phase lengths and settle timeout, and
# each run is killed after RUN_TIMEOUT_S.
#
#   bash tests/bench/run_load_benchmarks.sh path/to/liquidationheatmap [path/to/loadgen]
# (the load generator defaults to the `loadgen` binary beside the server's, as `make build` puts it)
# Environment: REPEATS (3), CASES (default: plan1000 steady10k idle10k idlemax slow10k storm10k churn
#              split2x5k, the last being two servers of 5,000 clients fanning out together: what
#              two event loops would give; also plan1000small steady10ksmall, the same fan-outs
#              with 1 KiB snapshots, and slow10kbounded, stalled clients with small receive buffers),
#              BENCH_OUT (a new temporary folder; keeps every JSON report), RUN_TIMEOUT_S (300).
#              A case name with the suffix -2loops (steady10k-2loops, plan1000-2loops, ...) runs that
#              case against a server with EVENT_LOOPS=2 (issue 14), reported under its own name.
set -euo pipefail

BIN=${1:?usage: run_load_benchmarks.sh path/to/liquidationheatmap [path/to/loadgen]}
LOADGEN=${2:-$(dirname "$BIN")/loadgen}
[[ -x "$LOADGEN" ]] || { echo "no load generator at $LOADGEN (make build)" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
REPEATS=${REPEATS:-3}
CASES=${CASES:-"plan1000 plan1000z steady10k steady10kz idle10k idle10kz idlemax slow10k storm10k churn split2x5k"}
OUT=${BENCH_OUT:-$(mktemp -d -t lhm-load-XXXXXX)}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-300}
mkdir -p "$OUT"
SERVER_PID=
WORK=

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
  [[ -n "$WORK" ]] && rm -rf "$WORK"
  WORK=
}
# The first server of a split case, while the second one is SERVER_PID.
SPLIT_FIRST_PID=
stop_all() {
  stop_server
  [[ -n "$SPLIT_FIRST_PID" ]] && kill -KILL "$SPLIT_FIRST_PID" 2>/dev/null || true
}
trap stop_all EXIT
# SIGINT/SIGTERM end the script through exit, so the EXIT trap above stops the server and
# removes the work folder however the script is stopped.
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server VAR=VALUE...: a fresh server on a free port; sets ADDR.
start_server() {
  WORK=$(mktemp -d)
  (cd "$WORK" && exec env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 DUCKDB_PATH="$WORK/bench.duckdb" \
    FRONTEND_DIR="$HERE/../../frontend" DEMO_SEED=false DEMO_SNAPSHOT_BYTES=16384 WS_UPDATE_INTERVAL=1 \
    WS_MAX_CONNECTIONS=20000 HTTP_MAX_CONNECTIONS=20000 WS_IDLE_TIMEOUT=600 LOG_LEVEL=warn \
    WS_MAX_CONNECTIONS_PER_ADDRESS=20000 HTTP_MAX_CONNECTIONS_PER_ADDRESS=20000 ${LOOPS_ENV:-} "$@" \
    "$BIN" serve >"$WORK/stdout" 2>"$WORK/stderr") &
  SERVER_PID=$!
  ADDR=
  for _ in $(seq 1 600); do
    ADDR=$(sed -n 's#^listening on http://\(.*\)/$#\1#p' "$WORK/stdout" | head -n1)
    [[ -n "$ADDR" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: server did not start" >&2
  cat "$WORK/stderr" >&2
  exit 1
}

# run_case NAME REPEAT "SERVER_ENV..." LOADGEN_ARGS...
run_case() {
  local name=$1${NAME_SUFFIX:-} repeat=$2 server_env=$3
  shift 3
  # shellcheck disable=SC2086 # server_env is a list of VAR=VALUE words
  start_server $server_env
  echo "== $name #$repeat: loadgen $*" >&2
  local status=0
  timeout "$RUN_TIMEOUT_S" "$LOADGEN" --target "$ADDR" --json "$OUT/$name-$repeat.json" "$@" >"$OUT/$name-$repeat.txt" 2>&1 || status=$?
  tail -n 4 "$OUT/$name-$repeat.txt" >&2
  echo "   (exit $status; report $OUT/$name-$repeat.json)" >&2
  stop_server
  sleep 1
}

# run_split_case NAME REPEAT LOADGEN_ARGS...: what sharding clients over two event loops would
# give on this host, measured without building it: two servers, each one loop with half the
# clients, publishing at the same wall-clock instants (synthetic snapshots fire on interval
# boundaries), and a load generator for each, run together. The two reports are NAME-a and NAME-b.
run_split_case() {
  local name=$1 repeat=$2
  shift 2
  start_server
  local pid_a=$SERVER_PID work_a=$WORK addr_a=$ADDR
  SPLIT_FIRST_PID=$pid_a
  start_server
  local pid_b=$SERVER_PID work_b=$WORK addr_b=$ADDR
  echo "== $name #$repeat: two servers, loadgen $* against each" >&2
  timeout "$RUN_TIMEOUT_S" "$LOADGEN" --target "$addr_a" --json "$OUT/$name-a-$repeat.json" "$@" >"$OUT/$name-a-$repeat.txt" 2>&1 &
  local lg_a=$!
  timeout "$RUN_TIMEOUT_S" "$LOADGEN" --target "$addr_b" --json "$OUT/$name-b-$repeat.json" "$@" >"$OUT/$name-b-$repeat.txt" 2>&1 || true
  wait "$lg_a" || true
  tail -n 3 "$OUT/$name-a-$repeat.txt" "$OUT/$name-b-$repeat.txt" >&2
  SERVER_PID=$pid_b WORK=$work_b
  stop_server
  SERVER_PID=$pid_a WORK=$work_a
  stop_server
  SPLIT_FIRST_PID=
  sleep 1
}

for repeat in $(seq 1 "$REPEATS"); do
  for case in $CASES; do
    # <case>-2loops: the same case against EVENT_LOOPS=2.
    if [[ $case == *-2loops ]]; then
      LOOPS_ENV=EVENT_LOOPS=2 NAME_SUFFIX=-2loops case=${case%-2loops}
    else
      LOOPS_ENV= NAME_SUFFIX=
    fi
    case $case in
      plan1000) run_case plan1000 "$repeat" "" --scenario steady --connections 1000 --duration-s 10 \
          --min-connect-rate 99 --max-p95-ms 500 --max-p99-ms 10 --max-lost 0 ;;
      plan1000z) run_case plan1000z "$repeat" "" --scenario steady --connections 1000 --duration-s 10 \
          --compression --min-connect-rate 99 --max-p95-ms 500 --max-lost 0 ;;
      steady10k) run_case steady10k "$repeat" "" --scenario steady --connections 10000 --duration-s 15 \
          --max-p99-ms 100 --max-lost 0 --max-server-cpu-percent 100 ;;
      steady10kz) run_case steady10kz "$repeat" "" --scenario steady --connections 10000 --duration-s 15 \
          --compression --max-p99-ms 100 --max-lost 0 --max-server-cpu-percent 100 ;;
      # The same fan-outs with permessage-deflate negotiated by every client (issue 16): compare
      # snapshot bytes on the wire, server CPU and delivery latency with plan1000 / steady10k.
      # The same fan-outs with 1 KiB snapshots: how much of the cost is bytes, how much per send.
      plan1000small) run_case plan1000small "$repeat" "DEMO_SNAPSHOT_BYTES=1024" --scenario steady --connections 1000 \
          --duration-s 10 --max-p99-ms 10 --max-lost 0 ;;
      steady10ksmall) run_case steady10ksmall "$repeat" "DEMO_SNAPSHOT_BYTES=1024" --scenario steady --connections 10000 \
          --duration-s 15 --max-p99-ms 100 --max-lost 0 ;;
      idle10k) run_case idle10k "$repeat" "" --scenario idle --connections 10000 --duration-s 10 \
          --max-rss-per-connection-bytes 8192 --max-server-cpu-percent 2 ;;
      # Idle connections that negotiated permessage-deflate: what compression costs at rest.
      idle10kz) run_case idle10kz "$repeat" "" --scenario idle --connections 10000 --duration-s 10 \
          --compression --max-rss-per-connection-bytes 8192 --max-server-cpu-percent 2 ;;
      # The open-file limit is 20,000 for both processes: the server keeps ~40 for itself.
      idlemax) run_case idlemax "$repeat" "" --scenario idle --connections 19900 --duration-s 10 \
          --max-rss-per-connection-bytes 8192 --max-server-cpu-percent 2 --min-connect-rate 100 ;;
      slow10k) run_case slow10k "$repeat" "" --scenario slow --connections 10000 --slow-percent 10 \
          --duration-s 12 --max-slow-p99-ratio 1.2 ;;
      # Stalled clients with 64 KiB receive buffers reach the server's bounds within the phase
      # (warned after WS_SLOW_CONSUMER_TIMEOUT 1 s, closed 2 s later).
      slow10kbounded) run_case slow10kbounded "$repeat" "WS_SLOW_CONSUMER_GRACE=2" --scenario slow --connections 10000 \
          --slow-percent 10 --rcvbuf-bytes 65536 --duration-s 30 --max-slow-p99-ratio 1.2 ;;
      storm10k) run_case storm10k "$repeat" "" --scenario storm --connections 10000 --settle-timeout-s 30 \
          --max-served-s 3 ;;
      # Two servers of 5,000 subscribers each, fanning out at the same instants (see run_split_case).
      split2x5k) run_split_case split2x5k "$repeat" --scenario steady --connections 5000 --duration-s 15 \
          --max-p99-ms 100 --max-lost 0 ;;
      churn) run_case churn "$repeat" "" --scenario churn --connections 1000 --churn-per-s 200 --duration-s 10 \
          --min-connect-rate 99 --max-lost 0 ;;
      *) echo "bench: unknown case $case" >&2; exit 2 ;;
    esac
  done
done

# Medians over the repeats, one Markdown table per case (every run's JSON stays in $OUT).
python3 - "$OUT" <<'PY'
import glob, json, math, os, re, statistics, sys

out = sys.argv[1]
def phase(r, name):
    return next((p for p in r["phases"] if p["name"] == name), None)
def server(r, name, key):
    p = phase(r, name)
    return p["server"][key] if p and p.get("server") else float("nan")
MiB = 1024 * 1024
FIELDS = {
    "plan1000": [
        ("connected %", lambda r: phase(r, "ramp")["connect"]["success_percent"]),
        ("handshake p99 ms", lambda r: phase(r, "ramp")["connect"]["handshake"]["p99_ms"]),
        ("p50 ms", lambda r: phase(r, "steady")["delivery"]["p50_ms"]),
        ("p95 ms", lambda r: phase(r, "steady")["delivery"]["p95_ms"]),
        ("p99 ms", lambda r: phase(r, "steady")["delivery"]["p99_ms"]),
        ("max ms", lambda r: phase(r, "steady")["delivery"]["max_ms"]),
        ("lost+reordered", lambda r: sum(p["lost"] + p["reordered"] for p in r["phases"])),
        ("server RSS max MiB", lambda r: server(r, "steady", "rss_max_bytes") / MiB),
        ("server CPU %", lambda r: server(r, "steady", "cpu_percent")),
        ("loadgen CPU %", lambda r: phase(r, "steady")["loadgen_cpu_percent"]),
        ("fan-out mean ms", lambda r: server(r, "steady", "broadcast_mean_ms")),
        ("fan-out p99 bucket ms", lambda r: server(r, "steady", "broadcast_p99_bucket_ms")),
    ],
    "idle": [
        ("held", lambda r: r["findings"].get("idle_connections_held", float("nan"))),
        ("RSS without MiB", lambda r: r["findings"].get("idle_rss_without_bytes", float("nan")) / MiB),
        ("RSS with MiB", lambda r: r["findings"].get("idle_rss_with_bytes", float("nan")) / MiB),
        ("RSS/connection B", lambda r: r["findings"].get("idle_rss_per_connection_bytes", float("nan"))),
        ("idle CPU %", lambda r: r["findings"].get("idle_server_cpu_percent", float("nan"))),
        ("connect failures", lambda r: phase(r, "ramp")["connect"]["failed"]),
    ],
    "slow10k": [
        ("stalled", lambda r: r["findings"].get("stalled_clients", float("nan"))),
        ("clean p50 ms", lambda r: phase(r, "clean")["delivery"]["p50_ms"]),
        ("clean p99 ms", lambda r: phase(r, "clean")["delivery"]["p99_ms"]),
        ("slow p50 ms", lambda r: phase(r, "slow")["delivery"]["p50_ms"]),
        ("slow p99 ms", lambda r: phase(r, "slow")["delivery"]["p99_ms"]),
        ("p99 ratio", lambda r: r["findings"].get("slow_fast_clients_p99_ratio", float("nan"))),
        ("fast lost", lambda r: phase(r, "slow")["lost"] + phase(r, "slow")["reordered"]),
        ("RSS clean MiB", lambda r: server(r, "clean", "rss_max_bytes") / MiB),
        ("RSS slow max MiB", lambda r: server(r, "slow", "rss_max_bytes") / MiB),
        ("queue max MiB", lambda r: server(r, "slow", "queue_bytes_max") / MiB),
        ("slow-consumer closes", lambda r: (phase(r, "slow").get("server") or {}).get("disconnects", {}).get("slow_consumer", 0)),
        ("server CPU %", lambda r: server(r, "slow", "cpu_percent")),
    ],
    "storm10k": [
        ("clients", lambda r: r["findings"].get("storm_clients", float("nan"))),
        ("served again", lambda r: r["findings"].get("storm_served_again", float("nan"))),
        ("all served s", lambda r: r["findings"].get("storm_served_s", float("nan"))),
        ("served p50 ms", lambda r: phase(r, "storm")["served"]["p50_ms"]),
        ("served p99 ms", lambda r: phase(r, "storm")["served"]["p99_ms"]),
        ("retries", lambda r: phase(r, "storm")["connect"]["retries"]),
        ("server CPU %", lambda r: server(r, "storm", "cpu_percent")),
    ],
    "churn": [
        ("churned", lambda r: r["findings"].get("churned_connections", float("nan"))),
        ("connected %", lambda r: phase(r, "churn")["connect"]["success_percent"]),
        ("handshake p99 ms", lambda r: phase(r, "churn")["connect"]["handshake"]["p99_ms"]),
        ("served p99 ms", lambda r: phase(r, "churn")["served"]["p99_ms"]),
        ("p99 ms", lambda r: phase(r, "churn")["delivery"]["p99_ms"]),
        ("lost+reordered", lambda r: sum(p["lost"] + p["reordered"] for p in r["phases"])),
        ("RSS start MiB", lambda r: server(r, "churn", "rss_start_bytes") / MiB),
        ("RSS end MiB", lambda r: server(r, "churn", "rss_end_bytes") / MiB),
        ("server CPU %", lambda r: server(r, "churn", "cpu_percent")),
    ],
}
FIELDS["steady10k"] = FIELDS["plan1000small"] = FIELDS["steady10ksmall"] = FIELDS["plan1000"]
FIELDS["split2x5k-a"] = FIELDS["split2x5k-b"] = FIELDS["plan1000"]
FIELDS["idle10k"] = FIELDS["idlemax"] = FIELDS["idle"]
FIELDS["slow10kbounded"] = FIELDS["slow10k"]

def num(v):
    return float("nan") if v is None else float(v)
by_case = {}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    case, repeat = re.match(r"(.*)-(\d+)\.json$", os.path.basename(path)).groups()
    with open(path) as f:
        by_case.setdefault(case, []).append((int(repeat), json.load(f)))
for case, runs in by_case.items():
    fields = FIELDS.get(case, FIELDS.get(case.removesuffix("-2loops"), []))
    print(f"\n### {case} ({len(runs)} runs)\n")
    print("| run | " + " | ".join(label for label, _ in fields) + " | passed |")
    print("|---" * (len(fields) + 2) + "|")
    columns = [[] for _ in fields]
    for repeat, report in sorted(runs, key=lambda x: x[0]):
        values = []
        for i, (_, get) in enumerate(fields):
            try:
                v = num(get(report))
            except (KeyError, TypeError):
                v = float("nan")
            columns[i].append(v)
            values.append(v)
        print(f"| {repeat} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {report['passed']} |")
    medians = [statistics.median([v for v in c if not math.isnan(v)] or [float("nan")]) for c in columns]
    print("| **median** | " + " | ".join(f"**{v:.2f}**" for v in medians) + " | |")
PY
