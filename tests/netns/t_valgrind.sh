#!/usr/bin/env bash
# t_valgrind: one tunnel session with both daemons under valgrind memcheck (issue "Hostile input and scale"):
# authentication, traffic both ways, a rekey, a SIGHUP reload, garbage, then SIGTERM — 0 errors and 0 bytes
# definitely lost in each. Needs a build without ASan: SLUICE_PLAIN_BUILD (scripts/test makes build/plain).
. "$(dirname "$0")/lib.sh"
[ -n "${SLUICE_PLAIN_BUILD:-}" ] && [ -x "$SLUICE_PLAIN_BUILD/daemon/sluiced" ] || { echo "skipped: no SLUICE_PLAIN_BUILD"; exit 77; }
command -v valgrind >/dev/null || fail "valgrind is not installed"
SLUICED="$SLUICE_PLAIN_BUILD/daemon/sluiced"
SLUICED_WRAP="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no -q"
START_TIMEOUT=60

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 60 session_up "$CL" || fail "no session under valgrind"
in_c ping -c 20 -i 0.05 -W 2 $I_IP >/dev/null || fail "no traffic under valgrind"
h0=$(stat "$CL" handshakes_ok)
kill -USR1 $CL_PID
wait_for 30 stat_cmp "$CL" handshakes_ok -gt "$h0" || fail "no rekey"
kill -HUP $GW_PID
in_c python3 "$SLUICE_SRC/tests/netns/peer.py" send $G_IP $PORT 6a756e6b
in_c ping -c 5 -i 0.1 -W 2 $I_IP >/dev/null || fail "no traffic after rekey and reload"
# stop: valgrind exits 99 on any error or definite leak, and `stop` requires exit status 0
stop $CL_PID
stop $GW_PID
grep -E "==[0-9]+==" "$WORK/$CL.log" "$WORK/$GW.log" && fail "valgrind reported problems"
ok "valgrind: 0 errors, 0 bytes definitely lost in gateway and client"
echo "t_valgrind: all checks passed"
