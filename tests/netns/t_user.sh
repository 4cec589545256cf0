#!/usr/bin/env bash
# t_user: the gateway runs as an unprivileged user (issue "Hostile input and scale", least privilege). With
# `User = nobody` it sets up as root, then becomes nobody with only CAP_NET_ADMIN (effective, permitted and
# bounding set) and no_new_privs; a client authenticates and passes traffic; a new client added by SIGHUP gets
# a lease (the journal was opened before the switch); a config nobody cannot read makes the reload fail with a
# clear line and nothing else; SIGTERM leaves no TUN, no NAT table and no control socket (a root janitor removes
# the socket, which nobody may not). A User that does not exist, or User on a client, exits 2 with file:line.
. "$(dirname "$0")/lib.sh"

id nobody >/dev/null 2>&1 || { log "skip: no user 'nobody'"; exit 77; }
GW=slg$TAG; C1=slc$TAG; C2=sld$TAG
NOBODY=$(id -u nobody)
topo_up
gw_conf "$GW" "User = nobody"
add_client "$GW" laptop "$C1"
cl_conf "$C1" "$GW"

start "$NS_G" "$GW"; GW_PID=$LAST_PID
st() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
[ "$(st "$GW_PID" Uid)" = "$NOBODY $NOBODY $NOBODY $NOBODY" ] ||
	fail "gateway uids: $(st "$GW_PID" Uid)"
[ "$(st "$GW_PID" Groups)" = "" ] || fail "gateway kept supplementary groups: $(st "$GW_PID" Groups)"
for set in CapEff CapPrm CapBnd; do
	[ "$(st "$GW_PID" $set)" = 0000000000001000 ] || fail "$set is $(st "$GW_PID" $set), not CAP_NET_ADMIN alone"
done
[ "$(st "$GW_PID" NoNewPrivs)" = 1 ] || fail "no_new_privs not set"
# the janitor names itself after the fork (prctl), in its own time: wait for the name, not for a moment
wait_for 5 pgrep -P "$GW_PID" -x sluiced-janitor >/dev/null || fail "no janitor process"
janitor=$(pgrep -P "$GW_PID" -x sluiced-janitor)
ok "gateway runs as nobody with CAP_NET_ADMIN only (janitor $janitor)"

start "$NS_C" "$C1"; C1_PID=$LAST_PID
wait_for 10 session_up "$C1" || fail "client did not authenticate against the gateway running as nobody"
in_c ping -q -c 5 -i 0.2 -W 1 $I_IP >/dev/null || fail "no traffic through the tunnel"
ok "client authenticated and passes traffic"

# a reload nobody cannot read: refused with a line, the daemon and the session carry on
add_client "$GW" phone "$C2"
kill -HUP "$GW_PID"
wait_for 5 grep -q "reload" "$WORK/$GW.log" || fail "no log line for the failed reload"
grep "reload" "$WORK/$GW.log" | grep -q "Permission denied" || fail "reload error does not say why: $(grep reload "$WORK/$GW.log")"
kill -0 "$GW_PID" || fail "gateway died on a failed reload"
in_c ping -q -c 3 -i 0.2 -W 1 $I_IP >/dev/null || fail "traffic stopped after the failed reload"
ok "unreadable config on SIGHUP: $(grep reload "$WORK/$GW.log" | tail -n 1)"

# readable by nobody (key still 0600): the reload adds the phone, which gets a lease from the journal
chmod 0711 "$WORK"; chown nobody "$WORK/$GW.conf" "$WORK/$GW.key"
kill -HUP "$GW_PID"
wait_for 5 stat_cmp "$GW" clients -eq 2 || fail "reload as nobody did not add the second client"
ns_add "$NS_C-2"
ip link add c0 netns "$NS_C-2" type veth peer name g0c2 netns "$NS_G"
ip -n "$NS_G" link add br0 type bridge
ip -n "$NS_G" addr del $G_IP/24 dev g0
for p in g0 g0c2; do ip -n "$NS_G" link set "$p" master br0; ip -n "$NS_G" link set "$p" up; done
ip -n "$NS_G" link set br0 up; ip -n "$NS_G" addr add $G_IP/24 dev br0
ip -n "$NS_C-2" addr add 198.18.0.3/24 dev c0; ip -n "$NS_C-2" link set c0 up
ip -n "$NS_C-2" route add default via $G_IP
cl_conf "$C2" "$GW"
start "$NS_C-2" "$C2"; C2_PID=$LAST_PID
wait_for 10 session_up "$C2" || fail "second client did not authenticate"
[ "$(leases "$WORK/state/$GW.leases")" -eq 2 ] || fail "the lease file does not hold both clients"
ok "SIGHUP as nobody added a client; its lease was written"

stop "$C1_PID"; stop "$C2_PID"
stop "$GW_PID"
for _ in $(seq 50); do kill -0 "$janitor" 2>/dev/null || break; sleep 0.1; done
kill -0 "$janitor" 2>/dev/null && fail "the janitor outlived the gateway"
[ ! -e "/run/sluice/$GW.sock" ] || fail "control socket left behind"
in_g ip link show "$GW" >/dev/null 2>&1 && fail "TUN link left behind"
in_g nft list table inet "sluice_nat_$GW" >/dev/null 2>&1 && fail "NAT table left behind"
ok "SIGTERM as nobody: no TUN, no NAT table, no socket"

# configuration errors
sed -i 's/^User = nobody$/User = no-such-user-sluice/' "$WORK/$GW.conf"
rc=0; in_g timeout 10 "$SLUICED" -f -c "$WORK/$GW.conf" > "$WORK/bad.out" 2>&1 || rc=$? # accepted: 124
[ "$rc" -eq 2 ] && grep -q "$GW.conf:[0-9]*: User 'no-such-user-sluice': no such user" "$WORK/bad.out" ||
	fail "unknown user: exit $rc, $(cat "$WORK/bad.out")"
sed -i '/^\[Server\]/i User = nobody' "$WORK/$C1.conf"
rc=0; in_c timeout 10 "$SLUICED" -f -c "$WORK/$C1.conf" > "$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "$C1.conf:[0-9]*: User" "$WORK/bad.out" || fail "User on a client: exit $rc, $(cat "$WORK/bad.out")"
ok "unknown user and User on a client: exit 2 with file:line"
