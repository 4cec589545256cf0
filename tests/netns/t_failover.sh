#!/usr/bin/env bash
# t_failover: several servers (issue #15 "Several servers", DESIGN §9 and 10.4). The client lists two gateways
# in file order; gateway 2 hands out another pool, so a failover also changes the client's tunnel address.
#   (1) the client comes up on gateway 1 and its traffic leaves as 198.19.0.1
#   (2) gateway 1 kill -9'd: traffic flows through gateway 2 (as 198.19.0.3) within 10 s, same client PID,
#       the TUN link kept, the address changed to gateway 2's pool, one failover counted
#   (3) gateway 1 back: the client stays on gateway 2 (no fail-back)
#   (4) gateway 2 kill -9'd: back through gateway 1 within 10 s, same PID, two failovers
# The kill switch is on throughout: it must let the daemon reach both gateways. Topology: tests/netns/lan.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lan.sh"

GW=slg$TAG; GW2=slh$TAG; CL=slc$TAG
lan_up
gw_conf "$GW"
GW_ADDRESS=10.67.0.1/24 gw_conf "$GW2"
add_client "$GW" laptop "$CL"
add_client "$GW2" laptop "$CL"
cl_conf_servers "$CL" "KillSwitch = on"
add_server "$CL" "$GW" "$G_IP:$PORT"
add_server "$CL" "$GW2" "$G2_IP:$PORT"

in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/udp.log" & PIDS+=($!)
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_G2" "$GW2"; GW2_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
pingable() { in_c ping -c 1 -W 1 $I_IP >/dev/null 2>&1; }

# --- (1) up on the first server
wait_for 20 session_up "$CL" || fail "(1) no session"
[ "$(stat "$CL" server_index)" = 1 ] || fail "(1) not on server 1: $(stat "$CL" server_index)"
[ "$(stat "$CL" servers)" = 2 ] || fail "(1) servers: $(stat "$CL" servers)"
# the kill switch lets the daemon reach every server, and only the daemon
ks=$(in_c "$SLUICE" killswitch status) || fail "(1) kill switch off"
# (a hash set: any order)
servers=$(echo "$ks" | sed -n 's/.*servers=\([^ )]*\).*/\1/p' | tr , '\n' | sort | paste -sd,)
[ "$servers" = "$G_IP:$PORT,$G2_IP:$PORT" ] || fail "(1) kill switch: $ks"
in_c timeout 3 python3 -c "import socket; socket.create_connection(('$G2_IP', $PORT), timeout=2)" \
	>/dev/null 2>&1 && fail "(1) an unmarked process reached gateway 2's control port"
wait_for 5 pingable || fail "(1) no traffic"
[ "$(via)" = "$GE_IP" ] || fail "(1) traffic does not leave through gateway 1"
ifindex=$(in_c cat /sys/class/net/$CL/ifindex)
case "$(stat "$CL" address)" in 10.66.0.*) ;; *) fail "(1) address $(stat "$CL" address) not from gateway 1" ;; esac
ok "(1) on gateway 1, address $(stat "$CL" address)"

# failover_to GW_IFACE INDEX EGRESS_IP POOL_PREFIX LABEL — traffic through that gateway within 10 s
failover_to() {
	local t0=$SECONDS
	wait_for 10 pingable || fail "$5: no traffic within 10 s"
	local took=$((SECONDS - t0))
	[ "$(stat "$CL" server_index)" = "$2" ] || fail "$5: not on server $2: $(stat "$CL" server_index)"
	[ "$(via)" = "$3" ] || fail "$5: traffic does not leave through $1"
	case "$(stat "$CL" address)" in $4*) ;; *) fail "$5: address $(stat "$CL" address) not from $1's pool" ;; esac
	kill -0 $CL_PID || fail "$5: the client died"
	[ "$(in_c cat /sys/class/net/$CL/ifindex)" = "$ifindex" ] || fail "$5: the TUN link was recreated"
	ok "$5: through $1 after ${took} s, address $(stat "$CL" address), same PID $CL_PID"
}

# --- (2) gateway 1 dies: gateway 2 within 10 s
kill -9 $GW_PID; wait $GW_PID 2>/dev/null || true
failover_to "$GW2" 2 "$GE2_IP" 10.67.0. "(2) gateway 1 killed"
[ "$(stat "$CL" failovers)" = 1 ] || fail "(2) failovers: $(stat "$CL" failovers)"
[ "$(peer_stat "$GW2" laptop peer_rx_packets)" -gt 0 ] || fail "(2) gateway 2 saw no packets of the client"

# --- (3) gateway 1 back: no fail-back while gateway 2 works
start "$NS_G" "$GW"; GW_PID=$LAST_PID
h=$(stat "$CL" handshakes_ok)
p=$(stat "$CL" pings)
# a ping interval (5 s) with gateway 1 ready: the client checks its session and stays
wait_for 15 stat_cmp "$CL" pings -gt "$p" || fail "(3) no ping answered"
pingable || fail "(3) traffic stopped"
[ "$(stat "$CL" server_index)" = 2 ] || fail "(3) the client left a working server"
[ "$(stat "$CL" handshakes_ok)" = "$h" ] || fail "(3) the client re-authenticated"
ok "(3) gateway 1 back: the client stays on gateway 2"

# --- (4) gateway 2 dies: back to gateway 1 within 10 s
kill -9 $GW2_PID; wait $GW2_PID 2>/dev/null || true
failover_to "$GW" 1 "$GE_IP" 10.66.0. "(4) gateway 2 killed"
[ "$(stat "$CL" failovers)" = 2 ] || fail "(4) failovers: $(stat "$CL" failovers)"
[ "$(stat "$CL" handshakes_ok)" -gt "$h" ] || fail "(4) no new session"
"$SLUICE" show "$CL" | grep -q "server: $G_IP:$PORT (1 of 2), 2 failovers" || fail "(4) show: $("$SLUICE" show "$CL")"
"$SLUICE" show -j "$CL" | python3 -c '
import json, sys; d = json.load(sys.stdin)
assert d["server"] == sys.argv[1] and d["server_index"] == 1 and d["servers"] == 2 and d["failovers"] == 2, d
assert d["endpoint"] == sys.argv[1], d' "$G_IP:$PORT" || fail "(4) show -j"
"$SLUICE" dump "$CL" | awk -F'\t' -v ep="$G_IP:$PORT" '$4 != ep { exit 1 }' || fail "(4) dump endpoint"

stop $CL_PID
stop $GW_PID
echo "t_failover: all checks passed"
