#!/usr/bin/env bash
# t_configcheck: `sluiced -t -c FILE` checks a configuration without touching the kernel. Good gateway and
# client files pass (exit 0, "configuration ok"); each broken file fails with exit 2 and FILE:LINE; the check
# runs in a network namespace of its own and leaves it as it found it (only lo, no nftables table, no control
# socket), and works for an unprivileged user who can read the file and key. The systemd unit runs it before
# every reload.
set -euo pipefail
: "${SLUICE_BUILD:?}" "${SLUICE_SRC:?}"
SLUICED=$SLUICE_BUILD/daemon/sluiced
SLUICE=$SLUICE_BUILD/daemon/cli/sluice
WORK=$(mktemp -d /tmp/sluice-cfgcheck.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*" >&2; }

"$SLUICE" genkey > "$WORK/gw9.key" 2>/dev/null
"$SLUICE" genkey > "$WORK/cl9.key" 2>/dev/null
gwpub=$("$SLUICE" pubkey < "$WORK/gw9.key")
clpub=$("$SLUICE" pubkey < "$WORK/cl9.key")
cat > "$WORK/gw9.conf" <<EOF
[Interface]
Mode = server
PrivateKeyFile = gw9.key
Listen = 0.0.0.0:51999
Address = 10.99.0.1/24
DNS = 9.9.9.9

[Client]
Name = laptop
PublicKey = $clpub
Address = 10.99.0.7
EOF
cat > "$WORK/cl9.conf" <<EOF
[Interface]
Mode = client
PrivateKeyFile = cl9.key
KillSwitch = on
Routes = 0.0.0.0/0

[Server]
Endpoint = vpn.example.net:51999
PublicKey = $gwpub
EOF

# --- good files pass, inside a namespace of their own that stays untouched
out=$(unshare --net -- bash -c "
	'$SLUICED' -t -c '$WORK/gw9.conf' && '$SLUICED' -t -c '$WORK/cl9.conf' || exit 9
	echo links: \$(ip -o link show | awk -F': ' '{print \$2}')
	echo tables: \$(nft list tables | wc -l)") || fail "good configurations refused: $out"
grep -qx "$WORK/gw9.conf: configuration ok (gateway gw9)" <<<"$out" || fail "gateway: $out"
grep -qx "$WORK/cl9.conf: configuration ok (client cl9)" <<<"$out" || fail "client: $out"
grep -qx "links: lo" <<<"$out" || fail "the check created a link: $out"
grep -qx "tables: 0" <<<"$out" || fail "the check created an nftables table: $out"
[ ! -e /run/sluice/gw9.sock ] && [ ! -e /run/sluice/cl9.sock ] || fail "the check opened a control socket"
ok "good gateway and client configurations pass; nothing created in the namespace"

"$SLUICED" --check --config "$WORK/gw9.conf" >/dev/null || fail "--check --config (the long options)"

# --- an unprivileged user who can read the files checks them too
chmod 0755 "$WORK"
chown nobody "$WORK"/gw9.conf "$WORK"/gw9.key
runuser -u nobody -- "$SLUICED" -t -c "$WORK/gw9.conf" >/dev/null || fail "check as an unprivileged user"
chown root "$WORK"/gw9.conf "$WORK"/gw9.key
ok "the check needs no privilege"

# --- every broken file: exit 2 and FILE:LINE: what is wrong
check_bad() { # file-content-transform expected-message
	local name=$1 sedexpr=$2 want=$3 rc=0 msg
	sed -e "$sedexpr" "$WORK/$name.conf" > "$WORK/bad.conf"
	msg=$("$SLUICED" -t -c "$WORK/bad.conf" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq 2 ] || fail "'$sedexpr': exit $rc, want 2 ($msg)"
	grep -qF -- "$WORK/bad.conf:$want" <<<"$msg" || fail "'$sedexpr': got '$msg', want ':$want'"
}
check_bad gw9 's/^Listen = .*/Listen = 0.0.0.0:0/' "4: Listen: '0.0.0.0:0' is not ADDRESS:PORT"
check_bad gw9 's/^Address = 10.99.0.1\/24/Address = 10.99.0.0\/24/' "5: Address: 10.99.0.0/24 is the network"
check_bad gw9 's/^Address = 10.99.0.7/Address = 10.98.0.7/' "11: [Client] 'laptop': Address 10.98.0.7 is not"
check_bad gw9 's/^DNS = .*/DNS = nine/' "6: DNS: 'nine' is not an IPv4 or IPv6 address"
check_bad gw9 's/^PublicKey = .*/PublicKey = abc/' "10: PublicKey: 'abc' is not a base64 public key"
check_bad gw9 's/^PrivateKeyFile = .*/PrivateKeyFile = missing.key/' "3: PrivateKeyFile"
check_bad gw9 's/^Mode = server/Mode = server\nUser = no-such-user-here/' "3: User 'no-such-user-here'"
check_bad cl9 's/^Endpoint = .*/Endpoint = vpn_1.example.net:51999/' "8: Endpoint: 'vpn_1.example.net' is neither"
check_bad cl9 's/^Endpoint = .*/Endpoint = vpn.example.net/' "8: Endpoint: 'vpn.example.net' is not HOST:PORT"
check_bad cl9 's/^Routes = .*/Routes = 10.0.0.1\/8/' "5: Routes: '10.0.0.1/8' has host bits set"
check_bad cl9 's/^KillSwitch = .*/KillSwitch = perhaps/' "4: KillSwitch: 'perhaps' is not on or off"
check_bad cl9 's/^KillSwitch = .*/MetricsListen = [::1]:99999/' "4: MetricsListen: '[::1]:99999' is not ADDRESS:PORT"
cp "$WORK/gw9.key" "$WORK/open.key" && chmod 0644 "$WORK/open.key"
check_bad gw9 's/^PrivateKeyFile = .*/PrivateKeyFile = open.key/' "3: PrivateKeyFile"
echo "not a key" > "$WORK/junk.key" && chmod 0600 "$WORK/junk.key"
check_bad gw9 's/^PrivateKeyFile = .*/PrivateKeyFile = junk.key/' "3: PrivateKeyFile"
rc=0; "$SLUICED" -t -c "$WORK/none.conf" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "missing file: exit $rc, want 2"
ok "broken files: exit 2 with FILE:LINE"

# --- the unit checks before it signals the daemon
unit=$SLUICE_SRC/dist/systemd/sluiced@.service
mapfile -t reload < <(grep '^ExecReload=' "$unit")
[ "${#reload[@]}" -eq 2 ] && grep -q 'sluiced -t -c /etc/sluice/%i.conf$' <<<"${reload[0]}" &&
	grep -q 'kill -HUP \$MAINPID' <<<"${reload[1]}" || fail "unit: ExecReload does not check first: ${reload[*]}"
ok "sluiced@.service: ExecReload checks, then signals"
grep -qx 'Restart=on-failure' "$unit" && grep -qx 'RestartPreventExitStatus=2' "$unit" ||
	fail "unit: a bad configuration (exit 2) would be restarted for ever: $(grep '^Restart' "$unit")"
ok "sluiced@.service: restarts after a failure, not after exit 2 (bad configuration)"
echo "t_configcheck: all checks passed"
