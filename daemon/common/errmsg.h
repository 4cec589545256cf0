/* errmsg: the one-line "what failed and why" that library code hands back to its caller.
 * Libraries (netcfg, kill-switch, nat, config) never print or exit: they return 0 or -errno and fill
 * a struct sl_err; only the boundary (sluiced, sluice) prints it. */
#pragma once
#include <stdarg.h>
#include <stdio.h>

struct sl_err {
	char msg[512];
};

/* Set the message (printf-style); returns `ret` so call sites can `return sl_errf(e, -EINVAL, ...)`. */
static inline int __attribute__((format(printf, 3, 4))) sl_errf(struct sl_err *e, int ret, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return ret;
}
