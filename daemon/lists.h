/* lists: the comma-separated values of DESIGN 10.1 that more than one key needs — addresses of either family
 * and DNS domain names. Items are trimmed at their ends; whitespace inside an item is an error, never ignored.
 * Each parser returns 0, -EINVAL with the offending item copied to `bad`, or -E2BIG when more than `max`. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SL_DOMAIN_MAX 253 /* a DNS name in text, without the final dot */

struct sl_ipaddr {
	sa_family_t family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* An address of either family with a prefix length ("10.66.0.1/24", "fd66::1/64"). */
struct sl_prefix {
	struct sl_ipaddr a;
	uint8_t len;
};

int addrlist_parse(const char *val, struct sl_ipaddr *out, unsigned max, unsigned *n, char *bad, size_t badlen);
/* "addr/len" of either family (len up to 32 or 128): 0 or -EINVAL. */
int prefix_parse(const char *s, struct sl_prefix *out);
/* True when bits past the prefix length are set ("10.1.2.3/16"). */
bool prefix_host_bits(const struct sl_prefix *p);
/* A list of prefixes of either family. */
int prefixlist_parse(const char *val, struct sl_prefix *out, unsigned max, unsigned *n, char *bad, size_t badlen);
/* Domains: letters, digits, '-', '_' and dots, labels of 1..63, at most SL_DOMAIN_MAX; out is max rows of
 * SL_DOMAIN_MAX + 1. */
int domainlist_parse(const char *val, char (*out)[SL_DOMAIN_MAX + 1], unsigned max, unsigned *n, char *bad,
		     size_t badlen);
bool domain_valid(const char *s);
/* "9.9.9.9" / "2620:fe::fe" into buf (INET6_ADDRSTRLEN). */
const char *sl_ipaddr_str(const struct sl_ipaddr *a, char *buf, size_t n);
bool sl_ipaddr_eq(const struct sl_ipaddr *a, const struct sl_ipaddr *b);
/* "10.1.0.0/16,fd10::/48" (whole items only, as many as fit) into buf; "" for none. */
const char *prefixlist_str(const struct sl_prefix *p, unsigned n, char *buf, size_t len);
#define SL_PREFIXLIST_TEXT_MAX (16 * (INET6_ADDRSTRLEN + 5))
