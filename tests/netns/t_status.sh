#!/usr/bin/env bash
# t_status: `sluice show`, `show -j`, `dump` and `metrics` against live daemons (issue "Status and
# observability"): counters account for a known amount of traffic on both ends, JSON has every documented field,
# dump has its 16 columns, metrics pass a strict exposition-format check, garbage / replay / spoofed inner
# source each raise their own drop counter by the number sent, a missing interface exits 1, and an answer that
# is not whole (cut short, a client block missing, an error) is reported and exits 1, never shown in part.
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW" "StatsInterval = 1"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
start "$NS_G" "$GW"; start "$NS_C" "$CL"
wait_for 10 session_up "$CL" || fail "no session"
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/src.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "echo server did not start"

# views of every interface: other daemons on this host (another test's, another build's) need not answer as ours
# do, and any that fails makes the exit status 1; only ours are checked, and neither may be the one that failed
all_ifaces() { "$SLUICE" "$@" 2> "$WORK/all.err" || true; ! grep -E "'($GW|$CL)'" "$WORK/all.err" >&2; }

# --- a known amount of traffic: 200 pings of 100 bytes and 1 MB echoed
c_tx0=$(stat "$CL" tx_packets); g_rx0=$(peer_stat "$GW" laptop peer_rx_packets)
in_c ping -q -c 200 -i 0.005 -s 100 $I_IP >/dev/null || fail "pings failed"
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 1000000 || fail "1 MB transfer failed"
c_tx=$(( $(stat "$CL" tx_packets) - c_tx0 )); c_txb=$(stat "$CL" tx_bytes); c_rxb=$(stat "$CL" rx_bytes)
g_rx=$(( $(peer_stat "$GW" laptop peer_rx_packets) - g_rx0 ))
g_rxb=$(peer_stat "$GW" laptop peer_rx_bytes); g_txb=$(peer_stat "$GW" laptop peer_tx_bytes)
for v in c_tx g_rx; do [ "${!v}" -ge 200 ] && [ "${!v}" -lt 5000 ] || fail "$v = ${!v} packets, expected 200..5000"; done
for v in c_txb c_rxb g_rxb g_txb; do
	[ "${!v}" -ge 1000000 ] && [ "${!v}" -lt 3000000 ] || fail "$v = ${!v} bytes, expected 1 MB..3 MB"
done
[ "$g_rxb" -le "$c_txb" ] || fail "gateway received more ($g_rxb) than the client sent ($c_txb)"
ok "counters account for 200 pings and 1 MB each way (client tx $c_txb B, gateway rx $g_rxb B)"

# --- human output
"$SLUICE" show "$CL" > "$WORK/show-c.txt" || fail "show client"
for l in "interface: $CL" "mode: client" "endpoint: $G_IP:$PORT" "state: up" "address: 10.66.0.2/24" \
	"latest handshake:" "transfer:" "MiB received" "drops:" "kill switch:"; do
	grep -q "$l" "$WORK/show-c.txt" || fail "client show lacks '$l'"
done
"$SLUICE" show "$GW" > "$WORK/show-g.txt" || fail "show gateway"
for l in "interface: $GW" "mode: server" "listening: 0.0.0.0:$PORT" "client: laptop" "endpoint: $C_IP:"; do
	grep -q "$l" "$WORK/show-g.txt" || fail "gateway show lacks '$l'"
done
all_ifaces show > "$WORK/show-all.txt" || fail "show all"
grep -q "interface: $CL" "$WORK/show-all.txt" && grep -q "interface: $GW" "$WORK/show-all.txt" || fail "show all"
ok "human output"

# --- JSON: valid, every documented field, raw numbers
"$SLUICE" show -j "$GW" > "$WORK/g.json"; "$SLUICE" show -j "$CL" > "$WORK/c.json"
all_ifaces show -j > "$WORK/all.json" || fail "show -j all"
python3 - "$WORK" <<'PY' || fail "JSON check"
import json, sys
w = sys.argv[1]
g = json.load(open(w + "/g.json")); c = json.load(open(w + "/c.json")); a = json.load(open(w + "/all.json"))
drops = {"bad_header", "unknown_session", "replay", "auth", "spoofed", "no_endpoint", "oversize", "queue_out",
         "queue_in", "bad_inner", "client_to_client", "no_ipv6", "no_ipv4"}
common = {"interface", "mode", "public_key", "mtu", "workers", "tun_rx_packets", "tun_rx_bytes", "tun_tx_packets",
          "tun_tx_bytes", "udp_rx_datagrams", "udp_rx_bytes", "udp_tx_datagrams", "udp_tx_bytes",
          "handshakes_ok", "handshakes_failed", "pings", "uptime", "drops", "lat_tun_udp_avg_ns",
          "lat_tun_udp_p95_ns", "lat_udp_tun_avg_ns", "lat_udp_tun_p95_ns", "tcp_rx_datagrams", "tcp_tx_datagrams"}
client = common | {"server_public_key", "endpoint", "state", "session_id", "address", "latest_handshake",
                   "last_rx_age_ms", "rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "killswitch", "server",
                   "server_index", "servers", "failovers", "pushed_routes", "subnets", "transport",
                   "transport_switches"}
server = common | {"listen", "address", "clients", "peers", "handshakes_unknown_key", "handshakes_bad_cert",
                   "conns_preauth", "conns_refused", "conns_refused_source", "conns_ratelimited", "conns_evicted",
                   "conns_timed_out", "push_routes", "client_to_client", "nat", "repushes", "tcp_streams"}
peer = {"name", "public_key", "endpoint", "address", "session_id", "latest_handshake", "last_rx_age_ms",
        "rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "drops", "subnets", "transport", "transport_switches"}
assert client <= set(c), client - set(c)
assert server <= set(g), server - set(g)
assert set(c["drops"]) == drops and set(g["drops"]) == drops
assert len(g["peers"]) == 1 and peer <= set(g["peers"][0]), peer - set(g["peers"][0])
assert isinstance(c["rx_bytes"], int) and c["rx_bytes"] >= 1000000
for d in (c, g):  # latency inside the daemon was sampled: more than nothing, less than a second
    for k in ("lat_tun_udp_avg_ns", "lat_tun_udp_p95_ns", "lat_udp_tun_avg_ns", "lat_udp_tun_p95_ns"):
        assert 0 < d[k] < 10**9, (k, d[k])
assert g["peers"][0]["name"] == "laptop" and g["peers"][0]["rx_bytes"] >= 1000000
assert isinstance(a, list) and {x["interface"] for x in a} >= {c["interface"], g["interface"]}
PY
ok "JSON valid with every field"

# --- dump: 16 tab-separated columns
"$SLUICE" dump "$GW" > "$WORK/dump-g"; "$SLUICE" dump "$CL" > "$WORK/dump-c"
# 13th the client's Subnets / the pushed routes (none here), 14th the transport, 15th its switches, 16th the
# IPv6 address (none: an IPv4-only tunnel here)
awk -F'\t' 'NF != 16 || $13 != "(none)" || $14 != "udp" || $15 != "0" || $16 != "(none)" { exit 1 }
	END { if (NR != 1) exit 1 }' "$WORK/dump-g" || fail "gateway dump: $(cat "$WORK/dump-g")"
awk -F'\t' 'NF != 16 || $2 != "server" || $13 != "(none)" || $14 != "udp" || $15 != "0" || $16 != "(none)" { exit 1 }
	END { if (NR != 1) exit 1 }' "$WORK/dump-c" || fail "client dump: $(cat "$WORK/dump-c")"
ok "dump has 16 columns (subnets, transport, switches, address6 last)"

# --- metrics: strict exposition-format check
all_ifaces metrics > "$WORK/metrics" || fail "metrics of all"
python3 - "$WORK/metrics" <<'PY' || fail "metrics format"
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{%s(?:,%s)*\})? -?[0-9]+(\.[0-9]+)?$" % (name, label, label))
help_ = re.compile(r"^# HELP (%s) .+$" % name); type_ = re.compile(r"^# TYPE (%s) (counter|gauge)$" % name)
typed, seen_samples, last_family = {}, set(), None
for line in open(sys.argv[1]).read().splitlines():
    if m := help_.match(line): continue
    if m := type_.match(line):
        assert m.group(1) not in typed, "TYPE twice: " + line
        typed[m.group(1)] = m.group(2); last_family = m.group(1); continue
    m = sample.match(line); assert m, "bad line: " + line
    assert m.group(1) == last_family, "sample outside its family: " + line
    assert line.rsplit(" ", 1)[0] not in seen_samples, "duplicate sample: " + line
    seen_samples.add(line.rsplit(" ", 1)[0])
assert "sluice_drops_total" in typed and "sluice_peer_rx_bytes_total" in typed
PY
ok "metrics pass the format check"

# --- each kind of bad input raises its own counter by exactly the number sent
in_g python3 "$SLUICE_SRC/tests/netns/peer.py" capture g0 $PORT "$WORK/dgram.hex" "$WORK/cap.ready" & cap=$!
wait_for 10 test -e "$WORK/cap.ready" || fail "the sniffer did not start"
in_c ping -c 3 -i 0.2 $I_IP >/dev/null; wait $cap || fail "capture"
b0=$(stat "$GW" drop_bad_header); r0=$(stat "$GW" drop_replay); s0=$(stat "$GW" drop_spoofed)
for i in 1 2 3 4 5; do in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $G_IP $PORT 6a756e6b; done
for i in 1 2 3; do in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $G_IP $PORT "$(cat "$WORK/dgram.hex")"; done
wait_for 3 stat_cmp "$GW" drop_bad_header -eq $((b0 + 5)) || fail "garbage: $(stat "$GW" drop_bad_header) - $b0 != 5"
wait_for 3 stat_cmp "$GW" drop_replay -eq $((r0 + 3)) || fail "replay: $(stat "$GW" drop_replay) - $r0 != 3"
# spoofed inner source: the client's kernel sends from another address through the tunnel
in_c ip addr add 10.66.0.99/32 dev "$CL"
in_c ping -c 4 -i 0.2 -W 1 -I 10.66.0.99 $I_IP >/dev/null 2>&1 && fail "spoofed source got through"
wait_for 3 stat_cmp "$GW" drop_spoofed -eq $((s0 + 4)) || fail "spoofed: $(stat "$GW" drop_spoofed) - $s0 != 4"
ok "garbage, replay and spoofed inner source each counted exactly"

# --- StatsInterval: lines while traffic changes counters, none while idle
n0=$(grep -c "stats:" "$WORK/$GW.log" || true)
[ "$n0" -ge 1 ] || fail "no stats line with StatsInterval = 1"
sleep 4 # an idle window of 4 intervals
n1=$(grep -c "stats:" "$WORK/$GW.log" || true)
[ $((n1 - n0)) -le 1 ] || fail "stats lines while idle: $((n1 - n0))"
ok "periodic stats line only when something changed"

# --- errors
rc=0; "$SLUICE" show sl9none >/dev/null 2>"$WORK/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no sluice interface 'sl9none'" "$WORK/err" || fail "missing interface: rc $rc"
ok "missing interface reported, exit 1"

# --- a status is whole or not shown (issue #25): a fake daemon on a socket of its own answers what we say
FAKE=slf$TAG
IFACES+=("$FAKE")
"$SLUICE" show -r "$GW" > "$WORK/whole" # a real gateway's answer (the end line is not part of it)
fake_answer() { # fake_answer TEXT-FILE [END-COUNT] — what the fake daemon sends next: the text and its end line
	{ cat "$1"; [ $# -lt 2 ] || echo "end=$2"; } > "$WORK/answer"
}
fake_answer "$WORK/whole" "$(wc -c < "$WORK/whole")"
python3 "$SLUICE_SRC/tests/netns/peer.py" ctl-answer "/run/sluice/$FAKE.sock" "$WORK/answer" "$WORK/fake.ready" &
PIDS+=($!)
wait_for 10 test -e "$WORK/fake.ready" || fail "the fake daemon did not start"
"$SLUICE" show "$FAKE" > "$WORK/fake.txt" && grep -q "client: laptop" "$WORK/fake.txt" ||
	fail "a whole answer with its end line was not shown"
expect_refused() { # expect_refused WHAT MESSAGE — every view exits 1, says MESSAGE and shows nothing of it
	local v rc
	for v in "show" "show -j" "show -r" "dump" "metrics"; do
		rc=0
		# shellcheck disable=SC2086
		"$SLUICE" $v "$FAKE" > "$WORK/out" 2> "$WORK/err" || rc=$?
		[ "$rc" -eq 1 ] && grep -q "$2" "$WORK/err" && ! grep -q laptop "$WORK/out" ||
			fail "$1: sluice $v exited $rc, said '$(cat "$WORK/err")', printed $(wc -c < "$WORK/out") bytes"
	done
}
head -c $(( $(wc -c < "$WORK/whole") - 40 )) "$WORK/whole" > "$WORK/cut"
fake_answer "$WORK/cut"
expect_refused "an answer cut short" "incomplete status"
fake_answer "$WORK/cut" "$(wc -c < "$WORK/whole")"
expect_refused "an end line whose count is not the length" "incomplete status"
sed 's/^clients=1$/clients=2/' "$WORK/whole" > "$WORK/more"
fake_answer "$WORK/more" "$(wc -c < "$WORK/more")"
expect_refused "a client block missing" "lists 1 of its 2 clients"
printf 'error=out of memory\n' > "$WORK/error"
fake_answer "$WORK/error" "$(wc -c < "$WORK/error")"
expect_refused "an error answer" "answered: out of memory"
rc=0; "$SLUICE" show > "$WORK/out" 2> "$WORK/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "interface: $GW" "$WORK/out" && grep -q "'$FAKE' answered" "$WORK/err" ||
	fail "show of every interface: exit $rc, the broken one not reported or the good ones not shown"
ok "a status cut short, missing a client, or an error is reported and exits 1, never shown in part"
echo "t_status: all checks passed"
