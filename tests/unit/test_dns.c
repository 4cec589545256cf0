/* test_dns: the DNS room's pure pieces — the list parsers, the resolv.conf text, what a client applies for
 * DNS = on | off | list — and the file backend with its record, end to end, in a private mount namespace whose
 * /etc/resolv.conf is a bind mount of a scratch file (root only; the host's resolv.conf is never touched):
 * apply, re-apply, the original saved once, a crashed run's record undone by dns_restore, the backend choice
 * for a bind-mounted resolv.conf. */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dns/dns.h"
#include "tests/unit/check.h"

static struct sl_ipaddr v4(const char *s)
{
	struct sl_ipaddr a = {.family = AF_INET};
	inet_pton(AF_INET, s, &a.v4);
	return a;
}

static void test_lists(void)
{
	struct sl_ipaddr a[4];
	char d[6][SL_DOMAIN_MAX + 1], bad[64];
	unsigned n;

	CHECK(addrlist_parse(" 9.9.9.9 ,2620:fe::fe", a, 4, &n, bad, sizeof(bad)) == 0 && n == 2);
	CHECK(a[0].family == AF_INET && a[1].family == AF_INET6);
	CHECK(addrlist_parse("9.9.9.9 1.1.1.1", a, 4, &n, bad, sizeof(bad)) == -EINVAL && !strcmp(bad, "9.9.9.9 1.1.1.1"));
	CHECK(addrlist_parse("9.9.9.9,", a, 4, &n, bad, sizeof(bad)) == -EINVAL && n == 0);
	CHECK(addrlist_parse("1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5", a, 4, &n, bad, sizeof(bad)) == -E2BIG);
	CHECK(domainlist_parse("corp.example, a-b_c.example", d, 6, &n, bad, sizeof(bad)) == 0 && n == 2);
	CHECK(!domain_valid("a..b") && !domain_valid(".a") && !domain_valid("a.") && !domain_valid("a b"));
	char long_label[80];
	memset(long_label, 'x', 64);
	long_label[64] = 0;
	CHECK(!domain_valid(long_label) && domain_valid(long_label + 1));
}

static void test_text_and_want(void)
{
	struct dns_config dc = {.servers = {v4("10.66.0.1")}, .n_servers = 2, .domains = {"corp.example", "lab.example"},
				.n_domains = 2};
	char buf[512];

	dc.servers[1].family = AF_INET6;
	inet_pton(AF_INET6, "fd00::53", &dc.servers[1].v6);
	CHECK(dns_format_resolv_conf(&dc, "# h\n", buf, sizeof(buf)) > 0);
	CHECK(!strcmp(buf, "# h\nnameserver 10.66.0.1\nnameserver fd00::53\nsearch corp.example lab.example\n"));
	CHECK(dns_format_resolv_conf(&dc, NULL, buf, 20) == -ENOSPC);
	dns_config_servers_str(&dc, buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.66.0.1,fd00::53"));

	struct sl_config cfg = {0};
	struct proto_snapshot s = {.dns = {v4("9.9.9.9")}, .n_dns = 1, .domains = {"corp.example"}, .n_domains = 1};
	struct dns_config w;
	dns_config_want(&cfg, &s, &w); /* on: pushed servers and domains */
	CHECK(w.n_servers == 1 && w.servers[0].v4.s_addr == s.dns[0].v4.s_addr && w.n_domains == 1);
	cfg.dns_mode = SL_DNS_LIST; /* own list: own servers, pushed domains */
	cfg.dns[0] = v4("10.0.0.53");
	cfg.n_dns = 1;
	dns_config_want(&cfg, &s, &w);
	CHECK(w.n_servers == 1 && w.servers[0].v4.s_addr == cfg.dns[0].v4.s_addr && w.n_domains == 1);
	cfg.dns_mode = SL_DNS_OFF;
	dns_config_want(&cfg, &s, &w);
	CHECK(w.n_servers == 0 && w.n_domains == 0);
	cfg.dns_mode = SL_DNS_ON; /* nothing pushed: nothing, not even the domains */
	s.n_dns = 0;
	dns_config_want(&cfg, &s, &w);
	CHECK(w.n_servers == 0 && w.n_domains == 0);
}

static int slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got;

	if (!f)
		return -1;
	got = fread(buf, 1, n - 1, f);
	buf[got] = 0;
	fclose(f);
	return (int)got;
}

static void test_file_backend(const char *dir)
{
	const char *orig = "# the host's own\nnameserver 192.0.2.53\n";
	char scratch[256], state[256], buf[1024], path[300];
	struct dns_config dc = {.servers = {v4("10.66.0.1")}, .n_servers = 1, .domains = {"corp.example"}, .n_domains = 1};
	struct dns_target t = {.ifname = "sltest0", .ifindex = 0, .state_dir = state};
	struct sl_err e = {{0}};
	const char *what;
	FILE *f;

	snprintf(scratch, sizeof(scratch), "%s/resolv.conf", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	f = fopen(scratch, "w");
	fputs(orig, f);
	fclose(f);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || mount(scratch, "/etc/resolv.conf", NULL, MS_BIND, NULL)) {
		fprintf(stderr, "test_dns: bind mount: %s\n", strerror(errno));
		CHECK(0);
		return;
	}
	/* a bind-mounted resolv.conf (as under ip netns exec) chooses the file backend */
	unsetenv("SLUICE_DNS_BACKEND");
	CHECK(dns_backend_pick() == DNS_BACKEND_FILE);

	CHECK(dns_file_ops.apply(&t, &dc, &e) == 0);
	slurp("/etc/resolv.conf", buf, sizeof(buf));
	CHECK_STR_CONTAINS(buf, "nameserver 10.66.0.1\nsearch corp.example\n");
	snprintf(path, sizeof(path), "%s/sltest0.resolv.conf", state);
	slurp(path, buf, sizeof(buf));
	CHECK(!strcmp(buf, orig));
	/* applied again (a new snapshot): the saved copy stays the original, not sluice's own text */
	dc.servers[0] = v4("10.66.0.2");
	CHECK(dns_file_ops.apply(&t, &dc, &e) == 0);
	slurp(path, buf, sizeof(buf));
	CHECK(!strcmp(buf, orig));
	/* a crash: the record names the backend; dns_restore puts the original back and removes both files */
	snprintf(path, sizeof(path), "%s/sltest0.dns", state);
	f = fopen(path, "w");
	fputs("backend=file\n", f);
	fclose(f);
	CHECK(dns_restore(state, "sltest0", &what, &e) == 0 && what && !strcmp(what, "file"));
	slurp("/etc/resolv.conf", buf, sizeof(buf));
	CHECK(!strcmp(buf, orig));
	CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/sltest0.resolv.conf", state);
	CHECK(access(path, F_OK) != 0);
	/* nothing left: a no-op */
	CHECK(dns_restore(state, "sltest0", &what, &e) == 0 && what == NULL);
	umount("/etc/resolv.conf");
}

int main(void)
{
	char dir[] = "/tmp/sluice-test-dns.XXXXXX";

	test_lists();
	test_text_and_want();
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		fprintf(stderr, "test_dns: not root (or no mount namespace): the file backend part is skipped\n");
		return check_done("test_dns");
	}
	if (!mkdtemp(dir))
		return 1;
	test_file_backend(dir);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
		/* a leftover scratch directory in /tmp is harmless */
	}
	return check_done("test_dns");
}
