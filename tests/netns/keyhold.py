#!/usr/bin/env python3
"""keyhold: one valid client key holding control connections past the TLS handshake, silent (stdlib only).

  keyhold.py order HOST PORT CERT KEY SRC
      6 connections from SRC, one after the other, each a full TLS 1.3 handshake with CERT/KEY (a configured
      [Client]'s self-signed Ed25519 certificate), none sends a request. Waits (at most 0.6 s) until the gateway
      has closed 2 of them, then prints "closed=I,J,... open=K,..." (indexes in the order they were opened).
  keyhold.py flood HOST PORT CERT KEY SRC[,SRC...] N SECONDS READY
      N such connections, round robin over the sources; then creates the file READY and, until SECONDS have
      passed since the start, re-opens every connection the gateway closed. Prints handshakes=, closed=.
  keyhold.py badconfirm HOST PORT CERT KEY SRC N
      N times: a connection, "AUTH", the answer, a confirmation that is wrong, the answer; prints answers=.
Every socket has a timeout; everything is closed at exit (every load is bounded in count and time)."""
import select, socket, ssl, sys, time


def context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    return ctx


def connect(ctx, host, port, src):
    raw = socket.create_connection((host, port), timeout=2, source_address=(src, 0))
    try:
        s = ctx.wrap_socket(raw, do_handshake_on_connect=False)
        s.do_handshake()
        s.setblocking(False)
        return s
    except (OSError, ssl.SSLError):
        raw.close()
        return None


def closed(s):
    """True once the gateway has closed s (EOF, reset); a session ticket or nothing yet: still open."""
    r, _, _ = select.select([s], [], [], 0)
    if not r and not s.pending():
        return False
    try:
        while True:
            if not s.recv(4096):
                return True
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except (OSError, ssl.SSLError):
        return True


def order(host, port, cert, key, src):
    ctx = context(cert, key)
    conns = []
    for i in range(6):
        s = connect(ctx, host, port, src)
        if s is None:
            print("handshake %d failed" % i)
            return 1
        conns.append(s)
    end = time.time() + 0.6
    while True:
        shut = [i for i, s in enumerate(conns) if closed(s)]
        if len(shut) >= 2 or time.time() > end:
            break
        time.sleep(0.01)
    print("closed=%s open=%s" % (",".join(map(str, shut)),
                                 ",".join(str(i) for i in range(6) if i not in shut)))
    for s in conns:
        s.close()
    return 0


def flood(host, port, cert, key, srcs, n, secs, ready):
    ctx = context(cert, key)
    start = time.time()
    conns, hs, shut, k = [], 0, 0, 0
    while len(conns) < n and time.time() - start < secs:
        s = connect(ctx, host, port, srcs[k % len(srcs)])
        k += 1
        if s is not None:
            hs += 1
            conns.append(s)
    open(ready, "w").close()
    while time.time() - start < secs:
        for i, s in enumerate(conns):
            if time.time() - start >= secs:
                break
            if s is not None and not closed(s):
                continue
            if s is not None:
                s.close()
                shut += 1
            conns[i] = connect(ctx, host, port, srcs[k % len(srcs)])
            k += 1
            hs += conns[i] is not None
        time.sleep(0.005)
    for s in conns:
        if s is not None:
            s.close()
    print("handshakes=%d closed=%d" % (hs, shut))
    return 0


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(4096)
        if not b:
            break
        buf += b
    return buf


def badconfirm(host, port, cert, key, src, n):
    ctx = context(cert, key)
    answers = 0
    for _ in range(n):
        s = connect(ctx, host, port, src)
        if s is None:
            continue
        try:
            s.setblocking(True)
            s.settimeout(2)
            s.sendall(b"AUTH\n")
            readline(s)  # the snapshot: one line
            s.sendall(b"CONFIRM 00\n")
            if b"ERR" in readline(s):
                answers += 1
        except (OSError, ssl.SSLError):
            pass
        s.close()
    print("answers=%d" % answers)
    return 0


if __name__ == "__main__":
    a = sys.argv
    if len(a) == 7 and a[1] == "order":
        sys.exit(order(a[2], int(a[3]), a[4], a[5], a[6]))
    if len(a) == 10 and a[1] == "flood":
        sys.exit(flood(a[2], int(a[3]), a[4], a[5], a[6].split(","), int(a[7]), float(a[8]), a[9]))
    if len(a) == 8 and a[1] == "badconfirm":
        sys.exit(badconfirm(a[2], int(a[3]), a[4], a[5], a[6], int(a[7])))
    sys.stderr.write(__doc__)
    sys.exit(2)
