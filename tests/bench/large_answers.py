#!/usr/bin/env python3
"""Memory of a running server under many concurrent large REST answers that are not read at first.

Opens N connections (N-th request asks for PATHS[i % len(PATHS)]), does not read for 3 s, prints
the server's RSS and /ws/stats figures, then reads every answer whole (Content-Length checked)
and prints the statuses. Loopback only; the server is started by the caller.

  python3 tests/bench/large_answers.py HOST:PORT SERVER_PID N PATH [PATH...]
"""
import json, socket, sys, time

addr, pid, n, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
host, port = addr.rsplit(':', 1)

def rss_mib():
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
def get(path):
    s = socket.create_connection((host, int(port)))
    s.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
    data = b''
    while True:
        b = s.recv(1 << 20)
        if not b: break
        data += b
    head, body = data.split(b'\r\n\r\n', 1)
    return head.decode(), body
def stats():
    return json.loads(get('/ws/stats')[1])

print(f'rss before: {rss_mib():.1f} MiB')
socks = []
for i in range(n):
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(f'GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
    socks.append(s)
time.sleep(3)
st = stats()
print(f'{n} unread requests: rss {rss_mib():.1f} MiB, http_pending_bytes {st["http_pending_bytes"]/2**20:.1f} MiB, queued_bytes {st["queued_bytes"]/2**20:.1f} MiB')
statuses = {}
for s in socks:
    data = b''
    while True:
        b = s.recv(1 << 20)
        if not b: break
        data += b
    head, body = data.split(b'\r\n\r\n', 1)
    status = head.split()[1].decode()
    length = int([l.split(b':')[1] for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')][0])
    assert length == len(body), (length, len(body))
    statuses[status] = statuses.get(status, 0) + 1
print(f'all read: statuses {statuses}, rss {rss_mib():.1f} MiB, pending {stats()["http_pending_bytes"]}')
