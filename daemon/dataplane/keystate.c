/* keystate: set up and tear down the cipher contexts and replay window of one session key. */
#include <string.h>
#include "daemon/dataplane/keystate.h"

int keystate_init(struct keystate *ks, const uint8_t tx_key[SLUICE_KEY_LEN],
		  const uint8_t rx_key[SLUICE_KEY_LEN])
{
	int ret;

	memset(ks, 0, sizeof(*ks));
	replay_init(&ks->replay);
	ret = aead_init(&ks->tx, tx_key, true);
	if (ret)
		return ret;
	ret = aead_init(&ks->rx, rx_key, false);
	if (ret)
		aead_free(&ks->tx);
	return ret;
}

void keystate_free(struct keystate *ks)
{
	aead_free(&ks->tx);
	aead_free(&ks->rx);
}
