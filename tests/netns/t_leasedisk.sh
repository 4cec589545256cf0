#!/usr/bin/env bash
# t_leasedisk: the lease journal's disk fills up while new clients authenticate, then has room again. The
# gateway runs in a mount namespace of its own with its StateDir on a 64 KiB tmpfs (gone with the process), the
# journal one whole page long (so the next line needs a page), the rest of the tmpfs filled. 20 clients
# (tests/tools/loadgen, retrying every 250 ms) are refused ("no address available") group after group, with one
# rate-limited line per group and no retry of each alone; the journal stays as it was (no line, no fragment).
# Once the filler is removed all 20 get in, and the journal holds exactly the 20 lowest addresses: no address
# was lost to the failed writes (each was cut off again, so its addresses are free). Then the same under a file
# size limit (prlimit --fsize): refused with EFBIG, and the gateway is not killed by SIGXFSZ.
. "$(dirname "$0")/lib.sh"

LOADGEN="$SLUICE_BUILD/tests/loadgen"
[ -x "$LOADGEN" ] || fail "no load generator at $LOADGEN"
N=20
GW=slg$TAG
PAGE=$(getconf PAGESIZE)

topo_up
for i in 0 1 2 3; do ip -n "$NS_C" addr add "198.18.0.$((100 + i))/24" dev c0; done
gw_conf "$GW"
"$LOADGEN" conf --count "$N" >> "$WORK/$GW.conf"
GW_KEY=$(pubkey "$WORK/$GW.key")

# a journal of no lease, exactly one page long: its header, then comment lines
pad_line() { printf '%*s\n' "$(($1 - 1))" '' | tr ' ' '#'; }
hdr='# sluice address assignments: <client public key> <tunnel address>'
{
	echo "$hdr"
	left=$((PAGE - ${#hdr} - 1))
	while [ "$left" -ge 200 ]; do pad_line 100; left=$((left - 100)); done
	pad_line "$left"
} > "$WORK/page.leases"
[ "$(wc -c < "$WORK/page.leases")" -eq "$PAGE" ] || fail "the one-page journal is not $PAGE bytes"

export T_STATE="$WORK/state" T_PAGE="$WORK/page.leases" T_LEASES="$GW.leases"
cat > "$WORK/small-disk" <<'EOF'
#!/bin/sh
# the command in a mount namespace of its own, $T_STATE a 64 KiB tmpfs there holding the one-page journal
exec unshare --mount --propagation private sh -c '
	mount -t tmpfs -o size=64k,mode=0700 tmpfs "$T_STATE" && cp "$T_PAGE" "$T_STATE/$T_LEASES" && exec "$@"' sh "$@"
EOF
chmod +x "$WORK/small-disk"
SLUICED_WRAP="$WORK/small-disk" start "$NS_G" "$GW"; GW_PID=$LAST_PID
in_gw_mnt() { nsenter --target "$GW_PID" --mount "$@"; }
in_gw_mnt dd if=/dev/zero of="$T_STATE/fill" bs=4096 status=none 2>/dev/null || true
[ "$(in_gw_mnt stat -f -c %a "$T_STATE")" -eq 0 ] || fail "the state tmpfs is not full"
ok "the gateway's StateDir is full, its journal ends at a page boundary"

ip netns exec "$NS_C" "$LOADGEN" run --server "$G_IP:$PORT" --server-key "$GW_KEY" --count "$N" \
	--source 198.18.0.100 --sources 4 --deadline 60 >> "$WORK/loadgen.log" 2>&1 &
LG=$!
PIDS+=("$LG")

refusals() { grep -c "they are refused (no address available)" "$WORK/$GW.log" || true; }
refused_ge() { [ "$(refusals)" -ge "$1" ]; }
wait_for 20 refused_ge 2 || fail "no two groups refused: $(grep 'auth:' "$WORK/$GW.log" | tail -n 3)"
grep -q "No space left on device; they are refused" "$WORK/$GW.log" || fail "the refusal does not say why"
! grep -q "each is tried alone" "$WORK/$GW.log" || fail "a journal error was retried client by client"
[ "$(in_gw_mnt stat -c %s "$T_STATE/$T_LEASES")" -eq "$PAGE" ] || fail "a failed write left bytes in the journal"
[ "$(in_gw_mnt grep -vc '^#' "$T_STATE/$T_LEASES" || true)" -eq 0 ] || fail "a lease was written to a full disk"
kill -0 "$LG" 2>/dev/null || fail "the load generator ended while the disk was full: $(tail -n 3 "$WORK/loadgen.log")"
log "gateway: $(grep -m 1 'they are refused' "$WORK/$GW.log")"
ok "disk full: $(refusals) groups refused with one line each, none tried alone, the journal as it was"

in_gw_mnt rm "$T_STATE/fill"
wait "$LG" || fail "not every client authenticated once the disk had room: $(tail -n 3 "$WORK/loadgen.log")"
got=$(in_gw_mnt awk '!/^#/ { split($2, o, "."); print o[4] }' "$T_STATE/$T_LEASES" | sort -n | tr '\n' ' ')
want=$(seq 2 $((N + 1)) | tr '\n' ' ')
[ "$got" = "$want" ] || fail "the leases after the full disk are .$got, not .$want (addresses lost)"
ok "room again: all $N clients in, on the $N lowest addresses (none lost to the failed writes)"
stop "$GW_PID"

# A file size limit instead of a full disk (systemd LimitFSIZE=): the journal's next line is past it. The
# write fails with EFBIG (sluiced ignores SIGXFSZ, which would otherwise kill it); the client is refused and
# the gateway lives on.
mkdir -p "$WORK/state2"
cp "$WORK/page.leases" "$WORK/state2/$GW.leases"
sed -i "s|^StateDir = .*|StateDir = $WORK/state2|" "$WORK/$GW.conf"
: > "$WORK/$GW.log"
SLUICED_WRAP="prlimit --fsize=$PAGE" start "$NS_G" "$GW"; GW_PID=$LAST_PID
ip netns exec "$NS_C" "$LOADGEN" run --server "$G_IP:$PORT" --server-key "$GW_KEY" --count 1 \
	--source 198.18.0.100 --deadline 30 >> "$WORK/loadgen2.log" 2>&1 &
LG=$!
PIDS+=("$LG")
wait_for 20 refused_ge 1 || fail "no refusal under the file size limit: $(tail -n 3 "$WORK/$GW.log")"
grep -q "File too large; they are refused" "$WORK/$GW.log" || fail "the refusal does not say why: $(tail -n 2 "$WORK/$GW.log")"
kill -0 "$GW_PID" 2>/dev/null || fail "the gateway died at the file size limit"
[ "$(command stat -c %s "$WORK/state2/$GW.leases")" -eq "$PAGE" ] || fail "a write past the limit left bytes in the journal"
kill "$LG" 2>/dev/null || true
wait "$LG" 2>/dev/null || true
stop "$GW_PID"
ok "file size limit: the client refused with the reason (EFBIG), the gateway alive and exits 0"
