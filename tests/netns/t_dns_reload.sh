#!/usr/bin/env bash
# t_dns_reload: a gateway SIGHUP that changes what a connected client receives re-pushes it (DESIGN 10.9):
# the client's next PING is answered EXPIRED, it re-authenticates and applies the difference — here DNS and
# Domains through the resolv.conf backend (/etc/netns/NS/resolv.conf) — without restarting its tunnel.
#   (1) the first servers and domain are in the namespace's resolv.conf
#   (2) SIGHUP with another DNS and Domains: resolv.conf follows within a few pings; the same daemon, TUN link
#       and tunnel address, a new session; the old server's route gone, the new one's into the tunnel; the
#       gateway counts the re-push
#   (3) SIGHUP with nothing changed for clients: no re-push, the session stays
#   (3b) a change whose apply fails (the DNS record cannot be written): the servers in use keep their route
#       into the tunnel and resolv.conf is unchanged; once the obstacle goes, the retry applies it and only
#       then the old servers' routes go
#   (4) SIGTERM: the original resolv.conf is back byte for byte
. "$(dirname "$0")/lib.sh"
matches() { grep -c "$@" >/dev/null; }

GW=slg$TAG; CL=slc$TAG
sl_ids "$CL"
RESOLV=/etc/netns/$NS_C/resolv.conf
topo_up
printf '# the namespace'"'"'s own\nnameserver 127.0.0.1\n' > "$RESOLV"
cp "$RESOLV" "$WORK/resolv.orig"

gw_conf "$GW" "DNS = 198.19.0.53" "Domains = corp.example"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16"
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"

# --- (1)
first() { grep -qx 'nameserver 198.19.0.53' "$RESOLV" && grep -qx 'search corp.example' "$RESOLV"; }
wait_for 10 first || fail "the first DNS is not applied: $(cat "$RESOLV")"
ifindex=$(in_c cat "/sys/class/net/$CL/ifindex")
addr=$(stat "$CL" address); sid=$(stat "$CL" session_id)
ok "pushed DNS 198.19.0.53 and search corp.example in resolv.conf"

# --- (2) SIGHUP: other DNS and Domains
sed -i 's/^DNS = .*/DNS = 198.19.0.54, 198.19.0.55/; s/^Domains = .*/Domains = other.example, lab.example/' \
	"$WORK/$GW.conf"
kill -HUP "$GW_PID"
second() {
	grep -qx 'nameserver 198.19.0.54' "$RESOLV" && grep -qx 'nameserver 198.19.0.55' "$RESOLV" &&
		grep -qx 'search other.example lab.example' "$RESOLV"
}
wait_for 20 second || fail "the SIGHUP's DNS did not reach the client: $(cat "$RESOLV")"
grep -q 198.19.0.53 "$RESOLV" && fail "the old server is still in resolv.conf"
kill -0 "$CL_PID" || fail "the client daemon is gone"
[ "$(in_c cat "/sys/class/net/$CL/ifindex")" = "$ifindex" ] || fail "the TUN link was recreated"
[ "$(stat "$CL" address)" = "$addr" ] || fail "the tunnel address changed: $addr -> $(stat "$CL" address)"
[ "$(stat "$CL" session_id)" != "$sid" ] || fail "no new session: the client did not re-authenticate"
in_c ip route get 198.19.0.54 | matches "dev $CL" || fail "the new server is not routed into the tunnel"
in_c ip route get 198.19.0.53 | matches "dev $CL" && fail "the old server's route is still there"
stat_cmp "$GW" repushes -eq 1 || fail "gateway repushes: '$(stat "$GW" repushes)', expected 1"
matches "shutting down" "$WORK/$CL.log" && fail "the client restarted"
ok "SIGHUP DNS/Domains: applied by the running client (same link and address, new session), re-push counted"

# --- (3) a SIGHUP that changes nothing a client receives: no re-push
sid=$(stat "$CL" session_id); pings=$(stat "$GW" pings)
kill -HUP "$GW_PID"
wait_for 15 stat_cmp "$GW" pings -ge $((pings + 2)) || fail "no pings after the second SIGHUP"
[ "$(stat "$CL" session_id)" = "$sid" ] || fail "a SIGHUP without changes re-pushed the session"
stat_cmp "$GW" repushes -eq 1 || fail "gateway repushes: '$(stat "$GW" repushes)' after an empty reload"
ok "a SIGHUP without changes for clients keeps the session"

# --- (3b) a change whose apply fails: the servers in use stay routed into the tunnel until the resolver has
# left them (before, their routes went first: their queries left through the underlay meanwhile, and for good
# when the apply failed). The obstacle: the client's DNS record in its StateDir is a directory.
STATE=$WORK/state-$CL
mv "$STATE/$CL.dns" "$WORK/dns.record"
mkdir "$STATE/$CL.dns"
sed -i 's/^DNS = .*/DNS = 198.19.0.56/' "$WORK/$GW.conf"
kill -HUP "$GW_PID"
failed() { grep -q "dns: write $STATE/$CL.dns" "$WORK/$CL.log"; }
wait_for 20 failed || fail "the change with the obstacle did not fail: $(tail -n 3 "$WORK/$CL.log")"
routed() { in_c ip route get "$1" | matches "dev $CL"; }
routed 198.19.0.54 && routed 198.19.0.55 || fail "the servers in use lost their route when the change failed"
routed 198.19.0.56 || fail "the new server is not routed into the tunnel"
second || fail "resolv.conf changed although the change failed: $(cat "$RESOLV")"
rmdir "$STATE/$CL.dns"
mv "$WORK/dns.record" "$STATE/$CL.dns"
third() { grep -qx 'nameserver 198.19.0.56' "$RESOLV" && ! grep -q '198.19.0.5[45]' "$RESOLV"; }
wait_for 20 third || fail "the change was not applied once the obstacle went: $(cat "$RESOLV")"
routed 198.19.0.56 || fail "the new server lost its route"
wait_for 5 eval '! routed 198.19.0.54 && ! routed 198.19.0.55' || fail "the old servers' routes stayed"
ok "a DNS change that failed kept the servers in use routed; applied on retry, then the old routes went"

# --- (4)
stop "$CL_PID"
cmp -s "$RESOLV" "$WORK/resolv.orig" || fail "resolv.conf not restored: $(cat "$RESOLV")"
stop "$GW_PID"
ok "clean exit: resolv.conf restored"
