#!/usr/bin/env bash
# t_csum: the checksums sluice writes into TCP segments it cuts from a TSO super-packet (dp_tso_segment with
# the fused copy-and-sum dp_csum_copy, and the wide dp_csum_add for the IP header) are checked by a real
# kernel. The receiving daemon runs with SLUICE_NO_OFFLOAD=1, so it writes every segment to its TUN as it
# arrived — no coalescing, no partial checksum the kernel would fill in — and the receiving host's TCP and IP
# verify each one; a wrong sum shows up in its *CsumErrors / InHdrErrors counters and stalls the transfer.
#   (a) the client cuts (upload): the internet host verifies;
#   (b) the gateway cuts (download): the client host verifies.
# Each phase: an 8 MB TCP echo (bounded by a 60 s timeout) that must come back byte for byte, no checksum
# errors in the verifying namespace, and the cutting daemon's log says TSO is on.
#
#   client 198.18.0.2 --- 198.18.0.1 gateway 198.19.0.1 --- 198.19.0.2 internet
. "$(dirname "$0")/lib.sh"

command -v nstat >/dev/null || { log "skip: no nstat"; exit 77; }
GW=slg$TAG; CL=slc$TAG
XFER=8000000
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-echo $I_IP 8080 "$WORK/tcp.log" & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':8080 '" || fail "tcp echo server did not start"

# csum_errors NS — every checksum failure the namespace's IP, TCP and UDP counted, and IP header errors
csum_errors() {
	ip netns exec "$1" nstat -asz 2>/dev/null |
		awk '$1 ~ /CsumErrors$/ || $1 == "IpInHdrErrors" { n += $2 } END { print n + 0 }'
}

# phase LABEL CUTTER_NS VERIFIER_NS — gateway and client started with the offloads given in GW_ENV / CL_ENV
phase() {
	local label=$1 cutter=$2 verifier=$3 before after gw cl
	SLUICED_WRAP="env $GW_ENV" start "$NS_G" "$GW"; gw=$LAST_PID
	SLUICED_WRAP="env $CL_ENV" start "$NS_C" "$CL"; cl=$LAST_PID
	wait_for 10 session_up "$CL" || fail "$label: no session"
	before=$(csum_errors "$verifier")
	timeout 60 ip netns exec "$NS_C" python3 "$SLUICE_SRC/tests/netns/peer.py" tcp-xfer $I_IP 8080 $XFER ||
		fail "$label: the $XFER-byte TCP echo did not come back intact"
	after=$(csum_errors "$verifier")
	[ "$after" = "$before" ] || fail "$label: $verifier counted $((after - before)) checksum errors"
	grep -q 'TCP segmentation (TSO) on' "$WORK/$cutter.log" ||
		fail "$label: $cutter did not get TSO, so nothing was cut: $(grep 'tun offloads' "$WORK/$cutter.log")"
	stop "$cl"
	stop "$gw"
	: > "$WORK/$GW.log"
	: > "$WORK/$CL.log"
	ok "$label: $XFER bytes echoed, $verifier verified every segment ($after checksum errors in all)"
}

GW_ENV="SLUICE_NO_OFFLOAD=1" CL_ENV="SLUICE_NO_OFFLOAD=0" phase "(a) client cuts, internet host verifies" "$CL" "$NS_I"
GW_ENV="SLUICE_NO_OFFLOAD=0" CL_ENV="SLUICE_NO_OFFLOAD=1" phase "(b) gateway cuts, client verifies" "$GW" "$NS_C"
ok "t_csum"
