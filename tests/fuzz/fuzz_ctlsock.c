/* fuzz_ctlsock: both ends of the control socket — the daemon's request parser, and the end-line check and
 * status parser `sluice show`, `dump` and `metrics` read the daemon's answer with (an answer is outside input
 * to the CLI: any local process could listen on a stale socket path). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/status_model.h"
#include "daemon/ctlsock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_iface st;
	char *text;

	if (ctlsock_parse_request((const char *)data, size) == CTLSOCK_REQ_GET &&
	    (size < 3 || memcmp(data, "get", 3)))
		__builtin_trap();
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	size_t len = size;
	if (ctlsock_unseal(text, &len) == 0 && (len >= size || text[len] != 0 || memcmp(text, data, len)))
		__builtin_trap(); /* accepted: only the end line is cut off */
	if (st_parse(text, &st) == 0) {
		/* every block's keys can be looked up and read as numbers */
		for (size_t i = 0; i < st.main.n; i++)
			(void)st_u64(&st.main, st.main.kv[i].key);
		for (size_t p = 0; p < st.n_peers; p++)
			for (size_t i = 0; i < st.peers[p].n; i++)
				(void)st_i64(&st.peers[p], st.peers[p].kv[i].key);
		st_free(&st);
	}
	free(text);
	return 0;
}
