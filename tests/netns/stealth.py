#!/usr/bin/env python3
"""stealth: probes of a `Stealth = on` gateway's control port (stdlib only; DESIGN §9, control/stealth.h).

  stealth.py probe HOST PORT PUBKEY KIND [FILE]
      connects, sends what KIND says, then a real TLS 1.3 ClientHello (made by the ssl module), and reads
      until the gateway closes (at most 10 s). Prints "bytes=N ms=T" (N: bytes received; T: ms until closed).
      KIND: valid [FILE]   a fresh prelude (saved to FILE when given, for a replay)
            replay FILE    the prelude saved in FILE, as it was
            stale          a prelude with a good MAC, its timestamp 120 s old (outside the 30 s window)
            future         the same, 45 s ahead (outside the 30 s a prelude may be ahead)
            garbage        56 random bytes
            none           nothing: only the ClientHello (what openssl s_client or a scanner sends)
            silent         nothing at all, not even the ClientHello (a raw TCP connect)
The prelude: timestamp (8 bytes, big-endian unix s) || nonce (16) || HMAC-SHA256(k, those 24 bytes), with
k = HMAC-SHA256(b"sluice stealth prelude v1", the gateway's raw 32-byte Ed25519 public key)."""
import base64, hashlib, hmac, os, socket, ssl, struct, sys, time

LABEL = b"sluice stealth prelude v1"


def prelude(pub, ts):
    k = hmac.new(LABEL, pub, hashlib.sha256).digest()
    head = struct.pack(">Q", ts) + os.urandom(16)
    return head + hmac.new(k, head, hashlib.sha256).digest()


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def probe(host, port, pub_b64, kind, path=None):
    pub = base64.b64decode(pub_b64)
    now = int(time.time())
    if kind == "valid":
        pre = prelude(pub, now)
        if path:
            open(path, "wb").write(pre)
    elif kind == "replay":
        pre = open(path, "rb").read()
    elif kind == "stale":
        pre = prelude(pub, now - 120)
    elif kind == "future":
        pre = prelude(pub, now + 45)
    elif kind == "garbage":
        pre = os.urandom(56)
    else:
        pre = b""
    s = socket.create_connection((host, int(port)), timeout=10)
    t0 = time.monotonic()
    if kind != "silent":
        s.sendall(pre + client_hello())
    got = 0
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
            if got and kind == "valid":
                break  # the control: the gateway answered (a ServerHello); no need to finish
    except (ConnectionResetError, socket.timeout):
        pass
    print("bytes=%d ms=%d" % (got, (time.monotonic() - t0) * 1000))
    s.close()


if __name__ == "__main__":
    if len(sys.argv) < 6 or sys.argv[1] != "probe":
        sys.exit(__doc__)
    probe(*sys.argv[2:7])
