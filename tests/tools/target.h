/* target: what the test tools (flood, loadgen) may aim at — parsing ADDR:PORT and the rule that traffic only
 * goes to loopback or the tests' own underlay, 198.18.0.0/15. Header-only: each tool is one file. */
#pragma once
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
