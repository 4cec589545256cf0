/* psk: PSK mixing and key confirmation (daemon/control/psk.h). */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <string.h>
#include "daemon/control/psk.h"

static void be32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

int psk_mix(uint8_t c2s[32], uint8_t s2c[32], const uint8_t *psk, uint32_t session_id)
{
	uint8_t ikm[64], out[64], info[sizeof(SL_PSK_INFO) - 1 + 4];
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int ret = -EIO;

	if (!psk)
		return 0;
	memcpy(ikm, c2s, 32);
	memcpy(ikm + 32, s2c, 32);
	memcpy(info, SL_PSK_INFO, sizeof(SL_PSK_INFO) - 1);
	be32(info + sizeof(SL_PSK_INFO) - 1, session_id);
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, sizeof(ikm));
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)psk, SL_PSK_LEN);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, sizeof(out), params) != 1)
		goto out;
	memcpy(c2s, out, 32);
	memcpy(s2c, out + 32, 32);
	ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	OPENSSL_cleanse(ikm, sizeof(ikm));
	OPENSSL_cleanse(out, sizeof(out));
	return ret;
}

int psk_confirm_mac(const uint8_t c2s[32], const uint8_t s2c[32], uint32_t session_id, bool server,
		    uint8_t mac[SL_PSK_MAC_LEN])
{
	const char *label = server ? SL_PSK_CONFIRM_SERVER : SL_PSK_CONFIRM_CLIENT;
	uint8_t key[64], msg[64];
	size_t llen = strlen(label);
	unsigned int mlen = 0;
	bool ok;

	memcpy(key, c2s, 32);
	memcpy(key + 32, s2c, 32);
	memcpy(msg, label, llen);
	be32(msg + llen, session_id);
	ok = HMAC(EVP_sha256(), key, sizeof(key), msg, llen + 4, mac, &mlen) && mlen == SL_PSK_MAC_LEN;
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -EIO;
}

bool psk_mac_equal(const uint8_t a[SL_PSK_MAC_LEN], const uint8_t b[SL_PSK_MAC_LEN])
{
	return CRYPTO_memcmp(a, b, SL_PSK_MAC_LEN) == 0;
}

void psk_mac_hex(const uint8_t mac[SL_PSK_MAC_LEN], char out[2 * SL_PSK_MAC_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < SL_PSK_MAC_LEN; i++) {
		out[2 * i] = hx[mac[i] >> 4];
		out[2 * i + 1] = hx[mac[i] & 15];
	}
	out[2 * SL_PSK_MAC_LEN] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int psk_mac_from_hex(const char *s, size_t len, uint8_t mac[SL_PSK_MAC_LEN])
{
	if (len != 2 * SL_PSK_MAC_LEN)
		return -EINVAL;
	for (size_t i = 0; i < SL_PSK_MAC_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
