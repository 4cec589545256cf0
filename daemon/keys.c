/* keys: Ed25519 keys through OpenSSL 3 — generation, public-key derivation, strict base64, key files. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/keys.h"

#define KEY_FILE_MAX 256

int key_from_base64(const char *s, uint8_t out[SL_KEY_LEN])
{
	unsigned char buf[SL_KEY_LEN + 3];
	size_t len;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	len = strcspn(s, " \t\r\n");
	if (len != SL_KEY_B64_LEN || s[len + strspn(s + len, " \t\r\n")] != 0)
		return -EINVAL;
	if (s[SL_KEY_B64_LEN - 1] != '=' || s[SL_KEY_B64_LEN - 2] == '=')
		return -EINVAL; /* 32 bytes encode to 43 characters and exactly one '=' */
	for (size_t i = 0; i < SL_KEY_B64_LEN - 1; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '+' || s[i] == '/'))
			return -EINVAL;
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, SL_KEY_B64_LEN) != SL_KEY_LEN + 1)
		return -EINVAL; /* DecodeBlock counts the padding as a zero byte */
	memcpy(out, buf, SL_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void key_to_base64(const uint8_t key[SL_KEY_LEN], char out[SL_KEY_B64_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, key, SL_KEY_LEN);
	out[SL_KEY_B64_LEN] = 0;
}

int key_generate(uint8_t priv[SL_KEY_LEN])
{
	return RAND_priv_bytes(priv, SL_KEY_LEN) == 1 ? 0 : -EIO; /* an Ed25519 private key is 32 random bytes */
}

EVP_PKEY *key_evp_private(const uint8_t priv[SL_KEY_LEN])
{
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, SL_KEY_LEN);
}

EVP_PKEY *key_evp_public(const uint8_t pub[SL_KEY_LEN])
{
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, SL_KEY_LEN);
}

int key_public(const uint8_t priv[SL_KEY_LEN], uint8_t pub[SL_KEY_LEN])
{
	EVP_PKEY *k = key_evp_private(priv);
	size_t len = SL_KEY_LEN;
	int ok;

	if (!k)
		return -EINVAL;
	ok = EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == SL_KEY_LEN;
	EVP_PKEY_free(k);
	return ok ? 0 : -EINVAL;
}

int key_load_private_file(const char *path, uint8_t priv[SL_KEY_LEN], struct sl_err *e)
{
	char buf[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sl_errf(e, -errno, "%s: cannot read: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		ret = sl_errf(e, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = sl_errf(e, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		ret = sl_errf(e, -EPERM, "%s: mode %04o allows group/other access; chmod 600 it", path,
			      (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, buf, KEY_FILE_MAX);
	if (n < 0) {
		ret = sl_errf(e, -errno, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = 0;
	if (n == KEY_FILE_MAX || key_from_base64(buf, priv))
		ret = sl_errf(e, -EINVAL, "%s: not a sluice private key (expected 44 characters of base64)", path);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return ret;
}
