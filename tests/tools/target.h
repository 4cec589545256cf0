/* target: what the test tools (flood, loadgen) may aim at — parsing ADDR:PORT and the rule that traffic only
 * goes to loopback or the tests' own underlay, 198.18.0.0/15; for IPv6 (flood: [ADDR]:PORT) ::1 or the tests'
 * ULA prefixes, fd00::/8 — and, beyond loopback, only from a namespace a test made (target_here). Header-only:
 * each tool is one file. */
#pragma once
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static inline bool target_allowed(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return (h >> 24) == 127 || (h & 0xFFFE0000u) == 0xC6120000u;
}

/* "IPv4:PORT" (port 1..65535) into sa. 0 or -1. */
static inline int parse_target(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* ::1 or fd00::/8 (the IPv6 underlays the tests build on ULA prefixes) */
static inline bool target_allowed6(const struct in6_addr *a)
{
	static const uint8_t loop[16] = {[15] = 1};

	return a->s6_addr[0] == 0xfd || !memcmp(a->s6_addr, loop, sizeof(loop));
}

/* "IPv4:PORT" or "[IPv6]:PORT" into ss (its length in *len), and only an allowed target. 0, -1 (bad) or -2
 * (not allowed). */
static inline int parse_target_any(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4;
	char buf[80];
	const char *close;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		if (parse_target(s, &s4))
			return -1;
		memcpy(ss, &s4, sizeof(s4));
		*len = sizeof(s4);
		return target_allowed(s4.sin_addr) ? 0 : -2;
	}
	close = strchr(s, ']');
	if (!close || close[1] != ':' || (hl = (size_t)(close - s - 1)) >= 64)
		return -1;
	/* the port through the IPv4 parser: "0.0.0.0:PORT" */
	snprintf(buf, sizeof(buf), "0.0.0.0%s", close + 1);
	if (parse_target(buf, &s4))
		return -1;
	memcpy(buf, s + 1, hl);
	buf[hl] = 0;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = s4.sin_port;
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
		return -1;
	*len = sizeof(*s6);
	return target_allowed6(&s6->sin6_addr) ? 0 : -2;
}

/* This process's network namespace is one listed in dir (normally /run/netns: made by `ip netns add`, where the
 * tests build their underlays). Compares the nsfs inodes; false when it cannot tell. */
static inline bool netns_listed_in(const char *dir)
{
	struct stat self, st;
	struct dirent *e;
	bool found = false;
	DIR *d;

	if (stat("/proc/self/ns/net", &self) || !(d = opendir(dir)))
		return false;
	while (!found && (e = readdir(d)))
		found = e->d_name[0] != '.' && !fstatat(dirfd(d), e->d_name, &st, 0) && st.st_ino == self.st_ino &&
			st.st_dev == self.st_dev;
	closedir(d);
	return found;
}

static inline bool target_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* The target may be sent to from here: loopback from anywhere; a test address only from a test's own namespace
 * (netns_dir: /run/netns). Anywhere else, the host's own namespace above all, a test address has nothing behind it
 * and would follow the default route off the machine. */
static inline bool target_here(const struct sockaddr_storage *ss, const char *netns_dir)
{
	return target_loopback(ss) || netns_listed_in(netns_dir);
}
