#!/usr/bin/env bash
# t_netevents: the client and the gateway follow the network under the tunnel at once (issue #24: rtnetlink
# events through libnl's cache manager, debounced; no polling). The client is idle (Keepalive = 60), has its
# kill switch on with KillSwitchAllowLAN = on, and names its server: Endpoint = vpn.sluice.test, answered by a
# dnsmasq on the gateway's underlay address (the client's resolver, logging every query).
#
#   client c0 198.18.0.2/24 --(moves to)--> 198.18.2.2/24      gateway g0 198.18.0.1/24 (+ 198.18.2.1/24)
#
#   (1) a burst of 100 route changes in the client's main table (one `ip -batch`, well within a second) is looked
#       at once: path_checks +1; the path to the server is unchanged: path_changes 0, no "network: path" line,
#       no name lookup
#   (2) the client moves (new address on c0, default route via the new LAN, old address removed): the gateway's
#       ping to the client's tunnel address is answered within 1 s (without the watch: at the next keepalive,
#       60 s later); the gateway's endpoint for it is the new address; one "network: path" line, path_changes 1;
#       the server's name is asked again, from the new address
#   (3) the kill switch's LAN allowance follows: 198.18.2.0/24 is reached directly, 198.18.0.0/24 is gone from
#       the table, and nothing else in the table changed (its listing equals the old one with the prefix swapped)
#   (4) the gateway's egress link is deleted and made again: "gone" and "back" logged once each, the gateway's
#       path_changes counts both, the session is the same, and the client reaches the internet host through the
#       tunnel again
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
NAME=vpn.sluice.test
topo_up
in_g dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$G_IP -p 53 \
	--log-queries --log-facility="$WORK/dnsmasq.queries" --address=/$NAME/$G_IP >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
wait_for 5 in_g bash -c "ss -lun | grep -q '$G_IP:53 '" || fail "dnsmasq did not start"
echo "nameserver $G_IP" > "/etc/netns/$NS_C/resolv.conf"
queries() { grep -c "query\[A\] $NAME from" "$WORK/dnsmasq.queries" || true; }
gw_conf "$GW"
add_client "$GW" laptop "$CL"
CL_ENDPOINT="$NAME:$PORT" cl_conf "$CL" "$GW" "KillSwitch = on" "KillSwitchAllowLAN = on" "Keepalive = 60"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 20 session_up "$CL" || fail "no session"
wait_for 5 in_c ping -c 1 -W 1 $I_IP || fail "no traffic through the tunnel"
T_ADDR=$(stat "$CL" address); T_ADDR=${T_ADDR%/*}
SESSION=$(stat "$CL" session_id)
peer_stat "$GW" laptop peer_endpoint | grep -q "^$C_IP:" ||
	fail "the gateway's endpoint for the client is not $C_IP: $(peer_stat "$GW" laptop peer_endpoint)"

# the network is quiet: c0's IPv6 link-local address is through duplicate address detection (its end is an
# event too) and no look for a second (the session's own address and routes come through the watch as well)
ll_valid() { [ -z "$(in_c ip -6 addr show tentative)" ] && in_c ip -6 addr show dev c0 scope link | grep -q inet6; }
wait_for 10 ll_valid || fail "c0 has no valid IPv6 link-local address after 10 s"
quiet() { local a b; a=$(stat "$CL" path_checks); sleep 1; b=$(stat "$CL" path_checks); [ -n "$a" ] && [ "$a" = "$b" ]; }
wait_for 15 quiet || fail "the client's network never settled: path_checks $(stat "$CL" path_checks)"
[ "$(stat "$CL" path_changes)" = 0 ] || fail "path_changes $(stat "$CL" path_changes) before any change"
stat "$CL" path | grep -q "^dev c0 src $C_IP mtu 1500$" || fail "path: $(stat "$CL" path)"

# (1) a burst of 100 route changes: one look, no change of path, no log line
checks=$(stat "$CL" path_checks); q=$(queries)
for i in $(seq 1 50); do echo "route add 198.18.100.$i/32 via $G_IP dev c0"; done > "$WORK/burst"
for i in $(seq 1 50); do echo "route del 198.18.100.$i/32 via $G_IP dev c0"; done >> "$WORK/burst"
in_c ip -batch "$WORK/burst" || fail "(1) ip -batch"
wait_for 5 stat_cmp "$CL" path_checks -gt "$checks" || fail "(1) the burst was never looked at"
sleep 1 # longer than the debounce's quiet period (200 ms): a second look would show by now
[ "$(stat "$CL" path_checks)" = $((checks + 1)) ] ||
	fail "(1) 100 route changes looked at $(($(stat "$CL" path_checks) - checks)) times, not once"
[ "$(stat "$CL" path_changes)" = 0 ] || fail "(1) path_changes $(stat "$CL" path_changes) for unrelated routes"
grep -q "network: path" "$WORK/$CL.log" && fail "(1) a path change was logged: $(grep "network: path" "$WORK/$CL.log")"
[ "$(queries)" = "$q" ] || fail "(1) the name was looked up again for unrelated routes"
ok "(1) 100 route changes: one look, no change of path, no log line, no lookup"

# (2) the idle client moves to a new address
in_c nft list table inet sluice_ks > "$WORK/ks-before" || fail "(2) kill switch table missing"
grep -q "198.18.0.0/24" "$WORK/ks-before" || fail "(2) the LAN 198.18.0.0/24 is not allowed at start"
in_g ip addr add 198.18.2.1/24 dev g0
in_c ip -batch - <<EOT || fail "(2) moving the client"
addr add 198.18.2.2/24 dev c0
route replace default via 198.18.2.1
addr del $C_IP/24 dev c0
EOT
in_g ping -c 1 -i 0.1 -w 1 "$T_ADDR" > "$WORK/ping.out" ||
	fail "(2) the gateway's ping to $T_ADDR got no answer within 1 s of the move"
ok "(2) the gateway's ping to the moved client answered within 1 s"
peer_stat "$GW" laptop peer_endpoint | grep -q "^198.18.2.2:" ||
	fail "(2) the gateway's endpoint for the client: $(peer_stat "$GW" laptop peer_endpoint)"
[ "$(stat "$CL" path_changes)" = 1 ] || fail "(2) path_changes $(stat "$CL" path_changes), not 1"
[ "$(grep -c "network: path" "$WORK/$CL.log")" = 1 ] || fail "(2) path lines: $(grep "network: path" "$WORK/$CL.log")"
grep -q "network: path to $G_IP:$PORT now dev c0 src 198.18.2.2 via 198.18.2.1 mtu 1500 (was dev #[0-9]* src $C_IP mtu 1500)" \
	"$WORK/$CL.log" || fail "(2) the path line: $(grep "network: path" "$WORK/$CL.log")"
stat "$CL" path | grep -q "^dev c0 src 198.18.2.2 via 198.18.2.1 mtu 1500$" || fail "(2) path: $(stat "$CL" path)"
[ "$(stat "$CL" session_id)" = "$SESSION" ] || fail "(2) the session changed"
wait_for 5 grep -q "query\[A\] $NAME from 198.18.2.2" "$WORK/dnsmasq.queries" ||
	fail "(2) the server's name was not looked up again from the new address:"$'\n'"$(cat "$WORK/dnsmasq.queries")"
grep -q "$NAME from 10\.66\." "$WORK/dnsmasq.queries" &&
	fail "(2) a lookup left with the tunnel's address (its socket was routed before it was marked)"
ok "(2) one path change, logged once; the gateway knows the new endpoint; the name is asked again"

# (3) the LAN allowance followed, nothing else changed
lan_moved() { in_c nft list table inet sluice_ks > "$WORK/ks-after" && grep -q "198.18.2.0/24" "$WORK/ks-after"; }
wait_for 5 lan_moved || fail "(3) the kill switch does not allow 198.18.2.0/24: $(cat "$WORK/ks-after")"
grep -q "198.18.0.0/24" "$WORK/ks-after" && fail "(3) the old LAN 198.18.0.0/24 is still allowed"
sed 's#198\.18\.0\.0/24#198.18.2.0/24#g' "$WORK/ks-before" | diff - "$WORK/ks-after" > "$WORK/ks.diff" ||
	fail "(3) the kill switch changed beyond the LAN prefix:"$'\n'"$(cat "$WORK/ks.diff")"
in_c ping -c 1 -W 1 198.18.2.1 > /dev/null || fail "(3) the new LAN is not reachable directly"
grep -q "kill switch: LAN allowance now 198.18.2.0/24 (was 198.18.0.0/24)" "$WORK/$CL.log" || fail "(3) not logged"
ok "(3) the LAN allowance moved to 198.18.2.0/24; nothing else in the table changed"

# (4) the gateway's egress link goes away and comes back
g_changes=$(stat "$GW" path_changes)
in_g ip link del g1
wait_for 5 grep -q "egress g1: the link is gone" "$WORK/$GW.log" || fail "(4) the egress going away was not logged"
ip link add g1 netns "$NS_G" type veth peer name i0 netns "$NS_I"
ip -n "$NS_G" addr add $GE_IP/24 dev g1
ip -n "$NS_I" addr add $I_IP/24 dev i0
ip -n "$NS_G" link set g1 up
ip -n "$NS_I" link set i0 up
ip -n "$NS_G" route add default via $I_IP
ip -n "$NS_I" route add 198.18.0.0/15 via $GE_IP
wait_for 5 grep -q "egress g1: the link is back" "$WORK/$GW.log" || fail "(4) the egress coming back was not logged"
wait_for 10 in_c ping -c 1 -W 1 $I_IP || fail "(4) no traffic through the tunnel after the egress came back"
[ "$(grep -c "egress g1: the link is gone" "$WORK/$GW.log")" = 1 ] || fail "(4) 'gone' logged more than once"
wait_for 5 stat_cmp "$GW" path_changes -ge $((g_changes + 2)) || fail "(4) gateway path_changes $(stat "$GW" path_changes)"
[ "$(stat "$CL" session_id)" = "$SESSION" ] || fail "(4) the session changed"
ok "(4) egress gone and back: logged, the gateway keeps serving the same session"

# views: show, -j, metrics
"$SLUICE" show "$CL" | grep "network: dev c0 src 198.18.2.2 via 198.18.2.1 mtu 1500; 1 path change" >/dev/null ||
	fail "show (client): $("$SLUICE" show "$CL")"
"$SLUICE" show "$GW" | grep "network: egress g1; [0-9]* egress changes" >/dev/null || fail "show (gateway): $("$SLUICE" show "$GW")"
"$SLUICE" show -j "$CL" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["path_changes"] == 1 and d["path_checks"] >= 2 and d["path"].startswith("dev c0 src 198.18.2.2"), d' ||
	fail "show -j (client)"
# grep reads all of it (no -q: an early exit would SIGPIPE the writer, which pipefail reports as a failure)
"$SLUICE" metrics "$CL" | grep "^sluice_path_changes_total{interface=\"$CL\"} 1$" >/dev/null || fail "metrics: $("$SLUICE" metrics "$CL")"
"$SLUICE" metrics "$GW" | grep "^sluice_path_checks_total{interface=\"$GW\"} [1-9]" >/dev/null || fail "metrics (gateway)"
ok "show, show -j and metrics carry the counters"

stop $CL_PID
stop $GW_PID
ok "both daemons exit 0"
