#!/usr/bin/env python3
"""abuse: hostile TCP peers against a gateway's control port, bounded in count and time.

  abuse.py ADDR PORT SECONDS SILENT GARBAGE HALFTLS [--source A]... [--reopen] [--ready FILE]
opens SILENT connections that never speak, GARBAGE connections that send random bytes, and HALFTLS connections
that send the first bytes of a TLS ClientHello and stall; keeps them open (reconnecting those whose send fails)
for SECONDS, then prints how many connects were made. ADDR may be IPv4 or IPv6.

With --source (repeatable): the counts are per source address, each connection bound to its source — many
hosts each keeping their share of connections open. With --reopen: every connection the gateway closes (at
its deadline, evicted, refused) is opened again at once, from the same source, so the sources keep their
connections up for the whole time (the slot-exhaustion attack). --ready FILE is created once every connection
has been established at least once (the attack is in place). Targets outside loopback, 198.18.0.0/15 and
2001:db8::/32 are refused."""
import argparse, ipaddress, os, resource, select, socket, time

ap = argparse.ArgumentParser()
ap.add_argument("addr")
ap.add_argument("port", type=int)
ap.add_argument("secs", type=float)
ap.add_argument("silent", type=int)
ap.add_argument("garbage", type=int)
ap.add_argument("half", type=int)
ap.add_argument("--source", action="append", default=[])
ap.add_argument("--reopen", action="store_true")
ap.add_argument("--ready")
args = ap.parse_args()
target = ipaddress.ip_address(args.addr)
if not (target.is_loopback or target in ipaddress.ip_network("198.18.0.0/15")
        or target in ipaddress.ip_network("2001:db8::/32")):
    raise SystemExit("abuse: target must be loopback, in 198.18.0.0/15 or in 2001:db8::/32")
family = socket.AF_INET6 if target.version == 6 else socket.AF_INET

HALF_HELLO = bytes.fromhex("160301020001000200fc03")  # record header + the start of a ClientHello, then silence
end = time.time() + min(args.secs, 30)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
attempts = 0


class Conn:
    def __init__(self, kind, src):
        self.kind, self.src, self.sent, self.sock, self.ever = kind, src, False, None, False


def open_one(c):
    """(Re)connects c; False if the local side failed (then it is dropped)."""
    global attempts
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    attempts += 1
    try:
        if c.src:
            s.bind((c.src, 0))
        s.connect((args.addr, args.port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return False
    c.sock, c.sent = s, False
    return True


kinds = ["silent"] * args.silent + ["garbage"] * args.garbage + ["half"] * args.half
conns = [Conn(k, src) for src in (args.source or [None]) for k in kinds]
conns = [c for c in conns if open_one(c)]
while time.time() < end and conns:
    poller = select.poll()
    by_fd = {}
    for c in conns:
        ev = (0 if c.sent else select.POLLOUT) | (select.POLLIN if args.reopen else 0)
        if ev:
            poller.register(c.sock, ev)
            by_fd[c.sock.fileno()] = c
    ready = dict(poller.poll(200))
    nxt = []
    for c in conns:
        ev = ready.get(c.sock.fileno(), 0) if by_fd.get(c.sock.fileno()) is c else 0
        closed = False
        if ev & (select.POLLIN | select.POLLHUP | select.POLLERR) and args.reopen:
            try:
                closed = c.sock.recv(4096) == b""
                c.ever |= closed  # an end of stream: it was established, then closed by the gateway
            except BlockingIOError:
                pass
            except OSError:
                closed = True
        if not closed and ev & select.POLLOUT and not c.sent:
            try:
                if c.kind == "garbage":
                    c.sock.send(os.urandom(512))
                elif c.kind == "half":
                    c.sock.send(HALF_HELLO)
                c.sent = c.ever = True
            except BlockingIOError:
                pass
            except OSError:
                closed = True
        if closed:
            c.sock.close()
            if not open_one(c):
                continue
        nxt.append(c)
    conns = nxt
    if args.ready and all(c.ever for c in conns):
        open(args.ready, "w").close()
        args.ready = None
    time.sleep(0.05)
for c in conns:
    c.sock.close()
print(attempts)
