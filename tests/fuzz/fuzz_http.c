/* fuzz_http: the Prometheus endpoint's request parser (metrics_http_respond) with any request head:
 * it answers with a well-formed status line, and only a GET or HEAD of /metrics gets a 200. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/metrics_http.h"

static void dump(void *arg, struct strbuf *out)
{
	sb_printf(out, "interface=fz0\nmode=server\nuptime=1\npeer=a\npeer_rx_bytes=1\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf out = {0};
	int code;

	if (size > METRICS_HTTP_REQ_MAX)
		return 0;
	code = metrics_http_respond((const char *)data, size, dump, NULL, &out);
	if (!out.s || strncmp(out.s, "HTTP/1.1 ", 9) || atoi(out.s + 9) != code)
		__builtin_trap();
	if (code == 200 &&
	    (size < 14 || (memcmp(data, "GET /metrics", 12) && memcmp(data, "HEAD /metrics", 13))))
		__builtin_trap();
	sb_free(&out);
	return 0;
}
