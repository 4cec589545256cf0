/* test_forwarding: the reference-counted net.ipv4.ip_forward record (netcfg/forwarding.h, issue #14, DESIGN
 * §10.13) against a temp directory and a plain file standing in for the sysctl — no root, nothing of the
 * host's touched. A crashed run's restart keeps the original; the last of several interfaces restores it; an
 * old janitor never lets go of a newer run; a stale record of a deleted namespace is replaced; a failed write
 * of the sysctl leaves the record as it was; eight processes raising and releasing at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "netcfg/forwarding.h"
#include "netcfg/netcfg.h"
#include "tests/unit/check.h"

static struct forwarding_ns ns;
static char record[300];

static int get(void)
{
	int v = -1;
	return sysctl_read_int(ns.sysctl, &v, NULL) ? -1 : v;
}

static void set(int v)
{
	FILE *f = fopen(ns.sysctl, "w");
	if (f) {
		fprintf(f, "%d\n", v);
		fclose(f);
	}
}

static size_t text(char *buf, size_t n)
{
	FILE *f = fopen(record, "r");
	size_t len = f ? fread(buf, 1, n - 1, f) : 0;

	if (f)
		fclose(f);
	buf[len] = 0;
	return len;
}

static bool exists(void)
{
	return access(record, F_OK) == 0;
}

static int holders(void)
{
	char buf[4096];
	int n = 0;

	text(buf, sizeof(buf));
	for (char *p = buf; (p = strstr(p, "\nholder ")); p++)
		n++;
	return n;
}

static void put(const char *s)
{
	FILE *f = fopen(record, "w");
	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

static void test_sequence(void)
{
	struct sl_err e = {{0}};
	char buf[4096];

	/* the case: forwarding was 0; the gateway raises it, is killed (no release), starts again, stops */
	set(0);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(get(), 1);
	text(buf, sizeof(buf));
	CHECK_STR_CONTAINS(buf, "\nip_forward 0\nholder gw0 100\n");
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 101, &e), 0); /* after kill -9: it finds itself */
	CHECK_EQ_INT(holders(), 1);
	text(buf, sizeof(buf));
	CHECK_STR_CONTAINS(buf, "\nip_forward 0\nholder gw0 101\n"); /* the original kept, no double count */
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 101, &e), 1);
	CHECK_EQ_INT(get(), 0);
	CHECK(!exists());
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 101, &e), 0); /* once only */

	/* two interfaces: the last one restores; the janitor of a crashed run never lets go of its successor */
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw1", 200, &e), 0);
	CHECK_EQ_INT(holders(), 2);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 102, &e), 0);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 0); /* the old run's janitor, late */
	CHECK_EQ_INT(holders(), 2);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 102, &e), 0);
	CHECK_EQ_INT(get(), 1);
	CHECK_EQ_INT(holders(), 1);
	CHECK_EQ_INT(forwarding_release(&ns, "gw9", 0, &e), 0); /* never raised it */
	CHECK_EQ_INT(forwarding_release(&ns, "gw1", 0, &e), 1);
	CHECK_EQ_INT(get(), 0);
	CHECK(!exists());

	/* forwarding on before sluice: on after */
	set(1);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 0);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(get(), 1);
	CHECK(!exists());
	/* switched off by hand while held: on again at the next raise, and the original is still the first */
	set(0);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	set(0);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw1", 200, &e), 1);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 0);
	CHECK_EQ_INT(forwarding_release(&ns, "gw1", 200, &e), 1);
	CHECK_EQ_INT(get(), 0);
}

static void test_bad_records(void)
{
	struct forwarding_ns other = ns;
	struct sl_err e = {{0}};
	char buf[4096], expect[400];

	/* a deleted namespace's record under our inode number: replaced, the original read afresh */
	set(0);
	put("netns-cookie 999999\nip_forward 1\nholder gwx 5\n");
	CHECK_EQ_INT(forwarding_release(&ns, "gwx", 5, &e), 0); /* not ours to restore */
	CHECK_EQ_INT(get(), 0);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	text(buf, sizeof(buf));
	snprintf(expect, sizeof(expect), "netns-cookie %llu\nip_forward 0\nholder gw0 100\n",
		 (unsigned long long)ns.cookie);
	CHECK_STR_CONTAINS(buf, expect);
	CHECK(!strstr(buf, "gwx"));
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(get(), 0);

	/* a record sluice did not write: refused with its line, nothing changed */
	put("ip_forward 0\nholder gw0 100\nsomething else\n");
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:3:", record);
	CHECK_STR_CONTAINS(e.msg, expect);
	CHECK_EQ_INT(get(), 0);
	put("holder gw0 100\n");
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "no ip_forward line");
	put("ip_forward 0\nholder gw0 100\nholder gw0 101\n");
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), -EINVAL);
	unlink(record);

	/* the original cannot be written back: the record stays, without holders, and keeps it */
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	snprintf(other.sysctl, sizeof(other.sysctl), "%s", ns.dir); /* a directory: no write */
	CHECK(forwarding_release(&other, "gw0", 100, &e) < 0);
	CHECK(exists() && holders() == 0 && get() == 1);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw1", 200, &e), 0);
	text(buf, sizeof(buf));
	CHECK_STR_CONTAINS(buf, "\nip_forward 0\nholder gw1 200\n");
	CHECK_EQ_INT(forwarding_release(&ns, "gw1", 200, &e), 1);
	CHECK(get() == 0 && !exists());

	/* the sysctl cannot be written at a raise: the record is as it was (here: none). /proc/self/stat reads
	 * as a number (our pid), and takes no write */
	snprintf(other.sysctl, sizeof(other.sysctl), "/proc/self/stat");
	CHECK(forwarding_raise(&other, "gw0", 100, &e) < 0);
	CHECK(!exists());
	CHECK_EQ_INT(forwarding_raise(&ns, "gw1", 200, &e), 1);
	CHECK(forwarding_raise(&other, "gw0", 100, &e) < 0);
	CHECK_EQ_INT(holders(), 1); /* gw1's record back, without gw0 */
	CHECK_EQ_INT(forwarding_release(&ns, "gw1", 200, &e), 1);
	CHECK(!exists());
}

/* Eight daemons of eight interfaces starting and stopping at once, 40 times each: while one holds it
 * forwarding is on; at the end the original is back and no record is left. */
static void test_concurrent(void)
{
	pid_t pids[8];
	int bad = 0;

	set(0);
	for (int i = 0; i < 8; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			char ifname[16];
			struct sl_err e;
			int fails = 0;
			snprintf(ifname, sizeof(ifname), "gw%d", i);
			for (int k = 0; k < 40; k++) {
				fails += forwarding_raise(&ns, ifname, getpid(), &e) < 0;
				fails += get() != 1;
				fails += forwarding_release(&ns, ifname, getpid(), &e) < 0;
			}
			_exit(fails ? 1 : 0);
		}
	}
	for (int i = 0; i < 8; i++) {
		int status = 0;
		bad += pids[i] < 0 || waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		       WEXITSTATUS(status);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(get(), 0);
	CHECK(!exists());
}

static int read_at(const char *path)
{
	int v = -1;
	return sysctl_read_int(path, &v, NULL) ? -1 : v;
}

static void write_at(const char *path, int v)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", v);
		fclose(f);
	}
}

/* IPv6 forwarding and the egress's accept_ra (DESIGN 10.13): raised by a holder of IPv4 forwarding, recorded
 * before the sysctls, restored with IPv4's when the last holder (of either family) lets go. */
static void test_ipv6(const char *dir)
{
	char conf[100], eth[120], ra[140], buf[4096];
	struct sl_err e = {{0}};

	snprintf(ns.sysctl6, sizeof(ns.sysctl6), "%s/ip6_forward", dir);
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	snprintf(ns.conf6, sizeof(ns.conf6), "%s", conf);
	snprintf(eth, sizeof(eth), "%s/eth9", conf);
	snprintf(ra, sizeof(ra), "%s/accept_ra", eth);
	CHECK(mkdir(conf, 0700) == 0 && mkdir(eth, 0700) == 0);
	write_at(ns.sysctl6, 0);
	write_at(ra, 1);
	set(0);

	CHECK_EQ_INT(forwarding_raise6(&ns, "gw0", "eth9", &e), -ENOENT); /* IPv4 first */
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(forwarding_raise6(&ns, "gw0", "eth9", &e), 1);
	CHECK(get() == 1 && read_at(ns.sysctl6) == 1 && read_at(ra) == 2);
	text(buf, sizeof(buf));
	CHECK_STR_CONTAINS(buf, "\nipv6_forward 0\naccept_ra eth9 1\n");
	CHECK_EQ_INT(forwarding_raise(&ns, "gw1", 101, &e), 0); /* an IPv4-only gateway joins */
	CHECK_EQ_INT(forwarding_raise6(&ns, "gw1", "eth9", &e), 0); /* on already; accept_ra recorded once */
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 0);
	CHECK(read_at(ns.sysctl6) == 1 && read_at(ra) == 2); /* gw1 still holds */
	CHECK_EQ_INT(forwarding_release(&ns, "gw1", 101, &e), 1);
	CHECK(get() == 0 && read_at(ns.sysctl6) == 0 && read_at(ra) == 1 && !exists());

	/* accept_ra 0 stays 0; IPv6 forwarding already on stays on, and is not "restored" off */
	write_at(ra, 0);
	write_at(ns.sysctl6, 1);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(forwarding_raise6(&ns, "gw0", "eth9", &e), 0);
	text(buf, sizeof(buf));
	CHECK(strstr(buf, "accept_ra") == NULL);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 1);
	CHECK(read_at(ns.sysctl6) == 1 && read_at(ra) == 0 && !exists());

	unlink(ra);
	rmdir(eth);
	rmdir(conf);
	unlink(ns.sysctl6);
	ns.sysctl6[0] = ns.conf6[0] = 0;
}

/* An IPv6-only gateway (DESIGN 10.13: restored when the last interface that raised it stops) holds IPv6
 * forwarding alone: ip_forward is never raised for it, and IPv4's original comes back as soon as no IPv4 holder is
 * left, even while an IPv6-only one still forwards IPv6. */
static void test_ipv6_only(const char *dir)
{
	char buf[4096];
	struct sl_err e = {{0}};

	snprintf(ns.sysctl6, sizeof(ns.sysctl6), "%s/ip6_forward", dir);
	write_at(ns.sysctl6, 0);
	set(0);

	/* alone: IPv6 up, IPv4 untouched, no ip_forward line to restore */
	CHECK_EQ_INT(forwarding_hold(&ns, "gw6", 200, false, &e), 0);
	CHECK_EQ_INT(forwarding_raise6(&ns, "gw6", "", &e), 1);
	CHECK(get() == 0 && read_at(ns.sysctl6) == 1);
	text(buf, sizeof(buf));
	CHECK_STR_CONTAINS(buf, "\nholder6 gw6 200\n");
	CHECK(strstr(buf, "ip_forward ") == NULL);
	set(1); /* the administrator turns IPv4 forwarding on meanwhile: not sluice's to restore */
	CHECK_EQ_INT(forwarding_release(&ns, "gw6", 200, &e), 1);
	CHECK(get() == 1 && read_at(ns.sysctl6) == 0 && !exists());
	set(0);

	/* with a dual-stack gateway: IPv4 restored when the dual-stack one stops, IPv6 when the last one does */
	CHECK_EQ_INT(forwarding_hold(&ns, "gw6", 200, false, &e), 0);
	CHECK_EQ_INT(forwarding_raise6(&ns, "gw6", "", &e), 1);
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(forwarding_raise6(&ns, "gw0", "", &e), 0);
	CHECK(get() == 1 && read_at(ns.sysctl6) == 1);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 100, &e), 0);
	CHECK(get() == 0 && read_at(ns.sysctl6) == 1 && exists());
	text(buf, sizeof(buf));
	CHECK(strstr(buf, "ip_forward ") == NULL && strstr(buf, "\nipv6_forward 0\n") != NULL);
	CHECK_EQ_INT(forwarding_release(&ns, "gw6", 200, &e), 1);
	CHECK(get() == 0 && read_at(ns.sysctl6) == 0 && !exists());

	/* a crashed dual-stack run of gw0 restarted IPv6-only: it no longer holds IPv4, so IPv4 is back at once */
	CHECK_EQ_INT(forwarding_raise(&ns, "gw0", 100, &e), 1);
	CHECK_EQ_INT(forwarding_hold(&ns, "gw0", 101, false, &e), 0);
	CHECK(get() == 0 && exists() && holders() == 0);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 101, &e), 1);
	CHECK(get() == 0 && !exists());
	/* and the other way round: an IPv6-only run restarted dual-stack raises IPv4, keeping its original */
	CHECK_EQ_INT(forwarding_hold(&ns, "gw0", 100, false, &e), 0);
	CHECK_EQ_INT(forwarding_hold(&ns, "gw0", 101, true, &e), 1);
	CHECK(get() == 1 && holders() == 1);
	CHECK_EQ_INT(forwarding_release(&ns, "gw0", 101, &e), 1);
	CHECK(get() == 0 && !exists());

	/* a record with an IPv4 holder but no ip_forward line is not one sluice wrote */
	put("netns-cookie 0\nholder gw0 100\n");
	CHECK(forwarding_release(&ns, "gw0", 100, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "no ip_forward line");
	unlink(record);

	unlink(ns.sysctl6);
	ns.sysctl6[0] = 0;
}

int main(void)
{
	char dir[] = "/tmp/sluice-fwd-XXXXXX", tmp[320];
	struct forwarding_ns here;
	struct stat st;
	struct sl_err e = {{0}};

	/* the real namespace's identity (read only) */
	CHECK_EQ_INT(forwarding_ns_here(&here, &e), 0);
	CHECK(stat("/proc/self/ns/net", &st) == 0 && here.ino == (uint64_t)st.st_ino);
	CHECK(!strcmp(here.sysctl, "/proc/sys/net/ipv4/ip_forward") && !strcmp(here.dir, "/run/sluice"));

	CHECK(mkdtemp(dir) != NULL);
	ns = here;
	ns.sysctl6[0] = ns.conf6[0] = 0; /* never the host's: test_ipv6 points them into dir */
	snprintf(ns.dir, sizeof(ns.dir), "%s/run", dir);
	snprintf(ns.sysctl, sizeof(ns.sysctl), "%s/ip_forward", dir);
	if (!ns.cookie)
		ns.cookie = 4242; /* a kernel without SO_NETNS_COOKIE: the comparison is still tested */
	forwarding_record_path(&ns, record, sizeof(record));
	set(0);
	test_sequence();
	test_bad_records();
	test_concurrent();
	test_ipv6(dir);
	test_ipv6_only(dir);
	unlink(ns.sysctl);
	snprintf(tmp, sizeof(tmp), "%s.tmp", record);
	CHECK(access(tmp, F_OK) != 0); /* no temp file left */
	rmdir(ns.dir);
	CHECK(rmdir(dir) == 0); /* nothing else left */
	return check_done("test_forwarding");
}
