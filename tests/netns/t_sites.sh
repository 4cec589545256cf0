#!/usr/bin/env bash
# t_sites: sites and routed mode (issue #18, DESIGN 9 "Sites and routing", 10.7, 10.9).
#
#   branch 10.50.0.2 --- 10.50.0.1 [client CL] 198.18.0.2 --- 198.18.0.1 [gateway GW] 198.19.0.1 --- 198.19.0.2
#   (ns B, veth b0)     (l0)        (c0)                      (g0)                  (g1 = Egress)   [internet I]
#                                                         198.18.1.1 (g2)                        10.1.0.1 (i1)
#   second client CL2 198.18.1.2 (c2) ----------------------------'                                   |
#                                                                                 office 10.1.0.2 (o0, ns O)
#
# The gateway runs NAT = off (routed mode), PushRoutes = 10.1.0.0/16 (the office), the client has Subnets =
# 10.50.0.0/24 on both ends (its [Client] on the gateway, its own [Interface]) and Routes = pushed.
#   (1) the pushed office prefix is installed on the client (show -r, the client's routing table)
#   (2) branch -> office and office -> branch over TCP, each side seeing the other's real address
#   (3) anti-spoofing: a source that is neither the client's address nor its Subnets is dropped and counted
#   (4) ClientToClient = off: the second client reaches neither the first nor its branch (counted drop);
#       SIGHUP with ClientToClient = on: it reaches both, without restarting anything
#   (5) SIGHUP adding an office prefix to PushRoutes: the connected client re-authenticates at its next ping
#       and installs it (same daemon, no tunnel restart); the branch reaches the new prefix
#   (6) SIGHUP removing the branch from the client's Subnets: the gateway's route goes, branch traffic is
#       dropped as spoofed; putting it back restores both directions
#   (7) kill switch on: the branch and the office still reach each other through the tunnel, but nothing of
#       the branch leaves by the underlay (the gateway's underlay address answered it before)
# The same for IPv6 inside the tunnel (issue #16): the gateway is dual-stack (Address = ..., fd66::1/64), the
# office has fd10:1::/64 (pushed too), the branch fd50::/64 (in both Subnets); (2) and (3) run for both families,
# (4) checks an IPv6 ping to the branch as well, (7) IPv6 branch -> office with the kill switch on; IPv6
# forwarding on the client host raised while it runs and restored at exit.
. "$(dirname "$0")/lib.sh"
# grep that reads to the end: `grep -q` would leave early, and pipefail would count the writer's SIGPIPE
matches() { grep -c "$@" >/dev/null; }

GW=slg$TAG; CL=slc$TAG; CL2=slk$TAG
NS_B="slb-$TAG"; NS_O="slo-$TAG"; NS_C2="slk-$TAG"
PEER="$SLUICE_SRC/tests/netns/peer.py"
in_b() { ip netns exec "$NS_B" "$@"; }
in_o() { ip netns exec "$NS_O" "$@"; }
in_c2() { ip netns exec "$NS_C2" "$@"; }
sl_ids "$CL"

topo_up
ns_add "$NS_B"; ns_add "$NS_O"; ns_add "$NS_C2"
# the branch LAN behind the client
ip link add b0 netns "$NS_B" type veth peer name l0 netns "$NS_C"
ip -n "$NS_C" addr add 10.50.0.1/24 dev l0; ip -n "$NS_C" link set l0 up
ip -n "$NS_B" addr add 10.50.0.2/24 dev b0; ip -n "$NS_B" link set b0 up
ip -n "$NS_B" route add default via 10.50.0.1
ip -n "$NS_C" addr add fd50::1/64 dev l0 nodad
ip -n "$NS_B" addr add fd50::2/64 dev b0 nodad
ip -n "$NS_B" -6 route add default via fd50::1
# the office behind the gateway's egress: the internet host is its router
ip link add o0 netns "$NS_O" type veth peer name i1 netns "$NS_I"
ip -n "$NS_I" addr add 10.1.0.1/16 dev i1; ip -n "$NS_I" link set i1 up
ip -n "$NS_I" addr add 10.2.0.1/16 dev lo # a second office network, pushed later (5)
ip -n "$NS_O" addr add 10.1.0.2/16 dev o0; ip -n "$NS_O" link set o0 up
ip -n "$NS_O" route add default via 10.1.0.1
ip -n "$NS_I" addr add fd10:1::1/64 dev i1 nodad
ip -n "$NS_O" addr add fd10:1::2/64 dev o0 nodad
ip -n "$NS_O" -6 route add default via fd10:1::1
in_i sysctl -qw net.ipv4.ip_forward=1
in_i sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$NS_I" route add 10.66.0.0/24 via $GE_IP
ip -n "$NS_I" route add 10.50.0.0/24 via $GE_IP
ip -n "$NS_G" addr add $GE6_IP/64 dev g1 nodad
ip -n "$NS_I" addr add $I6_IP/64 dev i0 nodad
ip -n "$NS_G" -6 route add default via $I6_IP
ip -n "$NS_I" -6 route add fd66::/64 via $GE6_IP
ip -n "$NS_I" -6 route add fd50::/64 via $GE6_IP
# the second client, on its own underlay link to the gateway
ip link add c2 netns "$NS_C2" type veth peer name g2 netns "$NS_G"
ip -n "$NS_G" addr add 198.18.1.1/24 dev g2; ip -n "$NS_G" link set g2 up
ip -n "$NS_C2" addr add 198.18.1.2/24 dev c2; ip -n "$NS_C2" link set c2 up
ip -n "$NS_C2" route add default via 198.18.1.1

[ "$(in_c sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "premise: IPv6 forwarding on in the client's namespace"
GW_ADDRESS="10.66.0.1/24, fd66::1/64" gw_conf "$GW" "NAT = off" "PushRoutes = 10.1.0.0/16, fd10:1::/64"
add_client "$GW" branch "$CL" "Subnets = 10.50.0.0/24, fd50::/64"
add_client "$GW" roamer "$CL2"
cl_conf "$CL" "$GW" "Routes = pushed" "Subnets = 10.50.0.0/24, fd50::/64"
CL_ENDPOINT=198.18.1.1:$PORT cl_conf "$CL2" "$GW" "Routes = pushed, 10.50.0.0/24, fd50::/64"

start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
start "$NS_C2" "$CL2"; CL2_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
wait_for 10 session_up "$CL2" || fail "second client got no session"
cip=$(stat "$CL" address); cip=${cip%/*}
cip6=$(stat "$CL" address6); cip6=${cip6%/*}
[[ "$cip6" == fd66::* ]] || fail "the client got no IPv6 tunnel address: '$cip6'"
c2ip=$(stat "$CL2" address); c2ip=${c2ip%/*}

# --- (1) the pushed prefix on the client, shown; the gateway shows its routed mode and the client's Subnets
[ "$(stat "$CL" pushed_routes)" = 10.1.0.0/16,fd10:1::/64 ] ||
	fail "client pushed_routes: '$(stat "$CL" pushed_routes)'"
in_c ip route show table "$SL_TABLE" | matches "^10.1.0.0/16 dev $CL" ||
	fail "10.1.0.0/16 is not in the client's table: $(in_c ip route show table "$SL_TABLE")"
in_c ip -6 route show table "$SL_TABLE" | matches "^fd10:1::/64 dev $CL" ||
	fail "fd10:1::/64 is not in the client's table: $(in_c ip -6 route show table "$SL_TABLE")"
in_c ip route get 198.19.0.2 | matches "dev $CL" && fail "Routes = pushed, yet the internet goes into the tunnel"
[ "$(stat "$GW" nat)" = off ] && [ "$(stat "$GW" push_routes)" = 10.1.0.0/16,fd10:1::/64 ] ||
	fail "gateway status: nat/push_routes"
[ "$(peer_stat "$GW" branch peer_subnets)" = 10.50.0.0/24,fd50::/64 ] || fail "gateway: peer_subnets of branch"
in_g ip route show | matches "^10.50.0.0/24 dev $GW" || fail "the gateway does not route 10.50.0.0/24 into $GW"
in_g ip -6 route show | matches "^fd50::/64 dev $GW" || fail "the gateway does not route fd50::/64 into $GW"
[ "$(in_c sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "the client host does not forward"
[ "$(in_c sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "the client host does not forward IPv6"
"$SLUICE" dump "$GW" | awk -F'\t' '$2 == "branch" && $13 == "10.50.0.0/24,fd50::/64" && $16 == "'"$cip6"'" { f = 1 }
	END { exit !f }' || fail "gateway dump: $("$SLUICE" dump "$GW")"
"$SLUICE" show -j "$GW" | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d[0] if isinstance(d, list) else d
assert d['push_routes'] == ['10.1.0.0/16', 'fd10:1::/64'] and d['nat'] == 'off' and d['client_to_client'] == 'off', d
p = [x for x in d['peers'] if x['name'] == 'branch'][0]
assert p['subnets'] == ['10.50.0.0/24', 'fd50::/64'], p" || fail "sluice show -j $GW"
"$SLUICE" show "$CL" | matches 'pushed routes: 10.1.0.0/16' || fail "sluice show $CL: no pushed routes line"
ok "PushRoutes installed by Routes = pushed; Subnets routed on the gateway; shown by show / -j / -r"

# --- (2) both ways with real addresses (no masquerade in routed mode)
in_o python3 "$PEER" tcp-echo 10.1.0.2 8080 "$WORK/office.log" & PIDS+=($!)
in_b python3 "$PEER" tcp-echo 10.50.0.2 9000 "$WORK/branch.log" & PIDS+=($!)
in_o python3 "$PEER" tcp-echo fd10:1::2 8080 "$WORK/office6.log" & PIDS+=($!)
in_b python3 "$PEER" tcp-echo fd50::2 9000 "$WORK/branch6.log" & PIDS+=($!)
wait_for 5 in_o bash -c "ss -ltn | grep -q '10.1.0.2:8080 '" || fail "office listener did not start"
wait_for 5 in_b bash -c "ss -ltn | grep -q '10.50.0.2:9000 '" || fail "branch listener did not start"
wait_for 5 in_o bash -c "ss -ltn | grep -q 'fd10:1::2\]:8080 '" || fail "office IPv6 listener did not start"
wait_for 5 in_b bash -c "ss -ltn | grep -q 'fd50::2\]:9000 '" || fail "branch IPv6 listener did not start"
in_b timeout 10 python3 "$PEER" tcp-xfer 10.1.0.2 8080 20000 || fail "branch -> office TCP failed"
grep -qx 10.50.0.2 "$WORK/office.log" || fail "the office saw '$(cat "$WORK/office.log")', not 10.50.0.2"
in_o timeout 10 python3 "$PEER" tcp-xfer 10.50.0.2 9000 20000 || fail "office -> branch TCP failed"
grep -qx 10.1.0.2 "$WORK/branch.log" || fail "the branch saw '$(cat "$WORK/branch.log")', not 10.1.0.2"
in_o ping -c 1 -W 2 "$cip" >/dev/null || fail "office -> the client's tunnel address $cip failed"
ok "branch <-> office both ways with real addresses (10.50.0.2, 10.1.0.2); the office reaches $cip"
in_b timeout 10 python3 "$PEER" tcp-xfer fd10:1::2 8080 20000 || fail "IPv6 branch -> office TCP failed"
grep -qx fd50::2 "$WORK/office6.log" || fail "the office saw '$(cat "$WORK/office6.log")', not fd50::2"
in_o timeout 10 python3 "$PEER" tcp-xfer fd50::2 9000 20000 || fail "IPv6 office -> branch TCP failed"
grep -qx fd10:1::2 "$WORK/branch6.log" || fail "the branch saw '$(cat "$WORK/branch6.log")', not fd10:1::2"
in_o ping -6 -c 1 -W 2 "$cip6" >/dev/null || fail "office -> the client's IPv6 tunnel address $cip6 failed"
ok "IPv6 branch <-> office both ways with real addresses (fd50::2, fd10:1::2); the office reaches $cip6"

# --- (3) a source that is neither the client's address nor its Subnets: dropped at the gateway, counted
sp0=$(peer_stat "$GW" branch peer_drop_spoofed)
in_c ip addr add 10.77.0.1/32 dev lo
in_c ping -c 3 -i 0.2 -W 1 -I 10.77.0.1 10.1.0.2 >/dev/null 2>&1 && fail "a ping from 10.77.0.1 got through"
wait_for 5 [ "$(peer_stat "$GW" branch peer_drop_spoofed)" -ge $((sp0 + 3)) ] ||
	fail "spoofed drops: $sp0 -> $(peer_stat "$GW" branch peer_drop_spoofed), expected +3"
ok "an inner source outside address and Subnets is dropped as spoofed (+3)"
sp0=$(peer_stat "$GW" branch peer_drop_spoofed)
in_c ip addr add fd77::1/128 dev lo nodad
in_c ping -6 -c 3 -i 0.2 -W 1 -I fd77::1 fd10:1::2 >/dev/null 2>&1 && fail "a ping from fd77::1 got through"
wait_for 5 [ "$(peer_stat "$GW" branch peer_drop_spoofed)" -ge $((sp0 + 3)) ] ||
	fail "IPv6 spoofed drops: $sp0 -> $(peer_stat "$GW" branch peer_drop_spoofed), expected +3"
ok "an IPv6 inner source outside address6 and Subnets is dropped as spoofed (+3)"

# --- (4) client to client: off (default), then on by SIGHUP
cc0=$(stat "$GW" drop_client_to_client)
in_c2 ping -c 2 -i 0.2 -W 1 "$cip" >/dev/null 2>&1 && fail "ClientToClient = off, yet $CL2 reached $cip"
in_c2 ping -c 2 -i 0.2 -W 1 10.50.0.2 >/dev/null 2>&1 && fail "ClientToClient = off, yet $CL2 reached the branch"
in_c2 ping -6 -c 2 -i 0.2 -W 1 fd50::2 >/dev/null 2>&1 && fail "ClientToClient = off, yet $CL2 reached fd50::2"
cc=$(stat "$GW" drop_client_to_client)
[ "$cc" -ge $((cc0 + 6)) ] || fail "client_to_client drops: $cc0 -> $cc, expected +6"
[ "$(peer_stat "$GW" roamer peer_drop_client_to_client)" -ge 6 ] || fail "the drops are not counted on roamer"
ok "ClientToClient = off: $CL2 reaches neither $cip nor the branch; $((cc - cc0)) drops counted"
sed -i 's/^NAT = off$/NAT = off\nClientToClient = on/' "$WORK/$GW.conf"
kill -HUP "$GW_PID"
wait_for 10 [ "$(stat "$GW" client_to_client)" = on ] || fail "ClientToClient = on not applied by SIGHUP"
wait_for 10 in_c2 ping -c 1 -W 1 "$cip" || fail "ClientToClient = on, yet $CL2 cannot reach $cip"
in_c2 ping -c 2 -i 0.2 -W 2 10.50.0.2 >/dev/null || fail "ClientToClient = on, yet $CL2 cannot reach the branch"
in_c2 ping -6 -c 2 -i 0.2 -W 2 fd50::2 >/dev/null || fail "ClientToClient = on, yet $CL2 cannot reach fd50::2"
ok "ClientToClient = on (SIGHUP): $CL2 reaches $cip and the branch behind it"

# --- (5) SIGHUP adds a pushed prefix: the connected client re-authenticates at its next ping and installs it
hs0=$(stat "$CL" handshakes_ok)
sed -i 's|^PushRoutes = .*|PushRoutes = 10.1.0.0/16, fd10:1::/64, 10.2.0.0/16|' "$WORK/$GW.conf"
kill -HUP "$GW_PID"
pushed_both() { [ "$(stat "$CL" pushed_routes)" = 10.1.0.0/16,fd10:1::/64,10.2.0.0/16 ]; }
wait_for 20 pushed_both || fail "the client did not install the new pushed prefix: '$(stat "$CL" pushed_routes)'"
in_c ip route show table "$SL_TABLE" | matches "^10.2.0.0/16 dev $CL" || fail "10.2.0.0/16 not in the client's table"
kill -0 "$CL_PID" || fail "the client daemon is gone"
[ "$(stat "$CL" handshakes_ok)" -gt "$hs0" ] || fail "no re-authentication on the client"
stat_cmp "$GW" repushes -ge 1 || fail "the gateway counted no repush"
in_b ping -c 2 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "the branch cannot reach the new office prefix 10.2.0.1"
ok "SIGHUP PushRoutes: re-pushed at the next ping, 10.2.0.0/16 installed by the running client, reachable"

# --- (6) SIGHUP takes 10.50.0.0/24 from the client's Subnets, then gives it back
sp0=$(peer_stat "$GW" branch peer_drop_spoofed)
sed -i 's|^Subnets = 10.50.0.0/24, fd50::/64$|Subnets = 10.51.0.0/24|' "$WORK/$GW.conf"
kill -HUP "$GW_PID"
route_gone() { ! in_g ip route show | matches "^10.50.0.0/24 dev $GW"; }
wait_for 10 route_gone || fail "the gateway still routes 10.50.0.0/24 into $GW"
in_g ip route show | matches "^10.51.0.0/24 dev $GW" || fail "the gateway does not route the new 10.51.0.0/24"
in_b ping -c 2 -i 0.2 -W 1 10.1.0.2 >/dev/null 2>&1 && fail "the branch reached the office after leaving Subnets"
[ "$(peer_stat "$GW" branch peer_drop_spoofed)" -ge $((sp0 + 2)) ] || fail "the branch's packets were not dropped as spoofed"
sed -i 's|^Subnets = 10.51.0.0/24$|Subnets = 10.50.0.0/24, fd50::/64|' "$WORK/$GW.conf"
kill -HUP "$GW_PID"
wait_for 10 in_b ping -c 1 -W 1 10.1.0.2 || fail "the branch does not reach the office after Subnets came back"
in_o timeout 10 python3 "$PEER" tcp-xfer 10.50.0.2 9000 2000 || fail "office -> branch failed after Subnets came back"
ok "SIGHUP Subnets: removed -> route gone and dropped as spoofed; back -> both ways again"

# --- (7) the kill switch forwards exactly the LAN <-> the tunnel
in_b ping -c 1 -W 2 $G_IP >/dev/null || fail "control: the branch does not reach $G_IP by the underlay"
in_c "$SLUICE" killswitch on "$CL" -c "$WORK/$CL.conf" >/dev/null || fail "sluice killswitch on failed"
in_c nft list chain inet sluice_ks forward | matches "oifname \"$CL\" ip saddr 10.50.0.0/24 accept" ||
	fail "the kill switch does not forward the branch: $(in_c nft list chain inet sluice_ks forward)"
in_b ping -c 2 -i 0.2 -W 1 $G_IP >/dev/null 2>&1 && fail "kill switch on, yet the branch reached $G_IP by the underlay"
in_b timeout 10 python3 "$PEER" tcp-xfer 10.1.0.2 8080 2000 || fail "kill switch on: branch -> office failed"
in_o timeout 10 python3 "$PEER" tcp-xfer 10.50.0.2 9000 2000 || fail "kill switch on: office -> branch failed"
in_b timeout 10 python3 "$PEER" tcp-xfer fd10:1::2 8080 2000 || fail "kill switch on: IPv6 branch -> office failed"
in_c "$SLUICE" killswitch off "$CL" >/dev/null || fail "sluice killswitch off failed"
ok "kill switch on: branch <-> office through the tunnel, nothing of the branch by the underlay"

stop "$CL2_PID"; stop "$CL_PID"
[ "$(in_c sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "the client host still forwards after exit"
[ "$(in_c sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "the client host still forwards IPv6 after exit"
in_c nft list tables | matches "sluice_cl_$CL" && fail "the client table is left after exit"
stop "$GW_PID"
in_g nft list tables | matches "sluice_nat_$GW" && fail "the NAT table is left after exit"
ok "clean exit: forwarding restored, tables removed"
