#!/usr/bin/env python3
"""dataprobe: a client that authenticates and never confirms, then asks DATA for that session (stdlib only).

  dataprobe.py HOST PORT GW_PUBKEY CERT KEY [stealth]
      connection 1: (the stealth prelude,) TLS 1.3 with CERT/KEY (a self-signed Ed25519 certificate, the
      key of a configured [Client]), "AUTH", the snapshot, then close without "CONFIRM" (what a client from
      before key confirmation does: the gateway keeps the session).
      connection 2: the same, "DATA <that session>". Prints "session=ID answer=LINE".
The gateway must refuse the DATA (its session's key confirmation never checked out)."""
import base64, os, socket, ssl, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stealth import prelude  # noqa: E402


def exchange(host, port, pub, cert, key, stealth, line):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    raw = socket.create_connection((host, port), timeout=5)
    if stealth:
        raw.sendall(prelude(pub, int(time.time())))
    with ctx.wrap_socket(raw) as s:
        s.sendall(line.encode())
        buf = b""
        while b"\n" not in buf:
            got = s.recv(4096)
            if not got:
                break
            buf += got
    return buf.split(b"\n")[0].decode(errors="replace")


def main():
    host, port, pub, cert, key = sys.argv[1], int(sys.argv[2]), base64.b64decode(sys.argv[3]), sys.argv[4], sys.argv[5]
    stealth = len(sys.argv) > 6 and sys.argv[6] == "stealth"
    snap = exchange(host, port, pub, cert, key, stealth, "AUTH\n")
    fields = dict(f.split("=", 1) for f in snap.split()[1:] if "=" in f)
    if not snap.startswith("OK ") or "session" not in fields:
        print("auth failed: " + snap)
        return 1
    answer = exchange(host, port, pub, cert, key, stealth, "DATA %s\n" % fields["session"])
    print("session=%s answer=%s" % (fields["session"], answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
