#!/usr/bin/env bash
# t_multi: several tunnels on one host (DESIGN 9, 10.6; issue #15): two gateways in one namespace, two clients in
# another, each client to its own gateway, at once. Every kernel object that is not per link is per interface
# (NAT table inet sluice_nat_IFACE, routing table, fwmark, rule priorities), so stopping, killing or restarting
# one never touches the other's.
#
#   ns $NS_C: client $CA (full tunnel) -> $GA :51900 (pool 10.66.0.0/24)
#             client $CB (split, Routes = 198.19.0.3/32) -> $GB :51901 (pool 10.67.0.0/24)
#   ns $NS_G: gateways $GA and $GB, both masquerading out of g1
#   ns $NS_I: the internet host, 198.19.0.2 (reached through $CA's full tunnel) and 198.19.0.3 ($CB's route)
#
# The split client's rules must come first (a full tunnel's table catches everything after its rules), so the
# names are chosen until $CB's priorities are below $CA's — the derivation is the daemon's (lib.sh: sl_ids).
. "$(dirname "$0")/lib.sh"

GA=sga$TAG; GB=sgb$TAG
for s in a b c d e f g h i j k l m n o p; do
	CA=sla$s$TAG; CB=slb$s$TAG
	sl_ids "$CA"; A_PRIO=$SL_PRIO; A_TABLE=$SL_TABLE
	sl_ids "$CB"; B_PRIO=$SL_PRIO; B_TABLE=$SL_TABLE
	[ "$B_PRIO" -lt "$A_PRIO" ] && break
done
[ "$B_PRIO" -lt "$A_PRIO" ] || fail "no pair of client names with $CB's priorities first"
I2_IP=198.19.0.3

topo_up
ip -n "$NS_I" addr add $I2_IP/24 dev i0

gw_conf "$GA"
add_client "$GA" a "$CA"
PORT=51901 GW_ADDRESS=10.67.0.1/24 gw_conf "$GB"
add_client "$GB" b "$CB"
cl_conf "$CA" "$GA" "DNS = off"
CL_ENDPOINT=$G_IP:51901 cl_conf "$CB" "$GB" "Routes = $I2_IP/32" "DNS = off"

start "$NS_G" "$GA"; GA_PID=$LAST_PID
start "$NS_G" "$GB"; GB_PID=$LAST_PID
start "$NS_C" "$CA"; CA_PID=$LAST_PID
start "$NS_C" "$CB"; CB_PID=$LAST_PID
wait_for 10 session_up "$CA" || fail "client $CA got no session"
wait_for 10 session_up "$CB" || fail "client $CB got no session"
ok "two gateways and two clients up in the same namespaces"

rules_at() { in_c ip rule list | awk -F: -v lo="$1" '$1 >= lo && $1 < lo + 4' ; }
nat_tables() { in_g nft list tables | grep -c 'inet sluice_nat_' || true; }
# through IFACE_GW: a ping to DST adds >= 3 packets to the gateway's TUN writes
through() {
	local gw=$1 dst=$2 before after
	before=$(stat "$gw" tun_tx_packets)
	in_c ping -c 3 -i 0.2 -W 2 "$dst" >/dev/null || return 1
	after=$(stat "$gw" tun_tx_packets)
	[ $((after - before)) -ge 3 ]
}

# --- each its own objects
[ "$(rules_at "$A_PRIO" | wc -l)" = 3 ] || fail "$CA: not its 3 full-tunnel rules at $A_PRIO: $(in_c ip rule)"
rules_at "$A_PRIO" | grep -q "lookup $A_TABLE" || fail "$CA's tunnel rule does not look up $A_TABLE"
[ "$(rules_at "$B_PRIO" | wc -l)" = 1 ] || fail "$CB: not its one split rule at $B_PRIO: $(in_c ip rule)"
rules_at "$B_PRIO" | grep -q "not from all fwmark 0x51900000/0xffff0000 lookup $B_TABLE" ||
	fail "$CB's rule: $(rules_at "$B_PRIO")"
in_c ip route show table "$A_TABLE" | grep -q "^default dev $CA" || fail "no default route in $A_TABLE"
in_c ip route show table "$B_TABLE" | grep -q "^$I2_IP dev $CB" || fail "no $I2_IP route in $B_TABLE"
in_g nft list table inet "sluice_nat_$GA" >/dev/null || fail "no NAT table of $GA"
in_g nft list table inet "sluice_nat_$GB" >/dev/null || fail "no NAT table of $GB"
ok "per-interface rules ($A_PRIO.., $B_PRIO..), tables ($A_TABLE, $B_TABLE) and NAT tables"

# --- traffic through both
through "$GA" $I_IP || fail "$I_IP not through $CA/$GA"
through "$GB" $I2_IP || fail "$I2_IP not through $CB/$GB"
ok "traffic through both tunnels at once"

# --- stop one client: the other's rules, table and traffic stay
stop "$CB_PID"
[ -z "$(rules_at "$B_PRIO")" ] || fail "$CB's rules remain: $(rules_at "$B_PRIO")"
[ "$(rules_at "$A_PRIO" | wc -l)" = 3 ] || fail "stopping $CB touched $CA's rules: $(in_c ip rule)"
in_c ip route show table "$A_TABLE" | grep -q "^default dev $CA" || fail "stopping $CB took $CA's route"
through "$GA" $I_IP || fail "$CA's traffic broke when $CB stopped"
through "$GA" $I2_IP || fail "$I2_IP is not in $CA's full tunnel once $CB is gone"
ok "stopping $CB leaves $CA's rules, table and traffic"

# --- kill -9 of a client, then its restart: only its own stale rules go
start "$NS_C" "$CB"; CB_PID=$LAST_PID
wait_for 10 session_up "$CB" || fail "client $CB got no session again"
kill -9 "$CB_PID"; wait "$CB_PID" 2>/dev/null || true
[ -n "$(rules_at "$B_PRIO")" ] || fail "kill -9 should have left $CB's rule"
start "$NS_C" "$CB"; CB_PID=$LAST_PID
wait_for 10 session_up "$CB" || fail "client $CB got no session after kill -9"
[ "$(rules_at "$B_PRIO" | wc -l)" = 1 ] || fail "$CB after restart: $(rules_at "$B_PRIO")"
[ "$(rules_at "$A_PRIO" | wc -l)" = 3 ] || fail "$CB's start-up clean-up touched $CA's rules: $(in_c ip rule)"
through "$GB" $I2_IP || fail "$I2_IP not through $CB after its restart"
through "$GA" $I_IP || fail "$CA's traffic broke when $CB restarted"
ok "kill -9 of $CB, restart: its stale rule replaced, $CA untouched"

# --- stop one gateway: the other's NAT table and tunnel stay
stop "$CB_PID"
stop "$GB_PID"
in_g nft list table inet "sluice_nat_$GB" >/dev/null 2>&1 && fail "$GB's NAT table remains"
in_g nft list table inet "sluice_nat_$GA" >/dev/null || fail "stopping $GB took $GA's NAT table"
through "$GA" $I_IP || fail "$CA's tunnel broke when $GB stopped"
ok "stopping $GB leaves $GA's NAT table and tunnel"

# --- kill -9 of a gateway, then its restart: only its own stale state goes
start "$NS_G" "$GB"; GB_PID=$LAST_PID
start "$NS_C" "$CB"; CB_PID=$LAST_PID
wait_for 10 session_up "$CB" || fail "client $CB got no session with $GB restarted"
kill -9 "$GA_PID"; wait "$GA_PID" 2>/dev/null || true
in_g nft list table inet "sluice_nat_$GA" >/dev/null || fail "kill -9 should have left $GA's NAT table"
h_b=$(in_g nft -a list tables | grep "sluice_nat_$GB")
start "$NS_G" "$GA"; GA_PID=$LAST_PID
[ "$(nat_tables)" = 2 ] || fail "after $GA's restart: $(in_g nft list tables)"
[ "$(in_g nft -a list tables | grep "sluice_nat_$GB")" = "$h_b" ] || fail "$GA's restart replaced $GB's table"
wait_for 20 through "$GA" $I_IP || fail "$CA not through $GA after its restart"
through "$GB" $I2_IP || fail "$CB's tunnel broke when $GA restarted"
ok "kill -9 of $GA, restart: its stale table replaced, $GB's untouched, both tunnels carry"

stop "$CB_PID"; stop "$CA_PID"; stop "$GB_PID"; stop "$GA_PID"
[ -z "$(in_c ip rule list | awk -F: '$1 >= 10000 && $1 < 30000')" ] || fail "rules remain: $(in_c ip rule)"
[ "$(nat_tables)" = 0 ] || fail "NAT tables remain: $(in_g nft list tables)"
ok "all stopped: nothing of sluice remains"

# --- a foreign rule at a client's priorities (another tunnel whose name hashes alike): refused at start, named
in_c ip rule add prio "$A_PRIO" lookup 100
rc=0; out=$(in_c timeout 10 "$SLUICED" -f -c "$WORK/$CA.conf" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "rule $A_PRIO lookup 100 is in the way" <<< "$out" || fail "collision: exit $rc, said: $out"
[ "$(rules_at "$A_PRIO" | wc -l)" = 1 ] || fail "the refused start touched the foreign rule: $(in_c ip rule)"
in_c ip rule del prio "$A_PRIO" lookup 100
ok "a foreign rule at $CA's priorities: start refused, named, the rule left alone"

# --- one client's kill switch, a second tunnel beside it (DESIGN 10.6): $CA owns inet sluice_ks, $CB has
# KillSwitch = off. $CB's inner traffic leaves and enters by $CB's TUN link, which the lockdown accepts only by its
# device group (SL_LINK_GROUP = 20880, given to every sluice TUN link when it comes up), never by its name. $CB's
# own datagrams carry a sluice mark and go to a server in the owner's sets: the sets hold every server of the
# owner's config, so $GB's endpoint is a second [Server] of $CA's (not used while $GA answers).
cl_conf "$CA" "$GA" "DNS = off" "KillSwitch = on"
printf '\n[Server]\nEndpoint = %s\nPublicKey = %s\n' "$G_IP:51901" "$(pubkey "$WORK/$GB.key")" >> "$WORK/$CA.conf"
start "$NS_G" "$GA"; GA_PID=$LAST_PID
start "$NS_G" "$GB"; GB_PID=$LAST_PID
start "$NS_C" "$CA"; CA_PID=$LAST_PID
wait_for 10 session_up "$CA" || fail "client $CA (kill switch on) got no session"
ks=$(in_c nft list table inet sluice_ks)
grep -q 'oifgroup 20880 accept' <<< "$ks" && grep -q 'iifgroup 20880 accept' <<< "$ks" || fail "no group rules: $ks"
# a second KillSwitch = on client is refused at start, naming the owner, and takes nothing over (DESIGN 9)
mkdir -p "$WORK/ks"
sed 's/^\[Interface\]$/[Interface]\nKillSwitch = on/' "$WORK/$CB.conf" > "$WORK/ks/$CB.conf"
rc=0; out=$(in_c timeout 10 "$SLUICED" -f -c "$WORK/ks/$CB.conf" 2>&1) || rc=$?
[ "$rc" != 0 ] && grep -q "belongs to $CA" <<< "$out" || fail "second kill switch owner: exit $rc, said: $out"
rc=0; out=$(in_c "$SLUICE" killswitch on "$CB" -c "$WORK/ks/$CB.conf" 2>&1) || rc=$?
[ "$rc" != 0 ] && grep -q "belongs to $CA" <<< "$out" || fail "killswitch on for $CB: exit $rc, said: $out"
in_c "$SLUICE" killswitch status | grep -q "iface=$CA " || fail "the kill switch changed hands: $(in_c "$SLUICE" killswitch status)"
ok "a second KillSwitch = on client ($CB) and \`sluice killswitch on $CB\` are refused, naming $CA"
start "$NS_C" "$CB"; CB_PID=$LAST_PID
wait_for 10 session_up "$CB" || fail "client $CB got no session behind $CA's kill switch"
in_c ip -d link show "$CB" | grep -q ' group 20880 ' || fail "$CB's link not in group 20880: $(in_c ip -d link show "$CB")"
through "$GB" $I2_IP || fail "$I2_IP not through $CB with $CA's kill switch on"
through "$GA" $I_IP || fail "$I_IP not through $CA with its kill switch on"
in_c ping -c 1 -W 1 -I c0 $G_IP >/dev/null 2>&1 && fail "the underlay is open outside the tunnels"
ok "$CA's kill switch on: $CB's tunnel (link group 20880) carries, the underlay stays locked"
# the group is what lets it through: out of the group, $CB's inner traffic is locked down again
in_c ip link set "$CB" group default
through "$GB" $I2_IP && fail "$CB's link passes $CA's kill switch without the sluice group"
in_c ip link set "$CB" group 20880
through "$GB" $I2_IP || fail "$I2_IP not through $CB back in the group"
ok "$CB's link out of the group: locked down; back in it: carries"
stop "$CB_PID"; stop "$CA_PID"; stop "$GB_PID"; stop "$GA_PID"
in_c "$SLUICE" killswitch off || fail "killswitch off"
