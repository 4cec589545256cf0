#!/usr/bin/env bash
# t_ipv6: IPv6 inside the tunnel (issue #16, DESIGN 9, 10.2, 10.13), with an IPv6 internet host on ULA prefixes:
#
#   client 198.18.0.2 fd00:18::2 --- gateway 198.18.0.1 fd00:18::1 | 198.19.0.1 fd00:19::1 --- internet 198.19.0.2 fd00:19::2
#   tunnel: gateway 10.66.0.1 fd66::1, client 10.66.0.x fd66::x
#
#   (1) dual-stack gateway, NAT = on, default Routes (full tunnel of both families): the client gets an address
#       of each family; ping6 to the gateway's tunnel address and to the internet host; TCP over IPv6 arrives
#       from the gateway's egress address (NAT66); iperf3 over IPv6 both ways; per-family counters; IPv6
#       forwarding raised by the gateway (and accept_ra 1 -> 2 on the egress)
#   (2) anti-spoofing: IPv6 from another source inside the tunnel is dropped and counted (spoofed)
#   (3) the gateway restarted: the client gets the same IPv6 address (the leases6 journal); forwarding and
#       accept_ra restored after the last stop
#   (4) NAT = off (routed) and a split tunnel of one IPv6 prefix: the internet host sees the client's own tunnel
#       address; the client's table holds that prefix only, and a /128 to the pushed IPv6 DNS server the prefix
#       does not cover (issue #17): the query reaches the internet host's dnsmasq from the tunnel, never from the
#       client's underlay address
#   (5) a gateway that offers no IPv6, client full tunnel, kill switch off then on: IPv6 to the internet host
#       is captured and dropped (no_ipv6); a recorder on the internet host sees no IPv6 packet from the
#       client's underlay address (and did see one before the tunnel: the recorder works)
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
topo_v6_up
in_g sysctl -qw net.ipv6.conf.g1.accept_ra=1
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I6_IP 8080 "$WORK/tcp6.log" & PIDS+=($!)
in_i iperf3 -s -B $I6_IP -p 5201 >"$WORK/iperf-srv.log" 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"
wait_for 5 in_i bash -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
tcp6() { in_c timeout 10 python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I6_IP 8080 "$1"; }

# --- (1) dual stack, NAT66
fwd6_before=$(in_g sysctl -n net.ipv6.conf.all.forwarding)
[ "$fwd6_before" = 0 ] || fail "(1) premise: IPv6 forwarding on in the gateway's namespace"
GW_ADDRESS="10.66.0.1/24, fd66::1/64" gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "(1) no session"
A6=$(stat "$CL" address6)
[[ "$A6" == fd66::*/64 ]] || fail "(1) client address6 '$A6'"
[ "$(peer_stat "$GW" laptop peer_address6)" = "${A6%/*}" ] || fail "(1) gateway lists $(peer_stat "$GW" laptop peer_address6)"
in_c ip -6 addr show dev "$CL" | grep -q "inet6 $A6" || fail "(1) $A6 not on the client's link"
[ "$(in_g sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "(1) IPv6 forwarding not raised"
[ "$(in_g sysctl -n net.ipv6.conf.g1.accept_ra)" = 2 ] || fail "(1) accept_ra on the egress not 2"
in_c ping -6 -c 3 -i 0.2 -W 2 fd66::1 >/dev/null || fail "(1) ping6 to the gateway's tunnel address"
in_c ping -6 -c 3 -i 0.2 -W 2 $I6_IP >/dev/null || fail "(1) ping6 to the internet host"
in_c ping -c 2 -i 0.2 -W 2 $I_IP >/dev/null || fail "(1) IPv4 alongside"
tcp6 1000000 || fail "(1) TCP over IPv6 (1 MB echo)"
grep -qx "$GE6_IP" "$WORK/tcp6.log" || fail "(1) internet host saw $(sort -u "$WORK/tcp6.log"), not $GE6_IP"
grep -q "fd66\|$C6_IP" "$WORK/tcp6.log" && fail "(1) internet host saw the client's own address"
for d in "" -R; do
	in_c timeout 20 iperf3 -6 -c $I6_IP -p 5201 -t 2 $d -J >"$WORK/iperf.json" || fail "(1) iperf3 -6 $d"
	bps=$(python3 -c "import json; print(int(json.load(open('$WORK/iperf.json'))['end']['sum_received']['bits_per_second']))")
	[ "$bps" -gt 1000000 ] || fail "(1) iperf3 -6 $d: $bps bit/s"
done
[ "$(stat "$GW" tun_tx_packets6)" -ge 6 ] || fail "(1) gateway tun_tx_packets6 $(stat "$GW" tun_tx_packets6)"
[ "$(stat "$CL" tun_rx_packets6)" -ge 6 ] || fail "(1) client tun_rx_packets6 $(stat "$CL" tun_rx_packets6)"
"$SLUICE" show "$CL" | grep "${A6}" >/dev/null || fail "(1) sluice show does not name the IPv6 address"
"$SLUICE" show -j "$GW" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['address6'] == 'fd66::1/64', d['address6']" ||
	fail "(1) show -j address6"
ok "(1) dual stack: $A6, ping6, TCP and iperf3 over IPv6 via NAT66 ($GE6_IP), forwarding and accept_ra raised"

# --- (2) anti-spoofing: a second source inside the tunnel
sp0=$(peer_stat "$GW" laptop peer_drop_spoofed)
in_c ip -6 addr add fd66::99/128 dev "$CL" nodad
in_c ping -6 -c 3 -i 0.2 -W 1 -I fd66::99 $I6_IP >/dev/null 2>&1 && fail "(2) a spoofed IPv6 source got through"
wait_for 5 stat_cmp "$GW" drop_spoofed -ge $((sp0 + 3)) || fail "(2) spoofed drops $(stat "$GW" drop_spoofed)"
in_c ip -6 addr del fd66::99/128 dev "$CL"
ok "(2) IPv6 from a source that is not the session's dropped and counted (spoofed)"

# --- (3) restart: same IPv6 address; forwarding restored after the stop
h0=$(stat "$CL" handshakes_ok)
stop $GW_PID
[ "$(in_g sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "(3) IPv6 forwarding not restored"
[ "$(in_g sysctl -n net.ipv6.conf.g1.accept_ra)" = 1 ] || fail "(3) accept_ra not restored"
grep -q "fd66::" "$WORK/state/$GW.leases6" || fail "(3) no IPv6 lease journaled"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
wait_for 30 stat_cmp "$CL" handshakes_ok -gt "$h0" || fail "(3) the client did not re-authenticate"
wait_for 10 session_up "$CL" || fail "(3) no session after the restart"
[ "$(stat "$CL" address6)" = "$A6" ] || fail "(3) address6 $(stat "$CL" address6), was $A6"
wait_for 10 in_c ping -6 -c 1 -W 1 $I6_IP || fail "(3) no IPv6 after the restart"
ok "(3) gateway restarted: the same $A6; forwarding and accept_ra were restored at the stop"
stop $CL_PID; stop $GW_PID

# --- (4) NAT = off: routed, the internet host sees the client's tunnel address
in_i ip -6 route add fd66::/64 via $GE6_IP
# a pushed IPv6 DNS server that the split tunnel's Routes do not cover (issue #17): on the internet host
DNS6=fd00:29::53
in_i ip addr add $DNS6/128 dev i0 nodad
in_i dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$DNS6 -p 53 --log-queries \
	--log-facility="$WORK/dnsmasq.out" --address=/probe.sluice.test/198.19.0.77 >/dev/null 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -lun | grep -q '$DNS6\]:53 '" || fail "(4) dnsmasq did not start"
: >"$WORK/tcp6.log"
GW_ADDRESS="10.66.0.1/24, fd66::1/64" gw_conf "$GW" "NAT = off" "DNS = $DNS6"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "Routes = fd00:19::/64" # a split tunnel of one IPv6 prefix (and the gateway's new key)
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "(4) no session"
in_g nft list table inet "sluice_nat_$GW" | grep -q masquerade && fail "(4) NAT = off still masquerades"
tcp6 100000 || fail "(4) TCP over IPv6, routed"
grep -qx "${A6%/*}" "$WORK/tcp6.log" || fail "(4) internet host saw $(sort -u "$WORK/tcp6.log"), not ${A6%/*}"
sl_ids "$CL"
in_c ip -6 route show table $SL_TABLE >"$WORK/rt6"
grep -q "^fd00:19::/64 dev $CL" "$WORK/rt6" && ! grep -q "^default" "$WORK/rt6" || fail "(4) split routes: $(cat "$WORK/rt6")"
[ -z "$(in_c ip -4 route show table $SL_TABLE)" ] || fail "(4) IPv4 routes in an IPv6-only split tunnel"
grep -q "^$DNS6 dev $CL" "$WORK/rt6" || fail "(4) the pushed IPv6 DNS server is not routed into the tunnel: $(cat "$WORK/rt6")"
ans=$(in_c getent hosts probe.sluice.test | awk '{print $1}')
[ "$ans" = 198.19.0.77 ] || fail "(4) the query to $DNS6 answered '$ans'"
grep -q "probe.sluice.test from ${A6%/*}" "$WORK/dnsmasq.out" || fail "(4) dnsmasq: $(cat "$WORK/dnsmasq.out")"
grep -q "from $C6_IP" "$WORK/dnsmasq.out" && fail "(4) a DNS query left from the client's underlay $C6_IP"
ok "(4) NAT = off, split tunnel fd00:19::/64: the internet host sees the client's own ${A6%/*}; the pushed IPv6 DNS server is routed into the tunnel"
stop $CL_PID; stop $GW_PID
in_i ip -6 route del fd66::/64 via $GE6_IP

# --- (5) a gateway without IPv6: no IPv6 leak, kill switch off and on
in_g sysctl -qw net.ipv6.conf.all.forwarding=1 # the gateway is the client's plain IPv6 router too
in_i tcpdump -l -n -i i0 "ip6 and src $C6_IP" >"$WORK/rec.out" 2>"$WORK/rec.err" & PIDS+=($!)
wait_for 5 grep -q "listening on" "$WORK/rec.err" || fail "(5) recorder did not start"
leaked() { grep -c "$C6_IP" "$WORK/rec.out" || true; }
leaked_ge() { [ "$(leaked)" -ge "$1" ]; } # for wait_for: re-read on every try
in_c ping -6 -c 1 -W 2 $I6_IP >/dev/null || fail "(5) premise: plain IPv6 from the client does not reach the internet host"
wait_for 5 leaked_ge 1 || fail "(5) premise: the recorder saw nothing"
base=$(leaked)
gw_conf "$GW"
add_client "$GW" laptop "$CL"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
for ks in off on; do
	cl_conf "$CL" "$GW" "KillSwitch = $ks"
	start "$NS_C" "$CL"; CL_PID=$LAST_PID
	wait_for 10 session_up "$CL" || fail "(5) kill switch $ks: no session"
	[ -z "$(stat "$CL" address6)" ] || fail "(5) an IPv6 address from a gateway without IPv6"
	n0=$(stat "$CL" drop_no_ipv6)
	in_c ping -6 -c 3 -i 0.2 -W 1 $I6_IP >/dev/null 2>&1 && fail "(5) kill switch $ks: ping6 got through"
	in_c timeout 5 python3 -c "import socket; socket.create_connection(('$I6_IP', 8080), timeout=2)" 2>/dev/null &&
		fail "(5) kill switch $ks: TCP over IPv6 got through"
	wait_for 5 stat_cmp "$CL" drop_no_ipv6 -ge $((n0 + 3)) || fail "(5) kill switch $ks: no_ipv6 $(stat "$CL" drop_no_ipv6)"
	in_c ping -c 1 -W 2 $I_IP >/dev/null || fail "(5) kill switch $ks: IPv4 through the tunnel"
	stop $CL_PID
	sl_ids "$CL"
	in_c ip -6 rule | grep -q "lookup $SL_TABLE" && fail "(5) IPv6 rules left after the stop: $(in_c ip -6 rule)"
	[ "$ks" = on ] && { in_c "$SLUICE" killswitch off >/dev/null || fail "(5) killswitch off"; }
done
# the recorder has seen the premise's packet only (a packet that left after the stop is not the test's)
[ "$(leaked)" = "$base" ] || fail "(5) IPv6 from $C6_IP reached the internet host: $(cat "$WORK/rec.out")"
ok "(5) a gateway without IPv6: ::/0 captured and dropped (no_ipv6), no IPv6 leak with the kill switch off or on"
stop $GW_PID
echo "t_ipv6: all checks passed"
