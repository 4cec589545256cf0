#!/usr/bin/env bash
# t_dns_resolved: the systemd-resolved backend against a real systemd-resolved (issue #17). The test starts its
# own dbus-daemon (a private bus: a socket in the test's directory, never the host's system bus) and its own
# systemd-resolved on that bus, inside the client's network namespace and a private mount namespace (/run/systemd
# on a tmpfs; a systemd-resolve user in a bind-mounted copy of /etc/passwd when the host has none). The client's
# /etc/resolv.conf is /etc/netns/NS/resolv.conf naming resolved's stub, so the daemon picks resolved, reached
# through DBUS_SYSTEM_BUS_ADDRESS. Debian's systemd-resolved package is not installed (its postinst would take
# over the host's /etc/resolv.conf): its .deb is fetched with `apt-get download` and unpacked under the build
# directory. Without it (no registry), the test is skipped (77).
#   (1) the TUN link gets the pushed server, the domains plus "~." and default-route, shown by `sluice show`
#   (2) a query through resolved's stub (getent) and through resolvectl reaches the internet host's dnsmasq
#       from the gateway's address, with a split tunnel whose Routes do not cover the server
#   (3) SIGTERM: RevertLink, no record left; kill -9 then restart: the record is undone first, DNS applied again
. "$(dirname "$0")/lib.sh"
# grep that reads to the end: `grep -q` would leave early, and pipefail would count the writer's SIGPIPE
matches() { grep -c "$@" >/dev/null; }

# --- systemd-resolved, unpacked (never installed)
RDIR=$SLUICE_BUILD/deps/systemd-resolved
if [ ! -x "$RDIR/lib/systemd/systemd-resolved" ]; then
	mkdir -p "$RDIR/deb"
	( cd "$RDIR/deb" && { apt-get download -q "systemd-resolved=$(dpkg-query -W -f='${Version}' systemd)" ||
		apt-get download -q systemd-resolved; } ) >"$WORK/apt.log" 2>&1 &&
		dpkg-deb -x "$RDIR"/deb/systemd-resolved_*.deb "$RDIR" ||
		{ cat "$WORK/apt.log" >&2; log "SKIP: systemd-resolved could not be fetched"; exit 77; }
fi
RESOLVED=$RDIR/lib/systemd/systemd-resolved
RESOLVECTL=$RDIR/usr/bin/resolvectl
command -v dbus-daemon >/dev/null || { log "SKIP: dbus-daemon (package dbus-daemon) is not installed"; exit 77; }

GW=slg$TAG; CL=slc$TAG
BUS=$WORK/bus
chmod 711 "$WORK" # resolved connects to the bus after it became the systemd-resolve user
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$BUS # resolvectl here, and the daemon below
topo_up
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' > "/etc/netns/$NS_C/resolv.conf"

# --- the private bus: anyone may own and call anything on it (only this test's processes can reach it)
cat > "$WORK/bus.conf" <<BUSCONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
BUSCONF
USERS=""
if ! getent passwd systemd-resolve >/dev/null; then
	cp /etc/passwd "$WORK/passwd"; cp /etc/group "$WORK/group"
	echo "systemd-resolve:x:64953:64953:resolved:/:/usr/sbin/nologin" >> "$WORK/passwd"
	echo "systemd-resolve:x:64953:" >> "$WORK/group"
	USERS="mount --bind $WORK/passwd /etc/passwd; mount --bind $WORK/group /etc/group;"
fi
# resolved's own settings: no LLMNR / mDNS chatter, no fallback servers; only the links' servers count
mkdir -p "$WORK/resolved.conf.d"
printf '[Resolve]\nLLMNR=no\nMulticastDNS=no\nFallbackDNS=\nDNSSEC=no\n' > "$WORK/resolved.conf.d/test.conf"
# dbus-daemon and resolved share the mount namespace: the bus must know resolved's user
in_c unshare --mount bash -c "mount --make-rprivate /; $USERS
	mount -t tmpfs -o mode=0755 tmpfs /run/systemd
	cp -r $WORK/resolved.conf.d /run/systemd/resolved.conf.d
	dbus-daemon --config-file=$WORK/bus.conf --nofork --nopidfile >$WORK/dbus.log 2>&1 &
	for i in \$(seq 50); do [ -S $BUS ] && break; sleep 0.1; done
	exec $RESOLVED" >"$WORK/resolved.log" 2>&1 & PIDS+=($!)
wait_for 10 in_c "$RESOLVECTL" status ||
	fail "systemd-resolved does not answer on the private bus: $(in_c "$RESOLVECTL" status 2>&1)"
ok "systemd-resolved runs on a private bus in the client's namespace"

gw_conf "$GW" "DNS = $I_IP" "Domains = corp.example"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "Routes = 10.99.0.0/16"
in_i dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces --listen-address=$I_IP -p 53 --log-queries \
	--log-facility="$WORK/dnsmasq.out" --address=/probe.sluice.test/198.19.0.77 >/dev/null 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -lun | grep -q '$I_IP:53 '" || fail "dnsmasq did not start"

start "$NS_G" "$GW"
SLUICED_WRAP="env DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS" start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 session_up "$CL" || fail "client got no session"
link_dns() { in_c "$RESOLVECTL" dns "$CL" 2>/dev/null | matches "$I_IP"; }
wait_for 10 link_dns || fail "resolved has no DNS server for $CL: $(in_c "$RESOLVECTL" status "$CL" 2>&1)"

# --- (1) per-link server, domains + ~., default route
[ "$(stat "$CL" dns_backend)" = resolved ] || fail "backend is '$(stat "$CL" dns_backend)', expected resolved"
in_c "$RESOLVECTL" domain "$CL" | matches 'corp.example ~\.' || fail "domains: $(in_c "$RESOLVECTL" domain "$CL")"
in_c "$RESOLVECTL" default-route "$CL" | matches yes || fail "no default route: $(in_c "$RESOLVECTL" default-route "$CL")"
"$SLUICE" show "$CL" | matches "dns: $I_IP (resolved); search corp.example" || fail "sluice show: $("$SLUICE" show "$CL" | grep dns)"
grep -q "$I_IP" "/etc/netns/$NS_C/resolv.conf" && fail "the resolved backend wrote resolv.conf"
ok "resolved: $CL has $I_IP, domains corp.example ~., default route"

# --- (2) queries through resolved go into the tunnel and leave from the gateway
ans=$(in_c getent ahostsv4 probe.sluice.test | awk 'NR == 1 {print $1}')
[ "$ans" = 198.19.0.77 ] || fail "getent through resolved's stub answered '$ans'"
in_c "$RESOLVECTL" query --cache=no probe2.probe.sluice.test | matches 198.19.0.77 || fail "resolvectl query failed"
grep -q "from $GE_IP" "$WORK/dnsmasq.out" || fail "dnsmasq saw no query from $GE_IP"
grep -q "from $C_IP" "$WORK/dnsmasq.out" && fail "dnsmasq saw a query from the client's own address $C_IP"
ok "queries through resolved reach dnsmasq from $GE_IP only (split tunnel)"

# --- (3) clean stop reverts the link; kill -9 then restart restores first
stop "$CL_PID"
[ ! -e "$WORK/state-$CL/$CL.dns" ] || fail "the record is still in StateDir after a clean stop"
grep -q "dns:.*rror\|failed" "$WORK/$CL.log" && fail "the client logged a DNS error: $(grep dns "$WORK/$CL.log")"
SLUICED_WRAP="env DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS" start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 link_dns || fail "no DNS on $CL after restart"
kill -9 "$CL_PID"; wait "$CL_PID" 2>/dev/null || true
grep -qx 'backend=resolved' "$WORK/state-$CL/$CL.dns" || fail "kill -9 left no record naming resolved"
: > "$WORK/$CL.log"
SLUICED_WRAP="env DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS" start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 10 grep -q "dns: restored what a previous run left (resolved)" "$WORK/$CL.log" || fail "the restart did not restore"
wait_for 10 link_dns || fail "no DNS on $CL after kill -9 and restart"
stop "$CL_PID"
ok "resolved: reverted at exit; after kill -9 the next start undoes the record and applies again"
