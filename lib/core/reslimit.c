/* reslimit.c: cpu and memory quantity parsing (Kubernetes-style suffixes).
 * Hand-written rather than strtod: no locale, no exponent or sign surprises,
 * and exact integer arithmetic with overflow checks. */
#include "core/reslimit.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* parse_decimal: digits [ '.' digits ] from *s; the integer part and up to
 * `scale` fraction digits as one integer scaled by 10^scale. Stops at the
 * first other character. */
static bool parse_decimal(const char **s, unsigned scale, unsigned __int128 *out,
			  unsigned *frac_digits)
{
	unsigned __int128 v = 0;
	const char *p = *s;
	unsigned nd = 0, nf = 0;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > ((unsigned __int128)1 << 80) || ++nd > 20)
			return false;
		p++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (++nf > scale)
				return false;
			v = v * 10 + (unsigned)(*p - '0');
			p++;
		}
		if (nf == 0)
			return false;
	}
	if (nd == 0)
		return false;
	*s = p;
	*out = v;
	*frac_digits = nf;
	return true;
}

enum result reslimit_parse_cpus(const char *s, uint32_t *millis)
{
	unsigned __int128 v;
	unsigned nf, i;
	const char *p = s;

	if (!s || !parse_decimal(&p, 3, &v, &nf))
		return R_INVALID;
	if (*p == 'm') {
		if (nf != 0)
			return R_INVALID;
		p++;
	} else {
		for (i = nf; i < 3; i++)
			v *= 10;
	}
	if (*p != '\0' || v == 0 || v > RESLIMIT_MAX_CPU_MILLIS)
		return R_INVALID;
	*millis = (uint32_t)v;
	return R_SUCCESS;
}

struct suffix {
	const char *s;
	uint64_t mult;
};

static const struct suffix suffixes[] = {
    {"Ki", 1ull << 10},	     {"Mi", 1ull << 20},	 {"Gi", 1ull << 30},
    {"Ti", 1ull << 40},	     {"Pi", 1ull << 50},	 {"k", 1000ull},
    {"K", 1000ull},	     {"M", 1000000ull},		 {"G", 1000000000ull},
    {"T", 1000000000000ull}, {"P", 1000000000000000ull}, {"", 1},
};

enum result reslimit_parse_memory(const char *s, uint64_t *bytes)
{
	unsigned __int128 v, div = 1;
	unsigned nf, i;
	const char *p = s;

	if (!s || !parse_decimal(&p, 9, &v, &nf))
		return R_INVALID;
	for (i = 0; i < nf; i++)
		div *= 10;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(p, suffixes[i].s) == 0) {
			/* v < 2^80 and mult <= 2^50 fit in 128 bits */
			v = v * suffixes[i].mult / div;
			if (v == 0 || v > RESLIMIT_MAX_MEMORY)
				return R_INVALID;
			*bytes = (uint64_t)v;
			return R_SUCCESS;
		}
	}
	return R_INVALID;
}

void reslimit_format_memory(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = {"Pi", "Ti", "Gi", "Mi", "Ki"};
	unsigned i;

	for (i = 0; i < 5; i++) {
		uint64_t m = 1ull << (10 * (5 - i));

		if (bytes >= m && bytes % m == 0) {
			snprintf(out, size, "%llu%s", (unsigned long long)(bytes / m), units[i]);
			return;
		}
	}
	snprintf(out, size, "%llu", (unsigned long long)bytes);
}

void reslimit_format_cpus(uint32_t millis, char *out, size_t size)
{
	if (millis % 1000 == 0)
		snprintf(out, size, "%u", millis / 1000);
	else if (millis % 100 == 0)
		snprintf(out, size, "%u.%u", millis / 1000, (millis % 1000) / 100);
	else if (millis % 10 == 0)
		snprintf(out, size, "%u.%02u", millis / 1000, (millis % 1000) / 10);
	else
		snprintf(out, size, "%u.%03u", millis / 1000, millis % 1000);
}
