/* fuzz_agentproto.c: every decoder the host runs on bytes from an agent (and
 * the agent on bytes from the host), fed arbitrary payloads.
 *
 * fuzz-sources: lib/agent/agentproto.c lib/core/buf.c lib/core/log.c lib/core/clock.c
 * lib/core/result.c
 *
 * Input: byte 0 picks the decoder, the rest is the payload; the first 8
 * bytes also go through the header parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agentproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agentproto_hdr hdr;
	struct agentproto_exec e;
	struct agentproto_setenv s;
	struct agentproto_exit x;
	struct agentproto_procs ps;
	const uint8_t *out;
	enum result code;
	char msg[64];
	uint16_t cols, rows;
	uint32_t u;
	uint8_t stream;
	size_t len;

	if (size < 1)
		return 0;
	if (size >= AGENTPROTO_HDR_LEN + 1)
		(void)!agentproto_parse_header(data + 1, &hdr);
	switch (data[0] % 8) {
	case 0:
		if (agentproto_get_exec(data + 1, size - 1, &e) == R_SUCCESS) {
			for (size_t i = 0; i < e.argc; i++)
				len = strlen(e.argv[i]);
			agentproto_exec_free(&e);
		}
		break;
	case 1:
		if (agentproto_get_setenv(data + 1, size - 1, &s) == R_SUCCESS)
			agentproto_setenv_free(&s);
		break;
	case 2:
		(void)!agentproto_get_u32(data + 1, size - 1, &u);
		break;
	case 3:
		(void)!agentproto_get_resize(data + 1, size - 1, &cols, &rows);
		break;
	case 4:
		if (agentproto_get_output(data + 1, size - 1, &stream, &out, &len) == R_SUCCESS &&
		    (out < data + 1 || out + len > data + size))
			abort();
		break;
	case 5:
		(void)!agentproto_get_exit(data + 1, size - 1, &x);
		break;
	case 6:
		if (agentproto_get_procs(data + 1, size - 1, &ps) == R_SUCCESS)
			agentproto_procs_free(&ps);
		break;
	default:
		if (agentproto_get_error(data + 1, size - 1, &code, msg, sizeof(msg)) ==
			R_SUCCESS &&
		    strlen(msg) >= sizeof(msg))
			abort();
		break;
	}
	(void)len;
	return 0;
}
