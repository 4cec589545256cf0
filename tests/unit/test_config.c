/* test_config: good gateway and client files with every key and the defaults, then one bad file per error with
 * the exact "FILE:LINE: what" message expected. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/config.h"
#include "daemon/dataplane/wire.h"
#include "daemon/keys.h"
#include "tests/unit/check.h"

#define K1 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define K2 "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw="

static char dir[] = "/tmp/sluice-cfg-XXXXXX";
static char keyfile[128];

static int parse(const char *text, const char *name, struct sl_config *c, struct sl_err *e)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return config_parse(text, strlen(text), path, true, c, e);
}

static void test_server_good(void)
{
	char text[2048];
	struct sl_config c;
	struct sl_err e = {{0}};

	snprintf(text, sizeof(text),
		 "# gateway\n[Interface]\nmode = Server\nPrivateKeyFile = %s  # key\nListen = 0.0.0.0:51900\n"
		 "Address = 10.66.0.1/24\nMTU = 1400\nEgress = eth0\nDNS = 9.9.9.9, 2620:fe::fe ,1.1.1.1\nStateDir = /tmp/st\n"
		 "Domains = corp.example, lab.corp.example\n"
		 "SessionLifetime = 600\nStatsInterval = 30\nMetricsListen = 127.0.0.1:9586\n\n[client]\nName = laptop\n"
		 "PublicKey = " K1 "\n"
		 "Address = 10.66.0.7\n[Client]\nName = phone\nPublicKey = " K2 "\n",
		 keyfile);
	CHECK(parse(text, "gw0.conf", &c, &e) == 0);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);
	CHECK(c.mode == SL_MODE_SERVER && !strcmp(c.ifname, "gw0") && c.mtu == 1400);
	CHECK(c.listen.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&c.listen)->sin_port) == 51900);
	CHECK(c.address.len == 24 && c.address.addr.s_addr == inet_addr("10.66.0.1"));
	CHECK(!strcmp(c.egress, "eth0") && c.n_dns == 3 && c.dns[2].family == AF_INET &&
	      c.dns[2].v4.s_addr == inet_addr("1.1.1.1") && c.dns[1].family == AF_INET6 && c.dns[1].v6.s6_addr[15] == 0xfe);
	CHECK(c.n_domains == 2 && !strcmp(c.domains[1], "lab.corp.example"));
	CHECK(!strcmp(c.state_dir, "/tmp/st") && c.session_lifetime == 600 && c.stats_interval == 30);
	CHECK(c.metrics_listen_len == sizeof(struct sockaddr_in) && c.metrics_listen.ss_family == AF_INET &&
	      ntohs(((struct sockaddr_in *)&c.metrics_listen)->sin_port) == 9586);
	CHECK(c.n_clients == 2 && !strcmp(c.clients[0].name, "laptop") && c.clients[0].has_addr);
	CHECK(c.clients[0].addr.s_addr == inet_addr("10.66.0.7") && !c.clients[1].has_addr);
	uint8_t zero[SL_KEY_LEN] = {0};
	CHECK(memcmp(c.public_key, zero, SL_KEY_LEN) != 0);
	config_free(&c);

	/* dual stack (DESIGN 9): a prefix of each family, fixed addresses of either, NAT = off */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\n"
		 "Address = fd66::1/64 , 10.66.0.1/24\nNAT = off\n"
		 "[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::ff07, 10.66.0.7\n"
		 "[Client]\nName = b\nPublicKey = " K2 "\nAddress = fd66::8\n",
		 keyfile);
	CHECK(parse(text, "gw6.conf", &c, &e) == 0);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);
	CHECK(c.address.len == 24 && c.address6.len == 64 && c.address6.addr.s6_addr[15] == 1 && c.nat_off);
	CHECK(c.clients[0].has_addr && c.clients[0].has_addr6 && c.clients[0].addr6.s6_addr[14] == 0xff &&
	      c.clients[0].addr6.s6_addr[15] == 7);
	CHECK(!c.clients[1].has_addr && c.clients[1].has_addr6 && c.clients[1].addr6.s6_addr[15] == 8);
	{
		struct in6_addr a;
		uint32_t off = 0;
		struct sl_prefix6 small = {.len = 120};
		inet_pton(AF_INET6, "fd66::ff07", &a);
		CHECK(pool6_offset(&c.address6, &a, &off) && off == 0xff07);
		inet_pton(AF_INET6, "fd66::1:0", &a);
		CHECK(!pool6_offset(&c.address6, &a, NULL)); /* past the first 65536 */
		inet_pton(AF_INET6, "fd67::7", &a);
		CHECK(!pool6_offset(&c.address6, &a, NULL)); /* another prefix */
		inet_pton(AF_INET6, "fd66::1:100", &small.addr);
		inet_pton(AF_INET6, "fd66::1:1ff", &a);
		CHECK(pool6_offset(&small, &a, &off) && off == 0xff); /* a /120: the last 8 bits only */
		inet_pton(AF_INET6, "fd66::1:200", &a);
		CHECK(!pool6_offset(&small, &a, NULL));
	}
	config_free(&c);

	/* IPv6 only (DESIGN 9: either family may be absent): no IPv4 pool, fixed IPv6 addresses and Subnets */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = [::]:51900\nAddress = fd66::1/64\n"
		 "[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::7\nSubnets = fd50::/64\n",
		 keyfile);
	CHECK(parse(text, "gw6only.conf", &c, &e) == 0);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);
	CHECK(c.address.len == 0 && c.address6.len == 64 && c.n_clients == 1 && !c.clients[0].has_addr &&
	      c.clients[0].has_addr6 && c.clients[0].n_subnets == 1);
	config_free(&c);

	/* defaults, IPv6 Listen, Name = */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = [::]:443\nAddress = 10.9.0.1/16\n"
		 "Name = vpn7\n",
		 keyfile);
	CHECK(parse(text, "x.conf", &c, &e) == 0);
	CHECK(!strcmp(c.ifname, "vpn7") && c.mtu == 0 /* derived */ && c.listen.ss_family == AF_INET6);
	CHECK(!strcmp(c.state_dir, SL_STATE_DIR_DEFAULT) && c.session_lifetime == SL_SESSION_LIFETIME_DEFAULT);
	CHECK(c.n_clients == 0 && c.egress[0] == 0 && c.stats_interval == 0 && c.metrics_listen_len == 0);
	CHECK(c.address6.len == 0 && !c.nat_off); /* IPv4 only, NAT on */
	config_free(&c);
}

static void test_client_good(void)
{
	char text[1024];
	struct sl_config c;
	struct sl_err e = {{0}};

	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\nKillSwitch = on\nKillSwitchAllowLAN = yes\n"
		 "Routes = 10.0.0.0/8, 192.168.1.0/24\nKeepalive = 15\nPingInterval = 25\n"
		 "[Server]\nEndpoint = vpn.example.net:51900\nPublicKey = " K1 "\n",
		 keyfile);
	CHECK(parse(text, "sl0.conf", &c, &e) == 0);
	CHECK(c.mode == SL_MODE_CLIENT && !strcmp(c.ifname, "sl0") && c.killswitch && c.killswitch_allow_lan);
	CHECK(c.n_routes == 2 && c.routes[1].len == 24 && !config_full_tunnel(&c));
	CHECK(c.keepalive == 15 && c.ping_interval == 25 && c.n_servers == 1 && c.servers[0].port == 51900);
	CHECK(!strcmp(c.servers[0].host, "vpn.example.net") && c.servers[0].line == 9);
	CHECK(!strcmp(c.state_dir, SL_STATE_DIR_DEFAULT));
	struct sockaddr_storage ss;
	socklen_t len;
	CHECK(!config_server_literal(&c.servers[0], &ss, &len)); /* a name: resolved by the daemon */
	config_free(&c);

	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\n[Server]\nEndpoint = [2001:db8::1]:51900\n"
		 "PublicKey = " K1 "\n",
		 keyfile);
	CHECK(parse(text, "sl1.conf", &c, &e) == 0);
	CHECK(config_full_tunnel(&c) && !c.killswitch && c.keepalive == SL_KEEPALIVE_DEFAULT);
	CHECK(c.ping_interval == SL_PING_INTERVAL_DEFAULT && !strcmp(c.servers[0].host, "2001:db8::1"));
	CHECK(config_server_literal(&c.servers[0], &ss, &len) && ss.ss_family == AF_INET6 &&
	      len == sizeof(struct sockaddr_in6) && ((struct sockaddr_in6 *)&ss)->sin6_port == htons(51900));
	CHECK(c.dns_mode == SL_DNS_ON && !strcmp(c.state_dir, SL_STATE_DIR_DEFAULT));
	config_free(&c);

	/* Routes of both families; ::/0 anywhere is the full tunnel of both (DESIGN 10.2) */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\nRoutes = 10.0.0.0/8, fd50::/64,2001:db8::/32\n"
		 "[Server]\nEndpoint = 198.18.0.1:51900\nPublicKey = " K1 "\n",
		 keyfile);
	CHECK(parse(text, "sl2.conf", &c, &e) == 0);
	CHECK(c.n_routes == 1 && c.n_routes6 == 2 && c.routes6[0].len == 64 && c.routes6[1].len == 32 &&
	      c.routes6[1].addr.s6_addr[1] == 0x01 && !config_full_tunnel(&c));
	config_free(&c);
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\nRoutes = 10.0.0.0/8, ::/0\n"
		 "[Server]\nEndpoint = 198.18.0.1:51900\nPublicKey = " K1 "\n",
		 keyfile);
	CHECK(parse(text, "sl3.conf", &c, &e) == 0);
	CHECK(c.n_routes == 1 && c.n_routes6 == 1 && config_full_tunnel(&c));
	config_free(&c);
}

/* [Server] repeats: every one kept in file order with its own endpoint, key and lines; StateDir on a client */
static void test_client_servers(void)
{
	char text[2048];
	struct sl_config c;
	struct sl_err e = {{0}};
	struct sockaddr_storage ss;
	socklen_t len;

	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\nStateDir = /tmp/cl-state\n"
		 "[Server]\nEndpoint = vpn1.example.net:51900\nPublicKey = " K1 "\n"
		 "# the second gateway\n[server]\nPublicKey = " K2 "\nEndpoint = 198.18.0.3:4242\n"
		 "[Server]\nEndpoint = [2001:db8::7]:51900\nPublicKey = " K1 "\n",
		 keyfile);
	CHECK(parse(text, "sl0.conf", &c, &e) == 0);
	CHECK(!strcmp(c.state_dir, "/tmp/cl-state") && c.n_servers == 3);
	CHECK(!strcmp(c.servers[0].host, "vpn1.example.net") && c.servers[0].port == 51900);
	CHECK(c.servers[0].line == 5 && c.servers[0].endpoint_line == 6);
	CHECK(!strcmp(c.servers[1].host, "198.18.0.3") && c.servers[1].port == 4242 && c.servers[1].line == 9);
	CHECK(c.servers[1].endpoint_line == 11 && c.servers[2].line == 12);
	CHECK(!memcmp(c.servers[0].pubkey, c.servers[2].pubkey, SL_KEY_LEN));
	CHECK(memcmp(c.servers[0].pubkey, c.servers[1].pubkey, SL_KEY_LEN));
	CHECK(config_server_literal(&c.servers[1], &ss, &len) && ss.ss_family == AF_INET);
	CHECK(((struct sockaddr_in *)&ss)->sin_port == htons(4242));
	CHECK(config_server_literal(&c.servers[2], &ss, &len) && ss.ss_family == AF_INET6);
	config_free(&c);

	/* SL_MAX_SERVERS sections are fine, one more is an error on its header line */
	size_t n = (size_t)snprintf(text, sizeof(text), "[Interface]\nMode = client\nPrivateKeyFile = %s\n",
				    keyfile);
	for (int i = 0; i <= SL_MAX_SERVERS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[Server]\nEndpoint = gw%d.example:1\nPublicKey = " K1 "\n",
				      i);
	CHECK(parse(text, "m.conf", &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "m.conf:52: too many [Server] sections (at most 16)");
	text[strlen(text) - strlen("[Server]\nEndpoint = gw16.example:1\nPublicKey = " K1 "\n")] = 0;
	CHECK(parse(text, "m.conf", &c, &e) == 0);
	CHECK(c.n_servers == SL_MAX_SERVERS && !strcmp(c.servers[15].host, "gw15.example"));
	config_free(&c);

	/* client DNS: on | off | a list that overrides the pushed servers; StateDir in both modes */
	const char *modes[] = {"on", "OFF", "10.0.0.53, fd00::53"};
	const enum sl_dns_mode want[] = {SL_DNS_ON, SL_DNS_OFF, SL_DNS_LIST};
	for (int i = 0; i < 3; i++) {
		snprintf(text, sizeof(text),
			 "[Interface]\nMode = client\nPrivateKeyFile = %s\nDNS = %s\nStateDir = /tmp/cs\n"
			 "[Server]\nEndpoint = 198.18.0.1:51900\nPublicKey = " K1 "\n",
			 keyfile, modes[i]);
		CHECK(parse(text, "sl2.conf", &c, &e) == 0);
		CHECK(c.dns_mode == want[i] && !strcmp(c.state_dir, "/tmp/cs"));
		CHECK(i < 2 || (c.n_dns == 2 && c.dns[1].family == AF_INET6));
		config_free(&c);
	}
}

struct bad_case {
	const char *body; /* %s = key file */
	const char *msg;  /* expected substring, with file and line */
};

#define SRV "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
#define CLI "[Interface]\nMode = client\nPrivateKeyFile = %s\n"
#define SRV6 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\n"
#define SRVSECT "[Server]\nEndpoint = 198.18.0.1:51900\nPublicKey = " K1 "\n"

static const struct bad_case bad[] = {
	{SRV "[Peer]\n", "b.conf:6: unknown section '[Peer]'"},
	{SRV "Foo = 1\n", "b.conf:6: unknown key 'Foo' in [Interface]"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nColor = red\n", "b.conf:9: unknown key 'Color' in [Client]"},
	{SRV "KillSwitch = on\n", "b.conf:6: KillSwitch is not a key of a server"},
	{CLI "Listen = 0.0.0.0:1\n" SRVSECT, "b.conf:4: Listen is not a key of a client"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0\nAddress = 10.66.0.1/24\n",
	 "b.conf:4: Listen: '0.0.0.0' is not ADDRESS:PORT"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:0\nAddress = 10.66.0.1/24\n",
	 "b.conf:4: Listen: '0.0.0.0:0' is not ADDRESS:PORT (port 1..65535)"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:70000\nAddress = 10.66.0.1/24\n",
	 "b.conf:4: Listen: '0.0.0.0:70000' is not ADDRESS:PORT"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 300.0.0.1:5\nAddress = 10.66.0.1/24\n",
	 "b.conf:4: Listen: '300.0.0.1' is not an IP address"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:5\nAddress = 10.66.0.1/31\n",
	 "b.conf:5: Address: '10.66.0.1/31' is not an IPv4 address/prefix (prefix 8..30)"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:5\nAddress = 10.66.0.0/24\n",
	 "b.conf:5: Address: 10.66.0.0/24 is the network or broadcast address"},
	{SRV "MTU = 99999\n", "b.conf:6: MTU: 99999 is out of range (576..9000)"},
	{SRV "MTU = 1400x\n", "b.conf:6: MTU: '1400x' is not a number"},
	{SRV "DNS = 9.9.9.9, nine\n", "b.conf:6: DNS: 'nine' is not an IPv4 or IPv6 address"},
	{SRV "DNS = 9.9.9.9 1.1.1.1\n", "b.conf:6: DNS: '9.9.9.9 1.1.1.1' is not an IPv4 or IPv6 address"},
	{SRV "DNS = 9.9.9.9,,1.1.1.1\n", "b.conf:6: DNS: '' is not an IPv4 or IPv6 address"},
	{SRV "DNS = off\n", "b.conf:6: DNS: 'off' is not an IPv4 or IPv6 address"},
	{SRV "DNS = 1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,::1\n", "b.conf:6: DNS: more than 4 servers"},
	{CLI "DNS = maybe\n" SRVSECT, "b.conf:4: DNS: 'maybe' is not an IPv4 or IPv6 address (or on, off)"},
	{SRV "Domains = corp..example\n", "b.conf:6: Domains: 'corp..example' is not a domain name"},
	{SRV "Domains = a.example, b c\n", "b.conf:6: Domains: 'b c' is not a domain name"},
	{SRV "Domains = a,b,c,d,e,f,g\n", "b.conf:6: Domains: more than 6 domains"},
	{CLI "Domains = corp.example\n" SRVSECT, "b.conf:4: Domains is not a key of a client"},
	{CLI "Routes = 10.0.0.1/8\n" SRVSECT, "b.conf:4: Routes: '10.0.0.1/8' has host bits set"},
	{CLI "Routes = 10.0.0.0/33\n" SRVSECT, "b.conf:4: Routes: '10.0.0.0/33' is not an IPv4 prefix"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\n[Client]\nName = b\nPublicKey = " K1 "\n",
	 "b.conf:11: PublicKey: duplicate of client 'a' (line 8)"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nAddress = 10.66.0.9\n[Client]\nName = b\nPublicKey = " K2
	     "\nAddress = 10.66.0.9\n",
	 "b.conf:13: Address: duplicate of client 'a' (line 9)"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\n[Client]\nName = a\nPublicKey = " K2 "\n",
	 "b.conf:10: Name: duplicate of client 'a' (line 7)"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nAddress = 10.67.0.9\n",
	 "b.conf:9: [Client] 'a': Address 10.67.0.9 is not a host address of the pool"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nAddress = 10.66.0.1\n",
	 "b.conf:9: [Client] 'a': Address is the gateway's own"},
	{SRV "[Client]\nName = a\nPublicKey = abc\n", "b.conf:8: PublicKey: 'abc' is not a base64 public key"},
	{SRV "[Client]\nPublicKey = " K1 "\n", "b.conf:6: [Client] needs Name"},
	{"[Interface]\nPrivateKeyFile = %s\n", "b.conf:1: [Interface] needs Mode = server or client"},
	{"[Interface]\nMode = bridge\nPrivateKeyFile = %s\n", "b.conf:2: Mode: 'bridge' is neither server nor client"},
	{CLI "[Server]\nPublicKey = " K1 "\n", "b.conf:4: [Server] needs Endpoint"},
	{CLI "[Server]\nEndpoint = host\nPublicKey = " K1 "\n", "b.conf:5: Endpoint: 'host' is not HOST:PORT"},
	{CLI "[Server]\nEndpoint = vpn_1.example:5\nPublicKey = " K1 "\n",
	 "b.conf:5: Endpoint: 'vpn_1.example' is neither an IP address nor a host name"},
	{CLI "[Server]\nEndpoint = -vpn.example:5\nPublicKey = " K1 "\n", "b.conf:5: Endpoint: '-vpn.example' is"},
	{CLI "[Server]\nEndpoint = vpn..example:5\nPublicKey = " K1 "\n", "b.conf:5: Endpoint: 'vpn..example' is"},
	{CLI "[Server]\nEndpoint = [vpn.example]:5\nPublicKey = " K1 "\n", "b.conf:5: Endpoint: 'vpn.example' is"},
	{SRV "MetricsListen = localhost:9586\n", "b.conf:6: MetricsListen: 'localhost' is not an IP address"},
	{CLI "MetricsListen = 127.0.0.1\n" SRVSECT, "b.conf:4: MetricsListen: '127.0.0.1' is not ADDRESS:PORT"},
	{CLI, "b.conf:1: a client needs a [Server] section"},
	{CLI SRVSECT "[Server]\nPublicKey = " K2 "\n", "b.conf:7: [Server] needs Endpoint"},
	{CLI SRVSECT "[Server]\nEndpoint = 198.18.0.3:1\n", "b.conf:7: [Server] needs PublicKey"},
	{CLI SRVSECT "[Server]\nPublicKey = " K2 "\nEndpoint = 198.18.0.1:51900\n",
	 "b.conf:9: Endpoint: duplicate of the [Server] on line 4"},
	{CLI SRVSECT "[Server]\nEndpoint = 198.18.0.3:1\nEndpoint = 198.18.0.4:1\n",
	 "b.conf:9: duplicate key 'Endpoint' (first on line 8)"},
	{CLI "[Server]\nEndpoint = vpn..example:1\nPublicKey = " K1 "\n",
	 "b.conf:5: Endpoint: 'vpn..example' is neither an IP address nor a host name"},
	{CLI "[Server]\nEndpoint = -vpn.example:1\nPublicKey = " K1 "\n",
	 "b.conf:5: Endpoint: '-vpn.example' is neither an IP address nor a host name"},
	{CLI "[Server]\nEndpoint = [vpn.example]:1\nPublicKey = " K1 "\n",
	 "b.conf:5: Endpoint: 'vpn.example' is not an IPv6 address"},
	{CLI "StateDir = state\n" SRVSECT, "b.conf:4: StateDir: 'state' is not an absolute path"},
	{"Mode = client\n", "b.conf:1: key outside of any section"},
	{SRV "MTU\n", "b.conf:6: expected 'Key = Value', got 'MTU'"},
	{SRV "MTU = \n", "b.conf:6: MTU: empty value"},
	{SRV "MTU = 1400\nmtu = 1300\n", "b.conf:7: duplicate key 'mtu' (first on line 6)"},
	{SRV "[Server]\n" "Endpoint = 1.2.3.4:5\n", "b.conf:6: [Server] belongs in a client's configuration"},
	{CLI "[Client]\nName = x\n" SRVSECT, "[Client] sections belong in a server's configuration"},
	{SRV "[Interface]\n", "b.conf:6: second [Interface] section (first on line 1)"},
	{SRV "Name = a/b\n", "b.conf:6: Name: 'a/b' is not a valid interface name"},
	{"", "b.conf:0: no [Interface] section"},
	{CLI "KillSwitch = maybe\n" SRVSECT, "b.conf:4: KillSwitch: 'maybe' is not on or off"},
	{CLI "Keepalive = 0\n" SRVSECT, "b.conf:4: Keepalive: 0 is out of range (1..3600)"},
	{CLI "User = nobody\n" SRVSECT, "b.conf:4: User"},
	{SRV "User = a b\n", "b.conf:6: User: 'a b' is not a user name"},
	{"[Interface]\nMode = server\nListen = 0.0.0.0:5\nAddress = 10.66.0.1/24\n",
	 "b.conf:1: [Interface] needs PrivateKeyFile"},
	{"[Interface]\nMode = server\nPrivateKeyFile = %s\nAddress = 10.66.0.1/24\n",
	 "b.conf:1: [Interface] of a server needs Listen"},
	/* IPv6 inside the tunnel (DESIGN 9) */
	{SRV6 "MTU = 1400\n", "b.conf:1: [Interface] of a server needs Address (an IPv4 or IPv6 prefix"},
	/* an IPv6-only gateway (no IPv4 pool): nothing IPv4 of a client's */
	{SRV6 "Address = fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nAddress = 10.66.0.7\n",
	 "b.conf:9: [Client] 'a': IPv4 Address 10.66.0.7 but [Interface] Address has no IPv4 prefix"},
	{SRV6 "Address = fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nSubnets = 192.168.50.0/24\n",
	 "b.conf:9: Subnets: 192.168.50.0/24 is IPv4, and [Interface] Address has no IPv4 prefix"},
	{SRV6 "Address = fd66::1/64\nRegistry = etcd://127.0.0.1:2379/sluice\n",
	 "b.conf:1: Registry needs an IPv4 prefix in Address"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64, fd67::1/64\n", "b.conf:5: Address: more than one prefix of each"},
	{SRV6 "Address = fd66::1/64, fd67::1/64\n", "b.conf:5: Address: more than one IPv6 prefix"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/40\n", "b.conf:5: Address: the IPv6 prefix must be 48..120"},
	{SRV6 "Address = 10.66.0.1/24, fd66::/64\n", "b.conf:5: Address: the IPv6 address is the prefix itself"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1 /64\n", "b.conf:5: Address: 'fd66::1 /64' is not an address/prefix"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::1:0:7\n",
	 "b.conf:9: [Client] 'a': Address fd66::1:0:7 is not one of the IPv6 pool's"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::1\n",
	 "b.conf:9: [Client] 'a': Address fd66::1 is the gateway's own"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::\n",
	 "b.conf:9: [Client] 'a': Address fd66:: is not one of the IPv6 pool's"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::7\n",
	 "b.conf:9: [Client] 'a': IPv6 Address fd66::7 but [Interface] Address has no IPv6 prefix"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::7, fd66::8\n",
	 "b.conf:9: Address: more than one IPv6 address"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::9\n"
	      "[Client]\nName = b\nPublicKey = " K2 "\nAddress = 10.66.0.9, fd66::9\n",
	 "b.conf:13: Address: duplicate of client 'a' (line 9)"},
	/* hashed duplicate checks: the earliest clashing client wins, whichever field (its IPv6 Address here) */
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nAddress = fd66::9\n"
	      "[Client]\nName = b\nPublicKey = " K2 "\nAddress = 10.66.0.9\n"
	      "[Client]\nName = b\nPublicKey = 8GlY6X4k7KYyLqyZ8Q0H1DRT0lOK4mB2ryuN8K0VXn0=\nAddress = fd66::9\n",
	 "b.conf:17: Address: duplicate of client 'a' (line 9)"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nSubnets = fd70::/64\n"
	      "[Client]\nName = b\nPublicKey = " K2 "\nSubnets = 10.9.0.0/16, fd70::/64\n",
	 "b.conf:13: Subnets: fd70::/64 is already client 'a''s (line 9)"},
	{SRV "NAT = maybe\n", "b.conf:6: NAT: 'maybe' is not on or off"},
	{CLI "NAT = off\n" SRVSECT, "b.conf:4: NAT is not a key of a client"},
	{CLI "Routes = fd00::1/64\n" SRVSECT, "b.conf:4: Routes: 'fd00::1/64' has host bits set"},
	{CLI "Routes = fd00::/129\n" SRVSECT, "b.conf:4: Routes: 'fd00::/129' is not an IPv4 prefix"},
	/* sites and routing (DESIGN 9) */
	{SRV "PushRoutes = 10.1.0.0/16 10.2.0.0/16\n",
	 "b.conf:6: PushRoutes: '10.1.0.0/16 10.2.0.0/16' is not an IPv4 or IPv6 prefix"},
	{SRV "PushRoutes = 10.1.0.1/16\n", "b.conf:6: PushRoutes: '10.1.0.1/16' has host bits set"},
	{SRV "PushRoutes = fd10::1/64\n", "b.conf:6: PushRoutes: 'fd10::1/64' has host bits set"},
	{SRV "PushRoutes = 10.1.0.0/16,10.1.0.0/16\n", "b.conf:6: PushRoutes: '10.1.0.0/16' is listed twice"},
	{SRV "PushRoutes = 0.0.0.0/0\n", "b.conf:6: PushRoutes: a default route (/0) is not a network here"},
	{SRV "PushRoutes = 10.1.0.0\n", "b.conf:6: PushRoutes: '10.1.0.0' is not an IPv4 or IPv6 prefix"},
	{SRV "PushRoutes = 1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8,6.0.0.0/8,7.0.0.0/8,8.0.0.0/8,"
	     "9.0.0.0/8,10.0.0.0/8,11.0.0.0/8,12.0.0.0/8,13.0.0.0/8,14.0.0.0/8,15.0.0.0/8,16.0.0.0/8,17.0.0.0/8\n",
	 "b.conf:6: PushRoutes: more than 16 prefixes"},
	{SRV "ClientToClient = sometimes\n", "b.conf:6: ClientToClient: 'sometimes' is not on or off"},
	{SRV "NAT = masquerade\n", "b.conf:6: NAT: 'masquerade' is not on or off"},
	{CLI "PushRoutes = 10.1.0.0/16\n" SRVSECT, "b.conf:4: PushRoutes is not a key of a client"},
	{SRV "Subnets = 192.168.1.0/24\n", "b.conf:6: Subnets is not a key of a server"},
	{CLI "Subnets = 192.168.1.1/24\n" SRVSECT, "b.conf:4: Subnets: '192.168.1.1/24' has host bits set"},
	{CLI "Routes = pushed, 10.0.0.0/33\n" SRVSECT, "b.conf:4: Routes: '10.0.0.0/33' is not an IPv4 prefix"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nSubnets = 192.168.50.0/24, fd50::/64\n",
	 "b.conf:9: Subnets: fd50::/64 is IPv6, and [Interface] Address has no IPv6 prefix"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nSubnets = 192.168.50.0/24, fd50::/64 x\n",
	 "b.conf:9: Subnets: 'fd50::/64 x' is not an IPv4 or IPv6 prefix"},
	{SRV "[Client]\nName = a\nPublicKey = " K1 "\nSubnets = 192.168.50.0/24\n[Client]\nName = b\nPublicKey = " K2
	     "\nSubnets = 192.168.51.0/24,192.168.50.0/24\n",
	 "b.conf:13: Subnets: 192.168.50.0/24 is already client 'a''s (line 9)"},
	/* both: Routes takes both families and `pushed`; an IPv6 Subnet needs an IPv6 pool */
	{CLI "Routes = pushed, fd00::1/64\n" SRVSECT, "b.conf:4: Routes: 'fd00::1/64' has host bits set"},
	{CLI "Routes = pushed,\n" SRVSECT, "b.conf:4: Routes: '' is not an IPv4 prefix"},
	{CLI "Routes = push ed\n" SRVSECT, "b.conf:4: Routes: 'push ed' is not an IPv4 prefix"},
	{SRV6 "Address = 10.66.0.1/24, fd66::1/64\n[Client]\nName = a\nPublicKey = " K1 "\nSubnets = fd50::/64\n"
	      "[Client]\nName = b\nPublicKey = " K2 "\nSubnets = fd50::/64\n",
	 "b.conf:13: Subnets: fd50::/64 is already client 'a''s (line 9)"},
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[2048];
		struct sl_config c;
		struct sl_err e = {{0}};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(text, sizeof(text), bad[i].body, keyfile, keyfile); /* the table's own literals */
#pragma GCC diagnostic pop
		int ret = parse(text, "b.conf", &c, &e);
		CHECK(ret == -EINVAL);
		if (!strstr(e.msg, bad[i].msg))
			fprintf(stderr, "case %zu: got \"%s\"\n", i, e.msg);
		CHECK_STR_CONTAINS(e.msg, bad[i].msg);
		CHECK(c.clients == NULL); /* nothing to free after an error */
	}
}

/* DESIGN 9 "Sites and routing": every new key, both families, and the defaults */
static void test_sites(void)
{
	char text[2048];
	struct sl_config c;
	struct sl_err e = {{0}};

	snprintf(text, sizeof(text),
		 SRV "PushRoutes = 10.1.0.0/16, fd10:1::/48\nClientToClient = on\nNAT = off\n"
		     "[Client]\nName = branch\nPublicKey = " K1 "\nSubnets = 192.168.50.0/24, 192.168.60.0/24\n"
		     "[Client]\nName = phone\nPublicKey = " K2 "\n",
		 keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);
	CHECK(c.n_push_routes == 2 && c.push_routes[0].a.family == AF_INET && c.push_routes[0].len == 16 &&
	      c.push_routes[1].a.family == AF_INET6 && c.push_routes[1].len == 48);
	CHECK(c.client_to_client && c.nat_off);
	CHECK(c.n_clients == 2 && c.clients[0].n_subnets == 2 && c.clients[0].subnets[0].len == 24 &&
	      c.clients[0].subnets[0].a.v4.s_addr == inet_addr("192.168.50.0") &&
	      c.clients[0].subnets[1].len == 24 && c.clients[1].n_subnets == 0);
	config_free(&c);

	/* defaults: nothing pushed, ClientToClient off, NAT on */
	snprintf(text, sizeof(text), SRV, keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	CHECK(c.n_push_routes == 0 && !c.client_to_client && !c.nat_off);
	config_free(&c);

	/* client: Routes = pushed alone is a split tunnel with no prefix of its own; in a list it adds the
	 * pushed ones; Subnets names the client's LAN */
	snprintf(text, sizeof(text), CLI "Routes = pushed\nSubnets = 192.168.50.0/24\n" SRVSECT, keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	CHECK(c.routes_pushed && c.n_routes == 0 && !config_full_tunnel(&c));
	CHECK(c.n_subnets == 1 && c.subnets[0].len == 24);
	config_free(&c);
	snprintf(text, sizeof(text), CLI "Routes = 10.9.0.0/16, Pushed\n" SRVSECT, keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	CHECK(c.routes_pushed && c.n_routes == 1 && c.routes[0].len == 16);
	config_free(&c);
	snprintf(text, sizeof(text), CLI SRVSECT, keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	CHECK(!c.routes_pushed && config_full_tunnel(&c) && c.n_subnets == 0);
	config_free(&c);
	/* with IPv6 (issue #16): Routes of both families plus `pushed`; ::/0 with `pushed` is the full tunnel;
	 * IPv6 Subnets on a client, and on a gateway's [Client] once the gateway has an IPv6 prefix */
	snprintf(text, sizeof(text), CLI "Routes = fd09::/48, pushed, 10.9.0.0/16\nSubnets = fd50::/64, 10.50.0.0/24\n"
		 SRVSECT, keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	CHECK(c.routes_pushed && c.n_routes == 1 && c.n_routes6 == 1 && c.routes6[0].len == 48 &&
	      !config_full_tunnel(&c));
	CHECK(c.n_subnets == 2 && c.subnets[0].a.family == AF_INET6 && c.subnets[0].len == 64);
	config_free(&c);
	snprintf(text, sizeof(text), CLI "Routes = pushed, ::/0\n" SRVSECT, keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	CHECK(c.routes_pushed && c.n_routes == 0 && c.n_routes6 == 1 && config_full_tunnel(&c));
	config_free(&c);
	snprintf(text, sizeof(text),
		 SRV6 "Address = 10.66.0.1/24, fd66::1/64\nNAT = off\nPushRoutes = fd10:1::/48\n"
		      "[Client]\nName = branch\nPublicKey = " K1 "\nSubnets = 192.168.50.0/24, fd50::/64\n",
		 keyfile);
	CHECK(parse(text, "s.conf", &c, &e) == 0);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);
	CHECK(c.nat_off && c.address6.len == 64 && c.n_clients == 1 && c.clients[0].n_subnets == 2 &&
	      c.clients[0].subnets[1].a.family == AF_INET6);
	config_free(&c);
}

static void test_key_files(void)
{
	char text[512], path[256], kp[128];
	struct sl_config c;
	struct sl_err e = {{0}};
	FILE *f;

	snprintf(kp, sizeof(kp), "%s/open.key", dir);
	f = fopen(kp, "w");
	fprintf(f, K1 "\n");
	fclose(f);
	chmod(kp, 0644);
	snprintf(text, sizeof(text), CLI SRVSECT, kp);
	CHECK(parse(text, "k.conf", &c, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "k.conf:3: PrivateKeyFile");
	CHECK_STR_CONTAINS(e.msg, "mode 0644 allows group/other access");
	unlink(kp);
	CHECK(parse(text, "k.conf", &c, &e) == -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "k.conf:3: PrivateKeyFile");
	CHECK_STR_CONTAINS(e.msg, "cannot read: No such file or directory");

	/* a relative key path is relative to the config file's directory */
	snprintf(text, sizeof(text), CLI SRVSECT, "rel.key");
	snprintf(kp, sizeof(kp), "%s/rel.key", dir);
	f = fopen(kp, "w");
	fprintf(f, K2 "\n");
	fclose(f);
	chmod(kp, 0600);
	CHECK(parse(text, "r.conf", &c, &e) == 0);
	config_free(&c);
	unlink(kp);

	/* config_load: unreadable file */
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	CHECK(config_load(path, &c, &e) == -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "missing.conf: cannot read");

	/* config_load: a (sparse) file past CONFIG_FILE_MAX is refused, naming the limit */
	snprintf(path, sizeof(path), "%s/huge.conf", dir);
	f = fopen(path, "w");
	CHECK(f && ftruncate(fileno(f), (64 << 20) + 1) == 0);
	if (f)
		fclose(f);
	CHECK(config_load(path, &c, &e) == -EFBIG);
	CHECK_STR_CONTAINS(e.msg, "huge.conf: 67108865 bytes, more than the 64 MiB a configuration file may have");
	unlink(path);
}

/* 100,000 [Client]s (CONFIG_MAX_SECTIONS, what scripts/bench --clients 100000 writes): the file loads, and a
 * clash in the last client is still found, naming the right lines. The duplicate checks are hashed: the
 * pairwise scan they replace made 5*10^9 comparisons here, far past this test's ctest TIMEOUT. */
#define BIG_N 100000
#define BIG_SUBNETS 200 /* clients 0..199 have a Subnet each (at most 256 in all) */

struct big_dup {
	long name_of, key_of, addr_of, subnet_of; /* the last client takes this client's value; -1: its own */
};

/* the file; lines[i] = line of client i's [Client] header (Name +1, PublicKey +2, Address +3, Subnets +4) */
static char *big_text(const struct big_dup *d, int *lines)
{
	size_t cap = (size_t)BIG_N * 160 + 4096, len;
	char *t = malloc(cap), b64[SL_KEY_B64_LEN + 1];
	int line = 6;

	if (!t)
		return NULL;
	len = (size_t)snprintf(t, cap, "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\n"
				      "Address = 10.64.0.1/14\n", keyfile);
	for (long i = 0; i < BIG_N; i++) {
		bool last = i == BIG_N - 1;
		long n = last && d->name_of >= 0 ? d->name_of : i, k = last && d->key_of >= 0 ? d->key_of : i;
		long a = last && d->addr_of >= 0 ? d->addr_of : i, sub = last && d->subnet_of >= 0 ? d->subnet_of : i;
		uint8_t key[SL_KEY_LEN] = {0x5a, (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
		uint32_t h = 0x0a400002u + (uint32_t)a; /* 10.64.0.2 on: host addresses of the /14 */
		key_to_base64(key, b64);
		lines[i] = line;
		len += (size_t)snprintf(t + len, cap - len,
					"[Client]\nName = c%ld\nPublicKey = %s\nAddress = %u.%u.%u.%u\n", n, b64,
					h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255);
		line += 4;
		if (i < BIG_SUBNETS || (last && d->subnet_of >= 0)) {
			len += (size_t)snprintf(t + len, cap - len, "Subnets = 172.%ld.%ld.0/24\n", 16 + sub / 256,
						sub % 256);
			line++;
		}
	}
	return t;
}

static void big_case(const struct big_dup *d, const char *want_fmt, long first_of, int first_off, int last_off)
{
	static int lines[BIG_N];
	char *text = big_text(d, lines), want[256];
	struct sl_config c;
	struct sl_err e = {{0}};
	int ret;

	CHECK(text != NULL);
	if (!text)
		return;
	ret = parse(text, "big.conf", &c, &e);
	if (!want_fmt) {
		CHECK(ret == 0);
		if (!ret) {
			CHECK(c.n_clients == BIG_N);
			CHECK(!strcmp(c.clients[BIG_N - 1].name, "c99999"));
			CHECK(c.clients[BIG_N - 1].line == lines[BIG_N - 1]);
			CHECK(c.clients[150].n_subnets == 1);
			config_free(&c);
		}
	} else {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(want, sizeof(want), want_fmt, lines[BIG_N - 1] + last_off, first_of, lines[first_of] + first_off);
#pragma GCC diagnostic pop
		CHECK(ret == -EINVAL);
		if (!strstr(e.msg, want))
			fprintf(stderr, "want \"%s\", got \"%s\"\n", want, e.msg);
		CHECK_STR_CONTAINS(e.msg, want);
	}
	free(text);
}

static void test_many_clients(void)
{
	big_case(&(struct big_dup){-1, -1, -1, -1}, NULL, 0, 0, 0);
	big_case(&(struct big_dup){54321, -1, -1, -1}, "big.conf:%d: Name: duplicate of client 'c%ld' (line %d)",
		 54321, 1, 1);
	big_case(&(struct big_dup){-1, 77777, -1, -1},
		 "big.conf:%d: PublicKey: duplicate of client 'c%ld' (line %d)", 77777, 2, 2);
	big_case(&(struct big_dup){-1, -1, 3, -1}, "big.conf:%d: Address: duplicate of client 'c%ld' (line %d)", 3,
		 3, 3);
	big_case(&(struct big_dup){-1, -1, -1, 150},
		 "big.conf:%d: Subnets: 172.16.150.0/24 is already client 'c%ld''s (line %d)", 150, 4, 4);
	/* two clashes: the earlier client wins, as in a pairwise scan (its Name would come first for one client) */
	big_case(&(struct big_dup){90000, 10, -1, -1},
		 "big.conf:%d: PublicKey: duplicate of client 'c%ld' (line %d)", 10, 2, 2);
	big_case(&(struct big_dup){10, 10, 10, -1}, "big.conf:%d: Name: duplicate of client 'c%ld' (line %d)", 10,
		 1, 1);
	big_case(&(struct big_dup){-1, 90000, 20, 20},
		 "big.conf:%d: Address: duplicate of client 'c%ld' (line %d)", 20, 3, 3);
}

int main(void)
{
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	snprintf(keyfile, sizeof(keyfile), "%s/good.key", dir);
	f = fopen(keyfile, "w");
	fprintf(f, K2 "\n");
	fclose(f);
	chmod(keyfile, 0600);
	test_server_good();
	test_client_good();
	test_client_servers();
	test_bad();
	test_sites();
	test_key_files();
	test_many_clients();
	unlink(keyfile);
	rmdir(dir);
	return check_done("test_config");
}
