#!/usr/bin/env bash
# t_tunnel: the tunnel end to end (issue "The tunnel"): ping, TCP both ways (iperf3), UDP, DNS through the
# tunnel, masquerading, two clients with distinct stable addresses across a gateway restart, an unknown key
# refused, replayed / bit-flipped / oversize datagrams dropped and counted, idle CPU, and a clean host after
# SIGTERM.
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; C1=slc$TAG; C2=sld$TAG; C3=sle$TAG
topo_up
ns_add "$NS_C-2"; ns_add "$NS_C-3"
# second and third clients: more veths into the gateway's client LAN
for n in 2 3; do
	ip link add c0 netns "$NS_C-$n" type veth peer name g0c$n netns "$NS_G"
	ip -n "$NS_G" link add br0 type bridge 2>/dev/null || true
done
# put all client-side gateway veths on one bridge carrying 198.18.0.1
ip -n "$NS_G" addr del $G_IP/24 dev g0
ip -n "$NS_G" link set br0 up
for p in g0 g0c2 g0c3; do ip -n "$NS_G" link set "$p" master br0; ip -n "$NS_G" link set "$p" up; done
ip -n "$NS_G" addr add $G_IP/24 dev br0
ip -n "$NS_C-2" addr add 198.18.0.3/24 dev c0; ip -n "$NS_C-3" addr add 198.18.0.4/24 dev c0
for n in 2 3; do
	ip -n "$NS_C-$n" link set c0 up
	ip -n "$NS_C-$n" route add default via $G_IP
done

fwd_before=$(in_g sysctl -n net.ipv4.ip_forward)
gw_conf "$GW" "DNS = $I_IP"
add_client "$GW" laptop "$C1"
add_client "$GW" phone "$C2"
cl_conf "$C1" "$GW"
cl_conf "$C2" "$GW"
cl_conf "$C3" "$GW" # its key is not on the gateway
rc=0; out=$(ip netns exec "$NS_G" env SLUICE_WORKERS=abc "$SLUICED" -f -c "$WORK/$GW.conf" 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q "SLUICE_WORKERS=abc" <<< "$out" || fail "bad SLUICE_WORKERS: exit $rc, said: $out"
ok "a bad SLUICE_WORKERS is refused at start (exit 2, named)"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$C1"; C1_PID=$LAST_PID
SLUICED_WRAP="env SLUICE_WORKERS=1" start "$NS_C-2" "$C2"; C2_PID=$LAST_PID
wait_for 10 session_up "$C1" || fail "client 1 got no session"
wait_for 10 session_up "$C2" || fail "client 2 got no session"
ok "both clients authenticated"

# --- data workers: one per CPU, each on its own TUN queue (the gateway and client 1); client 2 runs one
nw=$(stat "$GW" workers); nw1=$(stat "$C1" workers); nw2=$(stat "$C2" workers)
[ "$nw2" = 1 ] || fail "SLUICE_WORKERS=1 gave client 2 $nw2 workers"
if [ "$(nproc)" -ge 2 ]; then
	[ "$nw" -ge 2 ] && [ "$nw1" -ge 2 ] || fail "$(nproc) CPUs but $nw gateway / $nw1 client workers"
	ip -n "$NS_G" -d link show "$GW" | grep -q multi_queue || fail "gateway TUN is not multi-queue"
	ip -n "$NS_C" -d link show "$C1" | grep -q multi_queue || fail "client TUN is not multi-queue"
	ok "$nw gateway and $nw1 client data workers on multi-queue TUNs; a 1-worker client alongside"
fi

# --- internet-side peers
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp-src.log" & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/udp-src.log" & PIDS+=($!)
in_i iperf3 -s -B $I_IP -p 5201 >"$WORK/iperf-srv.log" 2>&1 & PIDS+=($!)
in_i dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$I_IP -p 53 \
	--address=/probe.sluice.test/198.19.0.77 --pid-file="$WORK/dnsmasq.pid" >"$WORK/dnsmasq.log" 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"
wait_for 5 in_i bash -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"

# --- ping through the tunnel
in_c ping -c 5 -i 0.2 -W 2 $I_IP >"$WORK/ping.log" || fail "ping through the tunnel failed"
rx=$(stat "$GW" tun_tx_packets)
[ "$rx" -ge 5 ] || fail "gateway wrote $rx packets to its TUN, expected >= 5"
ok "ping through the tunnel"

# --- TCP: echo + source address is the gateway's (masquerade), never the client's own
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 1000000 || fail "TCP echo of 1 MB failed"
grep -qx "$GE_IP" "$WORK/tcp-src.log" || fail "internet host did not see $GE_IP"
! grep -qx "$C_IP" "$WORK/tcp-src.log" || fail "internet host saw the client's own address (leak)"
ok "TCP 1 MB echoed, internet host sees $GE_IP"

# --- iperf3 5 s each way
in_c iperf3 -c $I_IP -p 5201 -t 5 -J >"$WORK/iperf-up.json" || fail "iperf3 upload failed"
in_c iperf3 -c $I_IP -p 5201 -t 5 -R -J >"$WORK/iperf-down.json" || fail "iperf3 download failed"
for d in up down; do
	bps=$(python3 -c "import json,sys; print(int(json.load(open('$WORK/iperf-$d.json'))['end']['sum_received']['bits_per_second']))")
	[ "$bps" -gt 1000000 ] || fail "iperf3 $d: $bps bit/s"
	log "iperf3 $d: $((bps / 1000000)) Mbit/s"
done
ok "iperf3 both directions"

# --- UDP exchange
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" udp-xfer $I_IP 5353 20 >/dev/null || fail "UDP exchange failed"
grep -qx "$GE_IP" "$WORK/udp-src.log" || fail "UDP: internet host did not see $GE_IP"
ok "UDP exchange"

# --- DNS pushed by the gateway, resolved through the tunnel
grep -q "nameserver $I_IP" "/etc/netns/$NS_C/resolv.conf" || fail "client resolv.conf does not name $I_IP"
ans=$(in_c getent hosts probe.sluice.test | awk '{print $1}')
[ "$ans" = 198.19.0.77 ] || fail "DNS through the tunnel answered '$ans'"
ok "DNS through the tunnel"

# --- replayed and bit-flipped datagrams: dropped, counted, endpoint unchanged
ep_before=$(peer_stat "$GW" laptop peer_endpoint)
in_g python3 "$SLUICE_SRC/tests/netns/peer.py" capture br0 $PORT "$WORK/dgram.hex" "$WORK/cap.ready" & cap=$!
wait_for 10 test -e "$WORK/cap.ready" || fail "the sniffer did not start"
in_c ping -c 3 -i 0.2 $I_IP >/dev/null
wait $cap || fail "could not capture a datagram"
r0=$(stat "$GW" drop_replay); a0=$(stat "$GW" drop_auth)
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $G_IP $PORT "$(cat "$WORK/dgram.hex")"
# a bit-flipped copy still carries a counter already seen: the window refuses it before the AEAD runs
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $G_IP $PORT "$(cat "$WORK/dgram.hex")" 300
wait_for 3 stat_cmp "$GW" drop_replay -eq $((r0 + 2)) || fail "replays not counted ($(stat "$GW" drop_replay))"
[ "$(stat "$GW" drop_auth)" -eq "$a0" ] || fail "a replay reached the AEAD"
# with a fresh counter the forgery gets past the window and fails authentication:
hex=$(cat "$WORK/dgram.hex"); fresh=$(python3 -c "
h=bytearray(bytes.fromhex('$hex')); h[12:20]=(2**40).to_bytes(8,'big'); print(h.hex())")
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $G_IP $PORT "$fresh"
wait_for 3 stat_cmp "$GW" drop_auth -eq $((a0 + 1)) || fail "forged datagram not counted as auth"
[ "$(peer_stat "$GW" laptop peer_endpoint)" = "$ep_before" ] || fail "unauthenticated datagram moved the endpoint"
in_c ping -c 2 -i 0.2 -W 2 $I_IP >/dev/null || fail "tunnel broken after forged datagrams"
ok "replay and forgery dropped and counted; endpoint unchanged"

# --- oversize: the client's TUN MTU raised behind sluice's back; a packet above the session MTU is dropped,
# counted and answered with "fragmentation needed" (so the sender's next ones already fail locally)
o0=$(stat "$C1" drop_oversize); mtu=$(stat "$C1" mtu)
in_c ip link set "$C1" mtu 1500
in_c ping -c 3 -i 0.2 -W 1 -s 1450 -M do $I_IP >/dev/null 2>&1 && fail "oversize ping went through"
[ "$(stat "$C1" drop_oversize)" -ge $((o0 + 1)) ] || fail "oversize not counted"
in_c ip link set "$C1" mtu "$mtu"
ok "oversize packets dropped and counted"

# --- unknown client key: no session, no traffic
start "$NS_C-3" "$C3"; C3_PID=$LAST_PID
wait_for 10 stat_cmp "$GW" handshakes_failed -ge 1 || fail "gateway did not refuse the unknown key"
session_up "$C3" && fail "unknown client got a session"
t0=$(stat "$GW" tun_tx_packets)
ip netns exec "$NS_C-3" ping -c 2 -W 1 -I "$C3" $I_IP >/dev/null 2>&1 && fail "unknown client reached the tunnel"
[ "$(stat "$GW" tun_tx_packets)" -eq "$t0" ] || fail "the gateway forwarded packets of the unknown client"
[ "$(stat "$C3" drop_no_endpoint)" -ge 2 ] || fail "the unknown client did not count its dropped packets"
grep -q "unknown client key" "$WORK/$GW.log" || fail "gateway did not log the refusal"
stop $C3_PID
ok "unknown key refused"

# --- two clients: distinct addresses, the same after a gateway restart
a1=$(stat "$C1" address); a2=$(stat "$C2" address)
[ -n "$a1" ] && [ -n "$a2" ] && [ "$a1" != "$a2" ] || fail "addresses not distinct: '$a1' '$a2'"
stop $GW_PID
start "$NS_G" "$GW"; GW_PID=$LAST_PID
s1=$(stat "$C1" session_id)
wait_for 20 bash -c "[ \"\$('$SLUICE' show -r $C1 | grep ^handshakes_ok= | cut -d= -f2)\" -ge 2 ]" ||
	fail "client 1 did not re-authenticate after the gateway restart"
wait_for 20 bash -c "[ \"\$('$SLUICE' show -r $C2 | grep ^handshakes_ok= | cut -d= -f2)\" -ge 2 ]" ||
	fail "client 2 did not re-authenticate after the gateway restart"
[ "$(stat "$C1" address)" = "$a1" ] && [ "$(stat "$C2" address)" = "$a2" ] || fail "addresses changed on restart"
in_c ping -c 2 -i 0.2 -W 2 $I_IP >/dev/null || fail "no traffic after gateway restart"
ok "distinct stable addresses ($a1, $a2) across a gateway restart"

# --- idle: both daemons < 0.5 % CPU over 20 s
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(( $(ticks $GW_PID) + $(ticks $C1_PID) )); sleep 20
t1=$(( $(ticks $GW_PID) + $(ticks $C1_PID) ))
hz=$(getconf CLK_TCK)
[ $(( (t1 - t0) * 1000 / hz )) -lt 100 ] || fail "idle daemons used $(( (t1 - t0) * 1000 / hz )) ms CPU in 20 s"
ok "idle CPU $(( (t1 - t0) * 1000 / hz )) ms in 20 s"

# --- SIGTERM: nothing of sluice remains
stop $C1_PID; stop $C2_PID; stop $GW_PID
in_c ip link show "$C1" >/dev/null 2>&1 && fail "client link remains"
in_g ip link show "$GW" >/dev/null 2>&1 && fail "gateway link remains"
in_c ip rule | grep -qE '^[12][0-9]{4}:' && fail "policy rules remain: $(in_c ip rule)"
sl_ids "$C1"
[ -z "$(in_c ip route show table $SL_TABLE 2>/dev/null)" ] || fail "routes remain in table $SL_TABLE"
in_g nft list tables | grep -q sluice && fail "nft table remains on the gateway"
[ "$(in_g sysctl -n net.ipv4.ip_forward)" = "$fwd_before" ] || fail "ip_forward not restored"
grep -q "nameserver 127.0.0.1" "/etc/netns/$NS_C/resolv.conf" || fail "client resolv.conf not restored"
[ ! -e "/run/sluice/$GW.sock" ] && [ ! -e "/run/sluice/$C1.sock" ] || fail "control sockets remain"
ok "clean after SIGTERM"

# --- the TUN link deleted under a running gateway: it cannot forward any more, so it stops (status 1), says
# why, and still removes what it made
start "$NS_G" "$GW"; GW_PID=$LAST_PID
in_g ip link del "$GW"
wait_for 10 bash -c "! kill -0 $GW_PID 2>/dev/null" || fail "gateway still runs 10 s after its link was deleted"
rc=0; wait "$GW_PID" || rc=$?
[ "$rc" = 1 ] || fail "gateway exited with $rc after its link was deleted, expected 1"
grep -q "TUN read: .*stopping the daemon" "$WORK/$GW.log" || fail "gateway did not say why it stopped"
in_g nft list tables | grep -q sluice && fail "nft table remains after the gateway stopped"
[ "$(in_g sysctl -n net.ipv4.ip_forward)" = "$fwd_before" ] || fail "ip_forward not restored"
ok "link deleted under the gateway: exit 1, reason logged, NAT removed"
echo "t_tunnel: all checks passed"
