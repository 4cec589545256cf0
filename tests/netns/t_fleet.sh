#!/usr/bin/env bash
# t_fleet: two gateways sharing one etcd registry (issue #21, DESIGN §9 "Fleet", §10.11). etcd (Debian's
# etcd-server, a 3-member cluster) runs in the resolver's namespace of lan.sh, on 198.18.0.53 ports 2379, 22379
# and 32379 (peers on its loopback), with its data in $WORK; both gateways name all three in
# `Registry = etcd://…/sluice-$TAG` and have the same dual-stack Address (10.66.0.1/24, fd66::1/64); the client
# lists both as [Server]s and is known only to the registry.
#   (0) refused starts: a pool that differs from the one recorded (here in its IPv6 prefix); a file client whose
#       fixed Address (IPv4, then IPv6) is leased to another key (file:line named); none leaves its interface
#   (1) `sluice registry add` to running gateways: applied from the watch event alone (registry_incremental
#       grows, registry_syncs does not); both gateways know the client with the same leased addresses, IPv4 and IPv6
#       (leases and leases6 in etcd); the file client of gateway 1 is merged and leased too (both families)
#   (2) the client's gateway kill -9'd: traffic through the other within 10 s with the same tunnel addresses;
#       its live session, recorded in etcd under the gateway it uses (`sluice registry sessions`), moves with it
#       (the dead gateway's record goes with its etcd lease)
#   (3) a client added to the registry (fixed IPv4 and IPv6 addresses) is on both gateways within 2 s, without
#       a reload or a full read
#   (3a) a bad record put into etcd: each gateway reads the registry again (registry_syncs) and leaves it out
#       (registry_refused 1); its deletion: read again, 0 left out
#   (3b) the etcd member the gateways watch is killed: they move to another, report no outage, and a client
#       added then is still on both gateways within 2 s; traffic goes on
#   (4) etcd stopped: the gateways report it unreachable and the established client keeps working; gateway 1
#       restarted meanwhile serves the clients of its last read (StateDir cache); etcd back: they reconnect
#       (backoff) and no lease was lost
#   (4b) gateway 2 stopped cleanly: its session records leave etcd at once (its lease revoked, not waited
#       out); the client moves to gateway 1, where its record appears
#   (5) `sluice registry remove`: the client's session ends on every gateway within 3 s (the delete applied
#       alone: registry_incremental grows, registry_syncs does not), its traffic stops,
#       and its session record leaves etcd
#   (6) etcds://: a TLS etcd with a CA of the test's own and --client-cert-auth; a gateway with RegistryCAFile,
#       RegistryCertFile and RegistryKeyFile and `sluice registry --ca --cert --key` reach it; without the CA the
#       server's certificate is refused, without a client certificate etcd refuses, a key others may read is
#       refused before any connection
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lan.sh"

command -v etcd >/dev/null || { echo "t_fleet: etcd not installed (apt-get install etcd-server): skipped"; exit 77; }

GW=slg$TAG; GW2=slh$TAG; CL=slc$TAG; BAD=slb$TAG
# a 3-member etcd cluster on the resolver's address: client ports E_PORTS, peer ports on its loopback
E_PORTS=(2379 22379 32379)
URL="etcd://$D_IP:${E_PORTS[0]},$D_IP:${E_PORTS[1]},$D_IP:${E_PORTS[2]}/sluice-$TAG"
lan_up

ETCD_PIDS=()
CLUSTER="m0=http://127.0.0.1:2380,m1=http://127.0.0.1:22380,m2=http://127.0.0.1:32380"
etcd_member() { # INDEX — starts one member (its data dir kept across restarts)
	local i=$1 p=${E_PORTS[$1]}
	ip netns exec "$NS_D" etcd --name "m$i" --data-dir "$WORK/etcd$i" --listen-client-urls "http://$D_IP:$p" \
		--advertise-client-urls "http://$D_IP:$p" --listen-peer-urls "http://127.0.0.1:$((p + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((p + 1))" --initial-cluster "$CLUSTER" \
		--initial-cluster-token "t$TAG" --heartbeat-interval 50 --election-timeout 500 >> "$WORK/etcd$i.log" 2>&1 &
	ETCD_PIDS[$i]=$!
	PIDS+=("$!")
}
healthy() { in_d curl -sf -m 1 "http://$D_IP:${E_PORTS[$1]}/health" | grep -q '"health":"true"'; }
etcd_start() {
	for i in 0 1 2; do etcd_member $i; done
	for i in 0 1 2; do wait_for 30 healthy $i || fail "etcd member $i did not come up"; done
}
etcd_kill() { kill "${ETCD_PIDS[$1]}"; wait "${ETCD_PIDS[$1]}" 2>/dev/null || true; }
reg() { in_d "$SLUICE" registry "$@" --registry "$URL"; }
# one key's value (captured whole: a reader that leaves early would kill etcdctl with SIGPIPE under pipefail)
etcd_get() { in_d etcdctl --endpoints "$D_IP:${E_PORTS[1]}" get "$1" --print-value-only; }
# the address a gateway gives a client ("" when it does not list it)
gw_addr() { peer_stat "$1" "$2" peer_address; }
on_both() { [ "$(gw_addr "$GW" "$1")" = "$2" ] && [ "$(gw_addr "$GW2" "$1")" = "$2" ]; }
on_both6() { [ "$(peer_stat "$GW" "$1" peer_address6)" = "$2" ] && [ "$(peer_stat "$GW2" "$1" peer_address6)" = "$2" ]; }
# the gateways (interface names) where etcd records a live session of client $1, sorted: "slg123 slh123 "
sess_at() { reg sessions | awk -F'\t' -v n="$1" '$1 == n { sub(/.*\//, "", $2); print $2 }' | sort | tr '\n' ' '; }
sess_is() { [ "$(sess_at "$1")" = "$2" ]; }
lease6() { reg list | awk -F'\t' -v n="$1" '$1 == n { print $5 }'; }
gone_from() { local s; s=$("$SLUICE" show -r "$1") && ! echo "$s" | grep -qx "peer=$2"; }

etcd_start
genkey "$WORK/$CL.key"
genkey "$WORK/phone.key"
genkey "$WORK/filed.key"
DUAL="10.66.0.1/24, fd66::1/64"
GW_ADDRESS=$DUAL gw_conf "$GW" "Registry = $URL"
{ echo; echo "[Client]"; echo "Name = filed"; echo "PublicKey = $(pubkey "$WORK/filed.key")"; echo "Address = 10.66.0.50, fd66::50"; } >> "$WORK/$GW.conf"
GW_ADDRESS=$DUAL STATE_DIR=$WORK/state2 gw_conf "$GW2" "Registry = $URL"
cl_conf_servers "$CL"
add_server "$CL" "$GW" "$G_IP:$PORT"
add_server "$CL" "$GW2" "$G2_IP:$PORT"
in_i python3 "$SLUICE_SRC/tests/netns/peer.py" udp-echo $I_IP 5353 "$WORK/udp.log" & PIDS+=($!)
pingable() { in_c ping -c 1 -W 1 $I_IP >/dev/null 2>&1; }

# --- (1) the client added to the registry of running gateways; gateway 1 records the pool and merges its
# file client. The add is applied from the watch's event alone: registry_incremental, no new full read.
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_G2" "$GW2"; GW2_PID=$LAST_PID
s1=$(stat "$GW" registry_syncs); s2=$(stat "$GW2" registry_syncs)
i1=$(stat "$GW" registry_incremental); i2=$(stat "$GW2" registry_incremental)
reg add laptop "$(pubkey "$WORK/$CL.key")" || fail "(1) registry add"
laptop_leased() { A=$(reg list | awk -F'\t' '$1 == "laptop" { print $3 }'); [ -n "$A" ]; }
wait_for 2 laptop_leased || fail "(1) no lease for the client within 2 s: $(reg list)"
case "$A" in 10.66.0.*) ;; *) fail "(1) no lease for the client: $(reg list)" ;; esac
wait_for 2 on_both laptop "$A" || fail "(1) the gateways give laptop $(gw_addr "$GW" laptop) and $(gw_addr "$GW2" laptop), lease $A"
A6=$(lease6 laptop)
case "$A6" in fd66::*) ;; *) fail "(1) no IPv6 lease for the client: $(reg list)" ;; esac
on_both6 laptop "$A6" || fail "(1) the gateways give laptop $(peer_stat "$GW" laptop peer_address6) and $(peer_stat "$GW2" laptop peer_address6), lease $A6"
[ -n "$(etcd_get "/sluice-$TAG/leases6/addr/$A6")" ] ||
	fail "(1) laptop's IPv6 address is not leased in etcd"
[ "$(gw_addr "$GW" filed)" = 10.66.0.50 ] || fail "(1) the file client: $(gw_addr "$GW" filed)"
[ "$(peer_stat "$GW" filed peer_address6)" = fd66::50 ] || fail "(1) the file client: $(peer_stat "$GW" filed peer_address6)"
[ -n "$(etcd_get "/sluice-$TAG/leases6/addr/fd66::50")" ] ||
	fail "(1) the file client's fixed IPv6 address is not leased in etcd"
[ "$(etcd_get "/sluice-$TAG/pool")" = "$DUAL" ] ||
	fail "(1) the pool record does not name both prefixes"
gone_from "$GW2" filed || fail "(1) gateway 2 lists gateway 1's file client"
[ -n "$(etcd_get "/sluice-$TAG/leases/addr/10.66.0.50")" ] ||
	fail "(1) the file client's fixed address is not leased in etcd"
[ "$(stat "$GW" registry_state)" = connected ] || fail "(1) registry_state $(stat "$GW" registry_state)"
out=$("$SLUICE" show "$GW")
echo "$out" | grep -q "^ *registry: $URL (connected" || fail "(1) show: $out"
"$SLUICE" show -j "$GW" | python3 -c '
import json, sys; d = json.load(sys.stdin)
assert d["registry"] == sys.argv[1] and d["registry_state"] == "connected" and d["registry_syncs"] >= 1, d' "$URL" ||
	fail "(1) show -j"
out=$("$SLUICE" metrics "$GW")
echo "$out" | grep -q "^sluice_registry_connected{interface=\"$GW\"} 1" || fail "(1) metrics: $(echo "$out" | grep registry)"
stat_cmp "$GW" registry_watch_events -gt 0 && stat_cmp "$GW2" registry_watch_events -gt 0 ||
	fail "(1) registry_watch_events: $(stat "$GW" registry_watch_events) $(stat "$GW2" registry_watch_events)"
stat_cmp "$GW" registry_incremental -gt "$i1" && stat_cmp "$GW2" registry_incremental -gt "$i2" ||
	fail "(1) registry_incremental did not grow: $(stat "$GW" registry_incremental) $(stat "$GW2" registry_incremental)"
[ "$(stat "$GW" registry_syncs)" = "$s1" ] && [ "$(stat "$GW2" registry_syncs)" = "$s2" ] ||
	fail "(1) the add made a full read: registry_syncs $s1 -> $(stat "$GW" registry_syncs), $s2 -> $(stat "$GW2" registry_syncs)"
echo "$out" | grep -q "^sluice_registry_incremental_total{interface=\"$GW\"} [1-9]" ||
	fail "(1) metrics: $(echo "$out" | grep registry_incremental)"
ok "(1) laptop added live: leased $A and $A6 on both gateways from the watch's event alone (no full read); file client merged"

# --- (0) refused starts (after (1): the pool is recorded)
GW_ADDRESS="10.66.0.1/24, fd67::1/64" STATE_DIR=$WORK/state3 gw_conf "$BAD" "Registry = $URL"
IFACES+=("$BAD")
if in_g2 timeout 20 "$SLUICED" -f -c "$WORK/$BAD.conf" > "$WORK/bad.out" 2>&1; then fail "(0) a gateway with another pool started"; fi
grep -q "the fleet's pool is Address = $DUAL, this gateway has 10.66.0.1/24, fd67::1/64" "$WORK/bad.out" ||
	fail "(0) pool mismatch: $(cat "$WORK/bad.out")"
for stolen in "$A" "$A6"; do
	GW_ADDRESS=$DUAL STATE_DIR=$WORK/state3 gw_conf "$BAD" "Registry = $URL"
	{ echo; echo "[Client]"; echo "Name = thief"; echo "PublicKey = $(pubkey "$WORK/phone.key")"; echo "Address = $stolen"; } >> "$WORK/$BAD.conf"
	if in_g2 timeout 20 "$SLUICED" -f -c "$WORK/$BAD.conf" > "$WORK/bad.out" 2>&1; then fail "(0) a stolen fixed address $stolen started"; fi
	line=$(grep -n '^\[Client\]' "$WORK/$BAD.conf" | cut -d: -f1)
	grep -q "$WORK/$BAD.conf:$line: \[Client\] 'thief': Address $stolen is leased to another key" "$WORK/bad.out" ||
		fail "(0) fixed address conflict ($stolen): $(cat "$WORK/bad.out")"
	in_g2 ip link show "$BAD" >/dev/null 2>&1 && fail "(0) the refused gateway left its link"
done
ok "(0) pool mismatch (IPv6 prefix) and a file client on another key's IPv4 / IPv6 address refused at start"

# --- (2) the client's gateway dies: the other carries it, same address
start "$NS_C" "$CL"; CL_PID=$LAST_PID
wait_for 20 session_up "$CL" || fail "(2) no session"
wait_for 5 pingable || fail "(2) no traffic"
[ "$(stat "$CL" address)" = "$A/24" ] || fail "(2) the client got $(stat "$CL" address), the lease is $A"
[ "$(stat "$CL" address6)" = "$A6/64" ] || fail "(2) the client got $(stat "$CL" address6), the lease is $A6"
[ "$(via)" = "$GE_IP" ] || fail "(2) traffic does not leave through gateway 1"
wait_for 3 sess_is laptop "$GW " || fail "(2) etcd records laptop's session at '$(sess_at laptop)', not at gateway 1: $(reg sessions)"
reg sessions | awk -F'\t' -v a="$A" -v a6="$A6" '$1 == "laptop" && $3 == a && $4 == a6 && $5 ~ /^20[0-9-]+T[0-9:]+Z$/ { ok = 1 }
	END { exit !ok }' || fail "(2) the session record: $(reg sessions)"
[ "$(stat "$GW" registry_sessions)" = 1 ] && [ "$(stat "$GW2" registry_sessions)" = 0 ] ||
	fail "(2) registry_sessions: $(stat "$GW" registry_sessions) $(stat "$GW2" registry_sessions)"
out=$("$SLUICE" metrics "$GW")
echo "$out" | grep -q "^sluice_registry_session_writes_total{interface=\"$GW\"} [1-9]" ||
	fail "(2) metrics: $(echo "$out" | grep session)"
kill -9 $GW_PID; wait $GW_PID 2>/dev/null || true
t0=$SECONDS
wait_for 10 pingable || fail "(2) no traffic through gateway 2 within 10 s"
[ "$(via)" = "$GE2_IP" ] || fail "(2) traffic does not leave through gateway 2"
[ "$(stat "$CL" address)" = "$A/24" ] || fail "(2) address after failover $(stat "$CL" address), lease $A"
wait_for 5 stat_cmp "$CL" address6 = "$A6/64" || fail "(2) IPv6 address after failover $(stat "$CL" address6), lease $A6"
# gateway 2 records it at once; gateway 1's record goes with its lease (TTL 6 s after the kill)
wait_for 8 sess_is laptop "$GW2 " || fail "(2) after failover etcd records laptop's session at '$(sess_at laptop)'"
ok "(2) gateway 1 killed: through gateway 2 after $((SECONDS - t0)) s with the same addresses $A $A6; the session record moved"
start "$NS_G" "$GW"; GW_PID=$LAST_PID

# --- (3) live add: on both gateways within 2 s, with its pre-shared key (DESIGN 10.10)
"$SLUICE" genpsk > "$WORK/phone.psk"
chmod 644 "$WORK/phone.psk"
if reg add phone "$(pubkey "$WORK/phone.key")" 10.66.0.77 --psk-file "$WORK/phone.psk" 2> "$WORK/psk.out"; then
	fail "(3) registry add took a PSK file others may read"
fi
grep -q "registry add: --psk-file .*phone.psk" "$WORK/psk.out" || fail "(3) a readable PSK file: $(cat "$WORK/psk.out")"
reg list | grep -q "^phone" && fail "(3) a refused add wrote to the registry"
chmod 600 "$WORK/phone.psk"
if reg add phone "$(pubkey "$WORK/phone.key")" 10.66.0.77 fd66::1:77 --psk-file "$WORK/phone.psk" 2> "$WORK/psk.out"; then
	fail "(3) registry add took an IPv6 address outside the pool"
fi
grep -q "fd66::1:77 is not a client address of the fleet's pool" "$WORK/psk.out" || fail "(3) outside the pool: $(cat "$WORK/psk.out")"
s1=$(stat "$GW" registry_syncs); s2=$(stat "$GW2" registry_syncs)
i1=$(stat "$GW" registry_incremental); i2=$(stat "$GW2" registry_incremental)
reg add phone "$(pubkey "$WORK/phone.key")" 10.66.0.77 fd66::77 --psk-file "$WORK/phone.psk" || fail "(3) registry add phone"
wait_for 2 on_both phone 10.66.0.77 || fail "(3) phone not on both gateways within 2 s: '$(gw_addr "$GW" phone)' '$(gw_addr "$GW2" phone)'"
stat_cmp "$GW" registry_incremental -gt "$i1" && stat_cmp "$GW2" registry_incremental -gt "$i2" &&
	[ "$(stat "$GW" registry_syncs)" = "$s1" ] && [ "$(stat "$GW2" registry_syncs)" = "$s2" ] ||
	fail "(3) phone's add was not applied alone: registry_syncs $s1 -> $(stat "$GW" registry_syncs), $s2 -> $(stat "$GW2" registry_syncs)"
on_both6 phone fd66::77 || fail "(3) phone's IPv6 address: '$(peer_stat "$GW" phone peer_address6)' '$(peer_stat "$GW2" phone peer_address6)'"
[ "$(lease6 phone)" = fd66::77 ] || fail "(3) registry list: phone's IPv6 lease: $(reg list)"
[ "$(peer_stat "$GW" phone peer_psk)" = 1 ] && [ "$(peer_stat "$GW2" phone peer_psk)" = 1 ] ||
	fail "(3) the gateways did not take phone's PSK from the registry"
[ "$(peer_stat "$GW" laptop peer_psk)" = 0 ] || fail "(3) laptop has a PSK it was never given"
[ "$(reg list | awk -F'\t' '$1 == "phone" { print $4 } $1 == "laptop" { print $4 }' | sort | tr '\n' ' ')" = "no yes " ] ||
	fail "(3) registry list: $(reg list)"
[[ "$(etcd_get "/sluice-$TAG/clients/phone")" == *" psk=$(cat "$WORK/phone.psk")" ]] || fail "(3) the PSK is not in phone's record"
ok "(3) a client added to the registry (with its PSK) is on both gateways within 2 s"

# --- (3a) a bad record cannot be applied alone: a full read on each gateway, which leaves it out (counted);
# its deletion, with a client left out, is a full read too; the other clients stay
etcd_cmd() { in_d etcdctl --endpoints "$D_IP:${E_PORTS[1]}" "$@" >/dev/null; }
s1=$(stat "$GW" registry_syncs); s2=$(stat "$GW2" registry_syncs)
etcd_cmd put "/sluice-$TAG/clients/junk" "not a key"
wait_for 3 stat_cmp "$GW" registry_syncs -gt "$s1" && wait_for 3 stat_cmp "$GW2" registry_syncs -gt "$s2" ||
	fail "(3a) a bad record did not make a full read: registry_syncs $s1 -> $(stat "$GW" registry_syncs), $s2 -> $(stat "$GW2" registry_syncs)"
[ "$(stat "$GW" registry_refused)" = 1 ] && [ "$(stat "$GW2" registry_refused)" = 1 ] ||
	fail "(3a) the bad record is not counted: registry_refused $(stat "$GW" registry_refused) $(stat "$GW2" registry_refused)"
s1=$(stat "$GW" registry_syncs); s2=$(stat "$GW2" registry_syncs)
etcd_cmd del "/sluice-$TAG/clients/junk"
wait_for 3 stat_cmp "$GW" registry_refused -eq 0 && wait_for 3 stat_cmp "$GW2" registry_refused -eq 0 ||
	fail "(3a) the bad record's deletion: registry_refused $(stat "$GW" registry_refused) $(stat "$GW2" registry_refused)"
stat_cmp "$GW" registry_syncs -gt "$s1" && stat_cmp "$GW2" registry_syncs -gt "$s2" ||
	fail "(3a) a deletion with a client left out was applied alone"
on_both phone 10.66.0.77 && on_both laptop "$A" || fail "(3a) a client went missing"
ok "(3a) a bad record: a full read on each gateway, left out and counted; its deletion read again"

# --- (3b) one etcd member killed (the one the gateways watch): nothing changes for clients and the registry
s1=$(stat "$GW" registry_syncs); s2=$(stat "$GW2" registry_syncs)
etcd_kill 0
# each gateway's watch breaks, moves to the next member after its first backoff and reads the registry again
wait_for 10 stat_cmp "$GW" registry_syncs -gt "$s1" || fail "(3b) gateway 1 did not move to another member"
wait_for 10 stat_cmp "$GW2" registry_syncs -gt "$s2" || fail "(3b) gateway 2 did not move to another member"
[ "$(stat "$GW" registry_connected)" = 1 ] && [ "$(stat "$GW2" registry_connected)" = 1 ] ||
	fail "(3b) a gateway reports etcd unreachable with 2 of 3 members up"
genkey "$WORK/tablet.key"
reg add tablet "$(pubkey "$WORK/tablet.key")" || fail "(3b) registry add with a member down"
wait_for 2 on_both tablet "$(reg list | awk -F'\t' '$1 == "tablet" { print $3 }')" ||
	fail "(3b) tablet not on both gateways within 2 s with a member down"
[ -n "$(gw_addr "$GW" tablet)" ] || fail "(3b) tablet has no address"
wait_for 3 pingable || fail "(3b) traffic stopped"
ok "(3b) an etcd member killed: the gateways follow the others, a new client still arrives within 2 s"

# --- (4) etcd gone: established clients keep working
etcd_kill 1; etcd_kill 2
wait_for 10 stat_cmp "$GW2" registry_connected -eq 0 || fail "(4) gateway 2 did not notice etcd is gone"
s=$(stat "$CL" session_id)
for _ in 1 2 3; do wait_for 3 pingable || fail "(4) traffic stopped with etcd down"; done
[ "$(stat "$CL" session_id)" = "$s" ] || fail "(4) the session changed with etcd down"
on_both laptop "$A" || fail "(4) a gateway forgot laptop with etcd down"
on_both phone 10.66.0.77 || fail "(4) a gateway forgot phone with etcd down"
# a gateway restarted without etcd serves what the last read (cached in its StateDir) confirms
stop $GW_PID
start "$NS_G" "$GW"; GW_PID=$LAST_PID
[ "$(gw_addr "$GW" laptop)" = "$A" ] || fail "(4) gateway 1 restarted without etcd: laptop '$(gw_addr "$GW" laptop)'"
[ "$(gw_addr "$GW" phone)" = 10.66.0.77 ] || fail "(4) gateway 1 restarted without etcd: phone '$(gw_addr "$GW" phone)'"
[ "$(peer_stat "$GW" laptop peer_address6)" = "$A6" ] ||
	fail "(4) gateway 1 restarted without etcd: laptop's IPv6 '$(peer_stat "$GW" laptop peer_address6)'"
[ "$(stat "$GW" registry_state)" = unreachable ] || fail "(4) restarted gateway 1: $(stat "$GW" registry_state)"
etcd_start
# the backoff may have grown to 16 s (30 s at most) while etcd was down
wait_for 35 stat_cmp "$GW2" registry_connected -eq 1 || fail "(4) gateway 2 did not reconnect"
wait_for 35 stat_cmp "$GW" registry_connected -eq 1 || fail "(4) gateway 1 did not reconnect"
[ "$(reg list | awk -F'\t' '$1 == "laptop" { print $3 }')" = "$A" ] || fail "(4) laptop's lease changed: $(reg list)"
[ "$(lease6 laptop)" = "$A6" ] || fail "(4) laptop's IPv6 lease changed: $(reg list)"
kill -0 $GW_PID && kill -0 $GW2_PID || fail "(4) a gateway died"
# the session records: still under gateway 2 (the lease survived, or it expired and was granted and written again)
wait_for 10 sess_is laptop "$GW2 " || fail "(4) after the outage etcd records laptop's session at '$(sess_at laptop)'"
ok "(4) etcd stopped: traffic went on; both gateways reconnected, leases kept"

# --- (4b) a clean stop revokes the gateway's sessions lease: its records go at once, not after the TTL
not_at_gw2() { [[ " $(sess_at laptop)" != *" $GW2 "* ]]; }
t0=$SECONDS
stop $GW2_PID
wait_for 2 not_at_gw2 || fail "(4b) gateway 2 stopped cleanly, its session record is still there: $(reg sessions)"
ok "(4b) gateway 2 stopped: its session record left etcd after $((SECONDS - t0)) s"
wait_for 15 sess_is laptop "$GW " || fail "(4b) laptop's session not recorded at gateway 1 after the move: '$(sess_at laptop)'"
wait_for 5 pingable || fail "(4b) no traffic through gateway 1"
start "$NS_G2" "$GW2"; GW2_PID=$LAST_PID

# --- (5) revoke: gone from every gateway within 3 s (the delete event applied alone), traffic stops
s1=$(stat "$GW" registry_syncs); s2=$(stat "$GW2" registry_syncs)
i1=$(stat "$GW" registry_incremental); i2=$(stat "$GW2" registry_incremental)
reg remove laptop || fail "(5) registry remove"
t0=$SECONDS
wait_for 3 gone_from "$GW" laptop || fail "(5) gateway 1 still lists laptop after 3 s"
wait_for 3 gone_from "$GW2" laptop || fail "(5) gateway 2 still lists laptop after 3 s"
pingable && fail "(5) the revoked client still reaches the internet host"
wait_for 3 sess_is laptop "" || fail "(5) etcd still records laptop's session at '$(sess_at laptop)'"
[ -z "$(reg list | awk -F'\t' '$1 == "laptop"')" ] || fail "(5) laptop still listed"
stat_cmp "$GW" registry_incremental -gt "$i1" && stat_cmp "$GW2" registry_incremental -gt "$i2" &&
	[ "$(stat "$GW" registry_syncs)" = "$s1" ] && [ "$(stat "$GW2" registry_syncs)" = "$s2" ] ||
	fail "(5) the remove was not applied alone: registry_syncs $s1 -> $(stat "$GW" registry_syncs), $s2 -> $(stat "$GW2" registry_syncs)"
ok "(5) revoked: gone from both gateways after $((SECONDS - t0)) s"

# --- (6) etcds://: a TLS member (its own CA, the certificate naming 198.18.0.53), RegistryCAFile
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.pem" \
	-subj /CN=sluice-test-ca -days 1 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/etcd.key" -out "$WORK/etcd.csr" \
	-subj /CN=etcd 2>/dev/null
printf 'subjectAltName=IP:%s\n' "$D_IP" > "$WORK/san.ext"
openssl x509 -req -in "$WORK/etcd.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
	-extfile "$WORK/san.ext" -out "$WORK/etcd.pem" 2>/dev/null
# the gateways' and the tool's client certificate (etcd's --client-cert-auth), from the same CA
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/gw.key" -out "$WORK/gw.csr" \
	-subj /CN=sluice-gateway 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$WORK/client.ext"
openssl x509 -req -in "$WORK/gw.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
	-extfile "$WORK/client.ext" -out "$WORK/gw.pem" 2>/dev/null
chmod 600 "$WORK/gw.key"
T_PORT=12379 # below the ephemeral range (32768-60999): the peers' own connections on this loopback cannot hold it
TURL="etcds://$D_IP:$T_PORT/sluice-tls-$TAG"
ip netns exec "$NS_D" etcd --name tls --data-dir "$WORK/etcd-tls" --listen-client-urls "https://$D_IP:$T_PORT" \
	--advertise-client-urls "https://$D_IP:$T_PORT" --listen-peer-urls http://127.0.0.1:12380 \
	--initial-advertise-peer-urls http://127.0.0.1:12380 --initial-cluster tls=http://127.0.0.1:12380 \
	--cert-file "$WORK/etcd.pem" --key-file "$WORK/etcd.key" --client-cert-auth --trusted-ca-file "$WORK/ca.pem" \
	>> "$WORK/etcd-tls.log" 2>&1 &
PIDS+=("$!")
wait_for 30 in_d curl -sf -m 1 --cacert "$WORK/ca.pem" --cert "$WORK/gw.pem" --key "$WORK/gw.key" \
	"https://$D_IP:$T_PORT/health" || fail "(6) TLS etcd did not come up"
treg() { in_d "$SLUICE" registry "$@" --registry "$TURL" --ca "$WORK/ca.pem"; }
if treg list > "$WORK/tls.out" 2>&1; then fail "(6) etcd with --client-cert-auth answered without a client certificate"; fi
chmod 644 "$WORK/gw.key"
if treg list --cert "$WORK/gw.pem" --key "$WORK/gw.key" > "$WORK/tls.out" 2>&1; then fail "(6) a readable key was used"; fi
grep -q "client key $WORK/gw.key may be read by others" "$WORK/tls.out" || fail "(6) readable key: $(cat "$WORK/tls.out")"
chmod 600 "$WORK/gw.key"
treg add laptop "$(pubkey "$WORK/$CL.key")" --cert "$WORK/gw.pem" --key "$WORK/gw.key" ||
	fail "(6) registry add over TLS with a client certificate"
if in_d "$SLUICE" registry list --registry "$TURL" --cert "$WORK/gw.pem" --key "$WORK/gw.key" > "$WORK/tls.out" 2>&1; then
	fail "(6) etcd's certificate was accepted without its CA"
fi
grep -qi "certificate" "$WORK/tls.out" || fail "(6) an unknown CA's error does not say so: $(cat "$WORK/tls.out")"
GW3=sli$TAG
PORT=51901 GW_ADDRESS=10.68.0.1/24 STATE_DIR=$WORK/state-tls gw_conf "$GW3" "Registry = $TURL" "RegistryCAFile = $WORK/ca.pem" \
	"RegistryCertFile = $WORK/gw.pem" "RegistryKeyFile = $WORK/gw.key"
start "$NS_G" "$GW3"; GW3_PID=$LAST_PID
[ "$(stat "$GW3" registry_state)" = connected ] || fail "(6) gateway 3: $(stat "$GW3" registry_state)"
case "$(gw_addr "$GW3" laptop)" in 10.68.0.*) ;; *) fail "(6) gateway 3 over TLS: laptop '$(gw_addr "$GW3" laptop)'" ;; esac
stop $GW3_PID
ok "(6) etcds:// with RegistryCAFile and a client certificate: the gateway and sluice registry --ca --cert --key reach etcd; an unknown CA, no certificate and a readable key are refused"

stop $CL_PID
stop $GW_PID
stop $GW2_PID
ip netns exec "$NS_G" ip link show "$GW" >/dev/null 2>&1 && fail "gateway 1 left its link"
echo "t_fleet: all checks passed"
