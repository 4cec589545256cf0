#!/usr/bin/env bash
# t_dns: the client's DNS with the resolv.conf backend (issue #17), in the topology of lib.sh, with a split
# tunnel whose Routes do not cover the pushed server. The internet host runs dnsmasq and logs where every
# query came from.
#   (1) pushed servers (v4 + v6) and Domains land in the namespace's resolv.conf (the file backend: its
#       /etc/resolv.conf is a bind mount of /etc/netns/NS/resolv.conf); `sluice show` / `-j` name them
#   (2) the pushed server is routed into the tunnel: the query reaches dnsmasq from the gateway's address,
#       never from the client's underlay address
#   (2b) the gateway restarts pushing another server and domain: after re-authenticating, the client applies the
#       difference (new server and its route, old route gone) and keeps the original saved copy
#   (3) SIGTERM: the original resolv.conf is back byte for byte, nothing left in StateDir
#   (4) kill -9, then a new start restores the original first and applies again
#   (5) kill -9, then `sluice dns restore` (the unit's ExecStopPost) restores it; refused while a daemon runs
#   (6) DNS = off: resolv.conf untouched; DNS = <list>: the client's own servers instead of the pushed ones
#   (7) the resolvconf backend, through a stand-in program
#   (8) full tunnel, pushed server inside the client's own LAN prefix (the gateway's underlay address, where a
#       dnsmasq listens): a rule sends it into the tunnel anyway, though the LAN route would win otherwise
. "$(dirname "$0")/lib.sh"
# grep that reads to the end: `grep -q` would leave early, and pipefail would count the writer's SIGPIPE
matches() { grep -c "$@" >/dev/null; }

GW=slg$TAG; CL=slc$TAG
sl_ids "$CL" # SL_TABLE, SL_PRIO: the client's routing table and rule priorities
RESOLV=/etc/netns/$NS_C/resolv.conf
STATE=$WORK/state-$CL
topo_up
printf '# the namespace'"'"'s own\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$RESOLV"
cp "$RESOLV" "$WORK/resolv.orig"

gw_conf "$GW" "DNS = $I_IP, fd00::53" "Domains = corp.example, lab.example"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16"
cp "$WORK/$CL.conf" "$WORK/$CL.conf.on"

in_i dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$I_IP -p 53 --log-queries \
	--log-facility="$WORK/dnsmasq.out" --address=/probe.sluice.test/198.19.0.77 >/dev/null 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -lun | grep -q '$I_IP:53 '" || fail "dnsmasq did not start"

start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
dns_applied() { grep -q "^nameserver $I_IP\$" "$RESOLV"; }
wait_for 10 dns_applied || fail "resolv.conf does not name $I_IP: $(cat "$RESOLV")"

# --- (1) servers of both families and the search domains through the file backend
grep -q '^nameserver fd00::53$' "$RESOLV" || fail "the IPv6 server is not in resolv.conf"
grep -q '^search corp.example lab.example$' "$RESOLV" || fail "no search line: $(cat "$RESOLV")"
[ "$(stat "$CL" dns_backend)" = file ] || fail "backend is '$(stat "$CL" dns_backend)', expected file"
cmp -s "$STATE/$CL.resolv.conf" "$WORK/resolv.orig" || fail "the saved copy is not the original"
grep -qx 'backend=file' "$STATE/$CL.dns" || fail "no record of the backend in StateDir"
"$SLUICE" show "$CL" > "$WORK/show.out"
grep -q "dns: $I_IP, fd00::53 (file); search corp.example lab.example" "$WORK/show.out" ||
	fail "sluice show: $(grep dns "$WORK/show.out")"
"$SLUICE" show -j "$CL" | python3 -c "
import json, sys
d = json.load(sys.stdin)
d = d[0] if isinstance(d, list) else d
assert d['dns'] == ['$I_IP', 'fd00::53'], d['dns']
assert d['dns_domains'] == ['corp.example', 'lab.example'], d['dns_domains']
assert d['dns_backend'] == 'file', d['dns_backend']" || fail "sluice show -j: dns fields"
ok "pushed v4 + v6 servers and domains in resolv.conf (file backend), shown by sluice show / -j"

# --- (2) split tunnel: the pushed server is routed into the tunnel, the query leaves masqueraded
in_c ip route get $I_IP | matches "dev $CL" || fail "$I_IP is not routed into the tunnel: $(in_c ip route get $I_IP)"
in_c ip route get 198.19.0.99 | matches "dev $CL" && fail "Routes = 10.99.0.0/16 but 198.19.0.99 goes into the tunnel"
ans=$(in_c getent hosts probe.sluice.test | awk '{print $1}')
[ "$ans" = 198.19.0.77 ] || fail "the query through the tunnel answered '$ans'"
grep -q "probe.sluice.test from $GE_IP" "$WORK/dnsmasq.out" || fail "dnsmasq did not see the query from $GE_IP"
grep -q "from $C_IP" "$WORK/dnsmasq.out" && fail "dnsmasq saw a query from the client's own address $C_IP"
ok "split tunnel: the query reached dnsmasq from $GE_IP (gateway), never from $C_IP"

# --- (2b) a new snapshot with other DNS: the difference is applied
stop "$GW_PID"
cp "$WORK/$GW.conf" "$WORK/$GW.conf.first"
sed -i "s/^DNS = .*/DNS = 198.19.0.54/; s/^Domains = .*/Domains = other.example/" "$WORK/$GW.conf"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
new_dns() { grep -q '^nameserver 198.19.0.54$' "$RESOLV"; }
wait_for 30 new_dns || fail "the client did not apply the new snapshot's DNS: $(cat "$RESOLV")"
grep -q "nameserver $I_IP" "$RESOLV" && fail "the old server is still in resolv.conf"
grep -q '^search other.example$' "$RESOLV" || fail "the new domain is not applied: $(cat "$RESOLV")"
in_c ip route get 198.19.0.54 | matches "dev $CL" || fail "the new server is not routed into the tunnel"
in_c ip route show table $SL_TABLE | matches "^$I_IP " && fail "the old server's route is left: $(in_c ip route show table $SL_TABLE)"
cmp -s "$STATE/$CL.resolv.conf" "$WORK/resolv.orig" || fail "the saved copy changed with the new snapshot"
stop "$GW_PID"
cp "$WORK/$GW.conf.first" "$WORK/$GW.conf"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
wait_for 30 dns_applied || fail "the client did not go back to $I_IP"
ok "a new snapshot's DNS replaces the old (servers, domains, routes); the saved original is kept"

# --- (3) clean stop restores the original byte for byte
stop "$CL_PID"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf not restored at exit: $(cat "$RESOLV")"
[ ! -e "$STATE/$CL.resolv.conf" ] && [ ! -e "$STATE/$CL.dns" ] || fail "StateDir keeps $(ls "$STATE")"
ok "SIGTERM: original resolv.conf back, StateDir clean"

# --- (4) kill -9, then the next start restores first
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 dns_applied || fail "DNS not applied after restart"
kill -9 "$CL_PID"; wait "$CL_PID" 2>/dev/null || true
dns_applied || fail "kill -9 should have left sluice's resolv.conf behind"
[ -e "$STATE/$CL.dns" ] || fail "kill -9 left no record"
: > "$WORK/$CL.log"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q "dns: restored what a previous run left (file)" "$WORK/$CL.log" || fail "the restart did not restore"
wait_for 10 dns_applied || fail "DNS not applied again after the restore"
cmp -s "$STATE/$CL.resolv.conf" "$WORK/resolv.orig" || fail "after the restart the saved copy is not the original"
stop "$CL_PID"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf not the original after kill -9, restart, stop"
ok "kill -9 then restart: restored first, applied again, original back at exit"

# --- (5) kill -9, then `sluice dns restore` (ExecStopPost); refused while a daemon runs the interface
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 dns_applied || fail "DNS not applied"
in_c "$SLUICE" dns restore "$CL" -c "$WORK/$CL.conf" > "$WORK/restore.out" 2>&1 &&
	fail "sluice dns restore ran while sluiced runs $CL"
grep -q "sluiced is running" "$WORK/restore.out" || fail "refusal says: $(cat "$WORK/restore.out")"
kill -9 "$CL_PID"; wait "$CL_PID" 2>/dev/null || true
wait_for 5 bash -c "! $SLUICE show -r $CL" || fail "the dead daemon's socket still answers"
in_c "$SLUICE" dns restore "$CL" -c "$WORK/$CL.conf" > "$WORK/restore.out" 2>&1 || fail "restore: $(cat "$WORK/restore.out")"
grep -q "DNS restored (file)" "$WORK/restore.out" || fail "restore says: $(cat "$WORK/restore.out")"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "sluice dns restore did not put the original back"
in_c "$SLUICE" dns restore "$CL" -c "$WORK/$CL.conf" | matches "no DNS change to undo" || fail "a second restore is not a no-op"
ok "kill -9 then sluice dns restore: original back (refused while the daemon runs; a second run is a no-op)"

# --- (6) DNS = off leaves it alone; DNS = list overrides the pushed servers
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16" "DNS = off"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
[ "$(stat "$CL" dns_backend)" = off ] || fail "DNS = off shows backend '$(stat "$CL" dns_backend)'"
"$SLUICE" show "$CL" | matches "dns: off" || fail "sluice show does not say dns: off"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "DNS = off changed resolv.conf"
stop "$CL_PID"
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16" "DNS = 198.19.0.53"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q '^nameserver 198.19.0.53$' "$RESOLV" || fail "DNS = 198.19.0.53 not applied: $(cat "$RESOLV")"
grep -q "nameserver $I_IP" "$RESOLV" && fail "the pushed server is there despite the client's own list"
grep -q '^search corp.example lab.example$' "$RESOLV" || fail "the pushed domains are gone with the client's list"
in_c ip route get 198.19.0.53 | matches "dev $CL" || fail "the client's own server is not routed into the tunnel"
stop "$CL_PID"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf not restored after DNS = list"
ok "DNS = off leaves resolv.conf alone; DNS = 198.19.0.53 replaces the pushed server, routed into the tunnel"

# --- (7) the resolvconf backend (forced: in a namespace the file backend is the right choice): a stand-in
# `resolvconf` first in PATH records its arguments and standard input
mkdir -p "$WORK/bin"
cat > "$WORK/bin/resolvconf" <<STANDIN
#!/bin/sh
echo "\$*" >> "$WORK/resolvconf.calls"
[ "\$1" = -a ] && cat > "$WORK/resolvconf.in"
exit 0
STANDIN
chmod 755 "$WORK/bin/resolvconf"
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16"
RC_ENV="env SLUICE_DNS_BACKEND=resolvconf PATH=$WORK/bin:$PATH"
SLUICED_WRAP=$RC_ENV start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 test -s "$WORK/resolvconf.in" || fail "resolvconf was not run"
grep -qx -- "-a tun.$CL -m 0 -x" "$WORK/resolvconf.calls" || fail "resolvconf called as: $(cat "$WORK/resolvconf.calls")"
printf 'nameserver %s\nnameserver fd00::53\nsearch corp.example lab.example\n' $I_IP | cmp -s - "$WORK/resolvconf.in" ||
	fail "resolvconf was given: $(cat "$WORK/resolvconf.in")"
[ "$(stat "$CL" dns_backend)" = resolvconf ] || fail "backend is '$(stat "$CL" dns_backend)', expected resolvconf"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "the resolvconf backend wrote resolv.conf itself"
stop "$CL_PID"
[ "$(tail -n 1 "$WORK/resolvconf.calls")" = "-d tun.$CL -f" ] || fail "at exit: $(tail -n 1 "$WORK/resolvconf.calls")"
SLUICED_WRAP=$RC_ENV start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q "dns:.*(resolvconf)" "$WORK/$CL.log" || fail "resolvconf not applied after restart"
kill -9 "$CL_PID"; wait "$CL_PID" 2>/dev/null || true
: > "$WORK/resolvconf.calls"
SLUICED_WRAP=$RC_ENV start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q -- "-a tun.$CL" "$WORK/resolvconf.calls" || fail "resolvconf not applied after kill -9"
[ "$(head -n 1 "$WORK/resolvconf.calls")" = "-d tun.$CL -f" ] ||
	fail "after kill -9 the start did not remove the old record first: $(cat "$WORK/resolvconf.calls")"
stop "$CL_PID"
ok "resolvconf backend: -a tun.$CL -m 0 -x with servers and domains, -d at exit, -d first after kill -9"

# --- (8) full tunnel, the pushed server on the client's LAN: still through the tunnel
in_g dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$G_IP -p 53 --log-queries \
	--log-facility="$WORK/dnsmasq-gw.out" --address=/lan.sluice.test/198.19.0.78 >/dev/null 2>&1 & PIDS+=($!)
wait_for 5 in_g bash -c "ss -lun | grep -q '$G_IP:53 '" || fail "the gateway's dnsmasq did not start"
stop "$GW_PID"
gw_conf "$GW" "DNS = $G_IP"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" # full tunnel
start "$NS_G" "$GW"
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q "^nameserver $G_IP\$" "$RESOLV" || fail "resolv.conf does not name $G_IP"
in_c ip rule list | matches "^$((SL_PRIO + 1)):.* to $G_IP .*lookup $SL_TABLE" || fail "no DNS rule: $(in_c ip rule list)"
ans=$(in_c getent hosts lan.sluice.test | awk '{print $1}')
[ "$ans" = 198.19.0.78 ] || fail "the query to $G_IP answered '$ans'"
grep -q "lan.sluice.test from 10.66.0." "$WORK/dnsmasq-gw.out" ||
	fail "the query did not come through the tunnel: $(grep query "$WORK/dnsmasq-gw.out")"
grep -q "from $C_IP" "$WORK/dnsmasq-gw.out" && fail "the query went over the LAN from $C_IP"
stop "$CL_PID"
in_c ip rule list | matches "^5189:" && fail "the DNS rule is left after exit"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf not restored (full tunnel)"
ok "full tunnel: the pushed server on the client's LAN is reached through the tunnel (rule 5189), gone at exit"
