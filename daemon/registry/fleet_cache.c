/* fleet_cache: the registry's last read in StateDir (fleet_cache.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "daemon/registry/fleet_cache.h"
#include "daemon/registry/fleet_sync.h"

#define CACHE_HDR "# sluice registry cache: "

void fleet_cache_format(const struct sl_client_cfg *list, size_t n, const char *pool, int64_t rev, struct strbuf *out)
{
	sb_printf(out, CACHE_HDR "%s %" PRId64 "\n", pool, rev);
	for (size_t i = 0; i < n; i++) {
		char b64[SL_KEY_B64_LEN + 1], a[INET6_ADDRSTRLEN];
		key_to_base64(list[i].pubkey, b64);
		sb_printf(out, "%s %s %s", list[i].name, b64, inet_ntop(AF_INET, &list[i].addr, a, sizeof(a)));
		if (list[i].has_addr6)
			sb_printf(out, " %s", inet_ntop(AF_INET6, &list[i].addr6, a, sizeof(a)));
		if (list[i].has_psk) { /* the file is 0600, like the PresharedKeyFile it stands for */
			char p64[SL_KEY_B64_LEN + 1];
			key_to_base64(list[i].psk, p64);
			sb_printf(out, " psk=%s", p64);
			OPENSSL_cleanse(p64, sizeof(p64));
		}
		sb_printf(out, "\n");
	}
}

int fleet_cache_parse(const char *text, size_t len, const char *pool, struct sl_client_cfg **list, size_t *n,
		      int64_t *rev, struct sl_err *e)
{
	size_t lines = 0, cnt = 0, hl = strlen(CACHE_HDR), pl = strlen(pool);
	const char *p = text, *end = text + len, *nl;
	struct sl_client_cfg *l;
	int lineno = 1;

	*list = NULL;
	*n = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	nl = memchr(p, '\n', len);
	if (!nl || (size_t)(nl - p) < hl + pl + 2 || memcmp(p, CACHE_HDR, hl) || memcmp(p + hl, pool, pl) ||
	    p[hl + pl] != ' ')
		return sl_errf(e, -EINVAL, "line 1: not a registry cache of pool %s", pool);
	*rev = strtoll(p + hl + pl + 1, NULL, 10);
	l = calloc(lines + 1, sizeof(*l));
	if (!l)
		return sl_errf(e, -ENOMEM, "out of memory");
	for (p = nl + 1; p < end; p = nl + 1) {
		char line[320], name[SL_NAME_MAX], key[SL_KEY_B64_LEN + 2], addr[INET_ADDRSTRLEN + 1];
		char x4[SL_KEY_B64_LEN + 6] = "", x5[SL_KEY_B64_LEN + 6] = "", *psk = NULL;
		size_t ll;
		int got;

		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break; /* written whole (atomic_file): a last line without newline is not ours; ignore it */
		ll = (size_t)(nl - p);
		if (ll >= sizeof(line))
			goto bad;
		memcpy(line, p, ll);
		line[ll] = 0;
		got = sscanf(line, "%63s %45s %16s %49s %49s", name, key, addr, x4, x5);
		if (got < 3 || !fleet_name_ok(name) || key_from_base64(key, l[cnt].pubkey) ||
		    inet_pton(AF_INET, addr, &l[cnt].addr) != 1)
			goto bad;
		/* then the IPv6 lease (a dual-stack pool) and/or "psk=BASE64" (registry add --psk-file) */
		if (got >= 4 && strncmp(x4, "psk=", 4)) {
			if (inet_pton(AF_INET6, x4, &l[cnt].addr6) != 1)
				goto bad;
			l[cnt].has_addr6 = true;
			if (got == 5)
				psk = x5;
		} else if (got >= 4) {
			if (got == 5)
				goto bad;
			psk = x4;
		}
		if (psk) {
			bool bad_psk = strncmp(psk, "psk=", 4) || strlen(psk + 4) != SL_KEY_B64_LEN ||
				       key_from_base64(psk + 4, l[cnt].psk);
			OPENSSL_cleanse(x4, sizeof(x4));
			OPENSSL_cleanse(x5, sizeof(x5));
			OPENSSL_cleanse(line, sizeof(line));
			if (bad_psk)
				goto bad;
			l[cnt].has_psk = true;
		}
		snprintf(l[cnt].name, sizeof(l[cnt].name), "%s", name);
		l[cnt].has_addr = true;
		cnt++;
	}
	*list = l;
	*n = cnt;
	return 0;
bad:
	free(l);
	return sl_errf(e, -EINVAL, "line %d: not NAME PUBKEY ADDRESS[ ADDRESS6][ psk=PSK]", lineno);
}

int fleet_cache_merge(const struct sl_client_cfg *cache, size_t n_cache, const struct sl_client_cfg *file,
		      size_t n_file, struct sl_client_cfg **out, size_t *n_out, unsigned *left_out)
{
	struct sl_client_cfg *m = calloc(n_cache + n_file + 1, sizeof(*m));
	size_t n = 0;

	*left_out = 0;
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n_file; i++) {
		const struct sl_client_cfg *hit = NULL;
		for (size_t j = 0; j < n_cache && !hit; j++)
			if (!memcmp(cache[j].pubkey, file[i].pubkey, SL_KEY_LEN))
				hit = &cache[j];
		if (!hit || (file[i].has_addr && file[i].addr.s_addr != hit->addr.s_addr) ||
		    (file[i].has_addr6 && (!hit->has_addr6 || memcmp(&file[i].addr6, &hit->addr6, sizeof(hit->addr6))))) {
			(*left_out)++;
			continue;
		}
		m[n] = file[i];
		m[n].addr = hit->addr;
		m[n].has_addr = true;
		m[n].addr6 = hit->addr6;
		m[n].has_addr6 = hit->has_addr6;
		n++;
	}
	for (size_t j = 0; j < n_cache; j++) {
		bool taken = false;
		for (size_t i = 0; i < n_file && !taken; i++)
			taken = !strcmp(file[i].name, cache[j].name) || !memcmp(file[i].pubkey, cache[j].pubkey, SL_KEY_LEN);
		if (!taken)
			m[n++] = cache[j];
	}
	*out = m;
	*n_out = n;
	return 0;
}
