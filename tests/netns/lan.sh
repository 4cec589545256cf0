# lan.sh: a second topology for the tests of several servers and host names (t_failover, t_names). Source it
# after lib.sh and call lan_up instead of topo_up. A switch (a bridge in its own namespace) joins the client,
# two gateways and a DNS resolver on 198.18.0.0/24; a bridge on the internet host joins both gateways' egress:
#
#   client 198.18.0.2 ──┐                      ┌── 198.18.0.1  gateway 1 ($NS_G)  198.19.0.1 ──┐
#   ($NS_C, c0)         └─ switch ($NS_L, br0) ┼── 198.18.0.3  gateway 2 ($NS_G2) 198.19.0.3 ──┴─ 198.19.0.2 internet
#                                              └── 198.18.0.53 resolver ($NS_D: dnsmasq)            ($NS_I, br1)
#
# Gateway 1 is also the client's default router (its "ISP"), as in topo_up. Every namespace is removed by
# lib.sh's cleanup (EXTRA_NS), also when the test fails.

NS_G2="slg2-$TAG"
NS_L="sll-$TAG"
NS_D="sld-$TAG"
G2_IP=198.18.0.3
GE2_IP=198.19.0.3
D_IP=198.18.0.53

in_g2() { ip netns exec "$NS_G2" "$@"; }
in_d() { ip netns exec "$NS_D" "$@"; }

lan_up() {
	ip netns add "$NS_C"
	ip netns add "$NS_G"
	ip netns add "$NS_I"
	for ns in "$NS_C" "$NS_G" "$NS_I"; do
		mkdir -p "/etc/netns/$ns"
		echo "nameserver 127.0.0.1" > "/etc/netns/$ns/resolv.conf" # never the host's
		ip -n "$ns" link set lo up
	done
	for ns in "$NS_G2" "$NS_L" "$NS_D"; do ns_add "$ns"; done
	# the switch: one port per host
	ip -n "$NS_L" link add br0 type bridge
	ip link add c0 netns "$NS_C" type veth peer name pc netns "$NS_L"
	ip link add g0 netns "$NS_G" type veth peer name p1 netns "$NS_L"
	ip link add g0 netns "$NS_G2" type veth peer name p2 netns "$NS_L"
	ip link add d0 netns "$NS_D" type veth peer name pd netns "$NS_L"
	for p in pc p1 p2 pd; do
		ip -n "$NS_L" link set "$p" master br0
		ip -n "$NS_L" link set "$p" up
	done
	ip -n "$NS_L" link set br0 up
	# the internet side: both gateways' egress on one bridge of the internet host
	ip -n "$NS_I" link add br1 type bridge
	ip link add g1 netns "$NS_G" type veth peer name i1 netns "$NS_I"
	ip link add g1 netns "$NS_G2" type veth peer name i2 netns "$NS_I"
	for p in i1 i2; do
		ip -n "$NS_I" link set "$p" master br1
		ip -n "$NS_I" link set "$p" up
	done
	ip -n "$NS_I" addr add $I_IP/24 dev br1
	ip -n "$NS_I" link set br1 up
	ip -n "$NS_C" addr add $C_IP/24 dev c0
	ip -n "$NS_G" addr add $G_IP/24 dev g0
	ip -n "$NS_G" addr add $GE_IP/24 dev g1
	ip -n "$NS_G2" addr add $G2_IP/24 dev g0
	ip -n "$NS_G2" addr add $GE2_IP/24 dev g1
	ip -n "$NS_D" addr add $D_IP/24 dev d0
	for l in "$NS_C c0" "$NS_G g0" "$NS_G g1" "$NS_G2 g0" "$NS_G2 g1" "$NS_D d0"; do
		set -- $l
		ip -n "$1" link set "$2" up
	done
	ip -n "$NS_C" route add default via $G_IP
	ip -n "$NS_G" route add default via $I_IP
	ip -n "$NS_G2" route add default via $I_IP
	ip -n "$NS_I" route add 198.18.0.0/15 via $GE_IP
	in_g sysctl -qw net.ipv4.ip_forward=1
	in_g2 sysctl -qw net.ipv4.ip_forward=1
}

# cl_conf_servers CLIENT_IFACE [extra [Interface] lines] — a client config without [Server]; append them with
# add_server.
cl_conf_servers() {
	local cl=$1; shift
	[ -f "$WORK/$cl.key" ] || genkey "$WORK/$cl.key"
	{
		echo "[Interface]"
		echo "Mode = client"
		echo "PrivateKeyFile = $WORK/$cl.key"
		echo "PingInterval = 5"
		echo "StateDir = $WORK/clstate"
		for l in "$@"; do echo "$l"; done
	} > "$WORK/$cl.conf"
}

# add_server CLIENT_IFACE GW_IFACE ENDPOINT
add_server() {
	{
		echo
		echo "[Server]"
		echo "Endpoint = $3"
		echo "PublicKey = $(pubkey "$WORK/$2.key")"
	} >> "$WORK/$1.conf"
}

# which gateway the tunnel goes through: the source the internet host's UDP echo logged last (after masquerade)
via() {
	in_c python3 "$SLUICE_SRC/tests/netns/peer.py" udp-xfer $I_IP 5353 1 >/dev/null 2>&1 || return 1
	tail -n 1 "$WORK/udp.log"
}
