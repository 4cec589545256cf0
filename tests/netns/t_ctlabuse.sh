#!/usr/bin/env bash
# t_ctlabuse: abusive TCP peers on the control port (issue "Hostile input and scale"): 1,000 concurrent
# connections that never speak, connections sending garbage, half TLS handshakes — from the internet side —
# while a real client keeps traffic flowing and re-authenticates. The data plane keeps forwarding, the client
# authenticates within 2 s, the gateway's memory stays bounded, and its log lines are rate-limited.
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "no session"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rss0=$(rss $GW_PID)

in_c ping -q -c 120 -i 0.1 -W 1 $I_IP > "$WORK/ping.log" 2>&1 & ping_pid=$!
in_i python3 "$SLUICE_SRC/tests/netns/abuse.py" $GE_IP $PORT 10 1000 50 50 > "$WORK/abuse.out" 2>&1 & abuse=$!
sleep 2 # let the flood of connections build up (the abuse itself runs 10 s)
worst=0
for i in 1 2 3; do
	h0=$(stat "$CL" handshakes_ok)
	t0=$(date +%s%N)
	kill -USR1 $CL_PID
	wait_for 2 stat_cmp "$CL" handshakes_ok -gt "$h0" || fail "re-authentication $i took more than 2 s under abuse"
	ms=$(( ($(date +%s%N) - t0) / 1000000 )); [ $ms -gt $worst ] && worst=$ms
	sleep 1 # spread the three re-authentications over the abuse window
done
wait $abuse || fail "abuse tool failed: $(cat "$WORK/abuse.out")"
wait $ping_pid || true
loss=$(grep -oE '[0-9.]+% packet loss' "$WORK/ping.log" | cut -d% -f1)
python3 -c "import sys; sys.exit(0 if float('$loss') <= 2.0 else 1)" || fail "ping loss $loss% during the abuse"
rss1=$(rss $GW_PID)
[ $((rss1 - rss0)) -lt 32768 ] || fail "gateway memory grew by $(( (rss1 - rss0) / 1024 )) MiB"
lines=$(grep -c "auth:" "$WORK/$GW.log" || true)
[ "$lines" -lt 40 ] || fail "gateway wrote $lines auth log lines: not rate-limited"
refused=$(stat "$GW" handshakes_failed)
ok "$(cat "$WORK/abuse.out") hostile connects: re-auth worst ${worst} ms, ping loss ${loss}%, RSS +$(( (rss1 - rss0) / 1024 )) MiB, $lines log lines, $refused failed handshakes"
echo "t_ctlabuse: all checks passed"
