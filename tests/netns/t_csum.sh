#!/usr/bin/env bash
# t_csum: the checksums sluice writes into TCP segments it cuts from a TSO super-packet (dp_tso_segment with
# the fused copy-and-sum dp_csum_copy, and the wide dp_csum_add for the IP header) are checked by a real
# kernel, for IPv4 and for IPv6 (TSO6: the IPv6 pseudo header) through a dual-stack tunnel. The receiving
# daemon runs with SLUICE_NO_OFFLOAD=1, so it writes every segment to its TUN as it arrived — no coalescing,
# no partial checksum the kernel would fill in — and the receiving host's TCP and IP verify each one; a wrong
# sum shows up in its *CsumErrors / InHdrErrors counters and stalls the transfer.
#   (a) the client cuts (upload): the internet host verifies;
#   (b) the gateway cuts (download): the client host verifies.
# Each phase: an 8 MB TCP echo over IPv4, then one over IPv6 (each bounded by a 60 s timeout) that must come
# back byte for byte, no checksum errors in the verifying namespace, the cutting daemon's log says TSO is on
# for both families, and during the IPv6 echo the cutting daemon read more IPv6 packets (tun_rx_packets6) than
# the kernel handed its TUN in all (the link's tx_packets): only cut super-packets can do that.
#
#   client 198.18.0.2 fd00:18::2 --- gateway 198.18.0.1 | 198.19.0.1 fd00:19::1 --- internet 198.19.0.2 fd00:19::2
#   tunnel: gateway 10.66.0.1 fd66::1, client 10.66.0.x fd66::x (NAT66 out of the gateway)
. "$(dirname "$0")/lib.sh"

command -v nstat >/dev/null || { log "skip: no nstat"; exit 77; }
GW=slg$TAG; CL=slc$TAG
XFER=8000000
topo_up
topo_v6_up
GW_ADDRESS="10.66.0.1/24, fd66::1/64" gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp.log" & PIDS+=($!)
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I6_IP 8080 "$WORK/tcp6.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q '$I_IP:8080 '" || fail "tcp echo server did not start"
wait_for 5 in_i bash -c "ss -ltn | grep -q '\[$I6_IP\]:8080 '" || fail "tcp6 echo server did not start"

# csum_errors NS — every checksum failure the namespace's IP, TCP and UDP (both families) counted, and IP
# header errors
csum_errors() {
	ip netns exec "$1" nstat -asz 2>/dev/null |
		awk '$1 ~ /CsumErrors$/ || $1 == "IpInHdrErrors" || $1 == "Ip6InHdrErrors" { n += $2 } END { print n + 0 }'
}

# tun_tx NS IFACE — packets the kernel handed to the TUN's reader (one per super-packet)
tun_tx() {
	ip -n "$1" -s -j link show dev "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['tx']['packets'])"
}

# phase LABEL CUTTER_NS CUTTER VERIFIER_NS — gateway and client started with the offloads given in GW_ENV / CL_ENV
phase() {
	local label=$1 cutter_ns=$2 cutter=$3 verifier=$4 before after gw cl k0 k1 s0 s1
	SLUICED_WRAP="env $GW_ENV" start "$NS_G" "$GW"; gw=$LAST_PID
	SLUICED_WRAP="env $CL_ENV" start "$NS_C" "$CL"; cl=$LAST_PID
	wait_for 10 session_up "$CL" || fail "$label: no session"
	[[ "$(stat "$CL" address6)" == fd66::*/64 ]] || fail "$label: client address6 '$(stat "$CL" address6)'"
	grep -q 'TCP segmentation (TSO) on, IPv4 and IPv6' "$WORK/$cutter.log" ||
		fail "$label: $cutter did not get TSO for both families: $(grep 'tun offloads' "$WORK/$cutter.log")"
	before=$(csum_errors "$verifier")
	timeout 60 ip netns exec "$NS_C" python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 $XFER ||
		fail "$label: the $XFER-byte TCP echo did not come back intact"
	k0=$(tun_tx "$cutter_ns" "$cutter"); s0=$(stat "$cutter" tun_rx_packets6)
	timeout 60 ip netns exec "$NS_C" python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I6_IP 8080 $XFER ||
		fail "$label: the $XFER-byte TCP echo over IPv6 did not come back intact"
	k1=$(tun_tx "$cutter_ns" "$cutter"); s1=$(stat "$cutter" tun_rx_packets6)
	after=$(csum_errors "$verifier")
	[ "$after" = "$before" ] || fail "$label: $verifier counted $((after - before)) checksum errors"
	[ $((s1 - s0)) -gt $((k1 - k0)) ] ||
		fail "$label: $cutter read $((s1 - s0)) IPv6 packets from $((k1 - k0)) TUN reads: no TCPv6 super-packet was cut"
	stop "$cl"
	stop "$gw"
	: > "$WORK/$GW.log"
	: > "$WORK/$CL.log"
	ok "$label: $XFER bytes echoed over IPv4 and over IPv6 ($((s1 - s0)) IPv6 packets cut from $((k1 - k0)) TUN reads), $verifier verified every segment ($after checksum errors in all)"
}

GW_ENV="SLUICE_NO_OFFLOAD=1" CL_ENV="SLUICE_NO_OFFLOAD=0" phase "(a) client cuts, internet host verifies" "$NS_C" "$CL" "$NS_I"
GW_ENV="SLUICE_NO_OFFLOAD=0" CL_ENV="SLUICE_NO_OFFLOAD=1" phase "(b) gateway cuts, client verifies" "$NS_G" "$GW" "$NS_C"
ok "t_csum"
