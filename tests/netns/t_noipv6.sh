#!/usr/bin/env bash
# t_noipv6: a full-tunnel client on a host with IPv6 disabled by sysctl (net.ipv6.conf.default/all.disable_ipv6
# = 1, common hardening; the TUN inherits it). The client turns IPv6 on on its own TUN so that ::/0 can point
# into the tunnel (DESIGN 10.2: a full tunnel captures both families), and installs its routes and rules; the
# traffic to the internet host goes through the tunnel (it sees the gateway's egress address, never the
# client's own). Before the fix, ::/0 dev TUN failed ("IPv6 is disabled on nexthop device") and the client
# rolled back every route: a session up, and nothing tunnelled.
#
#   client 198.18.0.2 --- 198.18.0.1 gateway 198.19.0.1 --- 198.19.0.2 internet
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "Routes = 0.0.0.0/0"
sl_ids "$CL"
in_c sysctl -qw net.ipv6.conf.default.disable_ipv6=1
in_c sysctl -qw net.ipv6.conf.all.disable_ipv6=1
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp-src.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"

start "$NS_G" "$GW"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
# routes first, then the rules (apply_routes): wait for the last one
has_rules() { in_c ip -4 rule show | grep -q "lookup $SL_TABLE" && in_c ip -6 rule show | grep -q "lookup $SL_TABLE"; }
wait_for 10 has_rules || fail "no rules to table $SL_TABLE: $(in_c ip -4 rule show; in_c ip -6 rule show)"
in_c ip -4 route show table $SL_TABLE | grep -q "^default dev $CL" ||
	fail "no IPv4 default route in table $SL_TABLE: $(in_c ip -4 route show table $SL_TABLE)"
in_c ip -6 route show table $SL_TABLE | grep -q "^default dev $CL" ||
	fail "no IPv6 default route in table $SL_TABLE: $(in_c ip -6 route show table $SL_TABLE)"
[ "$(in_c sysctl -n net.ipv6.conf."$CL".disable_ipv6)" = 0 ] || fail "IPv6 still disabled on $CL"
in_c ip -6 addr show dev "$CL" | grep -q fe80 && fail "the kernel gave $CL a link-local address"
[ "$(in_c sysctl -n net.ipv6.conf.c0.disable_ipv6)" = 1 ] || fail "the client touched another link's IPv6"
ok "IPv6 on on $CL only; default routes of both families and the rules in table $SL_TABLE"

in_c ping -c 3 -i 0.2 -W 2 $I_IP >/dev/null || fail "ping through the tunnel failed"
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 100000 || fail "TCP echo failed"
grep -qx "$GE_IP" "$WORK/tcp-src.log" || fail "internet host did not see $GE_IP: $(cat "$WORK/tcp-src.log")"
! grep -qx "$C_IP" "$WORK/tcp-src.log" || fail "internet host saw the client's own address (leak)"
ok "ping and TCP through the tunnel; the internet host sees $GE_IP"

stop $CL_PID
[ -z "$(in_c ip -4 route show table $SL_TABLE)" ] || fail "routes left in table $SL_TABLE after exit"
ok "clean after exit"
