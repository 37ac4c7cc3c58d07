/* fuzz_message.c: libFuzzer target for the stream proxy's message codec
 * (stream-proxy/message.c): the parser of client messages (untrusted JSON)
 * and the output messages built from command output (untrusted bytes).
 *
 * fuzz-sources: stream-proxy/message.c lib/core/json.c lib/core/buf.c lib/core/crypto.c
 * lib/net/ws.c lib/core/utf8.c lib/core/log.c lib/core/clock.c lib/core/result.c
 *
 * Input: byte 0 bit 0 picks the part. Parser: the rest is one message.
 * Output: byte 1 cuts the rest into a and b (the held-back carry and the
 * new chunk), byte 0 bit 1 picks the stream; the message must be exactly
 * as long as announced, parse as JSON and decode back to a+b. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../stream-proxy/message.h"
#include "core/crypto.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const uint8_t *p, size_t n)
{
	struct message m;
	const char *why = NULL;

	if (message_parse((const char *)p, n, 3600, &m, &why) != R_SUCCESS) {
		if (why == NULL)
			abort(); /* a refusal always says why */
		return;
	}
	if (m.type == MSG_EXEC && (m.exec.argc == 0 || m.exec.argv == NULL))
		abort();
	if (m.type == MSG_STDIN && m.len > 0 && m.data == NULL)
		abort();
	message_free(&m);
}

static void output(uint8_t stream, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	unsigned char *out, *dec = NULL;
	const char *s;
	struct json *j;
	size_t len, n = 0;
	bool b64;

	if (message_output_len(stream, a, alen, b, blen, &b64, &len) != R_SUCCESS)
		abort();
	out = malloc(len + 1);
	if (out == NULL)
		return;
	out[len] = 0xA5; /* a canary just past the announced length */
	message_output_write(out, len, stream, a, alen, b, blen, b64);
	if (out[len] != 0xA5)
		abort();
	j = json_parse((const char *)out, len);
	if (j == NULL || json_get_str(j, "data", &s) != R_SUCCESS)
		abort();
	if (b64) {
		dec = malloc(alen + blen + 1);
		if (dec == NULL ||
		    crypto_base64_decode(s, strlen(s), dec, alen + blen + 1, &n) != R_SUCCESS ||
		    n != alen + blen || memcmp(dec, a, alen) != 0 ||
		    memcmp(dec + alen, b, blen) != 0)
			abort();
	} else if (strlen(s) != alen + blen || memcmp(s, a, alen) != 0 ||
		   memcmp(s + alen, b, blen) != 0)
		abort();
	free(dec);
	json_free(j);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut;

	if (size < 2)
		return 0;
	if ((data[0] & 1) == 0) {
		parse(data + 1, size - 1);
		return 0;
	}
	cut = data[1] % (size - 1);
	output((data[0] & 2) ? AP_STREAM_STDERR : AP_STREAM_STDOUT, data + 2, cut > 0 ? cut - 1 : 0,
	       data + 1 + cut, size - 1 - cut);
	return 0;
}
