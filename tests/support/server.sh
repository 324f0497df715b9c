# Sourced by the shell test scripts: the real server on a free loopback port (PORT=0; it prints
# the address it bound) with its own configuration and database in a temporary folder.
#
#   source tests/support/server.sh
#   trap stop_server EXIT
#   start_server BIN TAG VAR=VALUE...   # sets SERVER_PID, SERVER_WORK and ADDR (host:port)
#
# The server gets an empty environment plus HOST, PORT, DUCKDB_PATH, FRONTEND_DIR, DEMO_SEED=false,
# LOG_LEVEL=warn and then VAR=VALUE... (which win). A server that does not start within 60 s, or
# exits, ends the calling script with status 1 after printing its log.

SERVER_PID=
SERVER_WORK=
ADDR=

# bash runs an EXIT trap on a plain exit only: turn SIGINT/SIGTERM into one, so the server and
# its work folder go with the sourcing script however it ends.
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() {
  local bin=$1 tag=$2
  shift 2
  local frontend
  frontend=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../frontend" && pwd)
  SERVER_WORK=$(mktemp -d)
  (cd "$SERVER_WORK" && exec env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 DUCKDB_PATH="$SERVER_WORK/$tag.duckdb" \
    FRONTEND_DIR="$frontend" DEMO_SEED=false LOG_LEVEL=warn "$@" \
    "$bin" serve >"$SERVER_WORK/stdout" 2>"$SERVER_WORK/stderr") &
  SERVER_PID=$!
  ADDR=
  for _ in $(seq 1 600); do
    ADDR=$(sed -n 's#^listening on http://\(.*\)/$#\1#p' "$SERVER_WORK/stdout" | head -n1)
    [[ -n "$ADDR" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$tag: server exited:" >&2; cat "$SERVER_WORK/stderr" >&2; exit 1; }
    sleep 0.1
  done
  echo "$tag: server did not start within 60 s" >&2
  cat "$SERVER_WORK/stderr" >&2
  exit 1
}

# True while the server started last is running.
server_running() {
  [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null
}

stop_server() {
  if server_running; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
  if [[ -n "$SERVER_WORK" ]]; then rm -rf "$SERVER_WORK"; fi
  SERVER_WORK=
}
