#!/usr/bin/env bash
# t_psk: pre-shared keys (issue #23, DESIGN §9 "Pre-shared keys", 10.10). A gateway's [Client] and the client's
# [Server] share a PSK from `sluice genpsk`: the tunnel carries (both ends mixed the PSK into the data keys
# alike), `show` / `-j` / metrics say a PSK is in use (never the key); a rekey keeps using it; a PSK file open to
# the group is refused at start naming FILE:LINE; then a mismatch (the client's PSK changed and re-read on
# SIGHUP) fails the session on both ends with a clear log line and a counter, and the client keeps retrying;
# the gateway picks up the same new PSK on SIGHUP and the tunnel is back; a PSK on one end only is a mismatch
# too.
#
#   client 198.18.0.2 --- 198.18.0.1 gateway 198.19.0.1 --- 198.19.0.2 internet
. "$(dirname "$0")/lib.sh"

GW=slg$TAG; C1=slc$TAG
topo_up

genpsk() { (umask 022; "$SLUICE" genpsk > "$1"); } # umask open on purpose: genpsk makes the file 0600 itself
genpsk "$WORK/p1.psk"
genpsk "$WORK/p2.psk"
[ "$(command stat -c %a "$WORK/p1.psk")" = 600 ] || fail "genpsk left its output file mode $(command stat -c %a "$WORK/p1.psk")"
[ "$(wc -c < "$WORK/p1.psk")" = 45 ] && ! cmp -s "$WORK/p1.psk" "$WORK/p2.psk" || fail "genpsk: not two fresh 44-character keys"
ok "sluice genpsk: 44 characters of base64, mode 0600, fresh each time"
cp -p "$WORK/p1.psk" "$WORK/gw.psk"
cp -p "$WORK/p1.psk" "$WORK/cl.psk"

gw_conf "$GW"
add_client "$GW" laptop "$C1" "PresharedKeyFile = $WORK/gw.psk"
cl_conf "$C1" "$GW"
echo "PresharedKeyFile = $WORK/cl.psk" >> "$WORK/$C1.conf" # the [Server] is the file's last section
psk_line=$(grep -n '^PresharedKeyFile' "$WORK/$C1.conf" | cut -d: -f1)

# --- a PSK file the group may read is refused like a private key, at its line
chmod 640 "$WORK/cl.psk"
rc=0; out=$(in_c "$SLUICED" -t -c "$WORK/$C1.conf" 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q "$C1.conf:$psk_line: PresharedKeyFile $WORK/cl.psk" <<< "$out" ||
	fail "a group-readable PSK file: exit $rc, said: $out"
chmod 600 "$WORK/cl.psk"
in_c "$SLUICED" -t -c "$WORK/$C1.conf" >/dev/null 2>&1 || fail "sluiced -t refuses the good client config"
ok "a group-readable PresharedKeyFile is refused at start: exit 2, $C1.conf:$psk_line"

# --- same PSK on both ends: the tunnel carries
start "$NS_G" "$GW"; GW_PID=$LAST_PID
start "$NS_C" "$C1"; C1_PID=$LAST_PID
wait_for 10 session_up "$C1" || fail "client got no session with matching PSKs"
in_c ping -c 3 -i 0.2 -W 2 10.66.0.1 >/dev/null || fail "no ping through the tunnel with matching PSKs"
ok "matching PSKs: session up, ping through the tunnel"

"$SLUICE" show "$C1" | grep -c >/dev/null "preshared key: (hidden)" || fail "client show does not say a PSK is in use"
"$SLUICE" show -j "$C1" | grep -c >/dev/null '"psk":true' || fail "client show -j lacks psk: true"
"$SLUICE" show "$GW" | grep -c >/dev/null "preshared keys: 1 of 1 clients" || fail "gateway show does not count the PSK"
"$SLUICE" show "$GW" | grep -c >/dev/null "preshared key: (hidden)" || fail "gateway show: the client's PSK not shown as hidden"
"$SLUICE" show -j "$GW" | grep -c >/dev/null '"psk_clients":1' || fail "gateway show -j lacks psk_clients"
"$SLUICE" metrics "$GW" | grep -c >/dev/null "^sluice_peer_psk{interface=\"$GW\",peer=\"laptop\"} 1$" || fail "metrics: sluice_peer_psk"
"$SLUICE" metrics "$C1" | grep -c >/dev/null "^sluice_psk{interface=\"$C1\"} 1$" || fail "metrics: sluice_psk"
for ifc in "$GW" "$C1"; do
	! "$SLUICE" show -j "$ifc" | grep -cF >/dev/null "$(cat "$WORK/p1.psk")" || fail "$ifc: show -j prints the PSK"
	! "$SLUICE" show -r "$ifc" | grep -cF >/dev/null "$(cat "$WORK/p1.psk")" || fail "$ifc: the raw status holds the PSK"
done
for ifc in "$GW" "$C1"; do
	"$SLUICE" show -j "$ifc" | python3 -c 'import json, sys; json.load(sys.stdin)' || fail "$ifc: show -j is not JSON"
done
ok "show, -j and metrics say a PSK is in use on both ends, and never print it"

# --- a rekey keeps using the PSK
kill -USR1 "$C1_PID"
wait_for 10 stat_cmp "$C1" handshakes_ok -ge 2 || fail "no rekey after SIGUSR1"
wait_for 10 session_up "$C1" || fail "no session after the rekey"
in_c ping -c 3 -i 0.2 -W 2 10.66.0.1 >/dev/null || fail "no ping after the rekey"
[ "$(stat "$C1" psk_mismatch)" = 0 ] && [ "$(stat "$GW" psk_mismatch)" = 0 ] || fail "a mismatch counted with equal PSKs"
ok "rekey with the PSK: ping still through"

# --- mismatch: the client's PSK changes and SIGHUP re-reads it
cp -p "$WORK/p2.psk" "$WORK/cl.psk"
kill -HUP "$C1_PID"
wait_for 5 grep -q "pre-shared keys of 1 server changed" "$WORK/$C1.log" || fail "client SIGHUP did not re-read its PSK"
kill -USR1 "$C1_PID"
wait_for 10 stat_cmp "$C1" psk_mismatch -ge 1 || fail "client counted no PSK mismatch"
wait_for 5 stat_cmp "$GW" psk_mismatch -ge 1 || fail "gateway counted no PSK mismatch"
grep -q "pre-shared key mismatch: the data keys differ" "$WORK/$C1.log" || fail "no clear mismatch line in the client's log"
grep -q "key confirmation failed from $C_IP:[0-9]*: client 'laptop': pre-shared key mismatch" "$WORK/$GW.log" ||
	fail "no clear mismatch line in the gateway's log"
# the session of the old PSK still carries until it ends (a changed PSK is for new sessions)
in_c ping -c 3 -i 0.2 -W 2 10.66.0.1 >/dev/null || fail "the running session stopped carrying after a failed rekey"
# it keeps retrying like any failed authentication
wait_for 15 stat_cmp "$C1" psk_mismatch -ge 2 || fail "client stopped retrying after a PSK mismatch"
kill -0 "$C1_PID" || fail "client exited on a PSK mismatch"
"$SLUICE" show "$C1" | grep -c >/dev/null "psk mismatch: " || fail "client show: no psk mismatch line"
"$SLUICE" metrics "$GW" | grep -Ec >/dev/null "^sluice_psk_mismatch_total\{interface=\"$GW\"\} [1-9]" || fail "metrics: psk mismatch"
ok "mismatch: failed on both ends with a log line each, counted ($(stat "$C1" psk_mismatch) client, $(stat "$GW" psk_mismatch) gateway), client retries"

# --- the gateway picks up the same new PSK on SIGHUP: back up (SIGUSR1 skips the client's backoff)
cp -p "$WORK/p2.psk" "$WORK/gw.psk"
kill -HUP "$GW_PID"
wait_for 5 grep -q "client 'laptop': pre-shared key changed" "$WORK/$GW.log" || fail "gateway SIGHUP did not re-read the PSK"
ok_before=$(stat "$C1" handshakes_ok)
kill -USR1 "$C1_PID"
wait_for 15 stat_cmp "$C1" handshakes_ok -gt "$ok_before" || fail "no session with the new PSK on both ends"
wait_for 10 session_up "$C1" || fail "client not up with the new PSK"
in_c ping -c 3 -i 0.2 -W 2 10.66.0.1 >/dev/null || fail "no ping with the new PSK"
ok "gateway SIGHUP: the new PSK used for the next session, ping through"

# --- a PSK on the gateway's side only
sed -i '/^PresharedKeyFile/d' "$WORK/$C1.conf"
kill -HUP "$C1_PID"
wait_for 5 stat_cmp "$C1" psk -eq 0 || fail "client still reports a PSK after removing it"
m0=$(stat "$GW" psk_mismatch)
kill -USR1 "$C1_PID"
wait_for 10 stat_cmp "$GW" psk_mismatch -gt "$m0" || fail "PSK on one end only: no mismatch on the gateway"
wait_for 5 grep -q "the gateway's \[Client\] has a PresharedKeyFile, this \[Server\] none" "$WORK/$C1.log" ||
	fail "PSK on one end only: no clear line on the client"
"$SLUICE" show "$C1" | grep -c >/dev/null "preshared key: none" || fail "client show: PSK not reported as none"
ok "PSK on one end only: a mismatch, named on both ends"

stop "$C1_PID"
stop "$GW_PID"
ok "both daemons stopped cleanly"
