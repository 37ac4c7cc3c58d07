/* fuzz_ws.c: libFuzzer target for the RFC 6455 frame parser and the opening
 * handshake parser (both see untrusted bytes first).
 *
 * fuzz-sources: lib/net/ws.c lib/core/buf.c lib/core/crypto.c lib/core/log.c lib/core/clock.c
 * lib/core/result.c
 *
 * Input: byte 0 picks the parser role (bit 0: expect masked frames) and the
 * message cap (bits 1-3); the rest is a byte stream cut into reads at the
 * positions given by byte 1, so "need more" paths are exercised too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(const struct ws_frame *f, const unsigned char *buf, size_t used)
{
	/* Invariants every accepted frame must satisfy. */
	if (f->payload < buf || f->payload + f->len > buf + used)
		abort();
	if ((f->opcode & 0x08) && (f->len > WS_CONTROL_MAX || !f->fin))
		abort();
	if (f->opcode == WS_OP_CLOSE && f->len >= 2 && !ws_close_code_is_valid(f->close_code))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_parser p;
	struct ws_handshake *h;
	struct ws_handshake_error e;
	unsigned char *buf;
	size_t step, have = 0, off = 0, cap;

	if (size < 2)
		return 0;
	cap = (size_t)16 << ((data[0] >> 1) & 7); /* 16 B .. 2 KiB */
	ws_parser_init(&p, cap, data[0] & 1);
	step = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	/* Feed in reads of `step` bytes; parse everything complete after each. */
	while (off < size || have > 0) {
		size_t n = size - off < step ? size - off : step;
		size_t used;
		struct ws_frame f;
		enum result r;

		memcpy(buf + have, data + off, n);
		have += n;
		off += n;
		for (;;) {
			r = ws_parse(&p, buf, have, &used, &f);
			if (r != R_SUCCESS) {
				if (p.error_code != WS_CLOSE_PROTOCOL &&
				    p.error_code != WS_CLOSE_BAD_DATA &&
				    p.error_code != WS_CLOSE_TOO_BIG)
					abort();
				goto done;
			}
			if (used == 0)
				break;
			if (used > have)
				abort();
			check_frame(&f, buf, used);
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (n == 0)
			break;
	}
done:
	free(buf);

	h = malloc(sizeof(*h));
	if (h != NULL) {
		if (ws_handshake_parse((const char *)data, size, h, &e) == R_SUCCESS) {
			if (strlen(h->key) != WS_KEY_LEN)
				abort();
		} else if (e.message == NULL || e.status < 400) {
			abort();
		}
		free(h);
	}
	return 0;
}
