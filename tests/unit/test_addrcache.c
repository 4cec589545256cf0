/* test_addrcache: the client's server address cache (StateDir/IFACE.servers): format -> parse round trip, a
 * torn or damaged file keeps what is whole, only names are cached, save/load through a real directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/addrcache.h"
#include "tests/unit/check.h"

#define K1 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static char dir[] = "/tmp/sluice-addrcache-XXXXXX";

static void config(struct sl_config *c, const char *state_dir)
{
	char text[1024];
	struct sl_err e = {{0}};

	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = /nonexistent\nStateDir = %s\n"
		 "[Server]\nEndpoint = vpn1.example.net:51900\nPublicKey = " K1 "\n"
		 "[Server]\nEndpoint = 198.18.0.9:51900\nPublicKey = " K1 "\n"
		 "[Server]\nEndpoint = VPN2.example.net:4242\nPublicKey = " K1 "\n",
		 state_dir);
	CHECK(config_parse(text, strlen(text), "/etc/sluice/sl7.conf", false, c, &e) == 0);
}

static void add(struct sl_addrs *a, const char *ip, uint16_t port)
{
	struct sockaddr_storage *ss = &a->a[a->n++];
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
}

static bool addrs_equal(const struct sl_addrs *x, const struct sl_addrs *y)
{
	if (x->n != y->n)
		return false;
	for (unsigned i = 0; i < x->n; i++)
		if (!addrs_contain(y, &x->a[i]))
			return false;
	return true;
}

static void test_round_trip(void)
{
	struct sl_config c;
	struct sl_addrs in[SL_MAX_SERVERS] = {{.n = 0}}, out[SL_MAX_SERVERS];
	char buf[4096];
	int len;

	config(&c, "/tmp/unused");
	add(&in[0], "198.18.0.1", 51900);
	add(&in[0], "2001:db8::1", 51900);
	add(&in[0], "198.18.0.3", 51900);
	add(&in[1], "198.18.0.77", 51900); /* a literal server: never written */
	for (int i = 0; i < SL_MAX_SERVER_ADDRS; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.9.0.%d", i + 1);
		add(&in[2], ip, 4242);
	}
	len = addrcache_format(&c, in, buf, sizeof(buf));
	CHECK(len > 0 && (size_t)len == strlen(buf));
	CHECK_STR_CONTAINS(buf, "vpn1.example.net 51900 198.18.0.1 2001:db8::1 198.18.0.3\n");
	CHECK_STR_CONTAINS(buf, "VPN2.example.net 4242 10.9.0.1 ");
	CHECK(!strstr(buf, "198.18.0.77") && !strstr(buf, "198.18.0.9"));
	CHECK(addrcache_parse(buf, (size_t)len, &c, out) == 2);
	CHECK(addrs_equal(&in[0], &out[0]) && out[1].n == 0 && addrs_equal(&in[2], &out[2]));
	CHECK(out[0].a[1].ss_family == AF_INET6 && ((struct sockaddr_in6 *)&out[0].a[1])->sin6_port == htons(51900));
	CHECK(addrcache_format(&c, in, buf, 40) == -ENOSPC);
	config_free(&c);
}

static void test_damaged(void)
{
	struct sl_config c;
	struct sl_addrs out[SL_MAX_SERVERS];
	const char *text;

	config(&c, "/tmp/unused");
	/* a torn last line (no newline) is not a line: the earlier whole one stands */
	text = "vpn1.example.net 51900 198.18.0.1\nvpn1.example.net 51900 198.18.0.2\nvpn2.example.net 4242 10.9";
	CHECK(addrcache_parse(text, strlen(text), &c, out) == 1);
	CHECK(out[0].n == 1 && ((struct sockaddr_in *)&out[0].a[0])->sin_addr.s_addr == inet_addr("198.18.0.2"));
	CHECK(out[2].n == 0);
	/* damaged lines are skipped whole, the rest is kept; host names match case-insensitively */
	text = "# comment\n"
	       "vpn1.example.net 51900 198.18.0.1 not-an-address\n"                /* bad address */
	       "vpn1.example.net 0 198.18.0.1\n"                                   /* bad port */
	       "vpn1.example.net 51900\n"                                          /* no address */
	       "vpn1.example.net 51901 198.18.0.1\n"                               /* another port: another server */
	       "198.18.0.9 51900 198.18.0.5\n"                                     /* a literal server: ignored */
	       "vpn2.example.net 4242 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9\n"
	       "\n\x01\x02garbage\xff\n"
	       "VPN1.EXAMPLE.NET 51900 2001:db8::5\n";
	CHECK(addrcache_parse(text, strlen(text), &c, out) == 1);
	CHECK(out[0].n == 1 && out[0].a[0].ss_family == AF_INET6);
	CHECK(out[1].n == 0 && out[2].n == 0); /* nine addresses: more than a server keeps */
	/* NUL bytes and an over-long line */
	char big[3000];
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	CHECK(addrcache_parse(big, sizeof(big), &c, out) == 0);
	CHECK(addrcache_parse("vpn1.example.net 51900 1.2.3.4\0\n", 32, &c, out) == 0);
	CHECK(addrcache_parse("", 0, &c, out) == 0);
	config_free(&c);
}

static void test_save_load(void)
{
	struct sl_config c;
	struct sl_addrs in[SL_MAX_SERVERS] = {{.n = 0}}, out[SL_MAX_SERVERS];
	struct sl_err e = {{0}};
	char state[256], path[512], tmp[600];
	struct stat st;
	FILE *f;

	snprintf(state, sizeof(state), "%s/state", dir); /* made by the save */
	config(&c, state);
	CHECK(addrcache_load(&c, out, &e) == 0 && out[0].n == 0); /* no file yet: nothing, no error */
	add(&in[0], "198.18.0.1", 51900);
	add(&in[2], "2001:db8::7", 4242);
	CHECK(addrcache_save(&c, in, &e) == 0);
	addrcache_path(&c, path, sizeof(path));
	CHECK_STR_CONTAINS(path, "/state/sl7.servers");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK(access(tmp, F_OK) != 0);
	CHECK(addrcache_load(&c, out, &e) == 0);
	CHECK(addrs_equal(&in[0], &out[0]) && out[1].n == 0 && addrs_equal(&in[2], &out[2]));

	/* a torn tail appended by hand: the whole lines still load */
	f = fopen(path, "a");
	fputs("vpn1.example.net 51900 198.1", f);
	fclose(f);
	CHECK(addrcache_load(&c, out, &e) == 0 && addrs_equal(&in[0], &out[0]));

	/* a save replaces the file whole */
	in[0].n = 0;
	add(&in[0], "198.18.0.3", 51900);
	CHECK(addrcache_save(&c, in, &e) == 0);
	CHECK(addrcache_load(&c, out, &e) == 0 && addrs_equal(&in[0], &out[0]) && out[0].n == 1);

	/* StateDir not creatable: an error naming it */
	config_free(&c);
	config(&c, "/proc/no/such");
	CHECK(addrcache_save(&c, in, &e) < 0);
	CHECK_STR_CONTAINS(e.msg, "/proc/no/such");
	config_free(&c);
	unlink(path);
	rmdir(state);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_round_trip();
	test_damaged();
	test_save_load();
	rmdir(dir);
	return check_done("test_addrcache");
}
