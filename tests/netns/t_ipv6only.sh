#!/usr/bin/env bash
# t_ipv6only: an IPv6-only gateway, `Address = fd66::1/64` with no IPv4 prefix (issue #16, DESIGN 9: "either
# family may be absent"), with an IPv6 internet host on ULA prefixes:
#
#   client 198.18.0.2 fd00:18::2 --- gateway 198.18.0.1 fd00:18::1 | 198.19.0.1 fd00:19::1 --- internet 198.19.0.2 fd00:19::2
#   tunnel: gateway fd66::1, client fd66::x — no IPv4 inside the tunnel
#
#   (1) NAT = on, default Routes (full tunnel of both families), kill switch off then on: the client gets an
#       IPv6 address and no IPv4 one (none on its link, none in show / -j / dump); ping6 to the gateway's
#       tunnel address and to the internet host; TCP over IPv6 arrives from the gateway's egress address
#       (NAT66; the NAT table masquerades IPv6 only). IPv4 to the internet host is captured by 0.0.0.0/0 and
#       dropped in the tunnel (no_ipv4): a recorder on the internet host sees no IPv4 packet from the
#       client's underlay address (and did see one before the tunnel: the recorder works)
#   (2) NAT = off (routed) over an IPv6-only underlay: the client has no IPv4 at all and reaches the gateway at
#       [fd00:18::1]:PORT; the internet host sees the client's own tunnel address. The gateway's namespace starts
#       with both forwarding sysctls 0: the gateway raises IPv6 forwarding alone (`holder6` in its record) and
#       leaves net.ipv4.ip_forward 0; both 0 and no record after it stops
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
topo_v6_up
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I6_IP 8080 "$WORK/tcp6.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"
tcp6() { in_c timeout 10 python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I6_IP 8080 "$1"; }

# the recorder: IPv4 from the client's underlay address reaching the internet host (the gateway's namespace
# forwards plain IPv4: without the tunnel's capture that is the way out, a leak)
in_i tcpdump -l -n -i i0 "ip and src $C_IP" >"$WORK/rec.out" 2>"$WORK/rec.err" & PIDS+=($!)
wait_for 5 grep -q "listening on" "$WORK/rec.err" || fail "recorder did not start"
leaked() { grep -c "$C_IP" "$WORK/rec.out" || true; }
leaked_ge() { [ "$(leaked)" -ge "$1" ]; } # for wait_for: re-read on every try
in_c ping -c 1 -W 2 $I_IP >/dev/null || fail "premise: plain IPv4 from the client does not reach the internet host"
wait_for 5 leaked_ge 1 || fail "premise: the recorder saw nothing"
base=$(leaked)

# --- (1) IPv6 only, NAT66, kill switch off and on
GW_ADDRESS="fd66::1/64" gw_conf "$GW"
add_client "$GW" laptop "$CL"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
[ -z "$(stat "$GW" address)" ] || fail "(1) the gateway shows an IPv4 address '$(stat "$GW" address)'"
[ "$(stat "$GW" address6)" = "fd66::1/64" ] || fail "(1) gateway address6 '$(stat "$GW" address6)'"
[ -z "$(in_g ip -4 addr show dev "$GW")" ] || fail "(1) IPv4 on the gateway's link: $(in_g ip -4 addr show dev "$GW")"
in_g nft list table inet "sluice_nat_$GW" >"$WORK/nat.nft" || fail "(1) no NAT table"
grep -q "ip6 saddr fd66::/64 .*masquerade" "$WORK/nat.nft" || fail "(1) no NAT66 rule: $(cat "$WORK/nat.nft")"
grep -q "ip saddr .*masquerade" "$WORK/nat.nft" && fail "(1) an IPv4 masquerade without an IPv4 pool: $(cat "$WORK/nat.nft")"
for ks in off on; do
	cl_conf "$CL" "$GW" "KillSwitch = $ks"
	start "$NS_C" "$CL"; CL_PID=$LAST_PID
	wait_for 10 session_up "$CL" || fail "(1) kill switch $ks: no session"
	A6=$(stat "$CL" address6)
	[[ "$A6" == fd66::*/64 ]] || fail "(1) client address6 '$A6'"
	[ -z "$(stat "$CL" address)" ] || fail "(1) an IPv4 address '$(stat "$CL" address)' from an IPv6-only gateway"
	[ -z "$(in_c ip -4 addr show dev "$CL")" ] || fail "(1) IPv4 on the client's link: $(in_c ip -4 addr show dev "$CL")"
	in_c ip -6 addr show dev "$CL" | grep -q "inet6 $A6" || fail "(1) $A6 not on the client's link"
	[ "$(peer_stat "$GW" laptop peer_address6)" = "${A6%/*}" ] || fail "(1) gateway lists $(peer_stat "$GW" laptop peer_address6)"
	[ -z "$(peer_stat "$GW" laptop peer_address)" ] || fail "(1) gateway lists IPv4 $(peer_stat "$GW" laptop peer_address)"
	in_c ping -6 -c 2 -i 0.2 -W 2 fd66::1 >/dev/null || fail "(1) kill switch $ks: ping6 to the gateway's tunnel address"
	in_c ping -6 -c 2 -i 0.2 -W 2 $I6_IP >/dev/null || fail "(1) kill switch $ks: ping6 to the internet host"
	: >"$WORK/tcp6.log"
	tcp6 300000 || fail "(1) kill switch $ks: TCP over IPv6 (300 kB echo)"
	grep -qx "$GE6_IP" "$WORK/tcp6.log" || fail "(1) internet host saw $(sort -u "$WORK/tcp6.log"), not $GE6_IP"
	# IPv4: captured by 0.0.0.0/0, dropped in the tunnel and counted, never out of the underlay
	n0=$(stat "$CL" drop_no_ipv4)
	in_c ping -c 3 -i 0.2 -W 1 $I_IP >/dev/null 2>&1 && fail "(1) kill switch $ks: IPv4 ping got through"
	in_c timeout 5 python3 -c "import socket; socket.create_connection(('$I_IP', 8080), timeout=2)" 2>/dev/null &&
		fail "(1) kill switch $ks: IPv4 TCP got through"
	wait_for 5 stat_cmp "$CL" drop_no_ipv4 -ge $((n0 + 4)) || fail "(1) kill switch $ks: no_ipv4 $(stat "$CL" drop_no_ipv4)"
	"$SLUICE" metrics "$CL" | grep 'cause="no_ipv4"' >"$WORK/m" || fail "(1) metrics: no no_ipv4 cause"
	"$SLUICE" show -j "$CL" | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert not d.get('address') and d['address6'] == '$A6', (d.get('address'), d['address6'])
assert d['drops']['no_ipv4'] >= $((n0 + 4)), d['drops']" || fail "(1) show -j: address / address6 / drops.no_ipv4"
	"$SLUICE" show "$CL" >"$WORK/show.txt"
	grep -qx "  address: (none)" "$WORK/show.txt" && grep -qx "  address6: $A6" "$WORK/show.txt" ||
		fail "(1) sluice show: $(cat "$WORK/show.txt")"
	"$SLUICE" dump "$CL" | awk -F'\t' -v a6="${A6}" '$5 == "(none)" && $NF == a6 { ok = 1 } END { exit !ok }' ||
		fail "(1) dump: $("$SLUICE" dump "$CL")"
	stop $CL_PID
	[ "$ks" = on ] && { in_c "$SLUICE" killswitch off >/dev/null || fail "(1) killswitch off"; }
done
# the recorder has seen the premise's packet only (a packet that left after the stop is not the test's)
[ "$(leaked)" = "$base" ] || fail "(1) IPv4 from $C_IP reached the internet host: $(cat "$WORK/rec.out")"
ok "(1) IPv6-only gateway: $A6 and no IPv4, ping6 and TCP via NAT66 ($GE6_IP); IPv4 captured and dropped (no_ipv4), no leak with the kill switch off or on"
stop $GW_PID

# --- (2) NAT = off over an IPv6-only underlay: the client has no IPv4 at all
ip -n "$NS_C" -4 addr flush dev c0
in_i ip -6 route add fd66::/64 via $GE6_IP
GW_LISTEN="[::]" GW_ADDRESS="fd66::1/64" gw_conf "$GW" "NAT = off"
add_client "$GW" laptop "$CL"
CL_ENDPOINT="[$G6_IP]:$PORT" cl_conf "$CL" "$GW"
in_g sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
start "$NS_G" "$GW"; GW_PID=$LAST_PID
[ "$(in_g sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "(2) IPv6 forwarding not raised"
[ "$(in_g sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "(2) an IPv6-only gateway raised net.ipv4.ip_forward"
grep -qx "holder6 $GW $GW_PID" "$(fwd_record "$NS_G")" && ! grep -q '^ip_forward ' "$(fwd_record "$NS_G")" ||
	fail "(2) forwarding record: $(cat "$(fwd_record "$NS_G")")"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "(2) no session over the IPv6 underlay"
[ "$(stat "$CL" endpoint)" = "[$G6_IP]:$PORT" ] || fail "(2) endpoint $(stat "$CL" endpoint)"
[ "$(stat "$CL" address6)" = "$A6" ] || fail "(2) address6 $(stat "$CL" address6), was $A6 (the leases6 journal)"
in_g nft list table inet "sluice_nat_$GW" | grep -q masquerade && fail "(2) NAT = off still masquerades"
: >"$WORK/tcp6.log"
tcp6 100000 || fail "(2) TCP over IPv6, routed"
grep -qx "${A6%/*}" "$WORK/tcp6.log" || fail "(2) internet host saw $(sort -u "$WORK/tcp6.log"), not ${A6%/*}"
"$SLUICE" dump "$GW" | awk -F'\t' -v a6="${A6%/*}" '$2 == "laptop" && $5 == "(none)" && $NF == a6 { ok = 1 } END { exit !ok }' ||
	fail "(2) gateway dump: $("$SLUICE" dump "$GW")"
ok "(2) NAT = off over an IPv6-only underlay ([$G6_IP]:$PORT): the internet host sees the client's own ${A6%/*}"
stop $CL_PID; stop $GW_PID
[ "$(in_g sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] && [ "$(in_g sysctl -n net.ipv4.ip_forward)" = 0 ] &&
	[ ! -e "$(fwd_record "$NS_G")" ] || fail "(2) forwarding after the stop: $(in_g sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding)"
ok "(2) forwarding: IPv6 raised and restored, net.ipv4.ip_forward never touched"
in_i ip -6 route del fd66::/64 via $GE6_IP
echo "t_ipv6only: all checks passed"
