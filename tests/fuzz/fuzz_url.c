/* fuzz_url.c: request paths and query strings are percent-decoded from
 * client bytes before anything else looks at them.
 *
 * fuzz-sources: lib/core/url.c lib/core/crypto.c lib/core/log.c lib/core/clock.c lib/core/result.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[256], *q = malloc(size + 1);
	size_t nlen = size ? data[0] % 8 : 0;

	if (q == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	/* exact sizes: a decoder writing past size trips ASan at once */
	for (size_t cap = 0; cap < 3; cap++) {
		char *small = malloc(cap + 1);

		if (small && url_decode(q, size, cap & 1, small, cap) == R_SUCCESS &&
		    strlen(small) >= cap)
			abort();
		free(small);
	}
	if (url_decode(q, size, true, out, sizeof(out)) == R_SUCCESS && strlen(out) >= sizeof(out))
		abort();
	/* the name is a prefix of the input, the query all of it */
	if (nlen < size) {
		char name[8];

		memcpy(name, q + 1, nlen);
		name[nlen] = '\0';
		(void)!url_query_get(q, name, out, sizeof(out));
	}
	free(q);
	return 0;
}
