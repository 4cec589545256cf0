/* replay: the anti-replay window of one receive key, RFC 6479 style: a ring of REPLAY_BLOCKS 64-bit
 * blocks indexed by counter / 64. Moving ahead clears only the blocks the window slides over (all
 * of them, at most, on a far jump), so both check and update are O(1) apart from that bounded
 * clear. */
#include <stddef.h>
#include <string.h>
#include "daemon/dataplane/replay.h"

#define BLOCK_SHIFT 6u /* log2(REPLAY_BLOCK_BITS) */
#define BLOCK_MASK (REPLAY_BLOCKS - 1u)
#define BIT_MASK (REPLAY_BLOCK_BITS - 1u)

_Static_assert((1u << BLOCK_SHIFT) == REPLAY_BLOCK_BITS,
	       "BLOCK_SHIFT must match REPLAY_BLOCK_BITS");
_Static_assert((REPLAY_BLOCKS & (REPLAY_BLOCKS - 1u)) == 0, "REPLAY_BLOCKS must be a power of two");
_Static_assert(REPLAY_WINDOW >= 2048, "DESIGN §3 asks for a window of at least 2048 packets");

void replay_init(struct replay *r)
{
	memset(r, 0, sizeof(*r));
}

static size_t block_index(uint64_t counter)
{
	return (size_t)((counter >> BLOCK_SHIFT) & BLOCK_MASK);
}

static uint64_t bit_of(uint64_t counter)
{
	return 1ull << (counter & BIT_MASK);
}

bool replay_check(const struct replay *r, uint64_t counter)
{
	if (counter > REPLAY_COUNTER_MAX)
		return false;
	if (counter >= r->top)
		return true;
	/* Here top >= 1 and counter <= top - 1 = the highest accepted. */
	if (r->top - 1 - counter > REPLAY_WINDOW)
		return false;
	return !(r->bitmap[block_index(counter)] & bit_of(counter));
}

bool replay_update(struct replay *r, uint64_t counter)
{
	if (!replay_check(r, counter))
		return false;
	if (counter >= r->top) {
		/* Blocks of the counters nothing has been accepted in yet: clear those the ring
		 * reuses. Before the first accepted counter the whole ring is still zero from
		 * replay_init. */
		if (r->top) {
			uint64_t cur = (r->top - 1) >> BLOCK_SHIFT;
			uint64_t steps = (counter >> BLOCK_SHIFT) - cur;
			uint64_t i;

			if (steps > REPLAY_BLOCKS)
				steps = REPLAY_BLOCKS;
			for (i = 1; i <= steps; i++)
				r->bitmap[(cur + i) & BLOCK_MASK] = 0;
		}
		r->top = counter + 1;
	}
	r->bitmap[block_index(counter)] |= bit_of(counter);
	return true;
}
