#!/bin/sh
# probe: runs inside the container package_boot.sh boots, as a oneshot unit after multi-user.target. It does
# what an administrator does with the installed package and prints one "what value" line per finding to
# /probe.out; package_boot.sh judges them. Bounded: every wait polls for at most 20 s.
exec > /probe.out 2>&1
PATH=/usr/sbin:/usr/bin:/sbin:/bin
cd /etc/sluice || exit 1
umask 077
sluice genkey > gw0.key 2>/dev/null
sluice genkey > sl0.key 2>/dev/null
cat > gw0.conf <<EOF
[Interface]
Mode = server
PrivateKeyFile = /etc/sluice/gw0.key
Listen = 127.0.0.1:51900
Address = 10.66.0.1/24
Egress = lo
MetricsListen = 127.0.0.1:9586
DNS = 10.66.0.1

[Client]
Name = sl0
PublicKey = $(sluice pubkey < sl0.key)
EOF
cat > sl0.conf <<EOF
[Interface]
Mode = client
PrivateKeyFile = /etc/sluice/sl0.key
Routes = 10.77.0.0/24

[Server]
Endpoint = 127.0.0.1:51900
PublicKey = $(sluice pubkey < gw0.key)
EOF
sysctl -qw net.ipv4.ip_forward=0
resolv_before=$(md5sum < /etc/resolv.conf)
poll() { i=0; while [ $i -lt 200 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; i=$((i + 1)); done; return 1; }
up() { [ "$(sluice show -r "$1" 2>/dev/null | sed -n 's/^supervisor=//p')" = up ]; }

systemctl start sluiced@gw0.service
systemctl start sluiced@sl0.service
poll up sl0
for i in gw0 sl0; do
	echo "active $i $(systemctl is-active sluiced@$i.service)"
done
echo "state sl0 $(sluice show -r sl0 | sed -n 's/^supervisor=//p')"
pid=$(systemctl show -p MainPID --value sluiced@gw0.service)
echo "seccomp gw0 $(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/$pid/status)"
echo "nnp gw0 $(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/$pid/status)"
echo "capbnd gw0 $(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/$pid/status)"
[ -c /proc/$pid/root/dev/net/tun ] && t=yes || t=no
echo "tun in private dev gw0 $t"
ls /proc/$pid/root/dev | grep -Eq '^(vd|sd|nvme|loop)' && d=yes || d=no
echo "disk in private dev gw0 $d"
# mount options of the service's view: field 5 is the mount point, field 6 its options
echo "proc/sys gw0 $(awk '$5 == "/proc/sys" { split($6, o, ","); print o[1] }' /proc/$pid/mountinfo | tail -n 1)"
echo "ip_forward gw0 $(awk '$5 == "/proc/sys/net/ipv4/ip_forward" { split($6, o, ","); print o[1] }' /proc/$pid/mountinfo | tail -n 1)"
echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
echo "disable_ipv6 $(cat /proc/sys/net/ipv6/conf/gw0/disable_ipv6 /proc/sys/net/ipv6/conf/sl0/disable_ipv6 | tr '\n' ' ' | sed 's/ $//')"
grep -q '^nameserver 10.66.0.1$' /etc/resolv.conf && r=yes || r=no
echo "dns written $r"
echo "metrics $(curl -s -o /dev/null -w '%{http_code} %{content_type}' http://127.0.0.1:9586/metrics)"
systemctl reload sluiced@gw0.service
echo "reload good $?"
echo "Bogus = 1" >> gw0.conf
systemctl reload sluiced@gw0.service 2>/dev/null
echo "reload broken $?"
echo "after broken reload $(systemctl is-active sluiced@gw0.service)"
systemctl stop sluiced@sl0.service sluiced@gw0.service
echo "stop $?"
[ "$(md5sum < /etc/resolv.conf)" = "$resolv_before" ] && r=yes || r=no
echo "dns restored after stop $r"
echo "ip_forward after stop $(cat /proc/sys/net/ipv4/ip_forward)"
echo "links after stop $(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ' | sed 's/ $//')"
echo "tables after stop $(nft list tables | wc -l)"
echo "--- journal"
journalctl --no-pager -o cat -u sluiced@gw0.service -u sluiced@sl0.service
echo PROBE-DONE
