#!/usr/bin/env bash
# t_stealth: the stealth control port (issue #23, DESIGN §9 "Stealth control port"). A gateway with
# `Stealth = on` sends zero bytes to every TCP peer without a valid, fresh, unreplayed prelude, and closes it
# after a short delay: `openssl s_client`, a raw TCP connect, a TLS ClientHello alone, random bytes, a prelude
# replayed from another source, and preludes 120 s old or 45 s ahead all receive nothing (tests/netns/stealth.py
# counts every byte until the gateway closes); a valid prelude gets the TLS handshake (the control); the
# pre-authentication limits still hold (8 per source); UDP garbage to the data port is never answered; a real
# client with `Stealth = on` authenticates and carries traffic; show / -j / metrics say stealth is on and count
# what it refused. Then the authentication time with and without stealth (tests/tools/loadgen, the real
# protocol: TCP, [prelude,] TLS 1.3, AUTH, snapshot), reported.
#
#   client 198.18.0.2 --- 198.18.0.1 gateway 198.19.0.1 --- 198.19.0.2 internet (the "other source")
. "$(dirname "$0")/lib.sh"

LOADGEN="$SLUICE_BUILD/tests/loadgen"
[ -x "$LOADGEN" ] || fail "no load generator at $LOADGEN"
PROBE="$SLUICE_SRC/tests/netns/stealth.py"
GW=slg$TAG; C1=slc$TAG; C2=sld$TAG
N=40 # load generator clients per measurement
topo_up

gw_conf "$GW" "Stealth = on"
add_client "$GW" laptop "$C1"
add_client "$GW" plain "$C2"
"$LOADGEN" conf --count "$N" >> "$WORK/$GW.conf"
cl_conf "$C1" "$GW"
echo "Stealth = on" >> "$WORK/$C1.conf" # the [Server] is the file's last section
cl_conf "$C2" "$GW"                      # a configured client without Stealth = on
start "$NS_G" "$GW"; GW_PID=$LAST_PID
PUB=$(pubkey "$WORK/$GW.key")

# probe NS KIND [FILE] — prints the byte count the gateway sent, and checks the exit status
probe() {
	local ns=$1 kind=$2 file=${3:-} out
	out=$(ip netns exec "$ns" python3 "$PROBE" probe $G_IP $PORT "$PUB" "$kind" $file) || fail "probe $kind failed: $out"
	echo "$out"
}
PROBES=()
bytes_of() { sed -n 's/^bytes=\([0-9]*\) .*/\1/p' <<< "$1"; }
ms_of() { sed -n 's/.* ms=\([0-9]*\)$/\1/p' <<< "$1"; }

# --- the control: a valid prelude gets the TLS handshake
r=$(probe "$NS_C" valid "$WORK/prelude.bin")
[ "$(bytes_of "$r")" -gt 0 ] || fail "a valid prelude got no TLS answer ($r)"
ok "a valid prelude: the gateway answers TLS ($(bytes_of "$r") bytes)"

# --- everything else: zero bytes
r=$(probe "$NS_I" replay "$WORK/prelude.bin")
[ "$(bytes_of "$r")" = 0 ] || fail "the prelude replayed from $I_IP got $r"
ok "the same prelude replayed from another source ($I_IP): 0 bytes, closed after $(ms_of "$r") ms"
# the rest at once (each waits for the gateway to close): 6 connections, under the source's cap of 8
for kind in stale future garbage none silent; do
	probe "$NS_C" $kind > "$WORK/probe-$kind.out" & PROBES+=($!)
done
out=$(in_c timeout 15 openssl s_client -connect $G_IP:$PORT -tls1_3 </dev/null 2>&1 || true)
for p in "${PROBES[@]}"; do wait "$p" || fail "a probe failed: $(cat "$WORK"/probe-*.out)"; done
for kind in stale future garbage none; do
	r=$(cat "$WORK/probe-$kind.out")
	[ "$(bytes_of "$r")" = 0 ] || fail "probe $kind got $r"
	ms=$(ms_of "$r")
	[ "$ms" -ge 900 ] && [ "$ms" -le 4500 ] || fail "probe $kind: closed after $ms ms, not the 1-3 s delay"
	ok "probe $kind: 0 bytes, closed after $ms ms"
done
r=$(cat "$WORK/probe-silent.out")
[ "$(bytes_of "$r")" = 0 ] || fail "a raw TCP connect got $r"
ok "a raw TCP connect that sends nothing: 0 bytes, closed at the deadline ($(ms_of "$r") ms)"
grep -q "SSL handshake has read 0 bytes" <<< "$out" || fail "openssl s_client got an answer: $out"
ok "openssl s_client: SSL handshake has read 0 bytes"
wait_for 5 stat_cmp "$GW" conns_preauth -eq 0 || fail "refused connections still hold pre-auth slots"
[ "$(stat "$GW" stealth_replayed)" -ge 1 ] || fail "stealth_replayed not counted"
[ "$(stat "$GW" stealth_stale)" -ge 2 ] || fail "stealth_stale: $(stat "$GW" stealth_stale), expected 2"
[ "$(stat "$GW" stealth_refused)" -ge 7 ] || fail "stealth_refused: $(stat "$GW" stealth_refused), expected >= 7"
[ "$(stat "$GW" handshakes_ok)" = 0 ] || fail "a handshake counted without a client"
ok "counted: $(stat "$GW" stealth_refused) refused, $(stat "$GW" stealth_stale) stale, $(stat "$GW" stealth_replayed) replayed; no slot left held"

# --- the pre-authentication limits still hold: 10 silent connections from one source, 8 held
in_c python3 -c '
import socket, sys, time, os
ss = [socket.create_connection(("'$G_IP'", '$PORT'), timeout=5) for _ in range(10)]
open("'"$WORK/held"'", "w").close()
end = time.time() + 10
while time.time() < end and not os.path.exists("'"$WORK/release"'"):
    time.sleep(0.05)
' & HOLDER=$!; PIDS+=("$HOLDER")
wait_for 10 test -e "$WORK/held" || fail "could not open 10 connections"
wait_for 5 stat_cmp "$GW" conns_preauth -eq 8 || fail "pre-auth slots: $(stat "$GW" conns_preauth), expected 8"
wait_for 5 stat_cmp "$GW" conns_refused_source -ge 2 || fail "the source's cap did not refuse"
touch "$WORK/release"; wait "$HOLDER" || true
ok "with stealth, a source still holds at most 8 pre-auth connections ($(stat "$GW" conns_refused_source) refused)"

# --- UDP: garbage to the data port is never answered
in_c python3 -c '
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for b in [os.urandom(64), b"SLU1" + os.urandom(60), b"\x16\x03\x01" + os.urandom(100)]:
    s.sendto(b, ("'$G_IP'", '$PORT'))
try:
    s.recvfrom(2048); print("answered"); raise SystemExit(1)
except socket.timeout:
    pass
' || fail "the gateway answered an unauthenticated datagram"
ok "unauthenticated UDP datagrams: no answer"

# --- measurement 1: the load generator with the prelude
ip netns exec "$NS_C" "$LOADGEN" run --server "$G_IP:$PORT" --server-key "$PUB" --count $N --source $C_IP \
	--rate 20 --deadline 60 --stealth > "$WORK/lg-stealth.out" || fail "loadgen --stealth: $(cat "$WORK/lg-stealth.out")"
[ "$(kv established "$WORK/lg-stealth.out")" = $N ] || fail "loadgen --stealth established $(kv established "$WORK/lg-stealth.out")"

# --- a configured client without Stealth = on: gets nothing, and its log says what is likely wrong
r0=$(stat "$GW" stealth_refused); h0=$(stat "$GW" handshakes_ok)
start "$NS_C" "$C2"; C2_PID=$LAST_PID
wait_for 10 stat_cmp "$C2" handshakes_failed -ge 1 || fail "the client without stealth did not fail"
wait_for 5 grep -q "does the gateway run Stealth = on? then so must this \[Server\]" "$WORK/$C2.log" ||
	fail "the client without stealth logs no hint"
[ "$(stat "$GW" handshakes_ok)" = "$h0" ] && [ "$(stat "$GW" stealth_refused)" -gt "$r0" ] ||
	fail "the gateway answered a client without the prelude"
stop "$C2_PID"
ok "a configured client without Stealth = on gets nothing; its log names the likely cause"

# --- a real client with Stealth = on
start "$NS_C" "$C1"; C1_PID=$LAST_PID
wait_for 10 session_up "$C1" || fail "the Stealth = on client got no session"
in_c ping -c 3 -i 0.2 -W 2 10.66.0.1 >/dev/null || fail "no ping through the tunnel of the stealth client"
ok "a real client with Stealth = on authenticates; ping through the tunnel"
"$SLUICE" show "$GW" | grep -Ec >/dev/null "^  stealth: on \([0-9]+ refused: [0-9]+ stale, [0-9]+ replayed\)" ||
	fail "gateway show: no stealth line"
"$SLUICE" show "$C1" | grep -c >/dev/null "^  stealth: on$" || fail "client show: no stealth line"
"$SLUICE" show -j "$GW" | grep -c >/dev/null '"stealth":true' || fail "gateway show -j: stealth"
"$SLUICE" show -j "$C1" | grep -c >/dev/null '"stealth":true' || fail "client show -j: stealth"
"$SLUICE" metrics "$GW" | grep -Ec >/dev/null "^sluice_stealth_refused_total\{interface=\"$GW\"\} [1-9]" ||
	fail "metrics: sluice_stealth_refused_total"
"$SLUICE" metrics "$GW" | grep -c >/dev/null "^sluice_stealth{interface=\"$GW\"} 1$" || fail "metrics: sluice_stealth"
ok "show, -j and metrics: stealth on, its refusals counted"
stop "$C1_PID"
stop "$GW_PID"

# --- measurement 2: the same gateway without stealth
sed -i '/^Stealth = on$/d' "$WORK/$GW.conf"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
ip netns exec "$NS_C" "$LOADGEN" run --server "$G_IP:$PORT" --server-key "$PUB" --count $N --source $C_IP \
	--rate 20 --deadline 60 > "$WORK/lg-plain.out" || fail "loadgen: $(cat "$WORK/lg-plain.out")"
[ "$(kv established "$WORK/lg-plain.out")" = $N ] || fail "loadgen established $(kv established "$WORK/lg-plain.out")"
start "$NS_C" "$C1"; C1_PID=$LAST_PID
wait_for 10 grep -q "this \[Server\] has Stealth = on: does the gateway?" "$WORK/$C1.log" ||
	fail "a Stealth = on client facing a plain gateway logs no hint"
stop "$C1_PID"
ok "a Stealth = on client facing a gateway without stealth fails, and its log says why"
log "auth time ($N clients at 20/s; connect to snapshot), p50 / p90 / max in us:"
log "  stealth on:  $(kv auth_us_p50 "$WORK/lg-stealth.out") / $(kv auth_us_p90 "$WORK/lg-stealth.out") / $(kv auth_us_max "$WORK/lg-stealth.out")"
log "  stealth off: $(kv auth_us_p50 "$WORK/lg-plain.out") / $(kv auth_us_p90 "$WORK/lg-plain.out") / $(kv auth_us_max "$WORK/lg-plain.out")"
stop "$GW_PID"
ok "both measurements done; the gateway stopped cleanly"
