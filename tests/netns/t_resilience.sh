#!/usr/bin/env bash
# t_resilience: after a good start the client never dies and recovers by itself (issue "Client resilience"):
# (c) started before the gateway, (a) gateway kill -9 + restart, (b)+(f) a 90 s underlay outage with few log
# lines, (d) key removed and re-added with SIGHUP, (e) forced rekey during a TCP transfer, (g) 20 restarts.
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
pingable() { in_c ping -c 1 -W 1 $I_IP >/dev/null 2>&1; }
handshakes() { stat "$CL" handshakes_ok; }
# demand: a bounded background ping, like a user's traffic
demand() { in_c ping -q -c "$1" -i 0.5 -W 1 $I_IP >/dev/null 2>&1 & PIDS+=($!); }

# --- (c) client first, gateway 20 s later
start "$NS_C" "$CL"; CL_PID=$LAST_PID
sleep 20 # the scenario itself: the gateway is down for 20 s (nothing is synchronised by this sleep)
start "$NS_G" "$GW"; GW_PID=$LAST_PID
wait_for 20 session_up "$CL" || fail "(c) client did not connect by itself after the gateway came up"
pingable || fail "(c) no traffic"
ok "(c) client started before the gateway connected by itself"
addr=$(stat "$CL" address)

# --- (a) kill -9 the gateway, restart 5 s later; traffic again within 3 s of the gateway being ready
h0=$(handshakes)
demand 40
kill -9 $GW_PID; wait $GW_PID 2>/dev/null || true
sleep 5 # the scenario: 5 s of gateway downtime
start "$NS_G" "$GW"; GW_PID=$LAST_PID
t_ready=$SECONDS
wait_for 3 pingable || fail "(a) no traffic within 3 s of the restarted gateway being ready"
kill -0 $CL_PID || fail "(a) client died"
[ "$(handshakes)" -gt "$h0" ] || fail "(a) client did not re-authenticate"
[ "$(stat "$CL" address)" = "$addr" ] || fail "(a) address changed: $addr -> $(stat "$CL" address)"
ok "(a) recovered $((SECONDS - t_ready)) s after the gateway restart, same PID, same address $addr"

# --- (b)+(f) 90 s underlay outage with traffic waiting; fewer than 10 log lines; recovery without restart
lines0=$(wc -l < "$WORK/$CL.log")
in_c nft -f - <<NFT
table inet sltest_cut {
	chain o { type filter hook output priority -10; policy accept; oifname "c0" drop; }
	chain i { type filter hook input priority -10; policy accept; iifname "c0" drop; }
}
NFT
demand 170
sleep 90 # the scenario: 90 s outage
pingable && fail "(b) traffic passed during the outage"
in_c nft delete table inet sltest_cut
wait_for 15 pingable || fail "(b) traffic did not resume after the outage"
# the old session came back with the path: the next answered keepalive starts the re-authentication at once,
# not when a backoff grown through the outage runs out
wait_for 15 session_up "$CL" || fail "(b) the client is still '$(stat "$CL" supervisor)' after the outage"
kill -0 $CL_PID || fail "(b) client died"
lines=$(( $(wc -l < "$WORK/$CL.log") - lines0 ))
[ "$lines" -lt 10 ] || fail "(f) client wrote $lines log lines during the outage"
ok "(b) traffic resumed after a 90 s outage; (f) $lines log lines"

# --- (d) key removed + SIGHUP: session ends, client retries; key back + SIGHUP: back, same address
cp "$WORK/$GW.conf" "$WORK/$GW.conf.full"
awk '/^\[Client\]/ { skip = 1 } !skip' "$WORK/$GW.conf.full" > "$WORK/$GW.conf"
kill -HUP $GW_PID
f0=$(stat "$CL" handshakes_failed)
demand 60
wait_for 15 stat_cmp "$CL" handshakes_failed -gt "$f0" || fail "(d) client kept a session without its key"
pingable && fail "(d) traffic passed with the key removed"
cp "$WORK/$GW.conf.full" "$WORK/$GW.conf"
kill -HUP $GW_PID
wait_for 15 pingable || fail "(d) client did not come back after the key was re-added"
[ "$(stat "$CL" address)" = "$addr" ] || fail "(d) address changed"
kill -0 $CL_PID || fail "(d) client died"
ok "(d) key removed: refused and retrying; re-added: back with $addr"

# --- (e) forced rekey (SIGUSR1) during a TCP transfer: the stream continues and completes
in_i iperf3 -s -B $I_IP -1 >/dev/null 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':5201 '"
h0=$(handshakes)
in_c iperf3 -c $I_IP -t 6 -J > "$WORK/iperf.json" & ip_pid=$!
sleep 2; kill -USR1 $CL_PID; sleep 2; kill -USR1 $CL_PID
wait $ip_pid || fail "(e) iperf3 failed across the rekey"
[ "$(handshakes)" -ge $((h0 + 2)) ] || fail "(e) no rekey happened"
python3 -c "import json; d=json.load(open('$WORK/iperf.json')); assert d['end']['sum_received']['bytes'] > 0" ||
	fail "(e) nothing received"
ok "(e) TCP stream completed across two rekeys"

# --- (g) 20 gateway restarts in a row
for i in $(seq 20); do
	h0=$(handshakes)
	stop $GW_PID
	start "$NS_G" "$GW"; GW_PID=$LAST_PID
	demand 20
	wait_for 15 stat_cmp "$CL" handshakes_ok -gt "$h0" || fail "(g) no re-authentication after restart $i"
done
wait_for 5 pingable || fail "(g) no traffic after 20 restarts"
kill -0 $CL_PID || fail "(g) client died"
ok "(g) 20 gateway restarts, same client PID $CL_PID"
stop $CL_PID; stop $GW_PID
echo "t_resilience: all checks passed"
