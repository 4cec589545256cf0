#!/usr/bin/env bash
# t_acceptfd: the gateway out of file descriptors. It runs under `prlimit --nofile=48:64`: at start it raises
# its soft RLIMIT_NOFILE to the hard limit (64) and says so. Then 100 silent TCP connections to the control
# port, 8 from each of 13 client addresses (under the per-source cap of pre-authentication slots), take every
# descriptor it has left: accept4 fails with EMFILE while the rest wait in the listener's backlog. While they
# are held the gateway must not spin on its level-triggered listener (it pinned a core: less than a fifth of a
# CPU over one second here), it logs why it does not accept, once per shortage; once they close, it accepts again, its
# descriptors come back, and a real client authenticates.
#
#   client 198.18.0.2 + 198.18.0.100 … .112 --- 198.18.0.1 gateway (nofile 64)
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
LIMIT=64
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
SLUICED_WRAP="prlimit --nofile=48:$LIMIT" start "$NS_G" "$GW"; GW_PID=$LAST_PID

soft=$(awk '/^Max open files/ { print $4 }' "/proc/$GW_PID/limits")
[ "$soft" = "$LIMIT" ] || fail "soft open files limit $soft, expected the hard limit $LIMIT"
grep -q "open files limit: $LIMIT (raised from 48)" "$WORK/$GW.log" || fail "the raised limit is not logged"
nfds() { find "/proc/$GW_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
fds_at() { [ "$(nfds)" -ge "$1" ]; }
fds_below() { [ "$(nfds)" -le "$1" ]; }
fds0=$(nfds)
[ "$fds0" -lt $((LIMIT - 20)) ] || fail "the gateway holds $fds0 of $LIMIT descriptors at start: no room to test"
ok "soft limit raised to $LIMIT; $fds0 descriptors in use at start"

# 100 connections that never speak, held until the holder is killed (or 30 s pass); `ip netns exec` and
# `timeout` exec, so $! is timeout itself (in_c would put a subshell in between), which passes SIGTERM on
for i in $(seq 100 112); do ip -n "$NS_C" addr add 198.18.0.$i/24 dev c0; done
ip netns exec "$NS_C" timeout 30 python3 -c "
import socket, sys, time
held = []
for i in range(100):
    try:
        held.append(socket.create_connection(('$G_IP', $PORT), timeout=3,
                                             source_address=('198.18.0.%d' % (100 + i // 8), 0)))
    except OSError as e:
        print('connect:', e, file=sys.stderr)
print(len(held), flush=True)
time.sleep(30)" > "$WORK/holder.out" 2>&1 & holder=$!
PIDS+=("$holder")
wait_for 10 fds_at $LIMIT || fail "the gateway never ran out of descriptors ($(nfds) of $LIMIT)"
wait_for 5 grep -q "accept: Too many open files (open files limit $LIMIT)" "$WORK/$GW.log" ||
	fail "running out of descriptors is not logged"

# the CPU the gateway burns while the backlog waits and no descriptor is free: a window of time is the
# measurement itself (the connections' 5 s handshake deadline ends it: they were accepted a moment ago)
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks $GW_PID); s0=$(date +%s%N)
sleep 1
t1=$(cpu_ticks $GW_PID); s1=$(date +%s%N)
fds_at $LIMIT || fail "descriptors came back during the measurement: it measured nothing"
used=$((t1 - t0)); ms=$(( (s1 - s0) / 1000000 ))
[ $((used * 1000 * 5)) -lt $((hz * ms)) ] ||
	fail "the gateway used $used of $hz ticks/s over $ms ms out of descriptors: it spins on its listener"
lines=$(grep -c "accept: Too many open files" "$WORK/$GW.log" || true)
[ "$lines" -le 2 ] || fail "$lines log lines about accept in about 1 s: one per shortage expected"
ok "out of descriptors with $(head -n 1 "$WORK/holder.out") connections held: $used ticks in $ms ms (${hz}/s), $lines log lines"

# the connections close: every descriptor comes back, and a real client authenticates
kill "$holder"; wait "$holder" 2>/dev/null || true
wait_for 15 fds_below $((fds0 + 2)) || fail "descriptors did not come back: $(nfds), $fds0 at start"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "no session after the descriptors came back"
ok "descriptors back to $(nfds) (started with $fds0); the client authenticated"
stop "$CL_PID"
stop "$GW_PID"
echo "t_acceptfd: all checks passed"
