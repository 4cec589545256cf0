#!/usr/bin/env bash
# t_mtu: the tunnel MTU fits the underlay, so nothing fragments anywhere (issue #15 "MTU", DESIGN §3, §10.8).
#
#   client c0 ---- g0 gateway g1 ---- i0 internet      198.18.0.0/24, 198.19.0.0/24 (IPv4 underlay)
#                                                       2001:db8:1::/64, 2001:db8:2::/64 (IPv6 underlay)
#
#   (0) premise: the fragment counters see fragmentation (a plain 2000-byte ping without DF)
#   (1) IPv4 underlay, 1500-byte links: both ends derive 1416 (1500 - 84); DF pings of exactly 1416 bytes
#       pass, one byte more never leaves the client; iperf3 both ways; both MSS clamps in place and the
#       gateway's at work on a SYN-ACK; no fragment made in any namespace
#   (2) an oversize packet (the TUN's MTU raised behind sluice's back) is answered with ICMP "fragmentation
#       needed" carrying the tunnel MTU, and counted — on the client (to its own ping) and on the gateway (to
#       the internet host's DF reply, through the NAT: the internet host learns the path MTU)
#   (3) IPv6-only underlay (Endpoint = [2001:db8:1::1]:PORT): the same pings and iperf3, no IPv6 fragment;
#       then with MTU = 1420 (the old default: 1420 + 84 = 1504) every full-size datagram fragments — the
#       override works and the counters would have caught the old default
#   (4) a 1280-byte hop (the client's link): the client derives 1196 (the gateway keeps 1416 and is told
#       nothing), its MSS clamp keeps TCP within it: iperf3 both ways and full-size DF pings, no fragment
#   (5) the 1280-byte hop further away, behind a router (the client's own route says 1500): the first
#       full-size datagram meets it, the router answers "fragmentation needed", the client's kernel learns
#       the path MTU, and the client follows it at its next PING — down to 1196; then TCP both ways and DF
#       pings with no fragment anywhere
#
#   client c1 198.18.2.2 ---- r0 router r1 ==1280== g2 198.18.3.2 gateway         (5)
# Every step that must fail is written so that its success fails the test.
. "$(dirname "$0")/lib.sh"
command -v iperf3 >/dev/null || { log "skip: no iperf3"; exit 77; }

GW=slg$TAG; CL=slc$TAG
topo_up
ip -n "$NS_C" addr add 2001:db8:1::2/64 dev c0 nodad
ip -n "$NS_G" addr add 2001:db8:1::1/64 dev g0 nodad
ip -n "$NS_G" addr add 2001:db8:2::1/64 dev g1 nodad
ip -n "$NS_I" addr add 2001:db8:2::2/64 dev i0 nodad
ip -n "$NS_C" -6 route add default via 2001:db8:1::1
ip -n "$NS_I" -6 route add 2001:db8:1::/64 via 2001:db8:2::1
in_g sysctl -qw net.ipv6.conf.all.forwarding=1

in_i iperf3 -s -B $I_IP -p 5201 >"$WORK/iperf-srv.log" 2>&1 & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp.log" & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/udp.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"

# fragments one namespace made: IPv4 FragCreates + IPv6 Ip6FragCreates
frag_creates() {
	ip netns exec "$1" awk '
		FILENAME ~ /snmp6$/ && $1 == "Ip6FragCreates" { n += $2 }
		FILENAME !~ /snmp6$/ && $1 == "Ip:" {
			if (!col) { for (i = 2; i <= NF; i++) if ($i == "FragCreates") col = i }
			else n += $col
		}
		END { print n + 0 }' /proc/net/snmp /proc/net/snmp6
}
frags_all() { local ns; for ns in "$NS_C" "$NS_G" "$NS_I" "${EXTRA_NS[@]}"; do printf '%s ' "$(frag_creates "$ns")"; done; }
# no_new_frags LABEL BEFORE: no namespace made a fragment since BEFORE (frags_all's output)
no_new_frags() {
	local now; now=$(frags_all)
	[ "$now" = "$2" ] || fail "$1: fragments were made (client gateway internet [router]: $2 -> $now)"
}

# full-size DF pings through the tunnel pass both ways (the reply is as large); one byte more never leaves
df_pings() { # LABEL MTU
	in_c ping -c 3 -i 0.2 -W 2 -M do -s $(($2 - 28)) $I_IP >"$WORK/ping.out" 2>&1 ||
		fail "$1: DF pings of $2 bytes failed: $(cat "$WORK/ping.out")"
	in_c ping -c 1 -W 1 -M do -s $(($2 - 27)) $I_IP >"$WORK/ping-big.out" 2>&1 &&
		fail "$1: a DF ping of $(($2 + 1)) bytes went through a $2-byte tunnel"
	grep -q "mtu=$2" "$WORK/ping-big.out" || fail "$1: $(($2 + 1)) bytes not refused for mtu $2: $(cat "$WORK/ping-big.out")"
}
# iperf3 for 3 s each way through the tunnel
iperf_both() { # LABEL
	in_c iperf3 -c $I_IP -p 5201 -t 3 >"$WORK/iperf-up.out" 2>&1 || fail "$1: iperf3 upload failed"
	in_c iperf3 -c $I_IP -p 5201 -t 3 -R >"$WORK/iperf-down.out" 2>&1 || fail "$1: iperf3 download failed"
	log "$1: $(awk '/receiver/ { print $7, $8 }' "$WORK/iperf-up.out") up, $(awk '/receiver/ { print $7, $8 }' "$WORK/iperf-down.out") down"
}
expect_mtu() { # LABEL IFACE MTU SOURCE
	[ "$(stat "$2" mtu)" = "$3" ] && [ "$(stat "$2" mtu_source)" = "$4" ] ||
		fail "$1: $2 has mtu $(stat "$2" mtu) from $(stat "$2" mtu_source), expected $3 from $4"
}
link_mtu() { ip -n "$1" -o link show "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }
up() { # start the gateway, then the client; wait for the session
	start "$NS_G" "$GW"; GW_PID=$LAST_PID
	start "$NS_C" "$CL"; CL_PID=$LAST_PID
	wait_for 10 session_up "$CL" || fail "no session"
	wait_for 5 in_c ping -c 1 -W 1 $I_IP || fail "no traffic through the tunnel"
}
down() { stop $CL_PID; stop $GW_PID; }

# --- (0) premise: a fragmented packet shows in the counters (so "no new fragments" means something)
f0=$(frag_creates "$NS_C")
in_c ping -c 1 -W 2 -M dont -s 2000 $G_IP >/dev/null || fail "(0) a fragmented ping failed"
[ "$(frag_creates "$NS_C")" -gt "$f0" ] || fail "(0) the client's FragCreates did not count a fragmented ping"
ok "(0) premise: the fragment counters count"

# --- (1) IPv4 underlay: 1416 derived on both ends, nothing fragments
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
up
expect_mtu "(1)" "$GW" 1416 egress
expect_mtu "(1)" "$CL" 1416 route
[ "$(stat "$CL" mtu_own)" = 1416 ] && [ "$(stat "$CL" mtu_gateway)" = 1416 ] || fail "(1) client own/gateway MTU"
[ "$(link_mtu "$NS_C" "$CL")" = 1416 ] && [ "$(link_mtu "$NS_G" "$GW")" = 1416 ] || fail "(1) TUN link MTUs"
# (outputs go to files first: grep -q leaving early would kill the writer with SIGPIPE, and pipefail fails)
"$SLUICE" show "$CL" >"$WORK/show.out"
grep -q "mtu: 1416 (ours 1416, from the route to the server; the gateway's 1416)" "$WORK/show.out" ||
	fail "(1) show: $(grep mtu "$WORK/show.out")"
"$SLUICE" show -j "$GW" | python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["mtu"] == 1416 and j["mtu_source"] == "egress" and j["icmp_too_big"] == 0, j' || fail "(1) JSON"
"$SLUICE" metrics "$CL" >"$WORK/metrics.out"
grep -q "^sluice_mtu{interface=\"$CL\"} 1416" "$WORK/metrics.out" || fail "(1) metrics: no sluice_mtu"
grep -q "^sluice_icmp_too_big_total{interface=\"$CL\"} 0" "$WORK/metrics.out" || fail "(1) metrics: no icmp_too_big"
in_c nft list table inet "sluice_cl_$CL" >"$WORK/cl.nft" || fail "(1) no client table inet sluice_cl_$CL"
grep -q "oifname \"$CL\" meta nfproto ipv4 tcp flags syn tcp option maxseg size set 1376" "$WORK/cl.nft" ||
	fail "(1) client MSS clamp: $(cat "$WORK/cl.nft")"
in_g nft list chain inet "sluice_nat_$GW" mss >"$WORK/gw.nft" || fail "(1) no mss chain in the gateway's NAT table"
grep -q "iifname \"$GW\" meta nfproto ipv4 tcp flags syn tcp option maxseg size set 1376" "$WORK/gw.nft" || fail "(1) gateway MSS clamp"
ok "(1) IPv4 underlay: MTU 1416 derived on both ends, TUN links, show/JSON/metrics, both MSS clamps"

# the gateway's clamp at work: the internet host answers with MSS 1460; it reaches the client's TUN as 1376
in_c timeout 10 tcpdump -i "$CL" -nn -v -c 1 'tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)' \
	>"$WORK/synack.out" 2>"$WORK/synack.err" & cap=$!
wait_for 5 grep -q "listening on" "$WORK/synack.err" || fail "(1) tcpdump did not start"
in_c timeout 5 python3 -c "import socket; socket.create_connection(('$I_IP', 8080), timeout=3).close()" ||
	fail "(1) TCP connect through the tunnel failed"
wait $cap || fail "(1) no SYN-ACK captured"
grep -q "mss 1376" "$WORK/synack.out" || fail "(1) SYN-ACK not clamped by the gateway: $(cat "$WORK/synack.out")"
ok "(1) the gateway clamped the internet host's SYN-ACK to MSS 1376"

before=$(frags_all)
df_pings "(1)" 1416
iperf_both "(1)"
no_new_frags "(1)" "$before"
ok "(1) IPv4 underlay: 1416-byte DF pings, 1417 refused, iperf3 both ways, no fragment in any namespace"

# --- (2) oversize: answered like a router would, with the tunnel MTU
o0=$(stat "$CL" drop_oversize); i0=$(stat "$CL" icmp_too_big)
in_c ip link set "$CL" mtu 1500
in_c ping -c 1 -W 2 -M do -s 1450 $I_IP >"$WORK/oversize.out" 2>&1 && fail "(2) an oversize ping went through"
grep -qi "frag needed.*mtu = 1416" "$WORK/oversize.out" || fail "(2) no fragmentation needed: $(cat "$WORK/oversize.out")"
wait_for 3 stat_cmp "$CL" icmp_too_big -eq $((i0 + 1)) || fail "(2) icmp_too_big not counted"
[ "$(stat "$CL" drop_oversize)" -ge $((o0 + 1)) ] || fail "(2) oversize not counted as a drop"
in_c ip route get $I_IP >"$WORK/route.out"
grep -q "mtu 1416" "$WORK/route.out" || fail "(2) the sender did not learn the path MTU: $(cat "$WORK/route.out")"
"$SLUICE" show "$CL" >"$WORK/show.out"
grep -q "too big: 1 answered with ICMP fragmentation needed" "$WORK/show.out" || fail "(2) show: no 'too big' line"
in_c ip link set "$CL" mtu 1416
ok "(2) oversize packet answered with ICMP fragmentation needed (mtu 1416), counted; the sender learned it"
# the gateway: its TUN's MTU raised too; the client sends a 1428-byte UDP datagram (fragmented into the tunnel),
# the internet host echoes it whole with DF, and the gateway's daemon reads it from its TUN
o0=$(stat "$GW" drop_oversize); i0=$(stat "$GW" icmp_too_big)
in_g ip link set "$GW" mtu 1500
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $I_IP 5353 "$(head -c 1400 /dev/zero | od -An -v -tx1 | tr -d ' \n')"
wait_for 5 stat_cmp "$GW" icmp_too_big -ge $((i0 + 1)) || fail "(2) the gateway did not answer the oversize reply"
[ "$(stat "$GW" drop_oversize)" -ge $((o0 + 1)) ] || fail "(2) the gateway did not count the oversize reply"
in_i ip route get 198.19.0.1 >"$WORK/route-i.out"
grep -q "mtu 1416" "$WORK/route-i.out" || fail "(2) the internet host did not learn the path MTU: $(cat "$WORK/route-i.out")"
in_g ip link set "$GW" mtu 1416
ok "(2) the gateway answered the internet host's oversize DF reply through the NAT; it learned mtu 1416"
down

# --- (3) IPv6-only underlay
in_c ip -4 addr flush dev c0 # from here the client has no IPv4 underlay at all
GW_LISTEN="[::]" gw_conf "$GW"
add_client "$GW" laptop "$CL"
CL_ENDPOINT="[2001:db8:1::1]:$PORT" cl_conf "$CL" "$GW"
up
[ "$(stat "$CL" endpoint)" = "[2001:db8:1::1]:$PORT" ] || fail "(3) endpoint $(stat "$CL" endpoint)"
expect_mtu "(3)" "$CL" 1416 route
expect_mtu "(3)" "$GW" 1416 egress
before=$(frags_all)
df_pings "(3)" 1416
iperf_both "(3)"
no_new_frags "(3)" "$before"
ok "(3) IPv6-only underlay: MTU 1416, full-size DF pings and iperf3 both ways, no IPv6 fragment anywhere"
down

# the old default: 1420 + 36 + 8 + 40 = 1504 bytes on a 1500-byte link; MTU = overrides the derivation
GW_LISTEN="[::]" gw_conf "$GW" "MTU = 1420"
add_client "$GW" laptop "$CL"
CL_ENDPOINT="[2001:db8:1::1]:$PORT" cl_conf "$CL" "$GW" "MTU = 1420"
up
expect_mtu "(3)" "$CL" 1420 config
expect_mtu "(3)" "$GW" 1420 config
f0=$(frag_creates "$NS_C")
in_c ping -c 3 -i 0.2 -W 2 -M do -s $((1420 - 28)) $I_IP >/dev/null || fail "(3) 1420-byte pings failed"
[ "$(frag_creates "$NS_C")" -gt "$f0" ] || fail "(3) MTU 1420 over IPv6 made no fragment: the counters are blind"
ok "(3) MTU = 1420 overrides, and over IPv6 it fragments (Ip6FragCreates rose): what 1416 avoids"
down

# --- (4) a 1280-byte hop: the client's own link
in_c ip addr add $C_IP/24 dev c0
in_c ip route add default via $G_IP
in_c ip link set c0 mtu 1280
in_g ip link set g0 mtu 1280
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
up
expect_mtu "(4)" "$CL" 1196 route
expect_mtu "(4)" "$GW" 1416 egress
[ "$(stat "$CL" mtu_own)" = 1196 ] && [ "$(stat "$CL" mtu_gateway)" = 1416 ] || fail "(4) client own/gateway MTU"
in_c nft list table inet "sluice_cl_$CL" >"$WORK/cl.nft"
grep -q "maxseg size set 1156" "$WORK/cl.nft" || fail "(4) client MSS clamp not 1156"
before=$(frags_all)
df_pings "(4)" 1196
iperf_both "(4)"
no_new_frags "(4)" "$before"
ok "(4) 1280-byte hop: client MTU 1196 under the gateway's 1416; TCP both ways and DF pings, no fragment"
# a link under 1280 bytes carries no IPv6: the full tunnel's ::/0 is an unreachable route then, never a way out
sl_ids "$CL"
in_c ip -6 route show table $SL_TABLE | grep -q "^unreachable default" ||
	fail "(4) no unreachable ::/0 in table $SL_TABLE: $(in_c ip -6 route show table $SL_TABLE)"
down
[ -z "$(in_c ip -6 route show table $SL_TABLE)" ] || fail "(4) IPv6 routes left: $(in_c ip -6 route show table $SL_TABLE)"
ok "(4) below 1280 bytes ::/0 is unreachable in the client's table (no IPv6 leak); removed at exit"

# --- (5) the narrow hop behind a router: learned from its ICMP, followed at the next PING
NS_R="slr-$TAG"; ns_add "$NS_R"
in_c ip link set c0 mtu 1500; in_g ip link set g0 mtu 1500
ip link add c1 netns "$NS_C" type veth peer name r0 netns "$NS_R"
ip link add r1 netns "$NS_R" type veth peer name g2 netns "$NS_G"
ip -n "$NS_C" addr add 198.18.2.2/24 dev c1; ip -n "$NS_R" addr add 198.18.2.1/24 dev r0
ip -n "$NS_R" addr add 198.18.3.1/24 dev r1; ip -n "$NS_G" addr add 198.18.3.2/24 dev g2
ip -n "$NS_R" link set r1 mtu 1280; ip -n "$NS_G" link set g2 mtu 1280
for l in "$NS_C c1" "$NS_R r0" "$NS_R r1" "$NS_G g2"; do ip -n ${l% *} link set ${l#* } up; done
ip -n "$NS_C" route add 198.18.3.0/24 via 198.18.2.1
ip -n "$NS_G" route add 198.18.2.0/24 via 198.18.3.1
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
gw_conf "$GW"
add_client "$GW" laptop "$CL"
CL_ENDPOINT="198.18.3.2:$PORT" cl_conf "$CL" "$GW"
up
expect_mtu "(5)" "$CL" 1416 route # the route knows nothing of the hop yet
in_c ping -c 1 -W 2 -M do -s $((1416 - 28)) $I_IP >/dev/null 2>&1 || true # 1500 bytes meet the 1280-byte hop
in_c ip route get 198.18.3.2 mark $PORT >"$WORK/route.out"
grep -q "mtu 1280" "$WORK/route.out" || fail "(5) the client's kernel did not learn the path MTU: $(cat "$WORK/route.out")"
wait_for 20 stat_cmp "$CL" mtu -eq 1196 || fail "(5) the client did not follow the path MTU (mtu $(stat "$CL" mtu))"
[ "$(link_mtu "$NS_C" "$CL")" = 1196 ] || fail "(5) TUN link MTU $(link_mtu "$NS_C" "$CL")"
in_c nft list table inet "sluice_cl_$CL" >"$WORK/cl.nft"
grep -q "maxseg size set 1156" "$WORK/cl.nft" || fail "(5) client MSS clamp did not follow"
before=$(frags_all)
df_pings "(5)" 1196
iperf_both "(5)"
no_new_frags "(5)" "$before"
ok "(5) 1280-byte hop behind a router: path MTU learned, client followed to 1196; TCP and DF pings, no fragment"
in_c ip -6 route show table $SL_TABLE | grep -q "^unreachable default" ||
	fail "(5) the MTU fell under 1280: no unreachable ::/0 in table $SL_TABLE: $(in_c ip -6 route show table $SL_TABLE)"
down
in_c nft list tables >"$WORK/c.tables"; in_g nft list tables >"$WORK/g.tables"
grep -q "sluice_cl_$CL" "$WORK/c.tables" && fail "client table left after the client stopped"
grep -q sluice_nat "$WORK/g.tables" && fail "NAT table left after the gateway stopped"
echo "t_mtu: all checks passed"
