#!/usr/bin/env bash
# t_preauth: the gateway's pre-authentication slots and certificate checks under attack (issue #14), on a
# dual-stack listener ([::]:PORT), with a real client re-authenticating within 2 s through each attack:
#
#   client 198.18.0.2 --- 198.18.0.1 gateway 198.19.0.1 --- 198.19.0.2 internet
#                                            2001:db8:1::1 --- 2001:db8:1::2
#                                                              + 198.19.1.1 … 198.19.64.1 (64 hosts, 64 /24s)
#                                                              + 2001:db8:66::1 … ::40  (64 hosts, one /64)
#
# (a) 64 IPv4 hosts each keep 8 silent connections open, re-opening each one the gateway closes: 512 for 256
#     pre-authentication slots. The gateway evicts the oldest connection of the busiest source (counted in
#     conns_evicted); the client's connection, from a quiet source, survives long enough to authenticate.
# (b) 64 IPv6 hosts of one /64 do the same: the /64 is one source, held to 8 pre-authentication connections
#     (the rest counted in conns_refused_source); the table never fills.
# (c) certificate chains: a configured client's key presented under a chain of one more certificate is
#     refused (handshakes_bad_cert), the same key alone authenticates; then a loop of handshakes from four
#     hosts, each presenting a chain of 100 certificates (tests/tools/loadgen --chain): all refused for their
#     shape (size of the list) before any key is looked at, none as an unknown key.
# Throughout: the pre-authentication gauge stays within its 256 slots and the gateway's RSS stays bounded.
. "$(dirname "$0")/lib.sh"
# as in t_ctlabuse: RSS is about the daemon, not ASan's quarantine of freed blocks
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=2"

PREAUTH_SLOTS=256 # SL_CTL_MAX_PREAUTH
PER_SOURCE=8      # SL_CTL_MAX_PER_SOURCE
GW=sla$TAG; CL=slb$TAG
topo_up
LOADGEN="$SLUICE_BUILD/tests/loadgen"
ABUSE="$SLUICE_SRC/tests/netns/abuse.py"
ip -n "$NS_G" addr add 2001:db8:1::1/64 dev g1 nodad
ip -n "$NS_I" addr add 2001:db8:1::2/64 dev i0 nodad
ip -n "$NS_G" route add 2001:db8:66::/64 via 2001:db8:1::2
V4_SRC=(); V6_SRC=()
for i in $(seq 1 64); do
	ip -n "$NS_I" addr add "198.19.$i.1/32" dev i0
	ip -n "$NS_I" addr add "2001:db8:66::$(printf %x "$i")/128" dev i0 nodad
	V4_SRC+=(--source "198.19.$i.1"); V6_SRC+=(--source "2001:db8:66::$(printf %x "$i")")
done

GW_LISTEN='[::]' gw_conf "$GW"
add_client "$GW" laptop "$CL"
"$LOADGEN" conf --count 1 --seed 7 >> "$WORK/$GW.conf" # a configured client for the chain checks (c)
cl_conf "$CL" "$GW"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "no session"
rss0=$(rss_kib $GW_PID)

# reauth_ms — makes the client re-authenticate now; prints how long the gateway took to count it (ms), or
# fails past 2 s. Polled every 50 ms: the bound is the issue's, the poll only how finely it is measured.
reauth_ms() {
	local h0 t0 now
	h0=$(stat "$CL" handshakes_ok); t0=$(date +%s%N)
	kill -USR1 $CL_PID
	while :; do
		now=$(date +%s%N)
		stat_cmp "$CL" handshakes_ok -gt "$h0" && break
		[ $(( (now - t0) / 1000000 )) -lt 2000 ] || return 1
		sleep 0.05
	done
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
# three re-authentications spread over an attack, each within 2 s; prints the worst
reauth_3() {
	local worst=0 ms
	for i in 1 2 3; do
		ms=$(reauth_ms) || fail "$1: re-authentication $i took more than 2 s"
		[ "$ms" -gt "$worst" ] && worst=$ms
		sleep 0.5
	done
	echo "$worst"
}
# the gateway's open files: the control connections it holds, plus a constant
fds() { ls "/proc/$GW_PID/fd" | wc -l; }
fd0=$(fds)
# the pre-authentication gauge never above the slots (sampled while the attack runs)
preauth_ok() { local n; n=$(stat "$GW" conns_preauth); [ -n "$n" ] && [ "$n" -le "$1" ]; }

# (a) 64 IPv4 sources x 8 silent connections, re-opened as the gateway closes them
e0=$(stat "$GW" conns_evicted); c0=$(cpu_ticks $GW_PID)
in_i python3 "$ABUSE" $GE_IP $PORT 12 $PER_SOURCE 0 0 "${V4_SRC[@]}" --reopen --ready "$WORK/v4.ready" \
	> "$WORK/v4.out" 2>&1 & abuse=$!
PIDS+=("$abuse")
wait_for 10 test -e "$WORK/v4.ready" || fail "(a) the attack's connections were not all established"
worst=$(reauth_3 "(a) 64 IPv4 sources")
preauth_ok $PREAUTH_SLOTS || fail "(a) $(stat "$GW" conns_preauth) pre-authentication connections (slots: $PREAUTH_SLOTS)"
rss1=$(rss_kib $GW_PID); held=$(( $(fds) - fd0 ))
[ "$held" -le $((PREAUTH_SLOTS + 3)) ] || fail "(a) the gateway holds $held connections (slots: $PREAUTH_SLOTS)"
wait $abuse || fail "(a) abuse tool failed: $(cat "$WORK/v4.out")"
evicted=$(( $(stat "$GW" conns_evicted) - e0 ))
[ "$evicted" -gt 0 ] || fail "(a) no connection was evicted: the slots never filled"
ok "(a) 64 IPv4 sources x $PER_SOURCE, $(cat "$WORK/v4.out") connects: re-auth worst ${worst} ms; $held held," \
	"$evicted evicted, gateway CPU $(( $(cpu_ticks $GW_PID) - c0 )) ticks, RSS +$(( (rss1 - rss0) / 1024 )) MiB"

# (b) one IPv6 /64, 64 addresses x 8 silent connections, re-opened
r0=$(stat "$GW" conns_refused_source); e0=$(stat "$GW" conns_evicted)
in_i python3 "$ABUSE" 2001:db8:1::1 $PORT 10 $PER_SOURCE 0 0 "${V6_SRC[@]}" --reopen --ready "$WORK/v6.ready" \
	> "$WORK/v6.out" 2>&1 & abuse=$!
PIDS+=("$abuse")
wait_for 10 test -e "$WORK/v6.ready" || fail "(b) the attack's connections were not all established"
worst=$(reauth_3 "(b) one IPv6 /64")
# the gateway's open files (a refused connection is closed at once: only the cap, the client's own and the
# one being accepted can be open), then its own count
held=$(( $(fds) - fd0 ))
[ "$held" -le $((PER_SOURCE + 3)) ] || fail "(b) the /64 holds $held connections (cap: $PER_SOURCE)"
preauth_ok $((PER_SOURCE + 1)) || fail "(b) $(stat "$GW" conns_preauth) pre-authentication connections: the /64 holds more than $PER_SOURCE"
wait $abuse || fail "(b) abuse tool failed: $(cat "$WORK/v6.out")"
refused=$(( $(stat "$GW" conns_refused_source) - r0 )); evicted=$(( $(stat "$GW" conns_evicted) - e0 ))
[ "$refused" -gt 0 ] || fail "(b) nothing counted in conns_refused_source"
[ "$evicted" -eq 0 ] || fail "(b) $evicted evicted: one /64 filled the slots"
ok "(b) one /64, 64 addresses x $PER_SOURCE, $(cat "$WORK/v6.out") connects: re-auth worst ${worst} ms; $held held," \
	"$refused refused at the /64's cap"

# (c) certificate chains. A configured key under a chain of one more certificate: refused, for its shape
b0=$(stat "$GW" handshakes_bad_cert); u0=$(stat "$GW" handshakes_unknown_key)
ip -n "$NS_I" addr add 198.19.0.9/24 dev i0
ip netns exec "$NS_I" "$LOADGEN" run --server "$GE_IP:$PORT" --server-key "$(pubkey "$WORK/$GW.key")" \
	--count 1 --seed 7 --source 198.19.0.9 --chain 1 --deadline 2 > "$WORK/chain1.out" 2>&1 &&
	fail "(c) a two-certificate chain authenticated"
[ "$(kv established "$WORK/chain1.out")" = 0 ] || fail "(c) a two-certificate chain: $(cat "$WORK/chain1.out")"
stat_cmp "$GW" handshakes_bad_cert -gt "${b0:-0}" || fail "(c) the two-certificate chain is not in handshakes_bad_cert"
# … and the same key alone authenticates (the refusal was the chain's)
ip netns exec "$NS_I" "$LOADGEN" run --server "$GE_IP:$PORT" --server-key "$(pubkey "$WORK/$GW.key")" \
	--count 1 --seed 7 --source 198.19.0.9 --deadline 5 > "$WORK/chain0.out" 2>&1 ||
	fail "(c) the configured key without a chain did not authenticate: $(cat "$WORK/chain0.out")"

# the loop: 400 unknown keys, each under a chain of 100 certificates, from four hosts for 6 s
for i in 0 1 2 3; do ip -n "$NS_I" addr add "198.19.0.$((10 + i))/24" dev i0; done
b0=$(stat "$GW" handshakes_bad_cert); u0=$(stat "$GW" handshakes_unknown_key); c0=$(cpu_ticks $GW_PID)
ip netns exec "$NS_I" "$LOADGEN" run --server "$GE_IP:$PORT" --server-key "$(pubkey "$WORK/$GW.key")" \
	--count 400 --seed 99 --source 198.19.0.10 --sources 4 --chain 100 --deadline 6 > "$WORK/chains.out" 2>&1 & loop=$!
PIDS+=("$loop")
wait_for 5 stat_cmp "$GW" handshakes_bad_cert -gt "$b0" || fail "(c) no long chain was refused"
worst=$(reauth_3 "(c) long certificate chains")
wait $loop && fail "(c) a long chain authenticated"
[ "$(kv established "$WORK/chains.out")" = 0 ] || fail "(c) long chains: $(cat "$WORK/chains.out")"
bad=$(( $(stat "$GW" handshakes_bad_cert) - b0 )); unknown=$(( $(stat "$GW" handshakes_unknown_key) - u0 ))
ticks=$(( $(cpu_ticks $GW_PID) - c0 ))
[ "$unknown" -eq 0 ] || fail "(c) $unknown long chains reached the key check (handshakes_unknown_key)"
ok "(c) long chains: $(kv handshake_failures "$WORK/chains.out") tries, $bad refused as bad certificates;" \
	"re-auth worst ${worst} ms; gateway CPU $ticks ticks ($(( ticks * 10000 / (bad > 0 ? bad : 1) )) us per refusal)"

rss2=$(rss_kib $GW_PID)
[ $((rss2 - rss0)) -lt 20480 ] || fail "gateway memory grew by $(( (rss2 - rss0) / 1024 )) MiB"
lines=$(grep -c "auth:" "$WORK/$GW.log" || true)
[ "$lines" -lt 60 ] || fail "gateway wrote $lines auth log lines: not rate-limited"
ok "RSS +$(( (rss2 - rss0) / 1024 )) MiB over all attacks, $lines auth log lines"
# what was refused and why, the same in every view: raw = JSON = metrics, and the human lines name it
"$SLUICE" show -r "$GW" > "$WORK/raw"; "$SLUICE" show -j "$GW" > "$WORK/g.json"
"$SLUICE" metrics "$GW" > "$WORK/metrics"; "$SLUICE" show "$GW" > "$WORK/show.txt"
python3 - "$WORK" "$GW" <<'PY' || fail "the counters differ between views"
import json, re, sys
w, gw = sys.argv[1], sys.argv[2]
raw = dict(l.split("=", 1) for l in open(w + "/raw").read().splitlines() if "=" in l)
js = json.load(open(w + "/g.json"))
metrics = {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+)\{interface="%s"\} (\d+)$' % gw,
                                                            open(w + "/metrics").read(), re.M)}
views = {"handshakes_unknown_key": "sluice_handshakes_unknown_key_total",
         "handshakes_bad_cert": "sluice_handshakes_bad_cert_total",
         "conns_preauth": "sluice_control_preauth_connections", "conns_refused": "sluice_control_refused_total",
         "conns_refused_source": "sluice_control_refused_source_total",
         "conns_ratelimited": "sluice_control_ratelimited_total", "conns_evicted": "sluice_control_evicted_total",
         "conns_timed_out": "sluice_control_timed_out_total"}
for k, m in views.items():
    assert int(raw[k]) == js[k] == metrics[m], (k, raw[k], js[k], metrics.get(m))
assert js["conns_evicted"] > 0 and js["conns_refused_source"] > 0 and js["handshakes_bad_cert"] > 0
PY
grep -qE "control: [0-9]+ pre-auth open; refused [0-9]+ over the caps \([0-9]+ at the source's\), [0-9]+ over the rate; [1-9][0-9]* evicted" "$WORK/show.txt" &&
	grep -qE "handshakes: .*failed \([0-9]+ unknown key, [1-9][0-9]* bad certificate\)" "$WORK/show.txt" ||
	fail "sluice show does not say what was refused: $(cat "$WORK/show.txt")"
ok "the counters agree in show, show -j and metrics"
stop $GW_PID
echo "t_preauth: all checks passed"
