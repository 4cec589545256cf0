#!/usr/bin/env bash
# t_v6underlay: a client whose underlay is IPv6 only, with the kill switch on (issue #15 "IPv6 underlay",
# DESIGN §9 "Kill switch, complete", §10.7). Neighbour discovery must pass the lockdown, or the client never
# learns the gateway's link-layer address and no tunnel comes up.
#
#   client c0 2001:db8:1::2 ---- 2001:db8:1::1 g0 gateway g1 198.19.0.1 ---- 198.19.0.2 internet
#   (the client has no IPv4 underlay; Endpoint = [2001:db8:1::1]:PORT, Listen = [::]:PORT)
#
#   (1) KillSwitch = on, both neighbour caches empty: the tunnel comes up and carries traffic (masqueraded);
#       the kill switch names the IPv6 endpoint; the client's cache learned the gateway through the lockdown
#   (2) both neighbour caches flushed under a running tunnel: traffic passes again (solicitation and
#       advertisement, each way)
#   (3) gateway stopped, the client's cache flushed, gateway back: the client re-authenticates and passes
#       traffic — after a fresh resolution behind the lockdown
#   (4) the lockdown holds: IPv6 from the client to the internet host, and an unmarked process to the
#       gateway's port, do not get out; a DHCPv6 client exchange (546 <-> 547) does, other ports do not
#   (5) the daemon stopped: the kill switch stays and still lets neighbour discovery through (the next start
#       needs it); `sluice killswitch off` removes it
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG; EP6=2001:db8:1::1
topo_up
ip -n "$NS_C" -4 addr flush dev c0 # IPv6 only on the client's underlay
ip -n "$NS_C" addr add 2001:db8:1::2/64 dev c0 nodad
ip -n "$NS_G" addr add $EP6/64 dev g0 nodad
ip -n "$NS_G" addr add 2001:db8:2::1/64 dev g1 nodad
ip -n "$NS_I" addr add 2001:db8:2::2/64 dev i0 nodad
ip -n "$NS_C" -6 route add default via $EP6
ip -n "$NS_I" -6 route add 2001:db8:1::/64 via 2001:db8:2::1
in_g sysctl -qw net.ipv6.conf.all.forwarding=1

GW_LISTEN="[::]" gw_conf "$GW"
add_client "$GW" laptop "$CL"
CL_ENDPOINT="[$EP6]:$PORT" cl_conf "$CL" "$GW" "KillSwitch = on"
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"

# the client's neighbour entry for the gateway, with the gateway's real link-layer address ("" if none)
GW_MAC=$(ip -n "$NS_G" -o link show g0 | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
gw_neigh() { in_c ip -6 neigh show $EP6 dev c0 | grep "lladdr $GW_MAC" || true; }
gw_resolved() { [ -n "$(gw_neigh)" ]; }
flush_neigh() { in_c ip -6 neigh flush dev c0; in_g ip -6 neigh flush dev g0; }
# TCP through the tunnel to the internet host (a round trip of bytes, not only a ping)
tcp_through() { in_c timeout 5 python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 100000; }

# --- (1) start behind the lockdown with empty neighbour caches
flush_neigh
[ -z "$(gw_neigh)" ] || fail "(1) premise: the client already knows the gateway's link-layer address"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
in_c nft list table inet sluice_ks >"$WORK/ks.nft" || fail "(1) no kill switch"
grep -q "icmpv6 type 133-136 ip6 hoplimit 255 accept" "$WORK/ks.nft" || fail "(1) no ND rule: $(cat "$WORK/ks.nft")"
wait_for 20 session_up "$CL" || fail "(1) no session over the IPv6 underlay behind the kill switch"
[ "$(stat "$CL" endpoint)" = "[$EP6]:$PORT" ] || fail "(1) endpoint $(stat "$CL" endpoint)"
wait_for 5 in_c ping -c 1 -W 1 $I_IP || fail "(1) no traffic through the tunnel"
tcp_through || fail "(1) TCP through the tunnel failed"
grep -q "198.19.0.1" "$WORK/tcp.log" || fail "(1) TCP did not arrive masqueraded"
[ -n "$(gw_neigh)" ] || fail "(1) the client has no neighbour entry for the gateway"
in_c "$SLUICE" killswitch status -c "$WORK/$CL.conf" >"$WORK/ks.status" || fail "(1) kill switch status not on"
grep -q "\[$EP6\]:$PORT" "$WORK/ks.status" || fail "(1) kill switch status: $(cat "$WORK/ks.status")"
ok "(1) tunnel up over the IPv6-only underlay with the kill switch on; ND resolved the gateway"

# --- (2) neighbour caches flushed under the running tunnel
for round in 1 2 3; do
	flush_neigh
	wait_for 10 in_c ping -c 1 -W 1 $I_IP || fail "(2) round $round: no traffic after the neighbour flush"
	wait_for 5 gw_resolved || fail "(2) round $round: the gateway was not resolved again"
done
tcp_through || fail "(2) TCP after the flushes failed"
ok "(2) neighbour caches flushed three times: resolved again behind the lockdown, traffic passes"

# --- (3) gateway down, client cache flushed, gateway back
h0=$(stat "$CL" handshakes_ok)
stop $GW_PID
flush_neigh
start "$NS_G" "$GW"; GW_PID=$LAST_PID
wait_for 30 stat_cmp "$CL" handshakes_ok -gt "$h0" || fail "(3) the client did not re-authenticate"
wait_for 10 in_c ping -c 1 -W 1 $I_IP || fail "(3) no traffic after the gateway came back"
tcp_through || fail "(3) TCP after the gateway came back failed"
ok "(3) gateway restarted behind a flushed neighbour cache: re-authenticated, traffic passes"

# --- (4) the lockdown holds
in_c ping -6 -c 1 -W 1 2001:db8:2::2 >/dev/null 2>&1 && fail "(4) IPv6 reached the internet host outside the tunnel"
in_c ping -6 -c 1 -W 1 $EP6 >/dev/null 2>&1 && fail "(4) an ICMPv6 echo reached the gateway outside the tunnel"
in_c timeout 3 python3 -c "import socket; socket.create_connection(('$EP6', $PORT), timeout=2)" >/dev/null 2>&1 &&
	fail "(4) an unmarked process reached the gateway's control port"
# DHCPv6: a client's request from port 546 gets out and the server's answer from 547 comes back; the same
# from another port does not leave
in_g timeout 10 python3 -c "
import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(('$EP6', 547)); s.settimeout(8)
open('$WORK/dhcp6.ready', 'w').close()
d, a = s.recvfrom(64); s.sendto(b'reply:' + d, a)" & srv=$!
wait_for 5 test -f "$WORK/dhcp6.ready" || fail "(4) DHCPv6 stand-in server did not start"
dhcp6_from() { # PORT: 0 when the request left and the answer came back
	in_c timeout 5 python3 -c "
import socket, sys; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(('::', $1)); s.settimeout(2)
try: s.sendto(b'solicit', ('$EP6', 547)); sys.exit(0 if s.recv(64) == b'reply:solicit' else 1)
except OSError as e: sys.exit(2)"
}
dhcp6_from 5000 && fail "(4) UDP from port 5000 to 547 left the client"
dhcp6_from 546 || fail "(4) the DHCPv6 exchange (546 <-> 547) did not pass the kill switch"
wait $srv || true
ok "(4) lockdown holds: no IPv6 outside the tunnel, no unmarked access to the endpoint; DHCPv6 passes"

# --- (5) daemon stopped: the kill switch stays and still lets ND through
stop $CL_PID
in_c nft list table inet sluice_ks >/dev/null || fail "(5) the kill switch went away with the daemon"
in_c ip -6 neigh flush dev c0
[ -z "$(gw_neigh)" ] || fail "(5) premise: the neighbour entry survived the flush"
# something the lockdown lets out (a DHCPv6 request) makes the kernel solicit the gateway's address
in_c python3 -c "
import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(('::', 546)); s.sendto(b'x', ('$EP6', 547))"
wait_for 5 gw_resolved ||
	fail "(5) the gateway was not resolved with the daemon down: $(in_c ip -6 neigh show dev c0)"
in_c "$SLUICE" killswitch off >/dev/null || fail "(5) killswitch off failed"
in_c nft list tables >"$WORK/tables"
grep -q sluice "$WORK/tables" && fail "(5) tables left: $(cat "$WORK/tables")"
in_c ping -6 -c 1 -W 2 2001:db8:2::2 >/dev/null || fail "(5) IPv6 does not flow after killswitch off"
ok "(5) kill switch kept after the daemon stopped, ND still passes; off removes it"
stop $GW_PID
echo "t_v6underlay: all checks passed"
