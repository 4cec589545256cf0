/* genkey, pubkey, genpsk: new private keys, their public keys, and pre-shared keys (32 random bytes), as 44
 * characters of base64. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "daemon/cli/cli.h"
#include "daemon/keys.h"

#define KEY_INPUT_MAX 256

static int want_help(int argc, char **argv, const char *usage)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: %s %s\n", SL_PROG, usage);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "Usage: %s %s\n", SL_PROG, usage);
		return 2;
	}
	return -1;
}

/* A secret (private key or PSK) on stdout: a regular file is made mode 0600 first. */
static int write_secret(int argc, char **argv, const char *usage, bool psk)
{
	uint8_t key[SL_KEY_LEN];
	char b64[SL_KEY_B64_LEN + 1];
	struct stat st;
	int ret = want_help(argc, argv, usage);

	if (ret >= 0)
		return ret;
	/* a key written to a file must not be readable by anyone else, as `wg genkey` does */
	if (!fstat(STDOUT_FILENO, &st) && S_ISREG(st.st_mode)) {
		if (st.st_mode & 077)
			fprintf(stderr, "%s: warning: the output file was readable by others; made it mode 0600\n",
				SL_PROG);
		if (fchmod(STDOUT_FILENO, 0600))
			fprintf(stderr, "%s: warning: cannot chmod the output file to 0600: %s\n", SL_PROG,
				strerror(errno));
	}
	if (psk ? RAND_priv_bytes(key, sizeof(key)) != 1 : key_generate(key) != 0) {
		fprintf(stderr, "%s: %s: no randomness available\n", SL_PROG, argv[0]);
		return 1;
	}
	key_to_base64(key, b64);
	OPENSSL_cleanse(key, sizeof(key));
	ret = printf("%s\n", b64) < 0 || fflush(stdout) ? 1 : 0;
	OPENSSL_cleanse(b64, sizeof(b64));
	if (ret)
		fprintf(stderr, "%s: %s: write: %s\n", SL_PROG, argv[0], strerror(errno));
	return ret;
}

int genkey_main(int argc, char **argv)
{
	return write_secret(argc, argv, "genkey > private.key", false);
}

/* A pre-shared key for PresharedKeyFile = (the same file on both ends: the gateway's [Client] and the client's
 * [Server]). */
int genpsk_main(int argc, char **argv)
{
	return write_secret(argc, argv, "genpsk > preshared.key", true);
}

int pubkey_main(int argc, char **argv)
{
	uint8_t priv[SL_KEY_LEN], pub[SL_KEY_LEN];
	char in[KEY_INPUT_MAX + 1], b64[SL_KEY_B64_LEN + 1];
	size_t n;
	int ret = want_help(argc, argv, "pubkey < private.key");

	if (ret >= 0)
		return ret;
	n = fread(in, 1, KEY_INPUT_MAX, stdin);
	in[n] = 0;
	if (n == KEY_INPUT_MAX || key_from_base64(in, priv)) {
		fprintf(stderr, "%s: pubkey: invalid private key: expected 44 characters of base64 on stdin\n",
			SL_PROG);
		OPENSSL_cleanse(in, sizeof(in));
		return 1;
	}
	OPENSSL_cleanse(in, sizeof(in));
	ret = key_public(priv, pub);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (ret) {
		fprintf(stderr, "%s: pubkey: invalid private key\n", SL_PROG);
		return 1;
	}
	key_to_base64(pub, b64);
	printf("%s\n", b64);
	return 0;
}
