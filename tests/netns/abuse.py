#!/usr/bin/env python3
"""abuse: hostile TCP peers against a gateway's control port, bounded in count and time.

  abuse.py ADDR PORT SECONDS SILENT GARBAGE HALFTLS
opens SILENT connections that never speak, GARBAGE connections that send random bytes, and HALFTLS connections
that send the first bytes of a TLS ClientHello and stall; keeps them open (reconnecting those the gateway
closes) for SECONDS, then prints how many connects succeeded."""
import os, resource, select, socket, sys, time

addr, port, secs, n_silent, n_garbage, n_half = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(int, sys.argv[4:7])
HALF_HELLO = bytes.fromhex("160301020001000200fc03")  # record header + the start of a ClientHello, then silence
end = time.time() + min(secs, 30)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
conns, attempts = [], 0


def open_one(kind):
    global attempts
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    attempts += 1
    try:
        s.connect((addr, port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return None
    return (s, kind, False)


kinds = ["silent"] * n_silent + ["garbage"] * n_garbage + ["half"] * n_half
for k in kinds:
    c = open_one(k)
    if c:
        conns.append(c)
while time.time() < end and conns:
    poller = select.poll()
    for c in conns:
        if not c[2]:
            poller.register(c[0], select.POLLOUT)
    w = {fd for fd, ev in poller.poll(200)}
    nxt = []
    for s, kind, sent in conns:
        if s.fileno() in w and not sent:
            try:
                if kind == "garbage":
                    s.send(os.urandom(512))
                elif kind == "half":
                    s.send(HALF_HELLO)
                sent = True
            except OSError:
                s.close()
                c = open_one(kind)
                if c:
                    nxt.append(c)
                continue
        nxt.append((s, kind, sent))
    conns = nxt
    time.sleep(0.05)
for s, _, _ in conns:
    s.close()
print(attempts)
