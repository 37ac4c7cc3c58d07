/* fuzz_jwt.c: bearer tokens are attacker-controlled; verification must
 * refuse anything not signed with the secret, and never crash.
 *
 * fuzz-sources: lib/auth/jwt.c lib/core/json.c lib/core/utf8.c lib/core/crypto.c lib/core/buf.c
 * lib/core/log.c lib/core/clock.c lib/core/result.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "auth/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json *claims = NULL;
	char *tok = malloc(size + 1);

	if (tok == NULL)
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	/* A random token that verifies would be a forgery. */
	if (jwt_verify(tok, "fuzz-secret", 11, 1700000000, &claims) == R_SUCCESS && size > 0 &&
	    memchr(data, 0, size) == NULL) {
		json_free(claims);
		free(tok);
		abort();
	}
	free(tok);
	return 0;
}
