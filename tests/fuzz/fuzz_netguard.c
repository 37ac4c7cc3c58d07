/* fuzz_netguard.c: webhook URLs come from clients; the URL and IPv4 parsers
 * decide what the SSRF guard sees.
 *
 * fuzz-sources: lib/net/netguard.c lib/core/log.c lib/core/clock.c lib/core/result.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/netguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netguard_url u;
	const char *why;
	uint32_t v4;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)!netguard_parse_ipv4(s, &v4);
	if (netguard_parse_url(s, &u, &why) == R_SUCCESS)
		(void)netguard_host_class(&u);
	free(s);
	return 0;
}
