/* test_psk: pre-shared keys and the stealth prelude (issue #23). The PSK mixing (HKDF-SHA256), the key
 * confirmation MACs and the prelude MAC against known answers computed independently with python3's
 * hmac/hashlib (fixed vectors below), and against python3 live on random inputs; the confirmation and
 * CONFIRM lines on the wire; the prelude's freshness and replay checks; the config keys with their file:line
 * errors (a PSK file readable by others is refused like a private key). */
#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/config.h"
#include "daemon/control/proto.h"
#include "daemon/control/psk.h"
#include "daemon/control/stealth.h"
#include "tests/unit/check.h"

#define K1 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define P1 "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=" /* 32 x 0xa5 */

static char dir[] = "/tmp/sluice-psk-XXXXXX";

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static bool hex_is(const uint8_t *b, size_t n, const char *want)
{
	char h[129];

	hex(b, n, h);
	if (strcmp(h, want))
		fprintf(stderr, "got  %s\nwant %s\n", h, want);
	return !strcmp(h, want);
}

/* Fixed vectors: c2s = 00..1f, s2c = 20..3f, PSK = 32 x a5, session 12345678 (python3 hmac/hashlib HKDF). */
static void test_known_answers(void)
{
	uint8_t c2s[32], s2c[32], psk[32], mac[32], key[32], pub[32], pre[SL_STEALTH_PRELUDE_LEN];
	struct stealth_cache *cache = calloc(1, sizeof(*cache));

	for (int i = 0; i < 32; i++) {
		c2s[i] = (uint8_t)i;
		s2c[i] = (uint8_t)(32 + i);
		pub[i] = (uint8_t)(100 + i);
	}
	memset(psk, 0xa5, sizeof(psk));
	/* no PSK: the exporter's keys unchanged */
	CHECK(psk_mix(c2s, s2c, NULL, 0x12345678) == 0);
	CHECK(c2s[0] == 0 && c2s[31] == 31 && s2c[0] == 32 && s2c[31] == 63);
	CHECK(psk_mix(c2s, s2c, psk, 0x12345678) == 0);
	CHECK(hex_is(c2s, 32, "b2016917ae1d6a6b6405367f4521e46ea8a0800181865b1d74ecc1109521c6d3"));
	CHECK(hex_is(s2c, 32, "88e05956a93f4bc4e3a6e4d312f5d2ed62bce472dbcdc599749df30b5d58367b"));
	CHECK(psk_confirm_mac(c2s, s2c, 0x12345678, true, mac) == 0);
	CHECK(hex_is(mac, 32, "bdcdf024732ed3c29fcba6fd9982087d1e7aace6403e735722543355a2039993"));
	CHECK(psk_confirm_mac(c2s, s2c, 0x12345678, false, mac) == 0);
	CHECK(hex_is(mac, 32, "ab6b06f9281db14b684c629662e3921f96a5bdc93b7c39ad98d461b7bc6aa1ea"));

	/* the prelude: key from the public key 64..83, timestamp 1700000000, nonce c8..d7 */
	stealth_key(pub, key);
	CHECK(hex_is(key, 32, "91047bd3dc7a7ad0276eeecfd183816ba71160a8a850dd35401d8b50628690a7"));
	memset(pre, 0, sizeof(pre));
	{
		uint64_t t = 1700000000;
		for (int i = 0; i < 8; i++)
			pre[i] = (uint8_t)(t >> (56 - 8 * i));
		for (int i = 0; i < 16; i++)
			pre[8 + i] = (uint8_t)(200 + i);
		/* the MAC python3 computed: the gateway accepts the prelude once, at its time */
		static const char m[] = "a7f2a8b477adfc95353e2ffba2ad7f44c18f4a503c09ad24cfb16a69d39ad259";
		for (int i = 0; i < 32; i++) {
			unsigned v;
			sscanf(m + 2 * i, "%2x", &v);
			pre[24 + i] = (uint8_t)v;
		}
	}
	CHECK_EQ_INT(stealth_prelude_check(cache, key, 1700000000, pre), STEALTH_OK);
	CHECK_EQ_INT(stealth_prelude_check(cache, key, 1700000000, pre), STEALTH_REPLAY);
	free(cache);
}

/* Random inputs, the reference computed by python3 live (skipped without python3). */
static void test_against_python(void)
{
	uint8_t c2s[32], s2c[32], psk[32], mac_s[32], mac_c[32];
	char hc[65], hs[65], hp[65], cmd[1024], line[512];
	uint32_t sid = 0;
	FILE *f;

	if (system("python3 -c 1 >/dev/null 2>&1")) {
		fprintf(stderr, "test_psk: no python3: live reference skipped\n");
		return;
	}
	for (int round = 0; round < 8; round++) {
		RAND_bytes(c2s, 32);
		RAND_bytes(s2c, 32);
		RAND_bytes(psk, 32);
		RAND_bytes((unsigned char *)&sid, sizeof(sid));
		hex(c2s, 32, hc);
		hex(s2c, 32, hs);
		hex(psk, 32, hp);
		snprintf(cmd, sizeof(cmd),
			 "python3 -c '\n"
			 "import hmac,hashlib,struct,sys\n"
			 "H=lambda k,m: hmac.new(k,m,hashlib.sha256).digest()\n"
			 "c,s,p=[bytes.fromhex(x) for x in sys.argv[1:4]]; sid=struct.pack(\">I\",int(sys.argv[4]))\n"
			 "prk=H(p,c+s); t1=H(prk,b\"sluice psk data keys v1\"+sid+b\"\\x01\")\n"
			 "t2=H(prk,t1+b\"sluice psk data keys v1\"+sid+b\"\\x02\"); k=t1+t2\n"
			 "print(k.hex(), H(k,b\"sluice key confirmation v1 gateway\"+sid).hex(),"
			 " H(k,b\"sluice key confirmation v1 client\"+sid).hex())' %s %s %s %u",
			 hc, hs, hp, sid);
		f = popen(cmd, "r");
		CHECK(f != NULL);
		if (!f)
			return;
		line[0] = 0;
		CHECK(fgets(line, sizeof(line), f) != NULL);
		CHECK(pclose(f) == 0);
		CHECK(psk_mix(c2s, s2c, psk, sid) == 0);
		CHECK(psk_confirm_mac(c2s, s2c, sid, true, mac_s) == 0);
		CHECK(psk_confirm_mac(c2s, s2c, sid, false, mac_c) == 0);
		{
			char want[3 * 129 + 4];
			char k[129], ms[65], mc[65];
			hex(c2s, 32, k);
			hex(s2c, 32, k + 64);
			hex(mac_s, 32, ms);
			hex(mac_c, 32, mc);
			snprintf(want, sizeof(want), "%s %s %s\n", k, ms, mc);
			CHECK(!strcmp(line, want));
			if (strcmp(line, want))
				fprintf(stderr, "python: %sours:   %s", line, want);
		}
	}
}

/* The same exporter output with different PSKs (or one missing) gives different keys and confirmations. */
static void test_mismatch(void)
{
	uint8_t a1[32] = {1}, a2[32] = {2}, b1[32] = {1}, b2[32] = {2}, psk[32] = {7}, ma[32], mb[32];

	CHECK(psk_mix(a1, a2, psk, 5) == 0);
	CHECK(psk_mix(b1, b2, NULL, 5) == 0);
	CHECK(memcmp(a1, b1, 32) && memcmp(a2, b2, 32));
	CHECK(psk_confirm_mac(a1, a2, 5, true, ma) == 0);
	CHECK(psk_confirm_mac(b1, b2, 5, true, mb) == 0);
	CHECK(!psk_mac_equal(ma, mb));
	CHECK(psk_confirm_mac(a1, a2, 5, false, mb) == 0);
	CHECK(!psk_mac_equal(ma, mb)); /* the two sides' proofs differ: one cannot be echoed as the other */
	CHECK(psk_confirm_mac(a1, a2, 6, true, mb) == 0);
	CHECK(!psk_mac_equal(ma, mb)); /* bound to the session */
	CHECK(psk_confirm_mac(a1, a2, 5, true, mb) == 0);
	CHECK(psk_mac_equal(ma, mb));
}

static void test_wire(void)
{
	struct proto_snapshot s = {0}, t;
	uint8_t mac[32], back[32];
	char buf[PROTO_LINE_MAX];
	int len;

	for (int i = 0; i < 32; i++)
		mac[i] = (uint8_t)(i * 7);
	s.session_id = 0xabcdef01;
	s.addr.s_addr = htonl(0x0a420002);
	s.plen = 24;
	s.gateway.s_addr = htonl(0x0a420001);
	s.mtu = 1416;
	s.keepalive = 10;
	s.lifetime = 600;
	len = proto_format_snapshot(buf, sizeof(buf), &s);
	CHECK(len > 0 && !strstr(buf, "confirm="));
	CHECK(proto_parse_snapshot(buf, (size_t)len, &t, NULL, 0) == 0 && !t.has_confirm);
	s.has_confirm = true;
	memcpy(s.confirm, mac, 32);
	len = proto_format_snapshot(buf, sizeof(buf), &s);
	CHECK_STR_CONTAINS(buf, " confirm=00070e151c");
	CHECK(proto_parse_snapshot(buf, (size_t)len, &t, NULL, 0) == 0 && t.has_confirm && !memcmp(t.confirm, mac, 32));
	/* a short or non-hex confirmation is a malformed answer */
	CHECK(proto_parse_snapshot("OK session=abcdef01 address=10.66.0.2/24 gateway=10.66.0.1 mtu=1416 keepalive=10 "
				   "lifetime=600 confirm=00ff\n", 102, &t, NULL, 0) == -EINVAL);
	len = proto_format_confirm(buf, sizeof(buf), mac);
	CHECK_EQ_INT(len, 8 + 64 + 1);
	CHECK(proto_parse_confirm(buf, (size_t)len, back) == 0 && !memcmp(back, mac, 32));
	CHECK(proto_parse_confirm("CONFIRM 00\n", 11, back) == -EINVAL);
	CHECK(proto_parse_confirm("AUTH\n", 5, back) == -EINVAL);
	buf[20] = 'g';
	CHECK(proto_parse_confirm(buf, (size_t)len, back) == -EINVAL);
	CHECK(proto_format_confirm(buf, 40, mac) == -ENOSPC);
}

static void test_prelude(void)
{
	struct stealth_cache *cache = calloc(1, sizeof(*cache));
	uint8_t pub[32], key[32], other[32], pre[SL_STEALTH_PRELUDE_LEN], p2[SL_STEALTH_PRELUDE_LEN];
	int64_t now = 1800000000;

	RAND_bytes(pub, 32);
	stealth_key(pub, key);
	pub[0] ^= 1;
	stealth_key(pub, other);
	CHECK(stealth_prelude_make(key, now, pre) == 0);
	/* another gateway's key, any flipped bit: not a prelude */
	CHECK_EQ_INT(stealth_prelude_check(cache, other, now, pre), STEALTH_BAD);
	for (size_t i = 0; i < sizeof(pre) * 8; i += 13) {
		memcpy(p2, pre, sizeof(p2));
		p2[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now, p2), STEALTH_BAD);
	}
	/* the window, both ways, to the second: SL_STEALTH_WINDOW_S old at most, SL_STEALTH_FUTURE_S ahead */
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now + SL_STEALTH_WINDOW_S + 1, pre), STEALTH_STALE);
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now - SL_STEALTH_FUTURE_S - 1, pre), STEALTH_STALE);
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now + SL_STEALTH_WINDOW_S, pre), STEALTH_OK);
	/* once only, for as long as it is fresh */
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now, pre), STEALTH_REPLAY);
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now - SL_STEALTH_FUTURE_S, pre), STEALTH_REPLAY);
	CHECK(stealth_prelude_make(key, now + SL_STEALTH_FUTURE_S, p2) == 0);
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now, p2), STEALTH_OK); /* ahead by the most allowed */
	/* a garbage prelude (a TLS ClientHello's first bytes) */
	memset(p2, 0x16, sizeof(p2));
	CHECK_EQ_INT(stealth_prelude_check(cache, key, now, p2), STEALTH_BAD);
	/* many clients at once: every fresh prelude accepted once, each replay refused */
	{
		int ok = 0, replay = 0;
		for (int i = 0; i < 4000; i++) {
			CHECK(stealth_prelude_make(key, now, p2) == 0);
			ok += stealth_prelude_check(cache, key, now, p2) == STEALTH_OK;
			replay += stealth_prelude_check(cache, key, now, p2) == STEALTH_REPLAY;
		}
		CHECK_EQ_INT(ok, 4000);
		CHECK_EQ_INT(replay, 4000);
	}
	/* A flood by someone who knows the public key (every client does): valid preludes, each as far ahead as
	 * accepted so that its entry lives longest, more than the table holds. A client's prelude made now is
	 * still accepted (the entries that expire first make room; a full table refused it before), its replay
	 * still refused, and the flood's own replays too while they are remembered. The same against the former
	 * code: the client's prelude was refused (STEALTH_REPLAY, a full table failing closed). */
	{
		static uint8_t flood[10000][SL_STEALTH_PRELUDE_LEN];
		int ok = 0, replay = 0;
		for (int i = 0; i < 10000; i++) {
			CHECK(stealth_prelude_make(key, now + SL_STEALTH_FUTURE_S, flood[i]) == 0);
			ok += stealth_prelude_check(cache, key, now, flood[i]) == STEALTH_OK;
		}
		CHECK_EQ_INT(ok, 10000);
		/* the flood's last prelude was just remembered, and most of its latest (1 in 10 of the last 1,000
		 * made room for a later one: about 900 are still there) */
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now, flood[9999]), STEALTH_REPLAY);
		for (int i = 9000; i < 9999; i++)
			replay += stealth_prelude_check(cache, key, now, flood[i]) == STEALTH_REPLAY;
		CHECK(replay >= 800);
		/* a client's prelude made now: accepted, then refused as a replay */
		CHECK(stealth_prelude_make(key, now, p2) == 0);
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now, p2), STEALTH_OK);
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now, p2), STEALTH_REPLAY);
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now + 1, p2), STEALTH_REPLAY);
		/* too far ahead: refused before it costs an entry */
		CHECK(stealth_prelude_make(key, now + SL_STEALTH_FUTURE_S + 1, p2) == 0);
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now, p2), STEALTH_STALE);
		/* once the window has passed every entry is free again */
		CHECK(stealth_prelude_make(key, now + SL_STEALTH_FUTURE_S + SL_STEALTH_WINDOW_S + 1, p2) == 0);
		CHECK_EQ_INT(stealth_prelude_check(cache, key, now + SL_STEALTH_FUTURE_S + SL_STEALTH_WINDOW_S + 1, p2),
			     STEALTH_OK);
	}
	free(cache);
}

static int write_key(const char *name, const char *b64, mode_t mode, char *path, size_t n)
{
	FILE *f;

	snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", b64);
	fclose(f);
	return chmod(path, mode);
}

static void test_config(void)
{
	char key[256], psk[256], bad[256], text[2048], path[256];
	struct sl_config c;
	struct sl_err e = {{0}};
	uint8_t want[32];
	int ret;

	memset(want, 0xa5, sizeof(want));
	CHECK(write_key("k", K1, 0600, key, sizeof(key)) == 0);
	CHECK(write_key("p", P1, 0600, psk, sizeof(psk)) == 0);
	CHECK(write_key("open", P1, 0640, bad, sizeof(bad)) == 0);
	snprintf(path, sizeof(path), "%s/gw.conf", dir);

	/* gateway: Stealth in [Interface], PresharedKeyFile in a [Client] (relative to the config's directory) */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
		 "Stealth = on\n[Client]\nName = a\nPublicKey = " K1 "\nPresharedKeyFile = p\n[Client]\nName = b\n"
		 "PublicKey = 5ZS4+35QFxkk2BakPq/ZUJTBK/1iHJ+X6a/bxkrXvF8=\n",
		 key);
	ret = config_parse(text, strlen(text), path, true, &c, &e);
	CHECK_EQ_INT(ret, 0);
	if (!ret) {
		CHECK(c.stealth);
		CHECK(c.clients[0].has_psk && !memcmp(c.clients[0].psk, want, 32));
		CHECK(!c.clients[1].has_psk);
		config_free(&c);
	}
	/* a PSK file readable by the group: refused at its line, like a private key */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
		 "[Client]\nName = a\nPublicKey = " K1 "\nPresharedKeyFile = %s\n",
		 key, bad);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "gw.conf:9: PresharedKeyFile");
	CHECK_STR_CONTAINS(e.msg, "allows group/other access");
	/* a missing one, and one that is no key */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
		 "[Client]\nName = a\nPublicKey = " K1 "\nPresharedKeyFile = nope\n",
		 key);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "gw.conf:9: PresharedKeyFile");
	/* Stealth = maybe; Stealth in a [Client]; PresharedKeyFile in [Interface] */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
		 "Stealth = maybe\n",
		 key);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "gw.conf:6: Stealth");
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
		 "[Client]\nName = a\nPublicKey = " K1 "\nStealth = on\n",
		 key);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "gw.conf:9: unknown key 'Stealth' in [Client]");
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = server\nPrivateKeyFile = %s\nListen = 0.0.0.0:51900\nAddress = 10.66.0.1/24\n"
		 "PresharedKeyFile = %s\n",
		 key, psk);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "gw.conf:6: unknown key 'PresharedKeyFile' in [Interface]");

	/* client: per [Server] */
	snprintf(path, sizeof(path), "%s/sl0.conf", dir);
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\n[Server]\nEndpoint = 198.18.0.1:51900\nPublicKey = " K1
		 "\nPresharedKeyFile = %s\nStealth = on\n[Server]\nEndpoint = 198.18.0.3:51900\nPublicKey = " K1 "\n",
		 key, psk);
	ret = config_parse(text, strlen(text), path, true, &c, &e);
	CHECK_EQ_INT(ret, 0);
	if (!ret) {
		CHECK(c.servers[0].has_psk && c.servers[0].stealth && !memcmp(c.servers[0].psk, want, 32));
		CHECK(!c.servers[1].has_psk && !c.servers[1].stealth);
		config_free(&c);
	}
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\nStealth = on\n[Server]\nEndpoint = 198.18.0.1:51900\n"
		 "PublicKey = " K1 "\n",
		 key);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "sl0.conf:4: Stealth is not a key of a client");
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\n[Server]\nEndpoint = 198.18.0.1:51900\n"
		 "PublicKey = " K1 "\nPresharedKeyFile = %s\n",
		 key, bad);
	CHECK(config_parse(text, strlen(text), path, true, &c, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "sl0.conf:7: PresharedKeyFile");
	/* without reading key files (sluiced -t's parse, the fuzzer): noted, not read */
	snprintf(text, sizeof(text),
		 "[Interface]\nMode = client\nPrivateKeyFile = %s\n[Server]\nEndpoint = 198.18.0.1:51900\n"
		 "PublicKey = " K1 "\nPresharedKeyFile = /nonexistent\n",
		 key);
	ret = config_parse(text, strlen(text), path, false, &c, &e);
	CHECK_EQ_INT(ret, 0);
	if (!ret) {
		CHECK(c.servers[0].has_psk);
		config_free(&c);
	}
	unlink(key);
	unlink(psk);
	unlink(bad);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_known_answers();
	test_against_python();
	test_mismatch();
	test_wire();
	test_prelude();
	test_config();
	rmdir(dir);
	return check_done("test_psk");
}
