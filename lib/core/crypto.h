/* crypto.h: hashes, MACs, randomness, encodings and AES-256-GCM; the only
 * module that calls OpenSSL.
 *
 * Conventions for every function below: pointers with a length may be NULL
 * only when the length is 0; out-parameters are written only on R_SUCCESS (a
 * decoder validates all of its input before it writes a byte); R_INTERNAL
 * means OpenSSL itself failed (logged, never with key material). */
#ifndef SANDPIT_CRYPTO_H
#define SANDPIT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

#define CRYPTO_SHA256_LEN    32
#define CRYPTO_SHA1_LEN	     20
#define CRYPTO_AES_KEY_LEN   32
#define CRYPTO_AES_NONCE_LEN 12
#define CRYPTO_AES_TAG_LEN   16
/* Bytes a sealed message has beyond its plaintext: nonce in front, tag behind. */
#define CRYPTO_SEAL_OVERHEAD (CRYPTO_AES_NONCE_LEN + CRYPTO_AES_TAG_LEN)

/* Buffer sizes (terminating NUL included) for encoding n bytes, for buffers
 * whose n is a compile-time constant. For a runtime n use the overflow-checked
 * crypto_*_size functions instead. */
#define CRYPTO_HEX_SIZE(n)	 (2 * (n) + 1)
#define CRYPTO_BASE64_SIZE(n)	 ((((n) + 2) / 3) * 4 + 1)
#define CRYPTO_BASE64URL_SIZE(n) (((n)*4 + 2) / 3 + 1)

/* ---- randomness ---------------------------------------------------------- */

/* crypto_random: fill buf with n bytes from the OpenSSL CSPRNG (seeded from
 * getrandom). R_INTERNAL if the generator fails; buf is then unspecified and
 * must not be used. */
SP_MUST_CHECK enum result crypto_random(void *buf, size_t n);

/* ---- hashes and MACs ----------------------------------------------------- */

/* crypto_sha256 / crypto_sha1: one-shot digests of len bytes into out.
 * SHA-1 is here only for the RFC 6455 handshake; never use it for security. */
SP_MUST_CHECK enum result crypto_sha256(const void *data, size_t len,
					unsigned char out[CRYPTO_SHA256_LEN]);
SP_MUST_CHECK enum result crypto_sha1(const void *data, size_t len,
				      unsigned char out[CRYPTO_SHA1_LEN]);

/* Streaming SHA-256, for content too large to hold (blobs, archives).
 * crypto_sha256_new returns an owned context or NULL on allocation failure.
 * After crypto_sha256_final (success or not) the context accepts no more
 * updates; it is still freed with crypto_sha256_free (NULL is a no-op). */
struct crypto_sha256;
struct crypto_sha256 *crypto_sha256_new(void);
SP_MUST_CHECK enum result crypto_sha256_update(struct crypto_sha256 *c, const void *data,
					       size_t len);
SP_MUST_CHECK enum result crypto_sha256_final(struct crypto_sha256 *c,
					      unsigned char out[CRYPTO_SHA256_LEN]);
void crypto_sha256_free(struct crypto_sha256 *c);

/* crypto_hmac_sha256: HMAC-SHA256 (RFC 2104) of data under key; keys of any
 * length up to INT_MAX bytes, including 0, are accepted (R_TOO_BIG past). */
SP_MUST_CHECK enum result crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
					     size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

/* crypto_equal: true when the n bytes at a and b are equal, in time that
 * depends only on n (CRYPTO_memcmp). Use it for every MAC, token or hash
 * comparison. n == 0 is true. */
bool crypto_equal(const void *a, const void *b, size_t n);

/* crypto_wipe: zero n bytes in a way the compiler cannot elide
 * (OPENSSL_cleanse). NULL with n == 0 is a no-op. */
void crypto_wipe(void *p, size_t n);

/* ---- hex ------------------------------------------------------------------ */

/* crypto_hex_size: *size = bytes needed to hex-encode n bytes, NUL included.
 * R_TOO_BIG if that does not fit in a size_t. */
SP_MUST_CHECK enum result crypto_hex_size(size_t n, size_t *size);

/* crypto_hex_encode: lowercase hex of len bytes into out, NUL-terminated.
 * R_TOO_BIG if outsize < 2 * len + 1. */
SP_MUST_CHECK enum result crypto_hex_encode(const void *in, size_t len, char *out, size_t outsize);

/* crypto_hex_decode: decode exactly len characters of hex (either case) into
 * out; *outlen = len / 2. R_INVALID for an odd length or a non-hex character
 * (a NUL inside len included), R_TOO_BIG if outsize < len / 2. outlen may be
 * NULL when the caller knows the length. */
SP_MUST_CHECK enum result crypto_hex_decode(const char *in, size_t len, void *out, size_t outsize,
					    size_t *outlen);

/* ---- base64 (RFC 4648) ------------------------------------------------------
 * Two alphabets: standard ("+/", always '='-padded to a multiple of 4) and
 * URL-safe ("-_", never padded, as JWT and our tokens use). Encoders write into
 * a caller buffer, NUL-terminated; decoders take an explicit input length and
 * write into a caller buffer (no allocation, so secrets never sit in heap
 * copies the caller does not know about).
 *
 * Decoding is strict: any character outside the alphabet (whitespace, a NUL,
 * the other alphabet's characters) is R_INVALID; for standard base64 the
 * length must be a multiple of 4 and '=' may only appear as the final one or
 * two characters; for base64url a length of 1 mod 4 and any '=' are R_INVALID;
 * for both, non-zero bits left over in the last character (a non-canonical
 * encoding) are R_INVALID, so every byte string has exactly one encoding. */

/* crypto_base64_size / crypto_base64url_size: *size = bytes needed to encode
 * n bytes, NUL included. R_TOO_BIG if that does not fit in a size_t. */
SP_MUST_CHECK enum result crypto_base64_size(size_t n, size_t *size);
SP_MUST_CHECK enum result crypto_base64url_size(size_t n, size_t *size);

/* crypto_base64_decoded_max: an upper bound on the decoded size of len
 * characters, in either alphabet (never overflows). */
size_t crypto_base64_decoded_max(size_t len);

/* Encoders: R_TOO_BIG when outsize is below the *_size figure. *outlen (may
 * be NULL) = characters written, NUL excluded. */
SP_MUST_CHECK enum result crypto_base64_encode(const void *in, size_t len, char *out,
					       size_t outsize, size_t *outlen);
SP_MUST_CHECK enum result crypto_base64url_encode(const void *in, size_t len, char *out,
						  size_t outsize, size_t *outlen);

/* Decoders: R_INVALID for malformed input (see above), R_TOO_BIG when the
 * decoded bytes exceed outsize (crypto_base64_decoded_max(len) always
 * suffices). *outlen (may be NULL) = bytes written. */
SP_MUST_CHECK enum result crypto_base64_decode(const char *in, size_t len, void *out,
					       size_t outsize, size_t *outlen);
SP_MUST_CHECK enum result crypto_base64url_decode(const char *in, size_t len, void *out,
						  size_t outsize, size_t *outlen);

/* ---- AES-256-GCM ------------------------------------------------------------
 * Sealed format: nonce (12 random bytes) || ciphertext (same length as the
 * plaintext) || tag (16 bytes). A random nonce is safe for up to about 2^32
 * messages per key (NIST SP 800-38D); rotate keys well before that.
 * aad is authenticated but not encrypted: bind a ciphertext to its context
 * (e.g. the owning org id and secret name) so it cannot be moved to another
 * row. aad may be NULL when aadlen is 0. Plaintext and sealed sizes are capped
 * at CRYPTO_SEAL_MAX (OpenSSL takes int lengths). */
#define CRYPTO_SEAL_MAX ((size_t)1 << 30)

/* crypto_seal: encrypt len bytes under key. On R_SUCCESS *out is a malloc'd buffer
 * of *outlen = len + CRYPTO_SEAL_OVERHEAD bytes, owned by the caller.
 * R_TOO_BIG past CRYPTO_SEAL_MAX, R_NO_MEMORY, R_INTERNAL. */
SP_MUST_CHECK enum result crypto_seal(const unsigned char key[CRYPTO_AES_KEY_LEN],
				      const void *plain, size_t len, const void *aad, size_t aadlen,
				      unsigned char **out, size_t *outlen);

/* crypto_open: verify and decrypt a sealed message. On R_SUCCESS *out is a malloc'd
 * buffer of *outlen = len - CRYPTO_SEAL_OVERHEAD bytes plus one NUL byte not
 * counted in *outlen (so text secrets can be used as strings); it holds a
 * secret, so crypto_wipe it before free. R_INVALID when the input is shorter
 * than the overhead or any byte of nonce, ciphertext, tag or aad differs from
 * what was sealed (no plaintext is ever released then); R_TOO_BIG past
 * CRYPTO_SEAL_MAX; R_NO_MEMORY; R_INTERNAL. */
SP_MUST_CHECK enum result crypto_open(const unsigned char key[CRYPTO_AES_KEY_LEN],
				      const void *sealed, size_t len, const void *aad,
				      size_t aadlen, unsigned char **out, size_t *outlen);

/* crypto_seal_text: crypto_seal of the NUL-terminated text under ad (a
 * NUL-terminated string), as lowercase hex, the form a text column keeps.
 * *hex_out is malloc'd and the caller's. Errors as crypto_seal's. */
SP_MUST_CHECK enum result crypto_seal_text(const unsigned char key[CRYPTO_AES_KEY_LEN],
					   const char *text, const char *ad, char **hex_out);

/* crypto_open_text: the text crypto_seal_text sealed, NUL-terminated and
 * malloc'd into *text_out (crypto_wipe it before free). R_INVALID for hex
 * that is malformed, longer than max_hex characters, or does not open under
 * key and ad; otherwise crypto_open's errors. */
SP_MUST_CHECK enum result crypto_open_text(const unsigned char key[CRYPTO_AES_KEY_LEN],
					   const char *hex, size_t max_hex, const char *ad,
					   char **text_out);

#endif
