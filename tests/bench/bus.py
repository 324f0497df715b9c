#!/usr/bin/env python3
"""Redis bus figures (issue 15): lag from the leader's publish to a follower's receive, failover
time after SIGKILL of the leader, and recovery after the follower's subscription is cut.

Usage: [EVENT_LOOPS=n] python3 tests/bench/bus.py BINARY [SECONDS]   (make bench-bus)

Starts its own redis-server on a free loopback port (no persistence) and two server processes
with synthetic 2 KiB snapshots every 0.2 s. Lag: each snapshot's `sent_at_ms` (the leader's stamp
time, just before the fenced publish) against the follower's receive, as the follower reports it
(`/health` bus.lag_ms, sampled every 50 ms; both processes share one clock on loopback).
Also the end-to-end figure a client sees on each node: `sent_at_ms` to the moment a Python client
on that node has read the frame (the leader shows its own stamps only once Redis confirmed the
publish, so its clients pay one Redis round trip too). Prints medians and p95; numbers vary with
the machine, so compare runs on the same host.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def redis_cmd(port, *args):
    # RESP by hand: the benchmark needs no client library.
    s = socket.create_connection(("127.0.0.1", port))
    parts = [f"*{len(args)}\r\n"] + [f"${len(a)}\r\n{a}\r\n" for a in args]
    s.sendall("".join(parts).encode())
    reply = s.recv(4096)
    s.close()
    return reply


def start_node(binary, workdir, redis_port, node_id, port):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DUCKDB_PATH": os.path.join(workdir, f"{node_id}.duckdb"),
        "FRONTEND_DIR": os.path.join(os.path.dirname(__file__), "..", "..", "frontend"),
        "DEMO_SEED": "false",
        "FEED": "none",
        "SUPPORTED_SYMBOLS": "BTCUSDT",
        "DEMO_SNAPSHOT_BYTES": "2048",
        "WS_UPDATE_INTERVAL": "0.2",
        "EVENT_LOOPS": os.environ.get("EVENT_LOOPS", "1"),
        "REDIS_ENABLED": "true",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}",
        "NODE_ID": node_id,
        "REDIS_LEASE_TTL_MS": "1500",
        "REDIS_PROBE_INTERVAL_MS": "200",
        "REDIS_PROBE_TIMEOUT_MS": "1000",
        "REDIS_COMMAND_TIMEOUT_MS": "500",
        "REDIS_RECONNECT_BACKOFF_MAX_MS": "400",
        "LOG_LEVEL": "warn",
    }
    return subprocess.Popen([binary, "serve"], env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except (OSError, KeyError):
            pass
        time.sleep(0.02)
    return False


def main():
    binary = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    workdir = tempfile.mkdtemp(prefix="lhm-bench-bus-")
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
                             stdout=subprocess.DEVNULL)
    ports = [free_port(), free_port()]
    nodes = []
    try:
        wait(lambda: socket.create_connection(("127.0.0.1", redis_port)).close() or True, 10)
        nodes = [start_node(binary, workdir, redis_port, f"bench{i}", p) for i, p in enumerate(ports)]
        # A subscriber on each node, so each subscribes to the symbol's channel.
        import http.client  # noqa: F401  (stdlib; WebSocket by hand below)
        for p in ports:
            assert wait(lambda: get(p, "/health") is not None, 30), "node did not start"
        clients = [ws_subscribe(p) for p in ports]
        sockets = [c for c, _ in clients]
        assert wait(lambda: sum(get(p, "/health")["bus"]["role"] == "leader" for p in ports) == 1, 15), "no leader"
        leader = next(i for i, p in enumerate(ports) if get(p, "/health")["bus"]["role"] == "leader")
        follower = 1 - leader
        for _, seen in clients:
            seen.clear()
        time.sleep(seconds)
        lag = lag_histogram(ports[follower])
        client_lag = [quantiles(list(clients[i][1])) for i in (leader, follower)]
        # Blip: cut the follower's subscription; time until it reports up again with one more reconnect.
        blips = []
        for _ in range(5):
            before = get(ports[follower], "/health")["bus"]["reconnects"]
            t0 = time.monotonic()
            redis_cmd(redis_port, "CLIENT", "KILL", "TYPE", "pubsub")
            wait(lambda: get(ports[follower], "/health")["bus"]["reconnects"] > before, 10)
            blips.append((time.monotonic() - t0) * 1000)
            time.sleep(0.5)
        recovered = get(ports[follower], "/health")["bus"]["recovered_from_history"]
        # Failover: SIGKILL the leader, time until the follower leads.
        t0 = time.monotonic()
        nodes[leader].send_signal(signal.SIGKILL)
        wait(lambda: get(ports[follower], "/health")["bus"]["role"] == "leader", 30)
        failover_ms = (time.monotonic() - t0) * 1000
        for c in sockets:
            c.close()
        count, mean_ms, median_le_ms, p95_le_ms = lag
        print(f"EVENT_LOOPS={os.environ.get('EVENT_LOOPS', '1')} on both nodes, {seconds:.0f} s of streaming")
        print(f"bus lag (leader sent_at_ms -> follower receive), {count} snapshots: mean {mean_ms:.2f} ms, "
              f"median <= {median_le_ms:.2f} ms, p95 <= {p95_le_ms:.2f} ms (histogram bucket bounds; sent_at_ms has 1 ms resolution)")
        for name, (n, median, p95) in zip(("leader's", "follower's"), client_lag):
            print(f"client on the {name} node, sent_at_ms -> frame read by the client, {n} snapshots: median {median:.2f} ms, p95 {p95:.2f} ms")
        print(f"subscription cut -> resubscribed: median {statistics.median(blips):.0f} ms over {len(blips)} cuts "
              f"(snapshots recovered from history: {recovered})")
        print(f"leader SIGKILL -> follower leads: {failover_ms:.0f} ms (REDIS_LEASE_TTL_MS=1500)")
    finally:
        for n in nodes:
            n.kill()
        redis.kill()


def lag_histogram(port):
    """(count, mean ms, median and p95 as the upper bounds of their buckets, ms) of bus_lag_seconds."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    buckets, total, count = [], 0.0, 0
    for line in text.splitlines():
        if line.startswith("bus_lag_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(float(line.split()[-1]))))
        elif line.startswith("bus_lag_seconds_sum"):
            total = float(line.split()[-1])
        elif line.startswith("bus_lag_seconds_count"):
            count = int(float(line.split()[-1]))
    def quantile(q):
        for le, cumulative in buckets:
            if cumulative >= q * count:
                return le * 1000
        return float("nan")
    return count, (total / count * 1000) if count else float("nan"), quantile(0.5), quantile(0.95)


def ws_subscribe(port):
    """A raw WebSocket client that subscribes to BTCUSDT; a thread reads and discards what it
    receives (the benchmark only needs the node to subscribe and the client to keep up)."""
    import base64
    import threading
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/heatmap HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    payload = b'{"action":"subscribe","symbols":["BTCUSDT"]}'
    mask = os.urandom(4)
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(frame)

    latencies = []

    def drain():
        # Unmasked server frames (no compression offered): snapshot sent_at_ms -> received here.
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2:
                    n, off = buf[1] & 0x7F, 2
                    if n == 126:
                        n, off = int.from_bytes(buf[2:4], "big"), 4
                    elif n == 127:
                        n, off = int.from_bytes(buf[2:10], "big"), 10
                    if len(buf) < off + n:
                        break
                    payload, buf = buf[off:off + n], buf[off + n:]
                    if b'"type":"snapshot"' in payload[:40]:
                        sent = int(payload.split(b'"sent_at_ms":')[1].split(b",")[0])
                        latencies.append(time.time() * 1000 - sent)
        except (OSError, IndexError, ValueError):
            pass

    threading.Thread(target=drain, daemon=True).start()
    return s, latencies


def quantiles(values):
    """(count, median, p95) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return 0, float("nan"), float("nan")
    return len(ordered), statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


if __name__ == "__main__":
    main()
