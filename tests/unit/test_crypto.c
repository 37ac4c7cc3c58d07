/* test_crypto.c: digests, HMAC, codecs and AES-GCM against published vectors
 * (FIPS 180, RFC 4231, RFC 4648, the GCM specification's test cases). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "unit.h"

/* unhex: test helper; vectors are written in hex. Aborts the test on junk. */
static size_t unhex(const char *hex, unsigned char *out, size_t outsize)
{
	size_t n = 0;

	CU_ASSERT_FATAL(crypto_hex_decode(hex, strlen(hex), out, outsize, &n) == R_SUCCESS);
	return n;
}

static void hex_eq(const unsigned char *got, size_t n, const char *want)
{
	char hex[257];

	CU_ASSERT_FATAL(crypto_hex_encode(got, n, hex, sizeof(hex)) == R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(hex, want);
}

/* ---- SHA ---- */

static const struct {
	const char *msg;
	const char *sha256;
} sha256_vectors[] = {
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

static void sha256_fips180(void)
{
	unsigned char d[CRYPTO_SHA256_LEN];

	for (size_t i = 0; i < sizeof(sha256_vectors) / sizeof(sha256_vectors[0]); i++) {
		const char *m = sha256_vectors[i].msg;
		CU_ASSERT_EQUAL_FATAL(crypto_sha256(m, strlen(m), d), R_SUCCESS);
		hex_eq(d, sizeof(d), sha256_vectors[i].sha256);
	}
	/* NULL with length 0 is allowed and is the empty message. */
	CU_ASSERT_EQUAL_FATAL(crypto_sha256(NULL, 0, d), R_SUCCESS);
	hex_eq(d, sizeof(d), sha256_vectors[1].sha256);
}

static void sha256_streaming(void)
{
	/* FIPS 180-2 appendix B.3: one million 'a', fed in uneven pieces. */
	static char chunk[997];
	unsigned char d[CRYPTO_SHA256_LEN];
	struct crypto_sha256 *c = crypto_sha256_new();
	size_t left = 1000000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	memset(chunk, 'a', sizeof(chunk));
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		CU_ASSERT_EQUAL_FATAL(crypto_sha256_update(c, chunk, n), R_SUCCESS);
		left -= n;
	}
	CU_ASSERT_EQUAL(crypto_sha256_update(c, NULL, 0), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(crypto_sha256_final(c, d), R_SUCCESS);
	hex_eq(d, sizeof(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* Finished contexts refuse more work instead of hashing garbage. */
	CU_ASSERT_EQUAL(crypto_sha256_update(c, "a", 1), R_INTERNAL);
	CU_ASSERT_EQUAL(crypto_sha256_final(c, d), R_INTERNAL);
	crypto_sha256_free(c);
	crypto_sha256_free(NULL);
}

static void sha1_abc(void)
{
	unsigned char d[CRYPTO_SHA1_LEN];

	CU_ASSERT_EQUAL_FATAL(crypto_sha1("abc", 3, d), R_SUCCESS);
	hex_eq(d, sizeof(d), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

/* ---- HMAC (RFC 4231 test cases 1-7) ---- */

static const struct {
	const char *key_hex; /* NULL: repeat key_byte key_len times */
	unsigned char key_byte;
	size_t key_len;
	const char *data; /* NULL: repeat data_byte data_len times */
	unsigned char data_byte;
	size_t data_len;
	const char *mac; /* hex; shorter for the truncated case 5 */
} rfc4231[] = {
    {NULL, 0x0b, 20, "Hi There", 0, 0,
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {NULL, 0xaa, 20, NULL, 0xdd, 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {"0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 0xcd, 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {NULL, 0x0c, 20, "Test With Truncation", 0, 0, "a3b6167473100ee06e0c796c2955552b"},
    {NULL, 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {NULL, 0xaa, 131,
     "This is a test using a larger than block-size key and a larger than block-size data. "
     "The key needs to be hashed before being used by the HMAC algorithm.",
     0, 0, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static void hmac_rfc4231(void)
{
	for (size_t i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		unsigned char key[200], data[200], mac[CRYPTO_SHA256_LEN];
		char hex[CRYPTO_HEX_SIZE(CRYPTO_SHA256_LEN)];
		size_t klen, dlen, want = strlen(rfc4231[i].mac);

		if (rfc4231[i].key_hex != NULL) {
			klen = unhex(rfc4231[i].key_hex, key, sizeof(key));
		} else {
			klen = rfc4231[i].key_len;
			memset(key, rfc4231[i].key_byte, klen);
		}
		if (rfc4231[i].data != NULL) {
			dlen = strlen(rfc4231[i].data);
			memcpy(data, rfc4231[i].data, dlen);
		} else {
			dlen = rfc4231[i].data_len;
			memset(data, rfc4231[i].data_byte, dlen);
		}
		CU_ASSERT_EQUAL_FATAL(crypto_hmac_sha256(key, klen, data, dlen, mac), R_SUCCESS);
		CU_ASSERT_EQUAL_FATAL(crypto_hex_encode(mac, sizeof(mac), hex, sizeof(hex)),
				      R_SUCCESS);
		CU_ASSERT_EQUAL(strncmp(hex, rfc4231[i].mac, want), 0);
	}
}

static void hmac_empty_key(void)
{
	unsigned char a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];

	/* Known value of HMAC-SHA256 with an empty key over an empty message. */
	CU_ASSERT_EQUAL_FATAL(crypto_hmac_sha256(NULL, 0, NULL, 0, a), R_SUCCESS);
	hex_eq(a, sizeof(a), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	CU_ASSERT_EQUAL_FATAL(crypto_hmac_sha256("", 0, "", 0, b), R_SUCCESS);
	CU_ASSERT(crypto_equal(a, b, sizeof(a)));
}

/* ---- helpers ---- */

static void equal_and_wipe(void)
{
	unsigned char a[32], b[32];

	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	CU_ASSERT_TRUE(crypto_equal(a, b, sizeof(a)));
	b[31] ^= 1;
	CU_ASSERT_FALSE(crypto_equal(a, b, sizeof(a)));
	b[31] ^= 1;
	b[0] ^= 0x80;
	CU_ASSERT_FALSE(crypto_equal(a, b, sizeof(a)));
	CU_ASSERT_TRUE(crypto_equal(NULL, NULL, 0));
	crypto_wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		CU_ASSERT_EQUAL(a[i], 0);
	crypto_wipe(NULL, 0);
}

static void random_fills(void)
{
	unsigned char a[64], b[64], zero[64] = {0};

	CU_ASSERT_EQUAL_FATAL(crypto_random(a, sizeof(a)), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(crypto_random(b, sizeof(b)), R_SUCCESS);
	/* 2^-512 chance of a false failure. */
	CU_ASSERT_FALSE(crypto_equal(a, b, sizeof(a)));
	CU_ASSERT_FALSE(crypto_equal(a, zero, sizeof(a)));
	CU_ASSERT_EQUAL(crypto_random(NULL, 0), R_SUCCESS);
}

/* ---- hex ---- */

static void hex_round_trip(void)
{
	unsigned char all[256], back[256];
	char hex[CRYPTO_HEX_SIZE(256)];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	for (size_t len = 0; len <= sizeof(all); len += 37) {
		CU_ASSERT_EQUAL_FATAL(crypto_hex_encode(all, len, hex, sizeof(hex)), R_SUCCESS);
		CU_ASSERT_EQUAL(strlen(hex), 2 * len);
		CU_ASSERT_EQUAL_FATAL(crypto_hex_decode(hex, 2 * len, back, sizeof(back), &n),
				      R_SUCCESS);
		CU_ASSERT_EQUAL(n, len);
		CU_ASSERT(memcmp(all, back, len) == 0);
	}
	CU_ASSERT_EQUAL_FATAL(crypto_hex_encode(all + 0xf0, 16, hex, sizeof(hex)), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(hex, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
	/* Uppercase input decodes too. */
	CU_ASSERT_EQUAL(crypto_hex_decode("DEADbeef", 8, back, sizeof(back), &n), R_SUCCESS);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT(memcmp(back, "\xde\xad\xbe\xef", 4) == 0);
}

static void hex_rejects(void)
{
	static const char *bad[] = {"a", "abc", "0g", "g0", " 00", "00 ", "0x00", "-1"};
	unsigned char out[8] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
	char small[5];
	size_t n = 99, sz = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(crypto_hex_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
				R_INVALID);
		CU_ASSERT_EQUAL(n, 99);
		CU_ASSERT_EQUAL(out[0], 0x55);
	}
	/* An embedded NUL inside the stated length is not hex. */
	CU_ASSERT_EQUAL(crypto_hex_decode("0\0", 2, out, sizeof(out), &n), R_INVALID);
	CU_ASSERT_EQUAL(crypto_hex_decode("001122", 6, out, 2, &n), R_TOO_BIG);
	CU_ASSERT_EQUAL(out[0], 0x55);
	CU_ASSERT_EQUAL(crypto_hex_encode("abc", 3, small, sizeof(small)), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_hex_size(SIZE_MAX / 2 + 1, &sz), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_hex_size((SIZE_MAX - 1) / 2, &sz), R_SUCCESS);
	CU_ASSERT_EQUAL(sz, SIZE_MAX);
}

/* ---- base64 (RFC 4648 section 10) ---- */

static const struct {
	const char *raw, *std, *url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    /* Exercises the two characters where the alphabets differ. */
    {"\xfb\xff\xbf", "+/+/", "-_-_"},
    {"\xfb\xff", "+/8=", "-_8"},
};

static void base64_rfc4648(void)
{
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const char *raw = rfc4648[i].raw;
		size_t rl = strlen(raw), n = 0, sz = 0;
		char enc[32];
		unsigned char dec[32];

		CU_ASSERT_EQUAL_FATAL(crypto_base64_size(rl, &sz), R_SUCCESS);
		CU_ASSERT_EQUAL(sz, strlen(rfc4648[i].std) + 1);
		CU_ASSERT_EQUAL_FATAL(crypto_base64_encode(raw, rl, enc, sizeof(enc), &n),
				      R_SUCCESS);
		CU_ASSERT_STRING_EQUAL(enc, rfc4648[i].std);
		CU_ASSERT_EQUAL(n, strlen(rfc4648[i].std));
		CU_ASSERT_EQUAL_FATAL(
		    crypto_base64_decode(enc, n, dec, crypto_base64_decoded_max(n), &n), R_SUCCESS);
		CU_ASSERT_EQUAL(n, rl);
		CU_ASSERT(memcmp(dec, raw, rl) == 0);

		CU_ASSERT_EQUAL_FATAL(crypto_base64url_size(rl, &sz), R_SUCCESS);
		CU_ASSERT_EQUAL(sz, strlen(rfc4648[i].url) + 1);
		CU_ASSERT_EQUAL_FATAL(crypto_base64url_encode(raw, rl, enc, sz, &n), R_SUCCESS);
		CU_ASSERT_STRING_EQUAL(enc, rfc4648[i].url);
		CU_ASSERT_EQUAL_FATAL(
		    crypto_base64url_decode(enc, n, dec, crypto_base64_decoded_max(n), &n),
		    R_SUCCESS);
		CU_ASSERT_EQUAL(n, rl);
		CU_ASSERT(memcmp(dec, raw, rl) == 0);
	}
}

static void base64_round_trip_all_lengths(void)
{
	unsigned char raw[100], dec[100];
	char enc[CRYPTO_BASE64_SIZE(100)];
	size_t n, m;

	CU_ASSERT_EQUAL_FATAL(crypto_random(raw, sizeof(raw)), R_SUCCESS);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		CU_ASSERT_EQUAL_FATAL(crypto_base64_encode(raw, len, enc, sizeof(enc), &n),
				      R_SUCCESS);
		CU_ASSERT_EQUAL_FATAL(crypto_base64_decode(enc, n, dec, len, &m), R_SUCCESS);
		CU_ASSERT(m == len && memcmp(raw, dec, len) == 0);
		CU_ASSERT_EQUAL_FATAL(crypto_base64url_encode(raw, len, enc, sizeof(enc), &n),
				      R_SUCCESS);
		CU_ASSERT_EQUAL_FATAL(crypto_base64url_decode(enc, n, dec, len, &m), R_SUCCESS);
		CU_ASSERT(m == len && memcmp(raw, dec, len) == 0);
	}
}

static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	bool url;
} b64_bad[] = {
    {"Zg=", 0, false},	    /* length not a multiple of 4 */
    {"Zg", 0, false},	    /* standard requires padding */
    {"Z===", 0, false},	    /* three pads */
    {"====", 0, false},	    /* nothing but pads */
    {"=Zg=", 0, false},	    /* pad at the front */
    {"Zg==Zg==", 0, false}, /* pad in the middle */
    {"Zm9v\n", 0, false},   /* whitespace */
    {"Zm 9", 0, false},	    /* whitespace */
    {"Zh==", 0, false},	    /* non-canonical: leftover bits set */
    {"Zm9=", 0, false},	    /* non-canonical: leftover bits set */
    {"-_-_", 0, false},	    /* url alphabet in standard */
    {"Zm\0v", 4, false},    /* embedded NUL */
    {"Zm9v*A==", 0, false}, /* outside both alphabets */
    {"Zg==", 0, true},	    /* url takes no padding */
    {"Zm9vY", 0, true},	    /* one leftover character */
    {"Z", 0, true},	    /* one leftover character */
    {"+/+/", 0, true},	    /* standard alphabet in url */
    {"Zh", 0, true},	    /* non-canonical */
    {"Zm9vYmF", 0, true},   /* non-canonical (F = 000101) */
    {"Zm9v=", 0, true},	    /* trailing pad */
    {"Zm\0v", 4, true},	    /* embedded NUL */
    {"eyJ hbGc", 0, true},  /* whitespace */
};

static void base64_rejects(void)
{
	unsigned char out[16];
	char enc[8];
	size_t n, sz;

	for (size_t i = 0; i < sizeof(b64_bad) / sizeof(b64_bad[0]); i++) {
		size_t len = b64_bad[i].len ? b64_bad[i].len : strlen(b64_bad[i].in);
		enum result r;

		memset(out, 0x55, sizeof(out));
		n = 99;
		r = b64_bad[i].url
			? crypto_base64url_decode(b64_bad[i].in, len, out, sizeof(out), &n)
			: crypto_base64_decode(b64_bad[i].in, len, out, sizeof(out), &n);
		CU_ASSERT_EQUAL(r, R_INVALID);
		if (r != R_INVALID)
			fprintf(stderr, "accepted bad base64 #%zu '%s'\n", i, b64_bad[i].in);
		CU_ASSERT_EQUAL(n, 99);
		CU_ASSERT_EQUAL(out[0], 0x55);
	}
	/* Too small a buffer is R_TOO_BIG and writes nothing. */
	memset(out, 0x55, sizeof(out));
	CU_ASSERT_EQUAL(crypto_base64_decode("Zm9vYmFy", 8, out, 5, &n), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_base64url_decode("Zm9vYmE", 7, out, 4, &n), R_TOO_BIG);
	CU_ASSERT_EQUAL(out[0], 0x55);
	CU_ASSERT_EQUAL(crypto_base64_decode("Zm9vYmE=", 8, out, 5, &n), R_SUCCESS);
	CU_ASSERT_EQUAL(n, 5);
	/* Encoder buffer too small (needs room for the NUL). */
	CU_ASSERT_EQUAL(crypto_base64_encode("foobar", 6, enc, 8, &n), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_base64url_encode("fooba", 5, enc, 7, &n), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_base64url_encode("fooba", 5, enc, 8, NULL), R_SUCCESS);
	/* Size arithmetic refuses to wrap. */
	CU_ASSERT_EQUAL(crypto_base64_size(SIZE_MAX, &sz), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_base64url_size(SIZE_MAX, &sz), R_TOO_BIG);
	CU_ASSERT_EQUAL(crypto_base64_size(SIZE_MAX / 4 * 3 - 3, &sz), R_SUCCESS);
	CU_ASSERT(crypto_base64_decoded_max(SIZE_MAX) > SIZE_MAX / 2);
}

/* ---- AES-256-GCM ---- */

static void aes_gcm_round_trip(void)
{
	unsigned char key[CRYPTO_AES_KEY_LEN];
	static const char msg[] = "postgres://u:hunter2@db/sandpit";
	unsigned char *s1 = NULL, *s2 = NULL, *p = NULL;
	size_t l1 = 0, l2 = 0, pl = 0;

	CU_ASSERT_EQUAL_FATAL(crypto_random(key, sizeof(key)), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(crypto_seal(key, msg, strlen(msg), "org_1/DB", 8, &s1, &l1),
			      R_SUCCESS);
	CU_ASSERT_EQUAL(l1, strlen(msg) + CRYPTO_SEAL_OVERHEAD);
	CU_ASSERT_EQUAL_FATAL(crypto_seal(key, msg, strlen(msg), "org_1/DB", 8, &s2, &l2),
			      R_SUCCESS);
	/* Fresh nonce each time: the same plaintext never seals the same way. */
	CU_ASSERT_FALSE(crypto_equal(s1, s2, CRYPTO_AES_NONCE_LEN));
	CU_ASSERT_EQUAL_FATAL(crypto_open(key, s1, l1, "org_1/DB", 8, &p, &pl), R_SUCCESS);
	CU_ASSERT_EQUAL(pl, strlen(msg));
	CU_ASSERT_STRING_EQUAL((char *)p, msg);
	crypto_wipe(p, pl);
	free(p);
	free(s1);
	free(s2);

	/* Empty plaintext, no aad. */
	CU_ASSERT_EQUAL_FATAL(crypto_seal(key, NULL, 0, NULL, 0, &s1, &l1), R_SUCCESS);
	CU_ASSERT_EQUAL(l1, CRYPTO_SEAL_OVERHEAD);
	CU_ASSERT_EQUAL_FATAL(crypto_open(key, s1, l1, NULL, 0, &p, &pl), R_SUCCESS);
	CU_ASSERT_EQUAL(pl, 0);
	CU_ASSERT_EQUAL(p[0], '\0');
	free(p);
	free(s1);
}

static void aes_gcm_tamper(void)
{
	unsigned char key[CRYPTO_AES_KEY_LEN], other[CRYPTO_AES_KEY_LEN];
	static const char msg[] = "a secret of some length";
	unsigned char *s = NULL, *p = (unsigned char *)"untouched";
	size_t l = 0, pl = 12345;

	CU_ASSERT_EQUAL_FATAL(crypto_random(key, sizeof(key)), R_SUCCESS);
	memcpy(other, key, sizeof(key));
	other[5] ^= 0x01;
	CU_ASSERT_EQUAL_FATAL(crypto_seal(key, msg, strlen(msg), "ctx", 3, &s, &l), R_SUCCESS);

	/* Every single-bit flip anywhere (nonce, ciphertext, tag) is caught. */
	for (size_t i = 0; i < l; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			s[i] ^= (unsigned char)(1u << bit);
			CU_ASSERT_EQUAL(crypto_open(key, s, l, "ctx", 3, &p, &pl), R_INVALID);
			s[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Wrong aad, missing aad, wrong key, truncation, extension. */
	CU_ASSERT_EQUAL(crypto_open(key, s, l, "ctY", 3, &p, &pl), R_INVALID);
	CU_ASSERT_EQUAL(crypto_open(key, s, l, NULL, 0, &p, &pl), R_INVALID);
	CU_ASSERT_EQUAL(crypto_open(other, s, l, "ctx", 3, &p, &pl), R_INVALID);
	CU_ASSERT_EQUAL(crypto_open(key, s, l - 1, "ctx", 3, &p, &pl), R_INVALID);
	CU_ASSERT_EQUAL(crypto_open(key, s, CRYPTO_SEAL_OVERHEAD - 1, "ctx", 3, &p, &pl),
			R_INVALID);
	CU_ASSERT_EQUAL(crypto_open(key, s, 0, "ctx", 3, &p, &pl), R_INVALID);
	/* Out-params untouched by every failure above. */
	CU_ASSERT_STRING_EQUAL((char *)p, "untouched");
	CU_ASSERT_EQUAL(pl, 12345);
	/* And the original still opens. */
	CU_ASSERT_EQUAL_FATAL(crypto_open(key, s, l, "ctx", 3, &p, &pl), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL((char *)p, msg);
	free(p);
	free(s);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13-16
 * (256-bit key, 96-bit IV), as republished by NIST with the GCM spec. */
static const struct {
	const char *key, *iv, *pt, *aad, *ct, *tag;
} gcm_kat[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

/* The public API picks its own nonce, so the known answers are checked
 * through crypto_open on nonce || ciphertext || tag built from the vector. */
static void aes_gcm_known_answer(void)
{
	for (size_t i = 0; i < sizeof(gcm_kat) / sizeof(gcm_kat[0]); i++) {
		unsigned char key[32], sealed[128], pt[64], aad[32], *out = NULL;
		size_t kl, nl, cl, tl, pl, al, ol = 0;

		kl = unhex(gcm_kat[i].key, key, sizeof(key));
		CU_ASSERT_EQUAL_FATAL(kl, CRYPTO_AES_KEY_LEN);
		nl = unhex(gcm_kat[i].iv, sealed, sizeof(sealed));
		CU_ASSERT_EQUAL_FATAL(nl, CRYPTO_AES_NONCE_LEN);
		cl = unhex(gcm_kat[i].ct, sealed + nl, sizeof(sealed) - nl);
		tl = unhex(gcm_kat[i].tag, sealed + nl + cl, sizeof(sealed) - nl - cl);
		pl = unhex(gcm_kat[i].pt, pt, sizeof(pt));
		al = unhex(gcm_kat[i].aad, aad, sizeof(aad));
		CU_ASSERT_EQUAL_FATAL(crypto_open(key, sealed, nl + cl + tl, aad, al, &out, &ol),
				      R_SUCCESS);
		CU_ASSERT_EQUAL(ol, pl);
		CU_ASSERT(memcmp(out, pt, pl) == 0);
		free(out);
		/* The same vector with its tag's last byte flipped must fail. */
		sealed[nl + cl + tl - 1] ^= 0x80;
		CU_ASSERT_EQUAL(crypto_open(key, sealed, nl + cl + tl, aad, al, &out, &ol),
				R_INVALID);
	}
}

/* Sealed text as hex: round trip, bound to its additional data, and every
 * malformed or oversized hex refused before anything is opened. */
static void sealed_text_round_trip(void)
{
	unsigned char key[CRYPTO_AES_KEY_LEN] = {7};
	char *hex = NULL, *text = NULL;

	CU_ASSERT_EQUAL_FATAL(crypto_seal_text(key, "s3cret value", "org/NAME", &hex), R_SUCCESS);
	CU_ASSERT_EQUAL(strlen(hex), 2 * (strlen("s3cret value") + CRYPTO_SEAL_OVERHEAD));
	CU_ASSERT_EQUAL(crypto_open_text(key, hex, 1024, "org/NAME", &text), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(text, "s3cret value");
	free(text);
	text = NULL;
	CU_ASSERT_EQUAL(crypto_open_text(key, hex, 1024, "org/OTHER", &text), R_INVALID);
	CU_ASSERT_EQUAL(crypto_open_text(key, hex, strlen(hex) - 2, "org/NAME", &text), R_INVALID);
	hex[strlen(hex) - 1] = '\0'; /* odd length */
	CU_ASSERT_EQUAL(crypto_open_text(key, hex, 1024, "org/NAME", &text), R_INVALID);
	hex[0] = 'z';
	hex[strlen(hex) - 1] = '\0';
	CU_ASSERT_EQUAL(crypto_open_text(key, hex, 1024, "org/NAME", &text), R_INVALID);
	CU_ASSERT_PTR_NULL(text);
	free(hex);
}

UNIT_SUITE(crypto, {"sealed text round trip", sealed_text_round_trip},
	   {"sha256 fips 180 vectors", sha256_fips180},
	   {"sha256 streaming million a", sha256_streaming}, {"sha1 abc", sha1_abc},
	   {"hmac-sha256 rfc 4231 cases 1-7", hmac_rfc4231}, {"hmac empty key", hmac_empty_key},
	   {"constant-time equal and wipe", equal_and_wipe}, {"random fills", random_fills},
	   {"hex round trip", hex_round_trip}, {"hex rejects", hex_rejects},
	   {"base64 rfc 4648 vectors", base64_rfc4648},
	   {"base64 round trip all lengths", base64_round_trip_all_lengths},
	   {"base64 strict rejects", base64_rejects}, {"aes-gcm round trip", aes_gcm_round_trip},
	   {"aes-gcm tamper", aes_gcm_tamper}, {"aes-gcm known answers", aes_gcm_known_answer});
