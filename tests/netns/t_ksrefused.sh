#!/usr/bin/env bash
# t_ksrefused: a client start refused because another tunnel's rule sits at its priorities (two interface names
# hashing alike, DESIGN 10.6) does not engage its kill switch: the refusal comes before the lockdown, so the
# host is not left locked down with no daemon. Then, the rule gone, the same config starts and engages it.
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
sl_ids "$CL"
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "DNS = off" "KillSwitch = on"

# --- refused: the foreign rule named, no kill switch
in_c ip rule add prio "$SL_PRIO" lookup 100
rc=0; out=$(in_c timeout 10 "$SLUICED" -f -c "$WORK/$CL.conf" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "rule $SL_PRIO lookup 100 is in the way" <<< "$out" || fail "collision: exit $rc, said: $out"
in_c nft list table inet sluice_ks >/dev/null 2>&1 && fail "the refused start left the kill switch on"
in_c ip rule del prio "$SL_PRIO" lookup 100
ok "a foreign rule at $CL's priorities: start refused, named, no kill switch left behind"

# --- the same config, the way clear: the kill switch is engaged (the check above would see it)
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
in_c nft list table inet sluice_ks >/dev/null || fail "KillSwitch = on but no inet sluice_ks"
wait_for 10 session_up "$CL" || fail "client got no session behind its kill switch"
stop "$CL_PID"
in_c "$SLUICE" killswitch off >/dev/null || fail "killswitch off failed"
stop "$GW_PID"
ok "the rule gone: the same config starts with its kill switch on"
