#!/usr/bin/env bash
# t_tcpfallback: UDP-hostile networks (issue #20, DESIGN §9, 10.4, 10.15). A table of the test's own in the
# client's namespace drops UDP to the gateway's port; the client's kill switch is on throughout, and a recorder
# on the gateway's underlay link sees every packet the client host sends there.
#   (1) UDP to the port dropped from the start: within 15 s the data goes over the TLS connection's TCP
#       (`transport: tcp` on both ends, datagrams counted as tcp, none over UDP) and iperf3 through the tunnel
#       moves >= 200 Mbit/s (the figure is logged)
#   (2) UDP unblocked: back on UDP within 30 s (transport udp, 2 switches, UDP datagrams flow again)
#   (3) UDP dropped again mid-session: the path goes down, the re-authenticated session moves to TCP
#   (4) the TCP connection reset mid-transfer (a reject rule, then lifted): the supervisor recovers as from any
#       failure: the same daemon carries data over TCP again within 30 s of the lift
#   (4b) a rekey (SIGUSR1) while on TCP: the new session goes straight to TCP (two more switches)
#   (4c) both daemons restarted with Stealth = on and one PSK on both ends, UDP still dropped: the DATA
#       connection sends its prelude (the gateway refuses none) and its session is confirmed, so the data goes
#       over TCP, sealed with the PSK-mixed keys (ping through), no mismatch counted; a client that
#       authenticates but never confirms gets "ERR session not confirmed" for DATA (tests/netns/dataprobe.py)
#   (5) nothing but the server port ever reached the underlay; both daemons stop cleanly
. "$(dirname "$0")/lib.sh"

GW=sgt$TAG; CL=sct$TAG
FB=tfb_$TAG # the test's own nft table, in the client's namespace only
topo_up
gw_conf "$GW"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "KillSwitch = on"

# the recorder: every IP packet the client host puts on the underlay (ARP is not IP)
ip netns exec "$NS_G" tcpdump -i g0 -Q in -nn -l -q 'ip' >"$WORK/underlay.log" 2>"$WORK/tcpdump.err" & TCPDUMP=$!
PIDS+=($TCPDUMP)
wait_for 5 grep -q "listening on" "$WORK/tcpdump.err" || fail "tcpdump did not start"
in_i iperf3 -s -B $I_IP -p 5201 >"$WORK/iperf-srv.log" 2>&1 & PIDS+=($!)
wait_for 5 in_i bash -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"

block_udp() {
	in_c nft -f - <<-NFT
		table inet $FB {
			chain out { type filter hook output priority 0; policy accept; ip daddr $G_IP udp dport $PORT drop; }
		}
	NFT
}
unblock_udp() { in_c nft delete table inet "$FB"; }
transport_is() { [ "$(stat "$CL" transport)" = "$1" ] && [ "$(peer_stat "$GW" laptop peer_transport)" = "$1" ]; }
stat_is() { [ "$(stat "$1" "$2")" = "$3" ]; }
tunnel_pings() { in_c ping -c 1 -W 1 $I_IP; }

# --- (1) UDP blocked from the start
block_udp
start "$NS_G" "$GW"; GPID=$LAST_PID
t0=$SECONDS
start "$NS_C" "$CL"; CPID=$LAST_PID
wait_for 15 transport_is tcp || fail "(1) not on TCP within 15 s: client $(stat "$CL" transport), gateway \
$(peer_stat "$GW" laptop peer_transport), client state $(stat "$CL" supervisor)"
wait_for $((15 - (SECONDS - t0) > 1 ? 15 - (SECONDS - t0) : 1)) tunnel_pings ||
	fail "(1) no ping through the tunnel within 15 s of the start"
log "(1) tunnel up over TCP $((SECONDS - t0)) s after the client started"
# (the output is read whole before grep: grep -q leaving early would kill the tool with SIGPIPE under pipefail)
out=$("$SLUICE" show "$CL"); grep -q "^  transport: tcp, 1 switch$" <<<"$out" || fail "(1) show: $out"
"$SLUICE" show -j "$CL" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["transport"] == "tcp" and d["transport_switches"] == 1, d' || fail "(1) show -j"
"$SLUICE" show -j "$GW" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [x for x in d["peers"] if x["name"] == "laptop"][0]
assert p["transport"] == "tcp" and p["transport_switches"] == 1, p
assert d["tcp_streams"] == 1, d' || fail "(1) gateway show -j: $("$SLUICE" show -j "$GW")"
"$SLUICE" dump "$GW" | awk -F'\t' '$14 != "tcp" || $15 != 1 { exit 1 }' || fail "(1) gateway dump: $("$SLUICE" dump "$GW")"
out=$("$SLUICE" metrics "$CL"); grep -q "^sluice_transport_tcp{interface=\"$CL\"} 1$" <<<"$out" || fail "(1) client metrics"
out=$("$SLUICE" metrics "$GW")
grep -q "^sluice_peer_transport_tcp{interface=\"$GW\",peer=\"laptop\"} 1$" <<<"$out" || fail "(1) gateway metrics"
udp_before=$(stat "$GW" udp_rx_datagrams)
in_c iperf3 -c $I_IP -p 5201 -t 5 -J >"$WORK/iperf-tcp.json" || fail "(1) iperf3 through the TCP fallback failed"
bps=$(python3 -c "import json; print(int(json.load(open('$WORK/iperf-tcp.json'))['end']['sum_received']['bits_per_second']))")
log "(1) iperf3 over the TCP fallback: $((bps / 1000000)) Mbit/s"
[ "$bps" -ge 200000000 ] || fail "(1) iperf3 over the TCP fallback: $((bps / 1000000)) Mbit/s < 200"
[ "$(stat "$GW" udp_rx_datagrams)" = "$udp_before" ] || fail "(1) the gateway received UDP while it was blocked"
stat_cmp "$GW" tcp_rx_datagrams -gt 10000 || fail "(1) gateway tcp_rx_datagrams $(stat "$GW" tcp_rx_datagrams)"
stat_cmp "$CL" tcp_rx_datagrams -gt 1000 || fail "(1) client tcp_rx_datagrams $(stat "$CL" tcp_rx_datagrams)"
ok "(1) UDP blocked: data over TCP, iperf3 $((bps / 1000000)) Mbit/s"

# --- (2) UDP unblocked: back within 30 s
unblock_udp
t1=$SECONDS
wait_for 30 transport_is udp || fail "(2) not back on UDP within 30 s: client $(stat "$CL" transport), gateway \
$(peer_stat "$GW" laptop peer_transport)"
log "(2) back on UDP after $((SECONDS - t1)) s"
[ "$(stat "$CL" transport_switches)" = 2 ] || fail "(2) client switches $(stat "$CL" transport_switches)"
[ "$(peer_stat "$GW" laptop peer_transport_switches)" = 2 ] || fail "(2) gateway switches"
udp_before=$(stat "$GW" udp_rx_datagrams); tcp_before=$(stat "$GW" tcp_rx_datagrams)
in_c ping -c 20 -i 0.05 -W 1 $I_IP >/dev/null || fail "(2) ping over UDP"
stat_cmp "$GW" udp_rx_datagrams -ge $((udp_before + 20)) || fail "(2) pings did not come over UDP"
[ "$(stat "$GW" tcp_rx_datagrams)" = "$tcp_before" ] || fail "(2) datagrams still came over TCP"
ok "(2) UDP unblocked: back on UDP, 2 switches"

# --- (3) UDP dropped mid-session: down, re-authenticated, then TCP
hs=$(stat "$CL" handshakes_ok)
block_udp
wait_for 30 transport_is tcp || fail "(3) not on TCP within 30 s of blocking UDP mid-session"
stat_cmp "$CL" handshakes_ok -gt "$hs" || fail "(3) no re-authentication"
wait_for 5 tunnel_pings || fail "(3) no ping over TCP"
ok "(3) UDP blocked mid-session: re-authenticated, on TCP"

# --- (4) the TCP connection reset mid-transfer
in_c iperf3 -c $I_IP -p 5201 -t 8 >"$WORK/iperf-cut.out" 2>&1 & IPERF=$!
PIDS+=($IPERF)
wait_for 5 stat_cmp "$GW" tcp_rx_datagrams -gt "$(($(stat "$GW" tcp_rx_datagrams) + 2000))" ||
	fail "(4) the transfer did not start"
hs=$(stat "$CL" handshakes_ok)
in_c nft add chain inet "$FB" cut '{ type filter hook output priority 0; policy accept; }'
in_c nft add rule inet "$FB" cut ip daddr $G_IP tcp dport $PORT reject with tcp reset
# (the gateway's end hears nothing of it: the reset was the client host's own; it goes with its session)
wait_for 10 stat_is "$CL" transport udp || fail "(4) the client did not drop the reset stream"
# the line names the cause: the reset as the socket reported it (or the peer's close), never "ended by us"
grep -Eq "TCP data connection ended: (Connection reset by peer|closed by the peer|Broken pipe)" "$WORK/$CL.log" ||
	fail "(4) no log line naming why the stream ended: $(grep "TCP data connection ended" "$WORK/$CL.log")"
in_c nft delete chain inet "$FB" cut
t2=$SECONDS
wait_for 30 transport_is tcp || fail "(4) not back on TCP within 30 s of the lift: $(stat "$CL" supervisor)"
wait_for 5 tunnel_pings || fail "(4) no ping after the recovery"
stat_cmp "$CL" handshakes_ok -gt "$hs" || fail "(4) no re-authentication"
kill -0 "$CPID" || fail "(4) the client died"
log "(4) recovered $((SECONDS - t2)) s after the lift"
wait "$IPERF" || true # cut mid-transfer: its own result does not matter
ok "(4) TCP reset mid-transfer: the supervisor recovered, data over TCP again"

# --- (4b) rekey on TCP: the new session moves to TCP at once, no UDP detour
sw=$(stat "$CL" transport_switches); hs=$(stat "$CL" handshakes_ok)
kill -USR1 "$CPID"
wait_for 10 stat_cmp "$CL" handshakes_ok -gt "$hs" || fail "(4b) no rekey"
wait_for 10 stat_cmp "$CL" transport_switches -ge $((sw + 2)) || fail "(4b) switches $(stat "$CL" transport_switches)"
wait_for 5 transport_is tcp || fail "(4b) not on TCP after the rekey"
wait_for 5 tunnel_pings || fail "(4b) no ping after the rekey"
[ "$(peer_stat "$GW" laptop peer_session_id)" = "$(stat "$CL" session_id)" ] || fail "(4b) sessions differ"
ok "(4b) rekey on TCP: the new session on TCP at once"

# --- (4c) Stealth = on and a PSK on both ends (UDP is still dropped)
stop "$CPID"
stop "$GPID"
(umask 077; "$SLUICE" genpsk > "$WORK/fb.psk") || fail "(4c) genpsk"
sed -i -e 's/^Mode = server$/&\nStealth = on/' -e "/^Name = laptop\$/a PresharedKeyFile = $WORK/fb.psk" "$WORK/$GW.conf"
printf 'Stealth = on\nPresharedKeyFile = %s\n' "$WORK/fb.psk" >> "$WORK/$CL.conf" # the [Server] is its last section
# a configured client of the test's own (python, below) that authenticates but never confirms its keys
openssl genpkey -algorithm ed25519 -out "$WORK/raw.pem" 2>/dev/null &&
	openssl req -x509 -new -key "$WORK/raw.pem" -subj /CN=raw -days 1 -out "$WORK/raw.crt" 2>/dev/null ||
	fail "(4c) openssl: no Ed25519 certificate"
printf '\n[Client]\nName = raw\nPublicKey = %s\n' \
	"$(openssl pkey -in "$WORK/raw.pem" -pubout -outform DER | tail -c 32 | base64)" >> "$WORK/$GW.conf"
start "$NS_G" "$GW"; GPID=$LAST_PID
start "$NS_C" "$CL"; CPID=$LAST_PID
wait_for 20 transport_is tcp || fail "(4c) stealth + PSK: not on TCP within 20 s: client $(stat "$CL" transport), \
gateway $(peer_stat "$GW" laptop peer_transport), client state $(stat "$CL" supervisor)"
wait_for 5 tunnel_pings || fail "(4c) stealth + PSK: no ping over TCP"
"$SLUICE" show -j "$GW" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [x for x in d["peers"] if x["name"] == "laptop"][0]
assert d["stealth"] is True and p["psk"] is True and p["transport"] == "tcp", d
assert d["tcp_streams"] == 1 and d["stealth_refused"] == 0 and d["psk_mismatch"] == 0, d' ||
	fail "(4c) gateway show -j: $("$SLUICE" show -j "$GW")"
"$SLUICE" show -j "$CL" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["stealth"] is True and d["psk"] is True and d["transport"] == "tcp" and d["psk_mismatch"] == 0, d' ||
	fail "(4c) client show -j: $("$SLUICE" show -j "$CL")"
ok "(4c) Stealth = on and a PSK on both ends: the DATA connection passes the prelude, data over TCP"
out=$(ip netns exec "$NS_G" python3 "$(dirname "$0")/dataprobe.py" $G_IP $PORT "$(pubkey "$WORK/$GW.key")" \
	"$WORK/raw.crt" "$WORK/raw.pem" stealth) || fail "(4c) dataprobe: $out"
[[ "$out" == *"answer=ERR session not confirmed" ]] || fail "(4c) DATA for an unconfirmed session: $out"
[ "$(peer_stat "$GW" raw peer_transport)" = udp ] && stat_is "$GW" tcp_streams 1 || fail "(4c) an unconfirmed stream"
ok "(4c) DATA for a session whose keys were never confirmed: refused ($out)"

# --- (5) nothing leaked, clean stop
stop "$CPID"
stop "$GPID"
kill -INT "$TCPDUMP"; wait "$TCPDUMP" || true # it prints what it captured before it exits
leaks=$(awk '!/ IP 198\.18\.0\.2\.[0-9]+ > 198\.18\.0\.1\.51900: (tcp|UDP)/' "$WORK/underlay.log")
[ -z "$leaks" ] || fail "(5) the underlay saw more than the server port:"$'\n'"$(echo "$leaks" | head -20)"
[ -s "$WORK/underlay.log" ] || fail "(5) the recorder saw nothing (broken recorder)"
ok "(5) only the server port on the underlay ($(wc -l <"$WORK/underlay.log") packets); both daemons stopped cleanly"
