/* crypto.c: OpenSSL behind the project's result codes, plus strict hex and
 * base64 codecs written here (OpenSSL's EVP_DecodeBlock accepts whitespace
 * and non-canonical input, which a token parser must not). */
#include "core/crypto.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/log.h"

/* OpenSSL wants a non-NULL pointer even for zero-length input in places
 * (HMAC treats a NULL key as "reuse the previous key"). */
static const unsigned char empty[1];

/* ossl_fail: log the first queued OpenSSL error (never any key material) and
 * clear the queue so it cannot be misattributed to a later call. */
static enum result ossl_fail(const char *what)
{
	char msg[256];
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "no error queued");
	ERR_clear_error();
	log_errx("crypto", "%s failed err='%s'", what, msg);
	return R_INTERNAL;
}

enum result crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	/* RAND_bytes takes an int; chunk so any size_t works. */
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return ossl_fail("RAND_bytes");
		p += chunk;
		n -= (size_t)chunk;
	}
	return R_SUCCESS;
}

static enum result digest(const EVP_MD *md, const void *data, size_t len, unsigned char *out,
			  unsigned int want)
{
	unsigned char tmp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(len ? data : empty, len, tmp, &n, md, NULL) != 1)
		return ossl_fail("EVP_Digest");
	if (n != want)
		return R_INTERNAL;
	memcpy(out, tmp, n);
	return R_SUCCESS;
}

enum result crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
	return digest(EVP_sha256(), data, len, out, CRYPTO_SHA256_LEN);
}

enum result crypto_sha1(const void *data, size_t len, unsigned char out[CRYPTO_SHA1_LEN])
{
	return digest(EVP_sha1(), data, len, out, CRYPTO_SHA1_LEN);
}

struct crypto_sha256 {
	EVP_MD_CTX *md;
	bool finished;
};

struct crypto_sha256 *crypto_sha256_new(void)
{
	struct crypto_sha256 *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->md = EVP_MD_CTX_new();
	if (c->md == NULL)
		goto free_c;
	if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		(void)ossl_fail("EVP_DigestInit_ex");
		goto free_md;
	}
	return c;

free_md:
	EVP_MD_CTX_free(c->md);
free_c:
	free(c);
	return NULL;
}

enum result crypto_sha256_update(struct crypto_sha256 *c, const void *data, size_t len)
{
	if (c == NULL || c->finished)
		return R_INTERNAL;
	if (len == 0)
		return R_SUCCESS;
	if (EVP_DigestUpdate(c->md, data, len) != 1)
		return ossl_fail("EVP_DigestUpdate");
	return R_SUCCESS;
}

enum result crypto_sha256_final(struct crypto_sha256 *c, unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned char tmp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (c == NULL || c->finished)
		return R_INTERNAL;
	c->finished = true;
	if (EVP_DigestFinal_ex(c->md, tmp, &n) != 1)
		return ossl_fail("EVP_DigestFinal_ex");
	if (n != CRYPTO_SHA256_LEN)
		return R_INTERNAL;
	memcpy(out, tmp, n);
	return R_SUCCESS;
}

void crypto_sha256_free(struct crypto_sha256 *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

enum result crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
			       unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned char tmp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (keylen > INT_MAX)
		return R_TOO_BIG;
	if (HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen, len ? data : empty, len, tmp,
		 &n) == NULL)
		return ossl_fail("HMAC");
	if (n != CRYPTO_SHA256_LEN) {
		crypto_wipe(tmp, sizeof(tmp));
		return R_INTERNAL;
	}
	memcpy(out, tmp, n);
	crypto_wipe(tmp, sizeof(tmp));
	return R_SUCCESS;
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return true;
	return CRYPTO_memcmp(a, b, n) == 0;
}

void crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/* ---- hex ---- */

enum result crypto_hex_size(size_t n, size_t *size)
{
	if (n > (SIZE_MAX - 1) / 2)
		return R_TOO_BIG;
	*size = 2 * n + 1;
	return R_SUCCESS;
}

enum result crypto_hex_encode(const void *in, size_t len, char *out, size_t outsize)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t need;

	if (crypto_hex_size(len, &need) != R_SUCCESS || outsize < need)
		return R_TOO_BIG;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
	return R_SUCCESS;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum result crypto_hex_decode(const char *in, size_t len, void *out, size_t outsize, size_t *outlen)
{
	unsigned char *o = out;

	if (len % 2 != 0)
		return R_INVALID;
	/* Validate everything first: out is written only on success. */
	for (size_t i = 0; i < len; i++)
		if (hex_val(in[i]) < 0)
			return R_INVALID;
	if (outsize < len / 2)
		return R_TOO_BIG;
	for (size_t i = 0; i < len / 2; i++)
		o[i] = (unsigned char)((unsigned)hex_val(in[2 * i]) << 4 |
				       (unsigned)hex_val(in[2 * i + 1]));
	if (outlen != NULL)
		*outlen = len / 2;
	return R_SUCCESS;
}

/* ---- base64 ---- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

enum result crypto_base64_size(size_t n, size_t *size)
{
	size_t groups = n / 3 + (n % 3 != 0);

	if (groups > (SIZE_MAX - 1) / 4)
		return R_TOO_BIG;
	*size = groups * 4 + 1;
	return R_SUCCESS;
}

enum result crypto_base64url_size(size_t n, size_t *size)
{
	static const size_t tail[3] = {0, 2, 3};
	size_t full = n / 3;

	if (full > (SIZE_MAX - 4) / 4)
		return R_TOO_BIG;
	*size = full * 4 + tail[n % 3] + 1;
	return R_SUCCESS;
}

size_t crypto_base64_decoded_max(size_t len)
{
	/* len / 4 * 3 + 2 covers a partial final quantum and cannot overflow. */
	return len / 4 * 3 + 2;
}

static enum result b64_encode(const char *alpha, bool pad, const void *in, size_t len, char *out,
			      size_t outsize, size_t *outlen)
{
	const unsigned char *p = in;
	size_t need, o = 0, i = 0;
	enum result r;

	r = pad ? crypto_base64_size(len, &need) : crypto_base64url_size(len, &need);
	if (r != R_SUCCESS || outsize < need)
		return R_TOO_BIG;
	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return R_SUCCESS;
}

enum result crypto_base64_encode(const void *in, size_t len, char *out, size_t outsize,
				 size_t *outlen)
{
	return b64_encode(b64_std, true, in, len, out, outsize, outlen);
}

enum result crypto_base64url_encode(const void *in, size_t len, char *out, size_t outsize,
				    size_t *outlen)
{
	return b64_encode(b64_url, false, in, len, out, outsize, outlen);
}

/* b64_val: the 6-bit value of c in the chosen alphabet, or -1. Written as
 * comparisons rather than a table so both alphabets share it. */
static int b64_val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static enum result b64_decode(bool url, const char *in, size_t len, void *out, size_t outsize,
			      size_t *outlen)
{
	unsigned char *o = out;
	size_t data = len, rem, need, n = 0, i = 0;

	if (!url) {
		if (len % 4 != 0)
			return R_INVALID;
		/* Up to two '=' at the very end; any other '=' fails b64_val. */
		if (data > 0 && in[data - 1] == '=')
			data--;
		if (data > 0 && in[data - 1] == '=')
			data--;
	}
	rem = data % 4;
	/* One leftover character carries 6 bits: not a whole byte. */
	if (rem == 1)
		return R_INVALID;
	for (size_t k = 0; k < data; k++)
		if (b64_val(in[k], url) < 0)
			return R_INVALID;
	/* Reject non-canonical tails: the bits below the last whole byte must be
	 * zero, or two encodings would decode to the same bytes. */
	if (rem == 2 && (b64_val(in[data - 1], url) & 0x0f) != 0)
		return R_INVALID;
	if (rem == 3 && (b64_val(in[data - 1], url) & 0x03) != 0)
		return R_INVALID;
	need = data / 4 * 3 + (rem == 0 ? 0 : rem - 1);
	if (outsize < need)
		return R_TOO_BIG;

	for (; data - i >= 4; i += 4) {
		uint32_t v =
		    (uint32_t)b64_val(in[i], url) << 18 | (uint32_t)b64_val(in[i + 1], url) << 12 |
		    (uint32_t)b64_val(in[i + 2], url) << 6 | (uint32_t)b64_val(in[i + 3], url);
		o[n++] = (unsigned char)(v >> 16);
		o[n++] = (unsigned char)(v >> 8);
		o[n++] = (unsigned char)v;
	}
	if (rem >= 2) {
		uint32_t v = (uint32_t)b64_val(in[i], url) << 18 | (uint32_t)b64_val(in[i + 1], url)
								       << 12;
		if (rem == 3)
			v |= (uint32_t)b64_val(in[i + 2], url) << 6;
		o[n++] = (unsigned char)(v >> 16);
		if (rem == 3)
			o[n++] = (unsigned char)(v >> 8);
	}
	if (outlen != NULL)
		*outlen = n;
	return R_SUCCESS;
}

enum result crypto_base64_decode(const char *in, size_t len, void *out, size_t outsize,
				 size_t *outlen)
{
	return b64_decode(false, in, len, out, outsize, outlen);
}

enum result crypto_base64url_decode(const char *in, size_t len, void *out, size_t outsize,
				    size_t *outlen)
{
	return b64_decode(true, in, len, out, outsize, outlen);
}

/* ---- AES-256-GCM ---- */

enum result crypto_seal(const unsigned char key[CRYPTO_AES_KEY_LEN], const void *plain, size_t len,
			const void *aad, size_t aadlen, unsigned char **out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *buf, *ct;
	int n = 0, fin = 0;
	enum result r;

	if (len > CRYPTO_SEAL_MAX || aadlen > CRYPTO_SEAL_MAX)
		return R_TOO_BIG;
	buf = malloc(len + CRYPTO_SEAL_OVERHEAD);
	if (buf == NULL)
		return R_NO_MEMORY;
	ct = buf + CRYPTO_AES_NONCE_LEN;
	r = crypto_random(buf, CRYPTO_AES_NONCE_LEN);
	if (r != R_SUCCESS)
		goto free_buf;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		r = R_NO_MEMORY;
		goto free_buf;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_AES_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf) != 1)
		goto fail_ossl;
	if (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto fail_ossl;
	n = 0;
	if (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1)
		goto fail_ossl;
	if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 || (size_t)n + (size_t)fin != len)
		goto fail_ossl;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_AES_TAG_LEN, ct + len) != 1)
		goto fail_ossl;
	EVP_CIPHER_CTX_free(ctx);
	*out = buf;
	*outlen = len + CRYPTO_SEAL_OVERHEAD;
	return R_SUCCESS;

fail_ossl:
	r = ossl_fail("aes-256-gcm seal");
	EVP_CIPHER_CTX_free(ctx);
free_buf:
	/* It may hold part of the ciphertext only, but keep the rule simple. */
	crypto_wipe(buf, len + CRYPTO_SEAL_OVERHEAD);
	free(buf);
	return r;
}

enum result crypto_open(const unsigned char key[CRYPTO_AES_KEY_LEN], const void *sealed, size_t len,
			const void *aad, size_t aadlen, unsigned char **out, size_t *outlen)
{
	const unsigned char *nonce = sealed, *ct, *tag;
	unsigned char tagcopy[CRYPTO_AES_TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	unsigned char *pt;
	size_t ctlen;
	int n = 0, fin = 0;
	enum result r;

	if (len < CRYPTO_SEAL_OVERHEAD)
		return R_INVALID;
	if (len > CRYPTO_SEAL_MAX + CRYPTO_SEAL_OVERHEAD || aadlen > CRYPTO_SEAL_MAX)
		return R_TOO_BIG;
	ctlen = len - CRYPTO_SEAL_OVERHEAD;
	ct = nonce + CRYPTO_AES_NONCE_LEN;
	tag = ct + ctlen;
	/* SET_TAG takes a non-const pointer; give it a copy, not the caller's. */
	memcpy(tagcopy, tag, sizeof(tagcopy));
	pt = malloc(ctlen + 1);
	if (pt == NULL)
		return R_NO_MEMORY;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		r = R_NO_MEMORY;
		goto free_pt;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_AES_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto fail_ossl;
	if (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto fail_ossl;
	n = 0;
	if (ctlen > 0 && EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ctlen) != 1)
		goto fail_ossl;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_AES_TAG_LEN, tagcopy) != 1)
		goto fail_ossl;
	/* A failing final is an authentication failure: hostile or corrupt
	 * input, not an internal error, and not worth a log line. */
	if (EVP_DecryptFinal_ex(ctx, pt + n, &fin) != 1) {
		ERR_clear_error();
		r = R_INVALID;
		goto free_ctx;
	}
	if ((size_t)n + (size_t)fin != ctlen)
		goto fail_ossl;
	EVP_CIPHER_CTX_free(ctx);
	pt[ctlen] = '\0';
	*out = pt;
	*outlen = ctlen;
	return R_SUCCESS;

fail_ossl:
	r = ossl_fail("aes-256-gcm open");
free_ctx:
	EVP_CIPHER_CTX_free(ctx);
free_pt:
	/* Unauthenticated plaintext must never escape, even in freed memory. */
	crypto_wipe(pt, ctlen + 1);
	free(pt);
	return r;
}

enum result crypto_seal_text(const unsigned char key[CRYPTO_AES_KEY_LEN], const char *text,
			     const char *ad, char **hex_out)
{
	unsigned char *sealed = NULL;
	size_t len = 0, hexsize = 0;
	char *hex = NULL;
	enum result r;

	r = crypto_seal(key, text, strlen(text), ad, strlen(ad), &sealed, &len);
	if (r == R_SUCCESS)
		r = crypto_hex_size(len, &hexsize);
	if (r == R_SUCCESS && (hex = malloc(hexsize)) == NULL)
		r = R_NO_MEMORY;
	if (r == R_SUCCESS)
		r = crypto_hex_encode(sealed, len, hex, hexsize);
	free(sealed);
	if (r != R_SUCCESS) {
		free(hex);
		return r;
	}
	*hex_out = hex;
	return R_SUCCESS;
}

enum result crypto_open_text(const unsigned char key[CRYPTO_AES_KEY_LEN], const char *hex,
			     size_t max_hex, const char *ad, char **text_out)
{
	size_t n = strlen(hex), len = 0, plen = 0;
	unsigned char *sealed, *plain = NULL;
	enum result r;

	if (n % 2 != 0 || n > max_hex)
		return R_INVALID;
	sealed = malloc(n / 2 + 1);
	if (sealed == NULL)
		return R_NO_MEMORY;
	r = crypto_hex_decode(hex, n, sealed, n / 2 + 1, &len);
	if (r == R_SUCCESS)
		r = crypto_open(key, sealed, len, ad, strlen(ad), &plain, &plen);
	free(sealed);
	if (r != R_SUCCESS)
		return r;
	*text_out = (char *)plain;
	return R_SUCCESS;
}
