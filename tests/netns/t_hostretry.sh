#!/usr/bin/env bash
# t_hostretry: a session whose host configuration failed gets it applied again (1 s doubling to 30 s) without
# a re-authentication, in the topology of lib.sh. The obstacle is the DNS step: the file backend's record
# StateDir/IFACE.dns is a directory, so writing it fails (the address, routes and MTU before it succeed).
#   (1) the session comes up, the host configuration fails, the log says so and when it retries; resolv.conf
#       stays the namespace's own while the obstacle is there, and the retries keep failing
#   (2) the obstacle goes: within a few seconds the pushed server is in resolv.conf, the log says it was
#       applied on a retry, and there was no new AUTH (handshakes_ok and the session line unchanged)
#   (3) applied: no more retries; SIGTERM restores the original resolv.conf and leaves StateDir clean
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; CL=slc$TAG
RESOLV=/etc/netns/$NS_C/resolv.conf
STATE=$WORK/state-$CL
topo_up
printf '# the namespace'"'"'s own\nnameserver 127.0.0.1\n' > "$RESOLV"
cp "$RESOLV" "$WORK/resolv.orig"

gw_conf "$GW" "DNS = $I_IP"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16"
mkdir -p "$STATE/$CL.dns" # the obstacle: the record cannot be written over a directory

start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
dns_applied() { grep -q "^nameserver $I_IP\$" "$RESOLV"; }

# --- (1) failed, said so, retried, still failing
wait_for 10 grep -q "host configuration failed; retrying in 1 s" "$WORK/$CL.log" ||
	fail "no 'retrying' line after the failed host configuration"
grep -q "dns: write $STATE/$CL.dns" "$WORK/$CL.log" || fail "the log does not name what failed"
wait_for 10 grep -q "failed again (retry 1): .*retrying in 2 s" "$WORK/$CL.log" || fail "no retry after 1 s"
dns_applied && fail "DNS applied though its record cannot be written"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf changed while the obstacle is there: $(cat "$RESOLV")"
hs=$(stat "$CL" handshakes_ok)
ok "host configuration failed (DNS record), logged with the retry's delay, retried and failed again"

# --- (2) the obstacle goes: applied within a few seconds, same session
rmdir "$STATE/$CL.dns"
wait_for 15 dns_applied || fail "DNS not applied after the obstacle went: $(cat "$RESOLV")"
wait_for 5 grep -q "host configuration of session .* applied on retry" "$WORK/$CL.log" || fail "no 'applied' line"
[ "$(stat "$CL" handshakes_ok)" = "$hs" ] || fail "handshakes_ok $hs -> $(stat "$CL" handshakes_ok): a re-auth"
[ "$(grep -c "session .* up: address" "$WORK/$CL.log")" = 1 ] || fail "more than one session: $(grep "up: address" "$WORK/$CL.log")"
grep -qx 'backend=file' "$STATE/$CL.dns" || fail "no record of the backend in StateDir"
in_c ip route get $I_IP | grep -q "dev $CL" || fail "the pushed server is not routed into the tunnel"
ok "obstacle removed: DNS applied on a retry, the same session (handshakes_ok $hs)"

# --- (3) idle once applied; clean stop
n=$(grep -c "failed again" "$WORK/$CL.log")
p=$(stat "$CL" pings)
wait_for 10 stat_cmp "$CL" pings -gt "$p" || fail "no ping answered after the retry" # a PingInterval passed
[ "$(grep -c "failed again" "$WORK/$CL.log")" = "$n" ] || fail "retries went on after the configuration was applied"
stop "$CL_PID"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf not restored at exit: $(cat "$RESOLV")"
[ ! -e "$STATE/$CL.resolv.conf" ] && [ ! -e "$STATE/$CL.dns" ] || fail "StateDir keeps $(ls "$STATE")"
stop "$GW_PID"
ok "no retry once applied; SIGTERM: original resolv.conf back, StateDir clean"
