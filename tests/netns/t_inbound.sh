#!/usr/bin/env bash
# t_inbound: in NAT mode nothing on the gateway's egress side opens a connection into the tunnel (issue #14,
# DESIGN §6). The internet host routes the client pool via the gateway, as any host on the egress link could,
# and tries TCP, UDP and ping to listeners on the client's tunnel address: none of it may arrive. Replies to what
# the client opened still come back. Controls prove the attempt is real: the listeners answer the gateway
# itself through the tunnel, and the internet host reaches the gateway's own tunnel address over that route.
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
cip=$(stat "$CL" address); cip=${cip%/*}
gip=$(stat "$GW" address); gip=${gip%/*}
[ -n "$cip" ] && [ -n "$gip" ] || fail "no tunnel addresses in the status (client '$cip', gateway '$gip')"

# listeners on the client's tunnel address, and the internet host's echo servers
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo "$cip" 9000 "$WORK/in-tcp.log" & PIDS+=($!)
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo "$cip" 9001 "$WORK/in-udp.log" & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/out-tcp.log" & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/out-udp.log" & PIDS+=($!)
wait_for 5 in_c bash -c "ss -ltn | grep -q '$cip:9000 '" || fail "client listener did not start"
wait_for 5 in_c bash -c "ss -lun | grep -q '$cip:9001 '" || fail "client UDP listener did not start"
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "internet echo server did not start"

# control 1: the listeners answer through the tunnel (from the gateway host itself: not forwarded)
in_g python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer "$cip" 9000 10000 ||
	fail "control: the gateway cannot reach the client's listener through the tunnel"
ok "control: the client's listener answers through the tunnel"

# the egress side learns the pool's route, as a neighbour on the egress link could
pool=$(python3 -c "import ipaddress, sys; print(ipaddress.ip_interface(sys.argv[1]).network)" "$(stat "$GW" address)")
in_i ip route add "$pool" via $GE_IP || fail "could not route $pool via $GE_IP on the internet host"
# control 2: that route works, up to the gateway (its own tunnel address is local there, not forwarded)
in_i ping -c 1 -W 2 "$gip" >/dev/null || fail "control: the internet host cannot reach $gip via the gateway"
ok "control: the internet host reaches the gateway's tunnel address $gip via $GE_IP"

# the attempts: each must fail, and nothing may reach the client's listeners
in_i timeout 4 python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer "$cip" 9000 1000 >/dev/null 2>&1 &&
	fail "a TCP connection from the egress side into the tunnel ($I_IP -> $cip:9000) succeeded"
in_i timeout 5 python3 "$SLUICE_SRC/tests/netns/peer.py" udp-xfer "$cip" 9001 2 >/dev/null 2>&1 &&
	fail "UDP from the egress side into the tunnel ($I_IP -> $cip:9001) was answered"
in_i ping -c 2 -i 0.3 -W 1 "$cip" >/dev/null 2>&1 &&
	fail "a ping from the egress side into the tunnel ($I_IP -> $cip) was answered"
! grep -qx "$I_IP" "$WORK/in-tcp.log" 2>/dev/null || fail "the client's TCP listener saw $I_IP"
! grep -qx "$I_IP" "$WORK/in-udp.log" 2>/dev/null || fail "the client's UDP listener saw $I_IP"
ok "TCP, UDP and ping from the egress side never reach the client"

# what the client opens still works both ways (replies are established / related)
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 100000 || fail "client TCP out failed"
in_c timeout 10 python3 "$SLUICE_SRC/tests/netns/peer.py" udp-xfer $I_IP 5353 3 >/dev/null || fail "client UDP out failed"
in_c ping -c 2 -i 0.3 -W 2 $I_IP >/dev/null || fail "client ping out failed"
grep -qx "$GE_IP" "$WORK/out-tcp.log" || fail "the internet host did not see the masqueraded $GE_IP"
ok "connections the client opens still work (TCP, UDP, ping; masqueraded as $GE_IP)"

stop "$CL_PID"; stop "$GW_PID"
in_g nft list tables | grep -q sluice_nat && fail "NAT table left after SIGTERM"
ok "inbound isolation holds; nothing left"
