/* reslimit.h: parsing of the resource quantities clients send: cpus ("2",
 * "0.5", "500m") and memory ("2Gi", "512Mi", "1G", "1048576"), Kubernetes
 * quantity style. Pure functions; outputs written only on success. */
#ifndef SANDPIT_RESLIMIT_H
#define SANDPIT_RESLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

#define RESLIMIT_MAX_CPU_MILLIS (1024u * 1000u) /* 1024 cpus */
#define RESLIMIT_MAX_MEMORY	(1ull << 50)	/* 1 PiB */

/* reslimit_parse_cpus: "2" -> 2000, "0.5" -> 500, "500m" -> 500, "1.25" ->
 * 1250. At most 3 decimals, no sign, no spaces. R_INVALID for syntax, zero,
 * or more than RESLIMIT_MAX_CPU_MILLIS. */
SP_MUST_CHECK enum result reslimit_parse_cpus(const char *s, uint32_t *millis);

/* reslimit_parse_memory: digits with an optional fraction and suffix: Ki Mi Gi
 * Ti Pi (1024^n), k K M G T P (1000^n), or none (bytes). Fractions round down
 * to a byte ("1.5Gi"). R_INVALID for syntax, zero, or over RESLIMIT_MAX_MEMORY. */
SP_MUST_CHECK enum result reslimit_parse_memory(const char *s, uint64_t *bytes);

/* reslimit_format_memory: canonical text for bytes ("2Gi", "1536Mi", "1000"),
 * into out (NUL-terminated; 24 bytes always suffice). */
void reslimit_format_memory(uint64_t bytes, char *out, size_t size);

/* reslimit_format_cpus: "2", "0.5", "1.25" into out (16 bytes suffice). */
void reslimit_format_cpus(uint32_t millis, char *out, size_t size);

#endif
