/* test_keys: base64 codec, Ed25519 public keys against RFC 8032, key files and their permissions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/keys.h"
#include "tests/unit/check.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

static void test_base64(void)
{
	uint8_t k[SL_KEY_LEN], back[SL_KEY_LEN];
	char b[SL_KEY_B64_LEN + 1];

	for (int i = 0; i < SL_KEY_LEN; i++)
		k[i] = (uint8_t)(i * 7 + 3);
	key_to_base64(k, b);
	CHECK(strlen(b) == SL_KEY_B64_LEN && b[43] == '=');
	CHECK(key_from_base64(b, back) == 0 && !memcmp(k, back, SL_KEY_LEN));
	char padded[64];
	snprintf(padded, sizeof(padded), "  %s\n", b);
	CHECK(key_from_base64(padded, back) == 0 && !memcmp(k, back, SL_KEY_LEN));
	CHECK(key_from_base64("", back) == -EINVAL);
	CHECK(key_from_base64("AAAA", back) == -EINVAL);
	CHECK(key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", back) == -EINVAL);    /* 43 */
	CHECK(key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", back) == -EINVAL);  /* 45 */
	CHECK(key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*A=", back) == -EINVAL);   /* bad char */
	CHECK(key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", back) == -EINVAL);   /* 31 bytes */
	CHECK(key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= x", back) == -EINVAL); /* trailing */
}

static void test_rfc8032(void)
{
	/* RFC 8032 §7.1, TEST 1 */
	uint8_t priv[32], pub[32], want[32];

	hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", priv, 32);
	hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want, 32);
	CHECK(key_public(priv, pub) == 0 && !memcmp(pub, want, 32));
	/* TEST 2 */
	hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", priv, 32);
	hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", want, 32);
	CHECK(key_public(priv, pub) == 0 && !memcmp(pub, want, 32));
}

static void test_generate(void)
{
	uint8_t a[32], b[32], pa[32];

	CHECK(key_generate(a) == 0 && key_generate(b) == 0 && memcmp(a, b, 32));
	CHECK(key_public(a, pa) == 0);
}

static void test_files(void)
{
	char dir[] = "/tmp/sluice-keys-XXXXXX", path[128], b[SL_KEY_B64_LEN + 1];
	uint8_t k[32] = {42}, back[32];
	struct sl_err e = {{0}};
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/k", dir);
	key_to_base64(k, b);
	f = fopen(path, "w");
	fprintf(f, "%s\n", b);
	fclose(f);
	chmod(path, 0644);
	CHECK(key_load_private_file(path, back, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "mode 0644 allows group/other access; chmod 600 it");
	chmod(path, 0600);
	CHECK(key_load_private_file(path, back, &e) == 0 && !memcmp(k, back, 32));
	f = fopen(path, "w");
	fprintf(f, "not a key\n");
	fclose(f);
	CHECK(key_load_private_file(path, back, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "not a sluice private key");
	unlink(path);
	CHECK(key_load_private_file(path, back, &e) == -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "cannot read: No such file or directory");
	CHECK(key_load_private_file(dir, back, &e) < 0);
	CHECK_STR_CONTAINS(e.msg, "not a regular file");
	rmdir(dir);
}

int main(void)
{
	test_base64();
	test_rfc8032();
	test_generate();
	test_files();
	return check_done("test_keys");
}
