/* test_aead: AES-256-GCM known answers (GCM spec test cases 13-16), a sealed datagram byte for byte
 * (computed independently, by python3 `cryptography` and by a one-shot EVP context made in this
 * test), seal/open round trips, and rejection of every single-bit flip, a wrong key, a wrong
 * counter and truncation. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "daemon/dataplane/aead.h"
#include "daemon/dataplane/wire.h"
#include "tests/unit/check.h"

#define MAX_VEC 64
#define ROUNDTRIP_SIZES_N 4
#define BITS_PER_BYTE 8

struct gcm_vec {
	const char *name, *key, *iv, *aad, *pt, *ct, *tag;
};

/* McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 13-16 (AES-256). */
/* clang-format off */
static const struct gcm_vec gcm_spec[] = {
	{"tc13",
	 "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "",
	 "", "",
	 "530f8afbc74536b9a963b4f1c4cb738b"},
	{"tc14",
	 "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "",
	 "00000000000000000000000000000000",
	 "cea7403d4d606b6e074ec5d3baf39d18",
	 "d0d1c8a799996bf0265b98b5d48ab919"},
	{"tc15",
	 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	 "cafebabefacedbaddecaf888", "",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	 "b094dac5d93471bdec1a502270e3cc6c"},
	{"tc16",
	 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	 "cafebabefacedbaddecaf888",
	 "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	 "76fc6ece0f4e1768cddf8853bb2d551b"},
};
/* clang-format on */

/* One datagram sealed by python3 `cryptography` (AESGCM): key 00 01 .. 1f, session 0x0a0b0c0d,
 * counter 0x0102030405060708, DATA, payload DGRAM_PAYLOAD; and a KEEPALIVE with counter 0. */
#define DGRAM_SESSION 0x0a0b0c0du
#define DGRAM_COUNTER 0x0102030405060708ull
#define DGRAM_PAYLOAD "sluice data-plane known answer"
static const char dgram_expect[] = "534c5531010100000a0b0c0d0102030405060708"
				   "773d1067be8429fa62eb9cc26e0b589e1fd937acb8a2264c889527270e45"
				   "044aa8a87f836a55f479662a62ec156b";
static const char keepalive_expect[] = "534c5531010200000a0b0c0d0000000000000000"
				       "16f8253b404dd5b8d05819ea740ba3b9";

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2, i;
	unsigned v;

	if (n > cap)
		abort();
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			abort();
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_gcm_spec_vectors(void)
{
	size_t i;

	for (i = 0; i < sizeof(gcm_spec) / sizeof(gcm_spec[0]); i++) {
		const struct gcm_vec *v = &gcm_spec[i];
		uint8_t key[SLUICE_KEY_LEN], iv[SLUICE_NONCE_LEN], aad[MAX_VEC], pt[MAX_VEC],
		    ct[MAX_VEC];
		uint8_t tag[SLUICE_TAG_LEN], buf[MAX_VEC], got_tag[SLUICE_TAG_LEN];
		struct sl_aead enc, dec;
		size_t aad_len, pt_len;

		CHECK_EQ_INT(unhex(v->key, key, sizeof(key)), SLUICE_KEY_LEN);
		CHECK_EQ_INT(unhex(v->iv, iv, sizeof(iv)), SLUICE_NONCE_LEN);
		aad_len = unhex(v->aad, aad, sizeof(aad));
		pt_len = unhex(v->pt, pt, sizeof(pt));
		CHECK_EQ_INT(unhex(v->ct, ct, sizeof(ct)), pt_len);
		unhex(v->tag, tag, sizeof(tag));

		CHECK_EQ_INT(aead_init(&enc, key, true), 0);
		CHECK_EQ_INT(aead_init(&dec, key, false), 0);
		memcpy(buf, pt, pt_len);
		CHECK_EQ_INT(aead_seal_iv(&enc, iv, aad, aad_len, buf, pt_len, got_tag), 0);
		CHECK(memcmp(buf, ct, pt_len) == 0);
		CHECK(memcmp(got_tag, tag, SLUICE_TAG_LEN) == 0);
		if (memcmp(got_tag, tag, SLUICE_TAG_LEN))
			fprintf(stderr, "  GCM spec %s: tag mismatch\n", v->name);

		CHECK_EQ_INT(aead_open_iv(&dec, iv, aad, aad_len, buf, pt_len, tag), 0);
		CHECK(memcmp(buf, pt, pt_len) == 0);
		/* A wrong tag is refused. */
		tag[0] ^= 1;
		memcpy(buf, ct, pt_len);
		CHECK_EQ_INT(aead_open_iv(&dec, iv, aad, aad_len, buf, pt_len, tag), -1);
		aead_free(&enc);
		aead_free(&dec);
		CHECK(enc.ctx == NULL && dec.ctx == NULL);
	}
}

/* The reference: a fresh EVP context, one shot, nothing shared with aead.c. Writes hdr || ct ||
 * tag. */
static size_t reference_seal(const uint8_t key[SLUICE_KEY_LEN], uint8_t type, uint32_t session,
			     uint64_t counter, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[SLUICE_NONCE_LEN] = {0};
	int outl, i;

	/* Header by hand, from DESIGN §3, not through wire_hdr_encode. */
	memcpy(out, "SLU1", 4);
	out[4] = SLUICE_WIRE_VERSION;
	out[5] = type;
	out[6] = out[7] = 0;
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(session >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		out[12 + i] = iv[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
	if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) ||
	    !EVP_EncryptUpdate(ctx, NULL, &outl, out, SLUICE_HDR_LEN) ||
	    (pt_len && !EVP_EncryptUpdate(ctx, out + SLUICE_HDR_LEN, &outl, pt, (int)pt_len)) ||
	    !EVP_EncryptFinal_ex(ctx, out + SLUICE_HDR_LEN + pt_len, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SLUICE_TAG_LEN,
				 out + SLUICE_HDR_LEN + pt_len))
		abort();
	EVP_CIPHER_CTX_free(ctx);
	return pt_len + SLUICE_OVERHEAD;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_datagram_vector(void)
{
	uint8_t key[SLUICE_KEY_LEN], expect[SLUICE_OVERHEAD + MAX_VEC],
	    buf[SLUICE_OVERHEAD + MAX_VEC];
	uint8_t ref[SLUICE_OVERHEAD + MAX_VEC];
	const size_t pt_len = strlen(DGRAM_PAYLOAD);
	struct sl_aead enc, dec;
	struct sl_hdr h;
	size_t i, n;

	for (i = 0; i < SLUICE_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	CHECK_EQ_INT(aead_init(&enc, key, true), 0);
	CHECK_EQ_INT(aead_init(&dec, key, false), 0);

	n = unhex(dgram_expect, expect, sizeof(expect));
	CHECK_EQ_INT(n, pt_len + SLUICE_OVERHEAD);
	memcpy(buf + SLUICE_HDR_LEN, DGRAM_PAYLOAD, pt_len);
	CHECK_EQ_INT(dgram_seal(&enc, buf, pt_len, SL_TYPE_DATA, DGRAM_SESSION, DGRAM_COUNTER), n);
	CHECK(memcmp(buf, expect, n) == 0);
	CHECK_EQ_INT(reference_seal(key, SL_TYPE_DATA, DGRAM_SESSION, DGRAM_COUNTER,
				    (const uint8_t *)DGRAM_PAYLOAD, pt_len, ref),
		     n);
	CHECK(memcmp(ref, expect, n) == 0);
	CHECK_EQ_INT(wire_hdr_decode(buf, n, &h), 0);
	CHECK_EQ_INT(dgram_open(&dec, buf, n, &h), pt_len);
	CHECK(memcmp(buf + SLUICE_HDR_LEN, DGRAM_PAYLOAD, pt_len) == 0);

	n = unhex(keepalive_expect, expect, sizeof(expect));
	CHECK_EQ_INT(dgram_seal(&enc, buf, 0, SL_TYPE_KEEPALIVE, DGRAM_SESSION, 0),
		     SLUICE_OVERHEAD);
	CHECK(memcmp(buf, expect, n) == 0);

	aead_free(&enc);
	aead_free(&dec);
}

/* Flips every bit of a sealed datagram in turn: each must fail decode or open. */
static void check_every_bit_flip(struct sl_aead *dec, const uint8_t *sealed, size_t n,
				 uint8_t *scratch)
{
	size_t bit, accepted = 0;
	struct sl_hdr h;

	for (bit = 0; bit < n * BITS_PER_BYTE; bit++) {
		memcpy(scratch, sealed, n);
		scratch[bit / BITS_PER_BYTE] ^= (uint8_t)(1u << (bit % BITS_PER_BYTE));
		if (wire_hdr_decode(scratch, n, &h) == 0 && dgram_open(dec, scratch, n, &h) >= 0) {
			accepted++;
			fprintf(stderr, "  bit flip %zu of %zu-byte datagram accepted\n", bit, n);
		}
	}
	CHECK_EQ_INT(accepted, 0);
}

static void test_roundtrip_and_tamper(void)
{
	static const size_t sizes[ROUNDTRIP_SIZES_N] = {0, 1, SLUICE_MTU_DEFAULT, SLUICE_MTU_MAX};
	static uint8_t pt[SLUICE_MTU_MAX], buf[SLUICE_DGRAM_MAX], ref[SLUICE_DGRAM_MAX],
	    scratch[SLUICE_DGRAM_MAX];
	uint8_t key[SLUICE_KEY_LEN], other_key[SLUICE_KEY_LEN];
	struct sl_aead enc, dec, wrong;
	const uint32_t session = 0xdeadbeefu;
	size_t i, cut;

	fill(key, sizeof(key), 1);
	fill(other_key, sizeof(other_key), 2);
	CHECK_EQ_INT(aead_init(&enc, key, true), 0);
	CHECK_EQ_INT(aead_init(&dec, key, false), 0);
	CHECK_EQ_INT(aead_init(&wrong, other_key, false), 0);

	for (i = 0; i < ROUNDTRIP_SIZES_N; i++) {
		const size_t len = sizes[i];
		const uint64_t counter = 1000 + i;
		struct sl_hdr h;
		int n;

		fill(pt, len, (uint32_t)(100 + i));
		memcpy(buf + SLUICE_HDR_LEN, pt, len);
		n = dgram_seal(&enc, buf, len, SL_TYPE_DATA, session, counter);
		CHECK_EQ_INT(n, len + SLUICE_OVERHEAD);
		if (n < 0)
			continue;
		/* Same bytes as the independent one-shot reference. */
		reference_seal(key, SL_TYPE_DATA, session, counter, pt, len, ref);
		CHECK(memcmp(buf, ref, (size_t)n) == 0);
		/* The plaintext does not survive in the ciphertext. */
		if (len > 1)
			CHECK(memcmp(buf + SLUICE_HDR_LEN, pt, len) != 0);

		/* Tampering: every bit (9036-byte datagram: ~72k opens, well under a second). */
		check_every_bit_flip(&dec, buf, (size_t)n, scratch);

		/* Wrong key. */
		memcpy(scratch, buf, (size_t)n);
		CHECK_EQ_INT(wire_hdr_decode(scratch, (size_t)n, &h), 0);
		CHECK_EQ_INT(dgram_open(&wrong, scratch, (size_t)n, &h), -1);
		/* Wrong counter in the decoded header (the nonce): refused even though the bytes
		 * are intact. */
		memcpy(scratch, buf, (size_t)n);
		h.counter = counter + 1;
		CHECK_EQ_INT(dgram_open(&dec, scratch, (size_t)n, &h), -1);
		/* Truncated: every shorter length fails decode or open. */
		for (cut = 0; cut < (size_t)n; cut++) {
			memcpy(scratch, buf, cut);
			if (wire_hdr_decode(scratch, cut, &h) == 0)
				CHECK_EQ_INT(dgram_open(&dec, scratch, cut, &h), -1);
		}
		/* And the untouched datagram opens to the original. */
		CHECK_EQ_INT(wire_hdr_decode(buf, (size_t)n, &h), 0);
		CHECK_EQ_INT(h.counter, counter);
		CHECK_EQ_INT(dgram_open(&dec, buf, (size_t)n, &h), len);
		CHECK(memcmp(buf + SLUICE_HDR_LEN, pt, len) == 0);
	}

	/* A KEEPALIVE is authenticated too. */
	{
		struct sl_hdr h;

		CHECK_EQ_INT(dgram_seal(&enc, buf, 0, SL_TYPE_KEEPALIVE, session, 7),
			     SLUICE_OVERHEAD);
		check_every_bit_flip(&dec, buf, SLUICE_OVERHEAD, scratch);
		CHECK_EQ_INT(wire_hdr_decode(buf, SLUICE_OVERHEAD, &h), 0);
		CHECK_EQ_INT(dgram_open(&dec, buf, SLUICE_OVERHEAD, &h), 0);
	}

	aead_free(&enc);
	aead_free(&dec);
	aead_free(&wrong);
}

static void test_misuse(void)
{
	static uint8_t buf[SLUICE_DGRAM_MAX + SLUICE_HDR_LEN];
	uint8_t key[SLUICE_KEY_LEN] = {0}, iv[SLUICE_NONCE_LEN] = {0}, tag[SLUICE_TAG_LEN] = {0};
	struct sl_aead enc, dec, zero;
	struct sl_hdr h = {.type = SL_TYPE_DATA};

	CHECK_EQ_INT(aead_init(&enc, key, true), 0);
	CHECK_EQ_INT(aead_init(&dec, key, false), 0);
	/* Directions are not mixed. */
	CHECK_EQ_INT(aead_seal_iv(&dec, iv, NULL, 0, buf, 1, tag), -1);
	CHECK_EQ_INT(aead_open_iv(&enc, iv, NULL, 0, buf, 1, tag), -1);
	CHECK_EQ_INT(dgram_seal(&dec, buf, 1, SL_TYPE_DATA, 1, 1), -1);
	/* Never builds what decode refuses. */
	CHECK_EQ_INT(dgram_seal(&enc, buf, SLUICE_MTU_MAX + 1, SL_TYPE_DATA, 1, 1), -1);
	CHECK_EQ_INT(dgram_seal(&enc, buf, 1, SL_TYPE_KEEPALIVE, 1, 1), -1);
	CHECK_EQ_INT(dgram_seal(&enc, buf, 1, 0, 1, 1), -1);
	CHECK_EQ_INT(dgram_seal(&enc, buf, 1, SL_TYPE_CONTROL + 1, 1, 1), -1);
	CHECK_EQ_INT(dgram_seal(&enc, buf, SLUICE_MTU_MAX, SL_TYPE_DATA, 1, 1), SLUICE_DGRAM_MAX);
	/* Lengths out of range never reach the cipher. */
	CHECK_EQ_INT(dgram_open(&dec, buf, SLUICE_OVERHEAD - 1, &h), -1);
	CHECK_EQ_INT(dgram_open(&dec, buf, SLUICE_DGRAM_MAX + 1, &h), -1);
	/* Freeing twice, or a zeroed struct, is safe. */
	aead_free(&enc);
	aead_free(&enc);
	memset(&zero, 0, sizeof(zero));
	aead_free(&zero);
	aead_free(&dec);
	CHECK_EQ_INT(aead_init(&zero, NULL, true), -EINVAL);
}

static void test_nonce(void)
{
	static const uint8_t expect[SLUICE_NONCE_LEN] = {0,    0,    0,	   0,	 0x01, 0x02,
							 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
	uint8_t n[SLUICE_NONCE_LEN];

	memset(n, 0xff, sizeof(n));
	aead_nonce(n, DGRAM_COUNTER);
	CHECK(memcmp(n, expect, sizeof(n)) == 0);
}

int main(void)
{
	test_nonce();
	test_gcm_spec_vectors();
	test_datagram_vector();
	test_roundtrip_and_tamper();
	test_misuse();
	return check_done("test_aead");
}
