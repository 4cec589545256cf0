/* strbuf: a growable text buffer for replies built off the hot path (control socket dumps). */
#pragma once
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct strbuf {
	char *s;
	size_t len, cap;
	int oom; /* set once an allocation failed: the text is truncated and nothing more is added (no holes) */
};

static inline int sb_reserve(struct strbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap * 2 : 4096;
	char *s;

	if (b->oom)
		return -1;
	if (b->s && need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->oom = 1;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

static inline void __attribute__((format(printf, 2, 3))) sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!b->oom) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		if (sb_reserve(b, b->len + (size_t)n + 1))
			return;
	}
}

/* "PREKEY=V\n" without printf: a gateway's status has about 15 of these per client, 150,000 for 10,000. */
static inline void sb_kv_u64(struct strbuf *b, const char *pre, const char *key, uint64_t v)
{
	size_t lp = strlen(pre), lk = strlen(key), nd = 0;
	char d[20];

	do
		d[nd++] = (char)('0' + v % 10);
	while ((v /= 10));
	if (sb_reserve(b, b->len + lp + lk + nd + 3))
		return;
	memcpy(b->s + b->len, pre, lp);
	memcpy(b->s + b->len + lp, key, lk);
	b->len += lp + lk;
	b->s[b->len++] = '=';
	while (nd)
		b->s[b->len++] = d[--nd];
	b->s[b->len++] = '\n';
	b->s[b->len] = 0;
}

/* n bytes as they are (NULs included), kept NUL-terminated. */
static inline void sb_append(struct strbuf *b, const void *data, size_t n)
{
	if (sb_reserve(b, b->len + n + 1))
		return;
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = 0;
}

static inline void sb_free(struct strbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}
