/* fuzz_streamtoken.c: the stream proxy verifies ?token= from any client.
 * Raw inputs exercise what happens before the MAC check; a payload signed
 * here with the test secret (mode byte odd) reaches the parser behind it,
 * which only a holder of the secret could otherwise reach.
 *
 * fuzz-sources: lib/auth/streamtoken.c lib/core/crypto.c lib/core/log.c lib/core/clock.c
 * lib/core/result.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "auth/streamtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-secret-0123456789abcdef";

/* sign: "st2.<b64url(payload)>.<b64url(mac)>" as streamtoken.c signs it. */
static bool sign(const uint8_t *p, size_t n, char *out, size_t outsize)
{
	static const char label[] = "sandpit stream token v1";
	unsigned char key[CRYPTO_SHA256_LEN], m[CRYPTO_SHA256_LEN];
	size_t len, mlen;

	if (outsize < 5)
		return false;
	memcpy(out, "st2.", 4);
	if (crypto_base64url_encode(p, n, out + 4, outsize - 4, &len) != R_SUCCESS ||
	    crypto_hmac_sha256(secret, sizeof(secret) - 1, label, sizeof(label) - 1, key) !=
		R_SUCCESS ||
	    crypto_hmac_sha256(key, sizeof(key), out, 4 + len, m) != R_SUCCESS ||
	    4 + len + 2 > outsize)
		return false;
	out[4 + len] = '.';
	return crypto_base64url_encode(m, sizeof(m), out + 5 + len, outsize - 5 - len, &mlen) ==
	       R_SUCCESS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char tok[1024], org[STREAMTOKEN_ID_MAX], key[STREAMTOKEN_ID_MAX];

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		if (!sign(data + 1, size - 1, tok, sizeof(tok)))
			return 0;
	} else {
		size_t n = size - 1 < sizeof(tok) - 1 ? size - 1 : sizeof(tok) - 1;

		memcpy(tok, data + 1, n);
		tok[n] = '\0';
	}
	if (streamtoken_verify(secret, sizeof(secret) - 1, tok, "sbx_fuzz", 1700000000, org,
			       sizeof(org), key, sizeof(key)) == R_SUCCESS &&
	    (strlen(org) >= sizeof(org) || strlen(key) >= sizeof(key)))
		abort();
	return 0;
}
