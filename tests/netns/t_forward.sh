#!/usr/bin/env bash
# t_forward: net.ipv4.ip_forward is the namespace's, not one gateway's (issue #14, DESIGN §10.13). The gateway
# namespace starts with forwarding off. A gateway killed with SIGKILL, started again and stopped with SIGTERM
# leaves forwarding off again and no record behind (the record in /run/sluice kept the original across the
# crash, and the restart found itself in it: no double count). Two gateways in one namespace: forwarding goes
# off only after the second stops. A gateway in another namespace has a record of its own. Under `User =
# nobody` the root janitor lets go (the user may not write /run/sluice): after SIGTERM, and after SIGKILL too.
# A record sluice did not write stops the start (exit 1) with nothing applied. A crashed run's NAT table goes at
# the next start even when that start fails.
#
#   (ns $NS_G: gateways $GW on :51900, $GW2 on :51901)     (ns $NS_I: gateway $GW3 on :51900)
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; GW2=slh$TAG; GW3=slj$TAG
topo_up
in_g sysctl -qw net.ipv4.ip_forward=0
in_i sysctl -qw net.ipv4.ip_forward=0
REC=$(fwd_record "$NS_G"); REC_I=$(fwd_record "$NS_I")
[ "$REC" != "$REC_I" ] || fail "two namespaces, one record path: $REC"
fwd() { ip netns exec "${1:-$NS_G}" sysctl -n net.ipv4.ip_forward; }
fwd_is() { [ "$(fwd "${2:-$NS_G}")" = "$1" ]; }
holders() { if [ -f "${1:-$REC}" ]; then grep -c '^holder ' "${1:-$REC}" || true; else echo 0; fi; }
holds() { grep -qx "holder $1 $2" "${3:-$REC}"; } # holds IFACE PID [RECORD]
gone() { ! fwd_is 1 "${1:-$NS_G}" && [ ! -e "${2:-$REC}" ]; }
kill9() { kill -9 "$1"; wait "$1" 2>/dev/null || true; }

gw_conf "$GW"
PORT=51901 GW_ADDRESS=10.67.0.1/24 gw_conf "$GW2"

# the issue's sequence: crash, restart, clean stop
start "$NS_G" "$GW"; gw=$LAST_PID
fwd_is 1 || fail "forwarding not on with the gateway up"
kill9 "$gw"
fwd_is 1 || fail "forwarding went off with the crash (nothing restores it on SIGKILL)"
start "$NS_G" "$GW"; gw=$LAST_PID
stop "$gw"
fwd_is 0 || fail "net.ipv4.ip_forward is $(fwd) after a crashed run and a clean stop; it was 0"
[ ! -e "$REC" ] || fail "record left behind: $(cat "$REC")"
ok "SIGKILL, restart, SIGTERM: forwarding back to 0, no record"

# a crashed run's NAT table goes at the next start, also when that start then fails (a journal it cannot read)
nat_table() { in_g nft list table inet "sluice_nat_$GW" >/dev/null 2>&1; }
start "$NS_G" "$GW"; gw=$LAST_PID
kill9 "$gw"
nat_table || fail "no NAT table left by the crash: nothing to test"
JOURNAL=$WORK/state/$GW.leases
cp "$JOURNAL" "$WORK/journal.bak"
echo "not a lease line" >> "$JOURNAL"
rc=0; in_g "$SLUICED" -f -c "$WORK/$GW.conf" >> "$WORK/$GW.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a gateway started with a journal it cannot read"
! nat_table || fail "the crashed run's NAT table outlived a start that failed"
cp "$WORK/journal.bak" "$JOURNAL"
start "$NS_G" "$GW"; gw=$LAST_PID
stop "$gw"
fwd_is 0 || fail "net.ipv4.ip_forward is $(fwd) after crash, failed start, start and stop"
! nat_table || fail "NAT table left after a clean stop"
ok "SIGKILL, a start that fails (exit $rc): the crashed run's NAT table gone; then start/stop leaves nothing"

# the same with the record looked at
start "$NS_G" "$GW"; gw=$LAST_PID
grep -qx "ip_forward 0" "$REC" && holds "$GW" "$gw" && [ "$(holders)" -eq 1 ] || fail "record: $(cat "$REC")"
kill9 "$gw"
holds "$GW" "$gw" || fail "the crash took the record: $(cat "$REC" 2>&1)"
start "$NS_G" "$GW"; gw=$LAST_PID
grep -qx "ip_forward 0" "$REC" && holds "$GW" "$gw" && [ "$(holders)" -eq 1 ] ||
	fail "after the restart: $(cat "$REC")"
ok "the restart found itself in the record (pid updated, one holder, original 0 kept)"

# two gateways in one namespace
start "$NS_G" "$GW2"; gw2=$LAST_PID
[ "$(holders)" -eq 2 ] && holds "$GW2" "$gw2" || fail "second gateway: $(cat "$REC")"
stop "$gw"
fwd_is 1 || fail "forwarding off while $GW2 still runs"
[ "$(holders)" -eq 1 ] && holds "$GW2" "$gw2" || fail "after the first stop: $(cat "$REC")"
stop "$gw2"
gone || fail "after the second stop: forwarding $(fwd), record $(cat "$REC" 2>&1)"
ok "two gateways in one namespace: forwarding restored only after the second stopped"

# another namespace: its own record and its own original
gw_conf "$GW3"
start "$NS_G" "$GW"; gw=$LAST_PID
start "$NS_I" "$GW3"; gw3=$LAST_PID
holds "$GW" "$gw" "$REC" && holds "$GW3" "$gw3" "$REC_I" && [ "$(holders "$REC")" -eq 1 ] &&
	[ "$(holders "$REC_I")" -eq 1 ] || fail "records: $(cat "$REC" "$REC_I")"
stop "$gw"
gone || fail "$NS_G: forwarding $(fwd), record $(cat "$REC" 2>&1)"
fwd_is 1 "$NS_I" || fail "stopping $GW switched forwarding off in $NS_I"
stop "$gw3"
gone "$NS_I" "$REC_I" || fail "$NS_I: forwarding $(fwd "$NS_I"), record $(cat "$REC_I" 2>&1)"
ok "a gateway in another namespace: a record of its own"

# a record sluice did not write: the start fails naming it, and leaves forwarding, tables and link alone
echo "garbage" > "$REC"
rc=0; in_g timeout 10 "$SLUICED" -f -c "$WORK/$GW.conf" > "$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "forwarding: $REC:1: not a line of a sluice forwarding record" "$WORK/bad.out" ||
	fail "a foreign record: exit $rc, $(cat "$WORK/bad.out")"
fwd_is 0 || fail "a failed start left forwarding on"
in_g nft list tables | grep -q sluice_nat && fail "a failed start left its NAT table"
in_g ip link show "$GW" >/dev/null 2>&1 && fail "a failed start left its link"
[ "$(cat "$REC")" = garbage ] || fail "a failed start rewrote the foreign record"
rm -f "$REC"
ok "a record sluice did not write: exit 1 naming it, nothing applied"

# User = nobody: the root janitor lets go once the daemon is gone — after SIGTERM, and after SIGKILL
if id nobody >/dev/null 2>&1; then
	sed -i '/^\[Interface\]/a User = nobody' "$WORK/$GW.conf"
	start "$NS_G" "$GW2"; gw2=$LAST_PID
	start "$NS_G" "$GW"; gw=$LAST_PID
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$gw/status")" = "$(id -u nobody)" ] || fail "$GW does not run as nobody"
	holds "$GW" "$gw" || fail "record: $(cat "$REC")"
	stop "$gw"
	wait_for 5 eval '! holds "$GW" "$gw"' || fail "the janitor did not let go: $(cat "$REC")"
	fwd_is 1 && holds "$GW2" "$gw2" || fail "the janitor took $GW2's forwarding: $(fwd), $(cat "$REC" 2>&1)"
	stop "$gw2"
	gone || fail "after both: forwarding $(fwd), record $(cat "$REC" 2>&1)"
	start "$NS_G" "$GW"; gw=$LAST_PID
	fwd_is 1 || fail "forwarding not on with the gateway up as nobody"
	kill9 "$gw"
	wait_for 5 gone || fail "after SIGKILL as nobody: forwarding $(fwd), record $(cat "$REC" 2>&1)"
	ok "User = nobody: the janitor restores forwarding after SIGTERM and after SIGKILL, and only its own"
else
	log "skip: no user 'nobody' for the janitor part"
fi
