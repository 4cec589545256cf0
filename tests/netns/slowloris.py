#!/usr/bin/env python3
"""slowloris: slow HTTP clients against the metrics endpoint, bounded in count and time.

  slowloris.py ADDR PORT CONNS SECONDS
keeps CONNS connections open for SECONDS (at most 30), each sending a request head one byte every 0.2 s and
never finishing it; a connection the server closes is replaced at once. Prints key=value lines: opened (every
connection made), closed_by_server, answered (a server that sent bytes instead of closing: "HTTP/1.1 431 ..." is
fine, a 200 is not), ok200, and max_life_ms (the longest a connection lived before the server closed it)."""
import socket, sys, time

addr, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), min(float(sys.argv[4]), 30.0)
HEAD = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
end = time.time() + secs
conns = []  # [socket, opened_at, bytes_sent]
opened = closed = answered = ok200 = 0
max_life = 0.0


def open_one():
    global opened
    s = socket.create_connection((addr, port), timeout=2)
    s.setblocking(False)
    opened += 1
    conns.append([s, time.time(), 0])


for _ in range(n):
    open_one()
while time.time() < end:
    for c in list(conns):
        s, t0, sent = c
        gone = False
        try:
            data = s.recv(4096)
            if data:
                answered += 1
                ok200 += data.startswith(b"HTTP/1.1 200")
            gone = True  # closed (b"") or answered: either way the server is done with it
        except BlockingIOError:
            pass
        except OSError:
            gone = True
        if not gone and sent < len(HEAD):
            try:
                s.send(HEAD[sent:sent + 1])
                c[2] += 1
            except BlockingIOError:
                pass
            except OSError:
                gone = True
        if gone:
            closed += 1
            max_life = max(max_life, time.time() - t0)
            s.close()
            conns.remove(c)
            open_one()
    time.sleep(0.2)
for s, _, _ in conns:
    s.close()
print(f"opened={opened}\nclosed_by_server={closed}\nanswered={answered}\nok200={ok200}\n"
      f"max_life_ms={int(max_life * 1000)}")
