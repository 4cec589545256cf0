#!/usr/bin/env bash
# t_metrics: the Prometheus endpoint (MetricsListen) of a gateway and a client, tested with curl and with slow
# clients. curl gets `GET /metrics` with content type text/plain; version=0.0.4 and the same metrics `sluice
# metrics` prints (same families, labels and order); HEAD, 404, 405 and an oversized head are answered as HTTP
# says. Slow clients under the connection cap are closed at the deadline; forty of them at once never hold
# more than the cap of connections in the daemon, while curl scrapes, `sluice show` and pings through the
# tunnel all keep working. Nothing listens once the daemons stop.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps --test)"
MPORT=9586
MAX_CONNS=8     # METRICS_HTTP_MAX_CONNS
DEADLINE_MS=3000 # METRICS_HTTP_DEADLINE_MS
URL=http://127.0.0.1:$MPORT/metrics

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW" "MetricsListen = 127.0.0.1:$MPORT"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "MetricsListen = 127.0.0.1:$MPORT"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 20 session_up "$CL" || fail "no session"
in_c ping -c 3 -i 0.1 -W 2 $I_IP >/dev/null || fail "no traffic"

# --- curl: the same text as `sluice metrics` (values aside: counters move between the two reads)
shape() { sed -e '/^#/!s/ [0-9.e+-]*$//' "$1"; }
for side in g c; do
	ifc=$GW; [ $side = c ] && ifc=$CL
	"in_$side" curl -sS --max-time 2 -D "$WORK/$side.hdr" -o "$WORK/$side.body" "$URL" || fail "curl $ifc"
	"$SLUICE" metrics "$ifc" > "$WORK/$side.cli"
	head -n 1 "$WORK/$side.hdr" | grep -q "^HTTP/1.1 200 OK" || fail "$ifc: $(head -n 1 "$WORK/$side.hdr")"
	grep -qi "^Content-Type: text/plain; version=0.0.4" "$WORK/$side.hdr" || fail "$ifc: content type"
	diff -u <(shape "$WORK/$side.cli") <(shape "$WORK/$side.body") || fail "$ifc: /metrics differs from sluice metrics"
	grep -qx "sluice_up{interface=\"$ifc\"} 1" "$WORK/$side.body" || fail "$ifc: no sluice_up"
done
grep -q "^sluice_peer_rx_packets_total{interface=\"$GW\",peer=\"laptop\"} [1-9]" "$WORK/g.body" ||
	fail "gateway: no per-client counters"
ok "curl: GET /metrics on gateway and client, text/plain; version=0.0.4, the text of sluice metrics"

code() { in_g curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -I "$URL")" = 200 ] || fail "HEAD"
[ "$(code http://127.0.0.1:$MPORT/)" = 404 ] || fail "GET / is not 404"
[ "$(code -X POST "$URL")" = 405 ] || fail "POST is not 405"
[ "$(code -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' a)" "$URL")" = 431 ] || fail "oversized head is not 431"
ok "HEAD 200, / 404, POST 405, a 3000-byte header 431"

# --- slow clients under the cap: each closed by the server at the deadline
in_g python3 "$SLUICE_SRC/tests/netns/slowloris.py" 127.0.0.1 $MPORT $((MAX_CONNS - 2)) 5 > "$WORK/slow1.out"
[ "$(kv ok200 "$WORK/slow1.out")" -eq 0 ] && [ "$(kv closed_by_server "$WORK/slow1.out")" -ge $((MAX_CONNS - 2)) ] ||
	fail "slow clients under the cap: $(tr '\n' ' ' < "$WORK/slow1.out")"
life=$(kv max_life_ms "$WORK/slow1.out")
[ "$life" -ge $((DEADLINE_MS - 200)) ] && [ "$life" -le $((DEADLINE_MS + 1500)) ] ||
	fail "slow clients lived $life ms, deadline $DEADLINE_MS ms"
ok "$((MAX_CONNS - 2)) slow clients closed by the server at the deadline (longest $life ms)"

# --- forty slow clients at once: bounded, and nothing else waits
fds0=$(ls "/proc/$GW_PID/fd" | wc -l)
in_g python3 "$SLUICE_SRC/tests/netns/slowloris.py" 127.0.0.1 $MPORT 40 6 > "$WORK/slow2.out" &
slow_pid=$!
in_c ping -c 25 -i 0.2 -W 1 $I_IP > "$WORK/ping.out" 2>&1 &
ping_pid=$!
sleep 0.5
scrapes=0 max_fds=0
while kill -0 $slow_pid 2>/dev/null; do
	# 2 s: less than the slow clients' 3 s deadline, so a scrape that waited for one of them fails
	in_g curl -sS --max-time 2 -o "$WORK/scrape" "$URL" || fail "a scrape failed during the slow clients"
	grep -q "^sluice_up{interface=\"$GW\"} 1" "$WORK/scrape" || fail "a scrape during the slow clients: bad body"
	"$SLUICE" show "$GW" >/dev/null || fail "sluice show during the slow clients"
	fds=$(ls "/proc/$GW_PID/fd" | wc -l)
	[ "$fds" -gt "$max_fds" ] && max_fds=$fds
	scrapes=$((scrapes + 1))
	sleep 0.2
done
wait $slow_pid || fail "slowloris client failed"
wait $ping_pid || { cat "$WORK/ping.out"; fail "pings through the tunnel lost during the slow clients"; }
[ "$(kv ok200 "$WORK/slow2.out")" -eq 0 ] || fail "a slow client got a 200"
[ "$(kv opened "$WORK/slow2.out")" -gt 40 ] || fail "no slow client was ever closed: $(tr '\n' ' ' < "$WORK/slow2.out")"
[ $((max_fds - fds0)) -le $MAX_CONNS ] || fail "the daemon held $((max_fds - fds0)) more fds (cap $MAX_CONNS)"
[ "$scrapes" -ge 10 ] || fail "only $scrapes scrapes in 6 s"
ok "40 slow clients ($(kv opened "$WORK/slow2.out") connections): at most $((max_fds - fds0)) held," \
	"$scrapes scrapes, show and 25 pings all fine"

# --- gone with the daemons
stop $CL_PID
stop $GW_PID
for ns in "$NS_G" "$NS_C"; do
	[ -z "$(ip netns exec "$ns" ss -Hltn "sport = :$MPORT")" ] || fail "something still listens on $MPORT in $ns"
done
ok "nothing listens on $MPORT after SIGTERM"
echo "t_metrics: all checks passed"
