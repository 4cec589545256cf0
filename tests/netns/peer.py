#!/usr/bin/env python3
"""peer: the internet host's and the tests' small network helpers (stdlib only).

  peer.py tcp-echo ADDR PORT LOG      TCP echo server; logs each peer's source address to LOG
  peer.py udp-echo ADDR PORT LOG      UDP echo server; logs each datagram's source address to LOG
  peer.py tcp-xfer ADDR PORT BYTES    connect, send BYTES, read them back, check equality (exit 0/1)
  peer.py udp-xfer ADDR PORT COUNT    send COUNT datagrams, expect each echoed (exit 0/1)
  peer.py capture IFACE PORT OUT [READY]  sniff one sluice DATA datagram to PORT on IFACE, write its payload
                                       hex to OUT; creates the file READY once it listens
  peer.py send ADDR PORT HEX [FLIPBIT]  send one UDP datagram (optionally with one bit flipped)
  peer.py ctl-answer PATH FILE READY  a fake daemon: answers every connection to the control socket PATH with
                                       FILE's bytes as they are (whole, cut, wrong), then closes; creates READY
Servers stop by themselves after 120 s (every load is bounded in time)."""
import os, select, socket, struct, sys, time

LIFETIME = 120


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def tcp_echo(addr, port, logf):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    end = time.time() + LIFETIME
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 1)
        if not r:
            continue
        c, peer = s.accept()
        with open(logf, "a") as f:
            f.write(peer[0] + "\n")
        c.settimeout(10)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()


def udp_echo(addr, port, logf):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    end = time.time() + LIFETIME
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 1)
        if not r:
            continue
        d, peer = s.recvfrom(65536)
        with open(logf, "a") as f:
            f.write(peer[0] + "\n")
        s.sendto(d, peer)


def tcp_xfer(addr, port, nbytes):
    n = int(nbytes)
    data = os.urandom(n)
    s = socket.create_connection((addr, int(port)), timeout=10)
    got = bytearray()
    sent = 0
    while sent < n or len(got) < n:
        if sent < n:
            sent += s.send(data[sent:sent + 65536])
        r, _, _ = select.select([s], [], [], 0 if sent < n else 10)
        if r:
            d = s.recv(65536)
            if not d:
                break
            got += d
        elif sent >= n:
            break
    s.close()
    sys.exit(0 if bytes(got) == data else 1)


def udp_xfer(addr, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    ok = 0
    for i in range(int(count)):
        msg = b"sluice-udp-%d" % i
        s.sendto(msg, (addr, int(port)))
        try:
            d, _ = s.recvfrom(2048)
            ok += d == msg
        except socket.timeout:
            pass
    print(ok)
    sys.exit(0 if ok == int(count) else 1)


def capture(iface, port, out, ready=None):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    s.bind((iface, 0))
    if ready:
        open(ready, "w").close()
    end = time.time() + 20
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 1)
        if not r:
            continue
        f = s.recv(65536)
        if len(f) < 14 + 20 + 8 or f[12:14] != b"\x08\x00" or f[14 + 9] != 17:
            continue
        ihl = (f[14] & 0xF) * 4
        udp = f[14 + ihl:]
        dport = struct.unpack("!H", udp[2:4])[0]
        payload = udp[8:]
        if dport == int(port) and len(payload) > 36 and payload[:4] == b"SLU1" and payload[5] == 1:
            with open(out, "w") as o:
                o.write(payload.hex())
            return
    sys.exit("no datagram captured")


def send(addr, port, hexdata, flipbit=None):
    d = bytearray(bytes.fromhex(hexdata))
    if flipbit is not None:
        b = int(flipbit)
        d[b // 8] ^= 1 << (b % 8)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(bytes(d), (addr, int(port)))


def ctl_answer(path, answer, ready):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    open(ready, "w").close()
    s.settimeout(1)
    end = time.time() + LIFETIME
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        req = b""
        while b"\n" not in req:  # the whole request: closing on unread bytes would reset the connection
            b = c.recv(64)
            if not b:
                break
            req += b
        with open(answer, "rb") as f:
            c.sendall(f.read())  # read at each connection: the test changes it between requests
        c.close()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"tcp-echo": tcp_echo, "udp-echo": udp_echo, "tcp-xfer": tcp_xfer, "udp-xfer": udp_xfer,
     "capture": capture, "send": send, "ctl-answer": ctl_answer}[cmd](*args)
