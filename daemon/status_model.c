/* status_model: parse the control socket's key=value lines. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/status_model.h"

static int block_add(struct st_block *b, char *k, char *v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct st_kv *kv = realloc(b->kv, cap * sizeof(*kv));
		if (!kv)
			return -ENOMEM;
		b->kv = kv;
		b->cap = cap;
	}
	b->kv[b->n].key = k;
	b->kv[b->n].val = v;
	b->n++;
	return 0;
}

int st_parse(char *text, struct st_iface *out)
{
	struct st_block *cur = &out->main;
	char *save = NULL;

	memset(out, 0, sizeof(*out));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq) {
			st_free(out);
			return -EINVAL;
		}
		*eq = 0;
		if (!strcmp(line, "peer")) {
			if (out->n_peers == out->cap_peers) { /* doubling: 10,000 clients are not 10,000 copies */
				size_t cap = out->cap_peers ? out->cap_peers * 2 : 16;
				struct st_block *p = realloc(out->peers, cap * sizeof(*p));
				if (!p) {
					st_free(out);
					return -ENOMEM;
				}
				out->peers = p;
				out->cap_peers = cap;
			}
			cur = &out->peers[out->n_peers++];
			memset(cur, 0, sizeof(*cur));
		}
		if (block_add(cur, line, eq + 1)) {
			st_free(out);
			return -ENOMEM;
		}
	}
	if (!st_get(&out->main, "interface")) {
		st_free(out); /* not a status answer: nothing kept (found by fuzz_ctlsock) */
		return -EINVAL;
	}
	return 0;
}

void st_free(struct st_iface *st)
{
	free(st->main.kv);
	for (size_t i = 0; i < st->n_peers; i++)
		free(st->peers[i].kv);
	free(st->peers);
	memset(st, 0, sizeof(*st));
}

const char *st_get(const struct st_block *b, const char *key)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->kv[i].key, key))
			return b->kv[i].val;
	return NULL;
}

uint64_t st_u64(const struct st_block *b, const char *key)
{
	const char *v = st_get(b, key);
	return v ? strtoull(v, NULL, 10) : 0;
}

int64_t st_i64(const struct st_block *b, const char *key)
{
	const char *v = st_get(b, key);
	return v ? strtoll(v, NULL, 10) : 0;
}
