#!/usr/bin/env bash
# t_readdress: the gateway re-addresses a client within the same /24 (its [Client] Address changed, SIGHUP:
# DESIGN 10.9, the client's PING is answered EXPIRED and it re-authenticates). The new address is a secondary
# of the old one; deleting the old one must not take the new one with it (promote_secondaries) nor leave the
# link without IPv4, which makes the kernel flush every IPv4 route through it, table TABLE's default route
# among them: the client would be up with traffic leaving around the tunnel. After the swap: the new address
# only, table TABLE still has its default route, and traffic goes through the tunnel. Then the gateway comes
# back IPv6-only (a failover to a gateway without IPv4): the client's IPv4 address must not go as the link's
# last one (the kernel would flush 0.0.0.0/0 from table TABLE): IPv4 stays captured and is dropped in the
# tunnel (no_ipv4), never out of the underlay.
#
#   client 198.18.0.2 --- 198.18.0.1 gateway 198.19.0.1 --- 198.19.0.2 internet
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL" "Address = 10.66.0.50"
cl_conf "$CL" "$GW" "Routes = 0.0.0.0/0"
sl_ids "$CL"
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp-src.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"
has_addr() { in_c ip -4 addr show dev "$CL" | grep -q "inet $1/24 "; }
has_default4() { in_c ip -4 route show table $SL_TABLE | grep -q "^default dev $CL"; }

start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
wait_for 10 has_addr 10.66.0.50 || fail "no 10.66.0.50 on $CL: $(in_c ip -4 addr show dev "$CL")"
has_rule4() { in_c ip -4 rule show | grep -q "lookup $SL_TABLE"; } # routes first, then the rules
wait_for 10 has_rule4 || fail "no rule to table $SL_TABLE"
has_default4 || fail "no default route in table $SL_TABLE"
in_c ping -c 2 -i 0.2 -W 2 $I_IP >/dev/null || fail "ping through the tunnel failed"
ok "client up with 10.66.0.50, default route in table $SL_TABLE"

sed -i "s|^Address = 10.66.0.50$|Address = 10.66.0.60|" "$WORK/$GW.conf"
grep -q "^Address = 10.66.0.60$" "$WORK/$GW.conf" || fail "could not change the client's address"
kill -HUP $GW_PID
wait_for 30 has_addr 10.66.0.60 || fail "the client never got 10.66.0.60: $(in_c ip -4 addr show dev "$CL")"
wait_for 10 bash -c "! ip -n $NS_C -4 addr show dev $CL | grep -q 'inet 10.66.0.50/'" ||
	fail "10.66.0.50 still on $CL"
has_addr 10.66.0.60 || fail "deleting 10.66.0.50 took 10.66.0.60 with it: $(in_c ip -4 addr show dev "$CL")"
has_default4 || fail "table $SL_TABLE lost its default route: '$(in_c ip -4 route show table $SL_TABLE)'"
[ "$(stat "$CL" address)" = 10.66.0.60/24 ] || log "(show says address $(stat "$CL" address))"
ok "re-addressed: 10.66.0.60 only, default route in table $SL_TABLE kept"

in_c ping -c 3 -i 0.2 -W 2 $I_IP >/dev/null || fail "ping through the tunnel failed after the swap"
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 100000 || fail "TCP echo failed after the swap"
grep -qx "$GE_IP" "$WORK/tcp-src.log" || fail "internet host did not see $GE_IP: $(cat "$WORK/tcp-src.log")"
! grep -qx "$C_IP" "$WORK/tcp-src.log" || fail "internet host saw the client's own address (leak)"
kill -0 $CL_PID || fail "client died"
ok "ping and TCP through the tunnel after the swap; the internet host sees $GE_IP"

# --- the gateway back without IPv4 (its pool IPv6 only): the client re-authenticates and gets no IPv4
stop $GW_PID
sed -i -e "s|^Address = 10.66.0.1/24$|Address = fd66::1/64|" -e "/^Address = 10.66.0.60$/d" "$WORK/$GW.conf"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
v6only() { [ -z "$(stat "$CL" address)" ] && [[ "$(stat "$CL" address6)" == fd66::*/64 ]]; }
wait_for 40 v6only || fail "the client never took the IPv6-only snapshot (address '$(stat "$CL" address)')"
has_default4 || fail "table $SL_TABLE lost its IPv4 default route: '$(in_c ip -4 route show table $SL_TABLE)'"
n0=$(stat "$CL" drop_no_ipv4)
in_c ping -c 3 -i 0.2 -W 1 $I_IP >/dev/null 2>&1 && fail "IPv4 got out around the tunnel after the failover"
wait_for 5 stat_cmp "$CL" drop_no_ipv4 -ge $((n0 + 3)) || fail "IPv4 not dropped in the tunnel ($(stat "$CL" drop_no_ipv4))"
in_c ping -6 -c 2 -i 0.2 -W 2 fd66::1 >/dev/null || fail "ping6 to the IPv6-only gateway failed"
ok "IPv6-only gateway: 0.0.0.0/0 kept in table $SL_TABLE, IPv4 dropped in the tunnel, IPv6 passes"
stop $CL_PID
