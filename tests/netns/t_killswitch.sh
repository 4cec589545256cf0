#!/usr/bin/env bash
# t_killswitch: nothing leaks past the kill switch (issue "Kill switch"). The internet host records every packet
# that reaches it; the client probes it with ICMP, TCP, UDP, DNS and IPv6 in each state:
#   (0) no kill switch, no daemon: probes arrive directly (proves the recorder sees leaks)
#   (4) `sluice killswitch on` with no daemon ever started: nothing arrives
#   (5) client starts with KillSwitch = on: the tunnel comes up;  (1) probes arrive only as 198.19.0.1
#   (7) another process cannot reach the gateway's endpoint port directly
#   (2) gateway stopped, client reconnecting: nothing arrives;  (3) client kill -9: nothing arrives
#   (6) `sluice killswitch off`: direct traffic flows again, no sluice table remains
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
# IPv6 underlay (2001:db8::/32): the client could leak over it
ip -n "$NS_C" addr add 2001:db8:1::2/64 dev c0 nodad
ip -n "$NS_G" addr add 2001:db8:1::1/64 dev g0 nodad
ip -n "$NS_G" addr add 2001:db8:2::1/64 dev g1 nodad
ip -n "$NS_I" addr add 2001:db8:2::2/64 dev i0 nodad
ip -n "$NS_C" -6 route add default via 2001:db8:1::1
ip -n "$NS_I" -6 route add 2001:db8:1::/64 via 2001:db8:2::1
in_g sysctl -qw net.ipv6.conf.all.forwarding=1
# `nodad` covers only the addresses above: every link also gets a link-local address when its carrier comes up,
# and that one is "tentative" for 1-2 s (a random delay up to 1 s, then 1 s of duplicate address detection).
# The gateway solicits the internet host's neighbour entry for a forwarded packet from g1's link-local address,
# so until that address is valid the kernel sends no solicitation at all: the client's first IPv6 packet waits
# for the next try, 1 s later (dropped after three), and may reach the recorder after the probe window closed.
# Ready: every underlay link has a valid link-local address and no address is tentative.
ipv6_tentative() { local ns; for ns in "$NS_C" "$NS_G" "$NS_I"; do ip -n "$ns" -6 addr show tentative; done; }
ll_valid() { ip -n "$1" -6 addr show dev "$2" scope link -tentative | grep -q inet6; }
ipv6_settled() {
	ll_valid "$NS_C" c0 && ll_valid "$NS_G" g0 && ll_valid "$NS_G" g1 && ll_valid "$NS_I" i0 &&
		[ -z "$(ipv6_tentative)" ]
}

gw_conf "$GW" "DNS = $I_IP"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "KillSwitch = on"

in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp.log" & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/udp.log" & PIDS+=($!)
in_i dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$I_IP -p 53 \
	--address=/probe.sluice.test/198.19.0.77 >"$WORK/dnsmasq.log" 2>&1 & PIDS+=($!)
# the recorder: every IP packet arriving at the internet host (neighbour discovery excluded)
in_i tcpdump -i i0 -Q in -nn -l -q 'ip or (ip6 and not dst net ff00::/8 and not icmp6) or (icmp6 and ip6[40] < 133)' \
	>"$WORK/seen.log" 2>"$WORK/tcpdump.err" & PIDS+=($!)
wait_for 5 grep -q "listening on" "$WORK/tcpdump.err" || fail "tcpdump did not start"
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo did not start"

# probes from the client namespace to the internet host's underlay addresses; each may fail
probe() {
	in_c ping -c 1 -W 1 $I_IP >/dev/null 2>&1 || true
	in_c timeout 2 python3 -c "import socket; socket.create_connection(('$I_IP', 8080), timeout=1)" \
		>/dev/null 2>&1 || true
	in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $I_IP 5353 "6b732d70726f6265" || true
	in_c timeout 2 python3 -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
q = bytes.fromhex('abcd01000001000000000000') + b'\x05probe\x06sluice\x04test\x00\x00\x01\x00\x01'
s.sendto(q, ('$I_IP', 53)); s.recv(512)" >/dev/null 2>&1 || true
	in_c ping -6 -c 1 -W 1 2001:db8:2::2 >/dev/null 2>&1 || true
	sleep 1 # let the last probe's packets reach the recorder before it is read
}
# a mark is a time stamp: the recorder's lines carry the capture time, so a packet captured before the mark but
# printed after it is never counted against the next state
mark() { date +%H:%M:%S.%6N; }
since() { awk -v t="$1" '$1 > t' "$WORK/seen.log"; }
expect_nothing() {
	local m; m=$(mark); probe
	local got; got=$(since "$m")
	[ -z "$got" ] || fail "$1: packets reached the internet host:"$'\n'"$got"
	ok "$1: nothing arrived"
}

# the IPv6 path is ready once no address is tentative and one echo goes through (neighbour entries resolved)
wait_for 10 ipv6_settled ||
	fail "(0) IPv6 set-up: a link has no valid link-local address after 10 s; tentative:"$'\n'"$(ipv6_tentative)"
wait_for 5 in_c ping -6 -c 1 -W 1 2001:db8:2::2 ||
	fail "(0) IPv6 set-up: no echo reply from 2001:db8:2::2 through the gateway:"$'\n'"$(in_g ip -6 neigh show)"

# (0) baseline: without the kill switch the client's own addresses reach the internet host
m=$(mark); probe
got=$(since "$m")
echo "$got" | grep -qE "IP 198\.18\.0\.2[ .]" ||
	fail "(0) baseline: no direct IPv4 from 198.18.0.2 recorded: the recorder is blind; recorded:"$'\n'"$got"
echo "$got" | grep -q "IP6 2001:db8:1::2 > 2001:db8:2::2: ICMP6, echo request" ||
	fail "(0) baseline: the client's ICMPv6 echo request 2001:db8:1::2 > 2001:db8:2::2 was not recorded;" \
		"recorded:"$'\n'"$got"
ok "(0) baseline: direct traffic is visible"

# (4) boot lockdown: kill switch on, no daemon ever started
# (always inside the client namespace: never engage a kill switch on the host)
in_c "$SLUICE" killswitch on -c "$WORK/$CL.conf" >/dev/null || fail "(4) killswitch on failed"
in_c "$SLUICE" killswitch status -c "$WORK/$CL.conf" >"$WORK/ks.status" || fail "(4) killswitch status is not on"
grep -q "$G_IP:$PORT" "$WORK/ks.status" || fail "(4) status does not name the endpoint"
expect_nothing "(4) kill switch on, no daemon"

# (5) the client starts with KillSwitch = on and brings the tunnel up through the lockdown
start "$NS_C" "$CL"; CL_PID=$LAST_PID
start "$NS_G" "$GW"; GW_PID=$LAST_PID
wait_for 20 session_up "$CL" || fail "(5) no session through the kill switch"
wait_for 5 in_c ping -c 1 -W 1 $I_IP || fail "(5) no traffic through the tunnel"
ok "(5) tunnel up with the kill switch on"

# (1) tunnel up: every probe arrives as the gateway (masqueraded), none as the client
m=$(mark); probe
got=$(since "$m")
echo "$got" | grep -q "198.19.0.1" || fail "(1) probes did not arrive through the tunnel"
echo "$got" | grep -qE "198\.18\.0\.2|2001:db8:1::2" && fail "(1) a probe leaked:"$'\n'"$got"
grep -q "198.19.0.1" "$WORK/tcp.log" || fail "(1) TCP probe did not arrive through the tunnel"
grep -q "198.19.0.1" "$WORK/udp.log" || fail "(1) UDP probe did not arrive through the tunnel"
ok "(1) probes arrive only as 198.19.0.1"

# (7) only the daemon's marked sockets reach the endpoint: an ordinary process cannot
in_c timeout 3 python3 -c "import socket; socket.create_connection(('$G_IP', $PORT), timeout=2)" \
	>/dev/null 2>&1 && fail "(7) an unmarked process reached the gateway's control port"
ok "(7) unmarked process blocked from the endpoint"

# (2) gateway stopped, client reconnecting
stop $GW_PID
expect_nothing "(2) gateway down, client reconnecting"

# (3) client killed: the kill switch stays
start "$NS_G" "$GW"; GW_PID=$LAST_PID
wait_for 20 in_c ping -c 1 -W 1 $I_IP || fail "(3) tunnel did not come back"
kill -9 $CL_PID; wait $CL_PID 2>/dev/null || true
in_c nft list table inet sluice_ks >/dev/null || fail "(3) the kill switch went away with the daemon"
expect_nothing "(3) client killed"

# (6) off: direct traffic again, no table left
in_c "$SLUICE" killswitch off >/dev/null || fail "(6) killswitch off failed"
rc=0; in_c "$SLUICE" killswitch status >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "(6) status exit $rc, expected 3 (off)"
in_c nft list tables | grep -q sluice_ks && fail "(6) table remains"
m=$(mark); probe
since "$m" | grep -q "198.18.0.2" || fail "(6) direct traffic does not flow after off"
ok "(6) kill switch off: direct traffic flows, no table"
stop $GW_PID
echo "t_killswitch: all checks passed"
