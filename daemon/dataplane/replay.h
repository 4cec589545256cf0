/* replay: sliding-window anti-replay of received counters (RFC 6479 ring of 64-bit blocks).
 * The window covers REPLAY_WINDOW counters behind the highest seen. Check before the AEAD open, update only
 * after it succeeded, so nothing unauthenticated moves the window. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define REPLAY_BLOCKS 64u                             /* power of two */
#define REPLAY_WINDOW ((REPLAY_BLOCKS - 1) * 64u)     /* 4032 counters */

struct replay {
	uint64_t top;      /* highest counter accepted + 1 (0: nothing accepted yet) */
	uint64_t bitmap[REPLAY_BLOCKS];
};

void replay_init(struct replay *r);
/* true when `counter` may be accepted: not seen, not older than the window. Does not change r. */
bool replay_check(const struct replay *r, uint64_t counter);
/* Marks `counter` as seen (call after a successful open). Returns false if it was already seen/too old. */
bool replay_update(struct replay *r, uint64_t counter);
