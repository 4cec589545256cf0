#!/usr/bin/env bash
# t_names: a server given by host name, with the kill switch on (issue #15 "A host-name endpoint with the kill
# switch locks the machine out", DESIGN §9, 10.5). The client's resolver is a dnsmasq on the LAN answering
# vpn.sluice.test; the client has `Endpoint = vpn.sluice.test:PORT`, `KillSwitch = on`, its own StateDir.
#   (a) DNS down and nothing cached: the client starts, does not exit, and keeps retrying
#   (b) DNS up: the client comes up by itself; the name's address is cached in StateDir and in the kill switch
#   (c) other processes' DNS queries never leave the client (only the daemon's marked ones reach the resolver)
#   (d) kill -9, DNS down, `sluice killswitch on -c` (the boot unit) and a new start: up from the cache
#   (e) the name moves to gateway 2 (same key), gateway 1 dies: the client follows the name
# Topology: tests/netns/lan.sh (the resolver is 198.18.0.53).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lan.sh"

GW=slg$TAG; GW2=slh$TAG; CL=slc$TAG
NAME=vpn.sluice.test
lan_up
echo "nameserver $D_IP" > "/etc/netns/$NS_C/resolv.conf" # the client's (ISP's) resolver
gw_conf "$GW"
gw_conf "$GW2"
cp "$WORK/$GW.key" "$WORK/$GW2.key" # the same server, moved to another host
add_client "$GW" laptop "$CL"
add_client "$GW2" laptop "$CL"
cl_conf_servers "$CL" "KillSwitch = on"
add_server "$CL" "$GW" "$NAME:$PORT"
CACHE="$WORK/clstate/$CL.servers"

DNS_PID=
# dns_up ADDRESS — the resolver answers $NAME with ADDRESS (and logs every query it gets)
dns_up() {
	ip netns exec "$NS_D" dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$D_IP -p 53 \
		--pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility="$WORK/dnsmasq.queries" \
		--address=/$NAME/$1 >>"$WORK/dnsmasq.log" 2>&1 &
	DNS_PID=$!; PIDS+=($DNS_PID)
	wait_for 5 in_d bash -c "ss -lun | grep -q '$D_IP:53 '" || fail "dnsmasq did not start"
}
dns_down() { kill "$DNS_PID"; wait "$DNS_PID" 2>/dev/null || true; }
pingable() { in_c ping -c 1 -W 1 $I_IP >/dev/null 2>&1; }
ks_servers() { in_c "$SLUICE" killswitch status | sed -n 's/.*servers=\([^ )]*\).*/\1/p'; }
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/udp.log" & PIDS+=($!)
start "$NS_G" "$GW"; GW_PID=$LAST_PID

# --- (a) no DNS, no cache: started, alive, retrying
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q "resolve $NAME" "$WORK/$CL.log" || fail "(a) no resolution attempt logged"
# the resolver's "port unreachable" gets through the kill switch: a fast failure, not a timeout
grep "resolve $NAME" "$WORK/$CL.log" | grep -q "timed out" && fail "(a) the lookup timed out instead of failing"
[ "$(ks_servers)" = none ] || fail "(a) kill switch servers: $(ks_servers)"
sleep 3 # the scenario: a few seconds without DNS (the client must stay)
kill -0 $CL_PID || fail "(a) the client exited without DNS"
session_up "$CL" && fail "(a) up without an address?"
ok "(a) no DNS, nothing cached: running and retrying ($(stat "$CL" supervisor))"

# --- (b) DNS comes: up by itself, address cached and in the kill switch
dns_up $G_IP
wait_for 30 pingable || fail "(b) no traffic after DNS came"
session_up "$CL" || fail "(b) no session"
[ "$(via)" = "$GE_IP" ] || fail "(b) not through gateway 1"
grep -q "^$NAME $PORT $G_IP\$" "$CACHE" || fail "(b) cache: $(cat "$CACHE" 2>&1)"
[ "$(ks_servers)" = "$G_IP:$PORT" ] || fail "(b) kill switch servers: $(ks_servers)"
wait_for 5 grep -q "query\[A\] $NAME from $C_IP" "$WORK/dnsmasq.queries" || fail "(b) the daemon's query did not reach the resolver"
kill -0 $CL_PID || fail "(b) client died"
ok "(b) DNS back: up through $NAME = $G_IP, cached, in the kill switch, same PID"

# --- (c) nobody else resolves outside the tunnel: an unmarked query to the resolver never arrives
in_c timeout 3 python3 -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
q = bytes.fromhex('abcd01000001000000000000') + b'\x05probe\x06sluice\x04test\x00\x00\x01\x00\x01'
s.sendto(q, ('$D_IP', 53)); s.recv(512)" >/dev/null 2>&1 && fail "(c) an unmarked DNS query was answered"
in_c timeout 5 getent hosts probe2.sluice.test >/dev/null 2>&1 && fail "(c) getent resolved outside the tunnel"
in_c timeout 3 python3 -c "
import socket; socket.create_connection(('$D_IP', 53), timeout=2)" >/dev/null 2>&1 &&
	fail "(c) an unmarked TCP connection reached the resolver"
grep -q "probe" "$WORK/dnsmasq.queries" && fail "(c) other processes' queries reached the resolver"
ok "(c) other processes' DNS never left the client; the daemon's did"

# --- (d) kill -9, DNS down, boot lockdown from the cache, start again: up from the cache
kill -9 $CL_PID; wait $CL_PID 2>/dev/null || true
dns_down
in_c "$SLUICE" killswitch on -c "$WORK/$CL.conf" >"$WORK/ks.out" 2>&1 || fail "(d) killswitch on: $(cat "$WORK/ks.out")"
[ "$(ks_servers)" = "$G_IP:$PORT" ] || fail "(d) boot kill switch without the cached address: $(ks_servers)"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 20 pingable || fail "(d) no traffic from the cache"
[ "$(via)" = "$GE_IP" ] || fail "(d) not through gateway 1"
grep -q "resolve $NAME: .*trying its last good addresses" "$WORK/$CL.log" || fail "(d) the resolution failure was not the cause"
kill -0 $CL_PID || fail "(d) client died"
ok "(d) restarted without DNS: up from the StateDir cache"

# --- (e) the name moves: gateway 2 answers for it, gateway 1 dies; the client follows
dns_up $G2_IP
start "$NS_G2" "$GW2"; GW2_PID=$LAST_PID
kill -9 $GW_PID; wait $GW_PID 2>/dev/null || true
t0=$SECONDS
wait_for 30 pingable || fail "(e) no traffic after the name moved"
[ "$(via)" = "$GE2_IP" ] || fail "(e) not through gateway 2"
ok "(e) followed $NAME to $G2_IP after $((SECONDS - t0)) s, same PID $CL_PID"
wait_for 5 grep -q "^$NAME $PORT $G2_IP\$" "$CACHE" || fail "(e) cache: $(cat "$CACHE")"
case ",$(ks_servers)," in *",$G2_IP:$PORT,"*) ;; *) fail "(e) kill switch servers: $(ks_servers)" ;; esac
kill -0 $CL_PID || fail "(e) client died"
[ "$(grep -c "probe" "$WORK/dnsmasq.queries")" = 0 ] || fail "(e) a foreign query reached the resolver"

stop $CL_PID
stop $GW2_PID
echo "t_names: all checks passed"
