#!/usr/bin/env bash
# t_status_scale: a status answer is whole at any size, under load (issue #25). tests/tools/loadgen authenticates
# N real clients (default 10,000; STATUS_CLIENTS overrides) against one gateway, and while every client's
# echoes and keepalives flow (one datagram per client every 5 s) the gateway is read READS times (default 20;
# STATUS_READS overrides) with `sluice show -j`. Asserts: every answer is valid JSON listing all N clients, each
# with the live session the client holds (a short answer names the clients it lacks, with what the client holds
# and what the gateway logged about it); `show -r` and `dump` agree; the trickle kept flowing through every
# read (the load generator was still in its hold after the last one); its echoes came back (99%: UDP may drop
# under a burst) and no datagram was dropped as unknown_session, auth, replay or spoofed (a session lost under
# load would show there too). Reports the read times. The lease journal lives on tmpfs (see below).
. "$(dirname "$0")/lib.sh"

LOADGEN="$SLUICE_BUILD/tests/loadgen"
[ -x "$LOADGEN" ] || fail "no load generator at $LOADGEN"
N=${STATUS_CLIENTS:-10000}
READS=${STATUS_READS:-20}
SRC=64 # source addresses: the gateway caps handshakes per source
GW=slg$TAG

topo_up
for i in $(seq 0 $((SRC - 1))); do ip -n "$NS_C" addr add "198.18.0.$((100 + i))/24" dev c0; done
# the lease journal on tmpfs: this test is about status, and 10,000 fdatasyncs (each new lease is made durable
# before it is used) on the shared disk would take a third of its time
STATE_DIR=$(mktemp -d "/dev/shm/sluice-test-$TAG.XXXXXX")
DIRS+=("$STATE_DIR")
GW_ADDRESS=10.66.0.1/18 gw_conf "$GW"
"$LOADGEN" conf --count "$N" >> "$WORK/$GW.conf"
START_TIMEOUT=120 start "$NS_G" "$GW"; GW_PID=$LAST_PID

# the hold lasts until the reads are done (SIGUSR1), 300 s at most
ip netns exec "$NS_C" "$LOADGEN" run --server "$G_IP:$PORT" --server-key "$(pubkey "$WORK/$GW.key")" \
	--count "$N" --source 198.18.0.100 --sources "$SRC" --hold 300 --interval 5 --deadline 240 \
	--sessions "$WORK/sessions" > "$WORK/loadgen.out" &
LG=$!
PIDS+=("$LG")
wait_for 300 bash -c "grep -q '^echo_ok=' '$WORK/loadgen.out' || ! kill -0 $LG 2>/dev/null" ||
	fail "loadgen did not finish establishing"
val() { kv "$1" "$WORK/loadgen.out"; }
grep -q '^echo_ok=' "$WORK/loadgen.out" || fail "loadgen ended before establishing all clients"
[ "$(val established)" -eq "$N" ] && [ "$(val echo_ok)" -eq "$N" ] ||
	fail "$(val established) of $N clients authenticated, $(val echo_ok) got their echo back"
ok "$N clients authenticated in $(val establish_ms) ms, each got its own echo back"

# check_answer FILE — the JSON lists every client once, each with the session it holds
check_answer() {
	python3 - "$1" "$WORK/sessions" "$N" <<'PY'
import json, sys
try:
    g = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit("not valid JSON: %s" % e)
want = {}
for line in open(sys.argv[2]):
    name, sid, addr, src = line.split()
    want[name] = (sid, addr, src)
n = int(sys.argv[3])
peers = {p["name"]: p for p in g["peers"]}
bad = []
for name, (sid, addr, src) in want.items():
    p = peers.get(name)
    if p is None:
        bad.append("%s (session %s, address %s, from %s): not in the answer" % (name, sid, addr, src))
    elif p["session_id"] != sid or p["address"] != addr:
        bad.append("%s (session %s, address %s, from %s): listed with session %s, address %s, endpoint %s"
                   % (name, sid, addr, src, p["session_id"], p["address"], p["endpoint"]))
if g["clients"] != n or len(g["peers"]) != n or len(peers) != n or bad:
    sys.exit("clients=%s, %d peer entries (%d names) for %d clients; %d wrong:\n  %s"
             % (g["clients"], len(g["peers"]), len(peers), n, len(bad), "\n  ".join(bad[:10])))
PY
}

t_min=0; t_max=0
for i in $(seq 1 "$READS"); do
	kill -0 "$LG" 2>/dev/null || fail "the load generator's hold ended before read $i"
	t0=$(date +%s%N)
	"$SLUICE" show -j "$GW" > "$WORK/show.json" 2> "$WORK/show.err" ||
		fail "read $i: sluice show -j failed: $(cat "$WORK/show.err")"
	t=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ "$t_min" -eq 0 ] || [ "$t" -lt "$t_min" ] && t_min=$t
	[ "$t" -gt "$t_max" ] && t_max=$t
	if ! why=$(check_answer "$WORK/show.json" 2>&1); then
		"$SLUICE" show -r "$GW" > "$WORK/show.raw" || true
		fail "read $i: $why
$(missing_sessions "$WORK/sessions" "$WORK/show.raw" "$WORK/$GW.log")"
	fi
done
kill -0 "$LG" 2>/dev/null || fail "the load generator's hold ended during the reads"
ok "$READS reads of show -j under load: each valid JSON with all $N clients and their sessions"

"$SLUICE" show -r "$GW" > "$WORK/show.raw" || fail "sluice show -r failed"
"$SLUICE" dump "$GW" > "$WORK/dump" || fail "sluice dump failed"
live=$(grep -c '^peer_session_id=[0-9a-f]*[1-9a-f][0-9a-f]*$' "$WORK/show.raw" || true)
rows=$(awk -F'\t' 'NF == 16 && $6 !~ /^0+$/' "$WORK/dump" | wc -l)
[ "$live" -eq "$N" ] && [ "$rows" -eq "$N" ] ||
	fail "show -r lists $live live sessions, dump $rows, expected $N
$(missing_sessions "$WORK/sessions" "$WORK/show.raw" "$WORK/$GW.log")"
ok "show -r and dump list all $N live sessions too"

kill -USR1 "$LG"
lg_rc=0; wait "$LG" || lg_rc=$?
cat "$WORK/loadgen.out" >&2
[ "$lg_rc" -eq 0 ] || fail "loadgen exited $lg_rc"
sent=$(val hold_echo_sent); got=$(val hold_echo_ok)
[ "$sent" -gt 0 ] && [ "$got" -ge $((sent * 99 / 100)) ] ||
	fail "trickle: $got of $sent echoes came back; missing: $(val hold_echo_missing)"
[ "$(val bad_replies)" -eq 0 ] || fail "loadgen saw $(val bad_replies) replies that were not its own"
for d in unknown_session auth replay spoofed; do
	[ "$(stat "$GW" "drop_$d")" -eq 0 ] || fail "gateway dropped $(stat "$GW" "drop_$d") datagrams as $d"
done
ok "trickle through the reads: $got of $sent echoes came back, no authenticated traffic dropped"
log "report: N=$N reads=$READS show_-j_ms=$t_min..$t_max answer_bytes=$(wc -c < "$WORK/show.raw")" \
	"gateway_rss_kib=$(rss_kib "$GW_PID") (build: ${SLUICE_BUILD##*/})"
stop "$GW_PID"
ok "gateway stopped cleanly"
