#!/usr/bin/env bash
# t_leases: the address-assignment state survives kill -9 at any moment (issue "Hostile input and scale").
# 200 clients (tests/tools/loadgen) authenticate while the gateway is killed with SIGKILL, eight times, at a
# different point each time (a few answers into the new leases, plus 0-9 ms). After every kill the lease file must parse
# (the restarted gateway refuses a malformed one), hold no duplicate key or address, and hold every address a
# client was ever told — with the same address. A last run lets all 200 finish: each keeps the address it got
# first, the file holds exactly 200 leases, and every client gets its own echo back through the tunnel.
. "$(dirname "$0")/lib.sh"

LOADGEN="$SLUICE_BUILD/tests/loadgen"
[ -x "$LOADGEN" ] || fail "no load generator at $LOADGEN"
N=200
GW=slg$TAG
LEASES="$WORK/state/$GW.leases"
ASSIGNED="$WORK/assigned" # "I ADDRESS" for every AUTH answer any client ever received

topo_up
for i in $(seq 0 7); do ip -n "$NS_C" addr add "198.18.0.$((100 + i))/24" dev c0; done
gw_conf "$GW"
"$LOADGEN" conf --count "$N" >> "$WORK/$GW.conf"
GW_KEY=$(pubkey "$WORK/$GW.key")
# client index -> public key, from the config the gateway reads
awk '/^Name = lg/ { i = substr($3, 3) } /^PublicKey = / && i != "" { print i, $3; i = "" }' "$WORK/$GW.conf" \
	> "$WORK/keys"

loadgen() { # loadgen DEADLINE [options] — in the background; sets LG
	local deadline=$1; shift
	ip netns exec "$NS_C" "$LOADGEN" run --server "$G_IP:$PORT" --server-key "$GW_KEY" --count "$N" \
		--source 198.18.0.100 --sources 8 --deadline "$deadline" --assign-log "$ASSIGNED" "$@" >> "$WORK/loadgen.log" 2>&1 &
	LG=$!
	PIDS+=("$LG")
}

# check_state — the lease file is whole and agrees with every answer ever given
check_state() {
	local bad
	bad=$(awk '
		FNR == 1 { f++ }
		f == 1 { key[$1] = $2; next }                       # keys: index -> public key
		f == 2 && /^#/ { next }
		f == 2 { if (NF != 2 || $2 !~ /^10\.66\.0\.[0-9]+$/) { print "malformed line " FNR ": " $0; next }
			 if ($1 in lease) print "duplicate key " $1; if ($2 in owner) print "duplicate address " $2
			 lease[$1] = $2; owner[$2] = $1; next }
		f == 3 { k = key[$1]; if (!(k in lease)) print "client " $1 " was told " $2 " but has no lease"
			 else if (lease[k] != $2) print "client " $1 " was told " $2 " but its lease says " lease[k]
			 if (($1 in told) && told[$1] != $2) print "client " $1 " was told " told[$1] " and " $2
			 told[$1] = $2 }' "$WORK/keys" "$LEASES" "$ASSIGNED")
	[ -z "$bad" ] || fail "after kill $1: $(head -n 5 <<<"$bad")"
}

count() { wc -l < "$ASSIGNED"; }
: > "$ASSIGNED"
for round in 1 2 3 4 5 6 7 8; do
	start "$NS_G" "$GW"; gw=$LAST_PID
	# paced, and starting at the first client without a lease, so the kill lands among new leases
	loadgen 60 --rate 20 --first "$(leases "$LEASES")"
	target=$(( $(count) + 1 + (round * 37) % 20 ))
	# block on the answers as they are written (tail -f: inotify), not on a polling interval
	timeout 30 head -n "$target" < <(tail -n +1 -f --pid="$LG" "$ASSIGNED") > /dev/null || true
	[ "$(count)" -ge "$target" ] || fail "round $round: no progress past $(count) answers"
	sleep "0.00$((RANDOM % 10))" # "any moment": somewhere inside the next exchanges
	kill -9 "$gw"; wait "$gw" 2>/dev/null || true
	kill "$LG" 2>/dev/null || true; wait "$LG" 2>/dev/null || true
	[ -f "$LEASES" ] || fail "no lease file after round $round"
	check_state "$round"
	log "round $round: killed after $(count) answers; $(leases "$LEASES") leases, all consistent"
	[ "$(leases "$LEASES")" -lt "$N" ] || fail "round $round: all $N leased before the kill; the kill came too late"
done
ok "eight kill -9 during authentication: the lease file always parsed and never lost or duplicated an address"

start "$NS_G" "$GW"; gw=$LAST_PID
: > "$WORK/loadgen.log"
loadgen 120
wait "$LG" || { cat "$WORK/loadgen.log" >&2; fail "final run: not every client authenticated and got its echo"; }
check_state final
[ "$(leases "$LEASES")" -eq "$N" ] || fail "final lease file does not hold exactly $N leases"
ok "final run: all $N clients kept their first address and got their own echo back"
stop "$gw"
