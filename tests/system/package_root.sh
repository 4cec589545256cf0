#!/usr/bin/env bash
# package_root: the life cycle of the sluice package in a clean root of its own, run by t_package inside
# `unshare --mount --pid --fork --net --uts --ipc`. The root is an overlay: the host's / as the read-only lower
# layer, everything written going to a tmpfs, with empty /run, /tmp, /home, /root and /work of its own. Its
# network namespace is private too, so the kill switch engaged and released here is never the host's. Nothing
# reaches the host: the mounts die with this process's namespace.
#
#   0. clean:    no sluice package, no /etc/sluice, /var/lib/sluice or unit links (a leftover of the host's
#                is removed in the overlay only)
#   1. install:  files in place, /etc/sluice root-only 0700, the units pass systemd-analyze verify, nothing
#                enabled, started or engaged
#   2. admin:    keys and configs made, checked (sluiced -t), units enabled per interface, kill switch on
#   3. upgrade:  the same package over itself: configs, links, state and the kill switch untouched, nothing
#                started
#   4. remove:   the kill switch released (DESIGN 10.16), the package's files gone, config and state kept
#   5. purge:    state, run directory and unit links gone; only the administrator's own files remain, and
#                nothing else changed on the root
set -euo pipefail
DEB=$1
WORK=$2
R=$WORK/root
OVL=$WORK/ovl
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*" >&2; }

# --- the root
mount --make-rprivate /
mkdir -p "$OVL" "$R"
mount -t tmpfs -o mode=0755 tmpfs "$OVL"
mkdir "$OVL/upper" "$OVL/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$OVL/upper,workdir=$OVL/work" "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
for d in run tmp home root work; do
	[ -d "$R/$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$R/$d"
done
chmod 1777 "$R/tmp"
cp "$DEB" "$R/tmp/sluice.deb"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
ip link set lo up

# Files, links and whiteouts written to the root since it was made (directories left out: a copied-up
# directory says nothing), without dpkg's own records, logs and caches (man-db's index).
changes() {
	(cd "$OVL/upper" && find . -mindepth 1 \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \) \
		-prune -o ! -type d -printf '%P\n' | sort)
}
# Kernel and process state a step must not create: links besides lo, nftables tables, a daemon.
assert_quiet() {
	local links tables
	links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
	[ "$links" = "lo " ] || fail "$1: links appeared: $links"
	tables=$(in_root nft list tables)
	[ -z "$tables" ] || fail "$1: nftables tables appeared: $tables"
	! in_root pgrep -a sluiced || fail "$1: a sluiced runs"
}
ks_status() { local rc=0; in_root sluice killswitch status >/dev/null 2>&1 || rc=$?; echo "$rc"; }
mode_of() { stat -c '%a %U %G' "$R$1"; }
links_of_units() { (cd "$R" && find etc/systemd -name 'sluice*' 2>/dev/null | sort); }

# --- 0. clean
if in_root dpkg-query -W sluice >/dev/null 2>&1; then
	in_root dpkg -P sluice >/dev/null 2>&1 || fail "the host's own sluice package cannot be purged in the root"
fi
rm -rf "$R/etc/sluice" "$R/var/lib/sluice"
rm -f "$R"/etc/systemd/system/*.wants/sluice*
[ -z "$(links_of_units)" ] || fail "unit links left in the root: $(links_of_units)"
assert_quiet "clean root"
base=$(changes)
ok "0. a clean root (an overlay of / in namespaces of its own)"

# --- 1. install
in_root dpkg -i /tmp/sluice.deb > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "dpkg -i"; }
[ "$(in_root dpkg-query -W -f='${Status}' sluice)" = "install ok installed" ] || fail "not installed"
version=$(dpkg-deb -f "$DEB" Version)
in_root sluice --version | grep -qx "sluice ${version%%-*}" || fail "sluice --version: $(in_root sluice --version)"
in_root sluiced -V | grep -qx "sluiced ${version%%-*}" || fail "sluiced -V"
dpkg-deb -c "$DEB" | awk '{print substr($6, 2)}' | sed 's|/$||' | grep -v '^$' > "$WORK/pkgfiles"
while read -r f; do [ -e "$R$f" ] || fail "install: $f missing"; done < "$WORK/pkgfiles"
[ "$(mode_of /etc/sluice)" = "700 root root" ] || fail "/etc/sluice is $(mode_of /etc/sluice)"
[ "$(mode_of /var/lib/sluice)" = "700 root root" ] || fail "/var/lib/sluice is $(mode_of /var/lib/sluice)"
[ -z "$(ls -A "$R/etc/sluice")" ] || fail "/etc/sluice not empty after install"
[ -z "$(links_of_units)" ] || fail "install enabled units: $(links_of_units)"
[ "$(in_root systemctl is-enabled sluiced@sl0.service 2>/dev/null || true)" = disabled ] ||
	fail "sluiced@sl0 is not disabled after install"
mkdir "$R/tmp/units"
cp "$R/lib/systemd/system/sluiced@.service" "$R/tmp/units/sluiced@sl0.service"
cp "$R/lib/systemd/system/sluice-killswitch@.service" "$R/tmp/units/sluice-killswitch@sl0.service"
out=$(in_root env SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no /tmp/units/sluiced@sl0.service \
	/tmp/units/sluice-killswitch@sl0.service 2>&1 | grep -v "ConditionPathExists" || true)
[ -z "$out" ] || fail "systemd-analyze verify: $out"
grep -q "^ExecStart=/usr/sbin/sluiced -f -c /etc/sluice/%i.conf$" "$R/lib/systemd/system/sluiced@.service" ||
	fail "unit does not run the installed daemon"
[ "$(ks_status)" = 3 ] || fail "install: kill switch not off"
assert_quiet "install"
# where the package's paths really are (with merged /usr, /lib/systemd/system is /usr/lib/systemd/system)
while read -r f; do p=$(readlink -f "$R$f"); echo "${p#"$R"/}"; done < "$WORK/pkgfiles" > "$WORK/pkgphys"
extra=$(comm -13 <(echo "$base") <(changes) | grep -vxF -f "$WORK/pkgphys" || true)
[ -z "$extra" ] || fail "install wrote outside the package's files: $extra"
ok "1. install: $(wc -l < "$WORK/pkgfiles") paths, /etc/sluice 0700, units verify, nothing enabled, started or engaged"

# --- 2. what an administrator does
in_root sh -c 'umask 077; sluice genkey > /etc/sluice/sl0.key; sluice genkey > /etc/sluice/gw0.key'
gwpub=$(in_root sh -c 'sluice pubkey < /etc/sluice/gw0.key')
clpub=$(in_root sh -c 'sluice pubkey < /etc/sluice/sl0.key')
sed "s|^PublicKey = .*|PublicKey = $gwpub|" "$R/usr/share/doc/sluice/examples/sl0.conf" > "$R/etc/sluice/sl0.conf"
sed "s|^PublicKey = .*|PublicKey = $clpub|" "$R/usr/share/doc/sluice/examples/gw0.conf" > "$R/etc/sluice/gw0.conf"
chmod 0600 "$R"/etc/sluice/*.conf
in_root sluiced -t -c /etc/sluice/sl0.conf >/dev/null || fail "the example client does not pass sluiced -t"
in_root sluiced -t -c /etc/sluice/gw0.conf >/dev/null || fail "the example gateway does not pass sluiced -t"
in_root systemctl enable sluiced@gw0.service sluiced@sl0.service sluice-killswitch@sl0.service \
	>/dev/null 2>&1 || fail "systemctl enable (offline, in the root)"
[ "$(links_of_units | wc -l)" -eq 3 ] || fail "enabled unit links: $(links_of_units)"
in_root sluice killswitch on sl0 >/dev/null || fail "sluice killswitch on sl0"
[ "$(ks_status)" = 0 ] || fail "kill switch not on"
echo "$clpub 10.66.0.2" > "$R/var/lib/sluice/gw0.leases"
mkdir -p "$R/run/sluice"
admin_files=$(cd "$R" && find etc/sluice -type f | sort)
sums=$(cd "$R" && md5sum etc/sluice/* var/lib/sluice/*)
ruleset=$(in_root nft list table inet sluice_ks)
links=$(links_of_units)
ok "2. admin: keys, configs (sluiced -t ok), three units enabled, kill switch on, a lease"

# --- 3. upgrade over itself
in_root dpkg -i /tmp/sluice.deb > "$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log"; fail "dpkg -i (upgrade)"; }
[ "$(in_root dpkg-query -W -f='${Status}' sluice)" = "install ok installed" ] || fail "upgrade: not installed"
[ "$(cd "$R" && md5sum etc/sluice/* var/lib/sluice/*)" = "$sums" ] || fail "upgrade changed configs or state"
[ "$(mode_of /etc/sluice)" = "700 root root" ] || fail "upgrade: /etc/sluice is $(mode_of /etc/sluice)"
[ "$(links_of_units)" = "$links" ] || fail "upgrade changed unit links: $(links_of_units)"
[ "$(ks_status)" = 0 ] && [ "$(in_root nft list table inet sluice_ks)" = "$ruleset" ] ||
	fail "upgrade touched the kill switch"
[ "$(in_root nft list tables)" = "table inet sluice_ks" ] || fail "upgrade: tables $(in_root nft list tables)"
! in_root pgrep -a sluiced || fail "upgrade started a daemon"
[ "$(ip -o link show | wc -l)" -eq 1 ] || fail "upgrade: links appeared"
ok "3. upgrade over itself: configs, state, unit links and the engaged kill switch untouched, nothing started"

# --- 4. remove
in_root dpkg -r sluice > "$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; fail "dpkg -r"; }
grep -q "kill switch released" "$WORK/remove.log" || fail "remove did not say it released the kill switch"
[ "$(in_root dpkg-query -W -f='${Status}' sluice)" = "deinstall ok config-files" ] ||
	fail "remove: status $(in_root dpkg-query -W -f='${Status}' sluice)"
assert_quiet "remove" # the kill switch table is gone
while read -r f; do
	[ -d "$R$f" ] || [ ! -e "$R$f" ] || fail "remove left $f"
done < "$WORK/pkgfiles"
[ "$(cd "$R" && find etc/sluice -type f | sort)" = "$admin_files" ] || fail "remove changed /etc/sluice"
[ "$(cd "$R" && md5sum etc/sluice/* var/lib/sluice/*)" = "$sums" ] || fail "remove changed configs or state"
[ "$(mode_of /etc/sluice)" = "700 root root" ] || fail "remove: /etc/sluice is $(mode_of /etc/sluice)"
ok "4. remove: kill switch released, the package's files gone, configs and state kept"

# --- 5. purge
in_root dpkg -P sluice > "$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg -P"; }
! in_root dpkg-query -W sluice >/dev/null 2>&1 || fail "purge: dpkg still knows sluice"
[ ! -e "$R/var/lib/sluice" ] || fail "purge left /var/lib/sluice"
[ ! -e "$R/run/sluice" ] || fail "purge left /run/sluice"
[ -z "$(links_of_units)" ] || fail "purge left unit links: $(links_of_units)"
[ "$(cd "$R" && find etc/sluice | sort)" = "$(printf 'etc/sluice\n%s' "$admin_files")" ] ||
	fail "purge: /etc/sluice holds $(cd "$R" && find etc/sluice)"
assert_quiet "purge"
left=$(comm -3 <(echo "$base") <(changes) | sed 's/^\t//' | grep -vxF -f <(echo "$admin_files") || true)
[ -z "$left" ] || fail "purge left on the root: $left"
ok "5. purge: only the administrator's keys and configs remain in /etc/sluice; nothing else on the root"
