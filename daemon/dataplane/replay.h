/* replay: sliding-window anti-replay of received counters (RFC 6479 ring of 64-bit blocks).
 * The window covers REPLAY_WINDOW counters behind the highest seen. Check before the AEAD open, update only
 * after it succeeded, so nothing unauthenticated moves the window. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define REPLAY_BLOCK_BITS 64u                         /* one uint64_t per block */
#define REPLAY_BLOCKS 64u                             /* power of two */
/* One block is always the partly filled newest one, so the guaranteed window is one block short of the ring. */
#define REPLAY_WINDOW ((REPLAY_BLOCKS - 1) * REPLAY_BLOCK_BITS) /* 4032 counters */
/* Highest counter ever accepted (top = counter + 1 must not wrap to the "nothing seen" 0). A key is retired long
 * before this (keystate.h: SL_COUNTER_REKEY). */
#define REPLAY_COUNTER_MAX (UINT64_MAX - 1)

struct replay {
	uint64_t top;      /* highest counter accepted + 1 (0: nothing accepted yet) */
	uint64_t bitmap[REPLAY_BLOCKS];
};

void replay_init(struct replay *r);
/* true when `counter` may be accepted: not seen, <= REPLAY_COUNTER_MAX, and either above the highest accepted
 * counter H or with H - counter <= REPLAY_WINDOW (as WireGuard). Does not change r. */
bool replay_check(const struct replay *r, uint64_t counter);
/* Marks `counter` as seen (call after a successful open). Returns false if it was already seen/too old. */
bool replay_update(struct replay *r, uint64_t counter);
