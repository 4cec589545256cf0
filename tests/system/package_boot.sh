#!/usr/bin/env bash
# package_boot: the installed units under a real systemd, run by t_package inside `unshare --mount --pid
# --fork --mount-proc`. A clean root (the host's / as the read-only lower layer of an overlay, writes to a
# tmpfs) gets the package, then boots with systemd-nspawn in a network namespace of its own; a oneshot unit
# there (probe.sh) starts sluiced@gw0 and sluiced@sl0 as an administrator would and writes what it finds to
# /probe.out, then powers the container off. This script then checks it: both daemons up and authenticated
# inside the sandbox (seccomp filter, no_new_privs, bounded capabilities, a private /dev holding the TUN
# device, /proc/sys read-only but for what the daemon writes), the kernel tunables it writes written, the
# client's DNS written to /etc/resolv.conf and restored, the metrics endpoint answering, a good reload done,
# a broken one refused with the daemon still running, and everything removed again by `systemctl stop` (the
# forwarding sysctl restored, no link, no table).
set -euo pipefail
DEB=$1
WORK=$2
R=$WORK/boot
OVL=$WORK/boot-ovl
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*" >&2; }

mount --make-rprivate /
mkdir -p "$OVL" "$R"
mount -t tmpfs -o mode=0755 tmpfs "$OVL"
mkdir "$OVL/upper" "$OVL/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$OVL/upper,workdir=$OVL/work" "$R"
for d in run tmp home root work; do
	[ -d "$R/$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$R/$d"
done
chmod 1777 "$R/tmp"
cp "$DEB" "$R/tmp/sluice.deb"
chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg -i /tmp/sluice.deb > "$WORK/boot-install.log" 2>&1 ||
	{ cat "$WORK/boot-install.log"; fail "dpkg -i in the boot root"; }
cp "$(dirname "$0")/probe.sh" "$R/probe.sh"
cat > "$R/etc/systemd/system/sluice-probe.service" <<'EOF'
[Unit]
Description=sluice package probe (t_package)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh /probe.sh
ExecStopPost=/bin/systemctl --no-block poweroff
EOF
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
ln -sf ../sluice-probe.service "$R/etc/systemd/system/multi-user.target.wants/sluice-probe.service"
echo sluice-probe > "$R/etc/hostname"
rm -f "$R/etc/machine-id" && : > "$R/etc/machine-id" # a machine id of its own, made at boot

mount -t tmpfs -o mode=0755 tmpfs /run # what systemd-nspawn keeps under /run stays in this namespace
timeout 150 systemd-nspawn -q -D "$R" -b --private-network --register=no --keep-unit --link-journal=no \
	--resolv-conf=off --console=pipe > "$WORK/boot-console.log" 2>&1 < /dev/null || true
P=$R/probe.out
[ -f "$P" ] || { tail -n 30 "$WORK/boot-console.log"; fail "the container did not run the probe"; }
cp "$P" "$WORK/probe.out"
grep -qx "PROBE-DONE" "$P" || { cat "$P"; fail "the probe did not finish"; }
want() { grep -qx -- "$1" "$P" || { cat "$P"; fail "probe: no line '$1'"; }; }
want "active gw0 active"
want "active sl0 active"
want "state sl0 up"
want "seccomp gw0 2"
want "nnp gw0 1"
want "capbnd gw0 0000000000001400"
want "tun in private dev gw0 yes"
want "disk in private dev gw0 no"
want "proc/sys gw0 ro"
want "ip_forward gw0 rw"
want "ip_forward 1"
# the v4-only gateway keeps IPv6 off its TUN; the client turns it on to capture ::/0 there (no IPv6 leak, DESIGN 10.2)
want "disable_ipv6 1 0"
want "dns written yes"
want "metrics 200 text/plain; version=0.0.4; charset=utf-8"
want "reload good 0"
want "reload broken 1"
want "after broken reload active"
want "stop 0"
want "dns restored after stop yes"
want "ip_forward after stop 0"
want "links after stop lo"
want "tables after stop 0"
ok "boot: sluiced@gw0 and @sl0 up under systemd in their sandbox (seccomp, no_new_privs, CAP_NET_ADMIN +" \
	"NET_BIND_SERVICE, private /dev with the TUN, /proc/sys read-only but ip_forward); DNS and metrics work;" \
	"reload checks first; stop leaves nothing"
