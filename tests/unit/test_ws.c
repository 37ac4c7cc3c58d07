/* test_ws.c: RFC 6455 codec: §5.7 examples, fragmentation, masking, invalid
 * frames and their close codes, UTF-8, the opening handshake. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "net/ws.h"

#define U8(...) ((const unsigned char[]){__VA_ARGS__})

/* parse_one: parse a complete frame from a copy of the bytes. */
static enum result parse_one(struct ws_parser *p, const unsigned char *bytes, size_t n,
			     unsigned char *copy, struct ws_frame *f, size_t *used)
{
	memcpy(copy, bytes, n);
	return ws_parse(p, copy, n, used, f);
}

static void rfc_examples_unmasked(void)
{
	struct ws_parser p;
	struct ws_frame f;
	unsigned char c[64];
	size_t used;

	ws_parser_init(&p, 1 << 20, false);
	/* single-frame unmasked text */
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x81, 0x05, 'H', 'e', 'l', 'l', 'o'), 7, c, &f, &used),
			R_SUCCESS);
	CU_ASSERT_EQUAL(used, 7);
	CU_ASSERT_EQUAL(f.opcode, WS_OP_TEXT);
	CU_ASSERT(f.fin);
	CU_ASSERT_EQUAL(f.len, 5);
	CU_ASSERT_EQUAL(memcmp(f.payload, "Hello", 5), 0);
	/* fragmented unmasked text: "Hel" + "lo" */
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x01, 0x03, 'H', 'e', 'l'), 5, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(used, 5);
	CU_ASSERT(!f.fin);
	CU_ASSERT_EQUAL(f.msg_opcode, WS_OP_TEXT);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x80, 0x02, 'l', 'o'), 4, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(used, 4);
	CU_ASSERT(f.fin);
	CU_ASSERT_EQUAL(f.opcode, WS_OP_CONT);
	CU_ASSERT_EQUAL(f.msg_opcode, WS_OP_TEXT);
	CU_ASSERT_EQUAL(memcmp(f.payload, "lo", 2), 0);
	/* unmasked ping */
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x89, 0x05, 'H', 'e', 'l', 'l', 'o'), 7, c, &f, &used),
			R_SUCCESS);
	CU_ASSERT_EQUAL(f.opcode, WS_OP_PING);
	CU_ASSERT_EQUAL(memcmp(f.payload, "Hello", 5), 0);
}

static void rfc_examples_masked(void)
{
	struct ws_parser p;
	struct ws_frame f;
	unsigned char c[64];
	size_t used;

	ws_parser_init(&p, 1 << 20, true);
	/* single-frame masked text */
	CU_ASSERT_EQUAL(
	    parse_one(&p, U8(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), 11,
		      c, &f, &used),
	    R_SUCCESS);
	CU_ASSERT_EQUAL(used, 11);
	CU_ASSERT_EQUAL(f.len, 5);
	CU_ASSERT_EQUAL(memcmp(f.payload, "Hello", 5), 0);
	/* masked pong */
	CU_ASSERT_EQUAL(
	    parse_one(&p, U8(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), 11,
		      c, &f, &used),
	    R_SUCCESS);
	CU_ASSERT_EQUAL(f.opcode, WS_OP_PONG);
	CU_ASSERT_EQUAL(memcmp(f.payload, "Hello", 5), 0);
}

static void rfc_lengths_16_and_64_bit(void)
{
	struct ws_parser p;
	struct ws_frame f;
	unsigned char hdr[WS_HEADER_MAX];
	unsigned char *msg;
	size_t used, n;

	/* 256 bytes binary in a single unmasked message: 0x82 0x7E 0x0100 */
	n = ws_frame_header(hdr, WS_OP_BINARY, true, 256, NULL);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(memcmp(hdr, U8(0x82, 0x7E, 0x01, 0x00), 4), 0);
	/* 64 KiB: 0x82 0x7F 0x0000000000010000 */
	n = ws_frame_header(hdr, WS_OP_BINARY, true, 65536, NULL);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(memcmp(hdr, U8(0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0), 10), 0);

	msg = malloc(10 + 65536);
	CU_ASSERT_FATAL(msg != NULL);
	memcpy(msg, hdr, 10);
	memset(msg + 10, 'x', 65536);
	ws_parser_init(&p, 65536, false);
	/* every strict prefix is "need more" and changes nothing */
	for (size_t k = 0; k < 10 + 65536; k += 4099) {
		CU_ASSERT_EQUAL(ws_parse(&p, msg, k, &used, &f), R_SUCCESS);
		CU_ASSERT_EQUAL(used, 0);
	}
	CU_ASSERT_EQUAL(ws_parse(&p, msg, 10 + 65536, &used, &f), R_SUCCESS);
	CU_ASSERT_EQUAL(used, 10 + 65536);
	CU_ASSERT_EQUAL(f.len, 65536);
	/* one byte over the cap is refused from the header alone */
	ws_parser_init(&p, 65535, false);
	CU_ASSERT_EQUAL(ws_parse(&p, msg, 10, &used, &f), R_TOO_BIG);
	CU_ASSERT_EQUAL(p.error_code, WS_CLOSE_TOO_BIG);
	free(msg);
}

static void serializer_matches_rfc(void)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	CU_ASSERT_EQUAL(ws_frame_append(&b, WS_OP_TEXT, true, "Hello", 5), R_SUCCESS);
	CU_ASSERT_EQUAL(b.len, 7);
	CU_ASSERT_EQUAL(memcmp(b.data, U8(0x81, 0x05, 'H', 'e', 'l', 'l', 'o'), 7), 0);
	buf_reset(&b);
	CU_ASSERT_EQUAL(ws_frame_append(&b, WS_OP_TEXT, false, "Hel", 3), R_SUCCESS);
	CU_ASSERT_EQUAL(ws_frame_append(&b, WS_OP_CONT, true, "lo", 2), R_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(b.data, U8(0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o'), 9), 0);
	buf_reset(&b);
	/* control frames must be short and final */
	{
		char big[126];

		memset(big, 'a', sizeof(big));
		CU_ASSERT_EQUAL(ws_frame_append(&b, WS_OP_PING, true, big, 126), R_INVALID);
		CU_ASSERT_EQUAL(ws_frame_append(&b, WS_OP_PING, false, big, 1), R_INVALID);
		CU_ASSERT_EQUAL(ws_frame_append(&b, WS_OP_PING, true, big, 125), R_SUCCESS);
	}
	buf_free(&b);
}

static void masked_client_frames_roundtrip(void)
{
	const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
	unsigned char frame[WS_HEADER_MAX + 300];
	char text[300];
	struct ws_parser p;
	struct ws_frame f;
	size_t n, used;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	n = ws_frame_header(frame, WS_OP_TEXT, true, sizeof(text), key);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_EQUAL(memcmp(frame, U8(0x81, 0xFE, 0x01, 0x2C, 0x37, 0xfa, 0x21, 0x3d), 8), 0);
	memcpy(frame + n, text, sizeof(text));
	/* masking in two pieces equals masking in one */
	ws_mask(frame + n, 7, key, 0);
	ws_mask(frame + n + 7, sizeof(text) - 7, key, 7);
	CU_ASSERT_NOT_EQUAL(memcmp(frame + n, text, sizeof(text)), 0);
	ws_parser_init(&p, 1024, true);
	CU_ASSERT_EQUAL(ws_parse(&p, frame, n + sizeof(text), &used, &f), R_SUCCESS);
	CU_ASSERT_EQUAL(used, n + sizeof(text));
	CU_ASSERT_EQUAL(f.len, sizeof(text));
	CU_ASSERT_EQUAL(memcmp(f.payload, text, sizeof(text)), 0);
}

static void control_frames_between_fragments(void)
{
	struct ws_parser p;
	struct ws_frame f;
	unsigned char c[64];
	size_t used;

	ws_parser_init(&p, 1024, false);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x02, 0x01, 0xAA), 3, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(f.msg_opcode, WS_OP_BINARY);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x89, 0x00), 2, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(f.opcode, WS_OP_PING);
	CU_ASSERT_EQUAL(f.len, 0);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x00, 0x01, 0xBB), 3, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(f.msg_opcode, WS_OP_BINARY);
	CU_ASSERT(!f.fin);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x80, 0x01, 0xCC), 3, c, &f, &used), R_SUCCESS);
	CU_ASSERT(f.fin);
	/* the message is over: a new one may start */
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x81, 0x00), 2, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(f.msg_opcode, WS_OP_TEXT);
}

static void close_frames(void)
{
	struct ws_parser p;
	struct ws_frame f;
	unsigned char c[64], pl[WS_CONTROL_MAX];
	size_t used, n;
	char longr[200];

	ws_parser_init(&p, 1024, false);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x88, 0x00), 2, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(f.close_code, WS_CLOSE_NO_STATUS);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x88, 0x04, 0x03, 0xE8, 'o', 'k'), 6, c, &f, &used),
			R_SUCCESS);
	CU_ASSERT_EQUAL(f.close_code, 1000);
	CU_ASSERT_EQUAL(f.close_reason_len, 2);
	CU_ASSERT_EQUAL(memcmp(f.close_reason, "ok", 2), 0);

	CU_ASSERT_EQUAL(ws_close_payload(1001, "going away", pl, &n), R_SUCCESS);
	CU_ASSERT_EQUAL(n, 12);
	CU_ASSERT_EQUAL(memcmp(pl, U8(0x03, 0xE9, 'g'), 3), 0);
	CU_ASSERT_EQUAL(ws_close_payload(1005, "", pl, &n), R_INVALID);
	CU_ASSERT_EQUAL(ws_close_payload(1006, "", pl, &n), R_INVALID);
	/* a long reason is cut on a character boundary: 2-byte "é" × 100 */
	for (size_t i = 0; i + 1 < sizeof(longr); i += 2) {
		longr[i] = (char)0xC3;
		longr[i + 1] = (char)0xA9;
	}
	longr[sizeof(longr) - 1] = '\0';
	CU_ASSERT_EQUAL(ws_close_payload(1000, longr, pl, &n), R_SUCCESS);
	CU_ASSERT_EQUAL(n, 2 + 122);
	CU_ASSERT(ws_close_code_is_valid(1000));
	CU_ASSERT(ws_close_code_is_valid(4999));
	CU_ASSERT(!ws_close_code_is_valid(1004));
	CU_ASSERT(!ws_close_code_is_valid(999));
	CU_ASSERT(!ws_close_code_is_valid(5000));
}

/* Invalid frames, each with the close code it must produce. */
static const struct bad_frame {
	const char *name;
	unsigned char bytes[16];
	size_t n;
	bool masked_side; /* parse as a server (client frames must be masked) */
	bool fragmented;  /* start a text message "a" first */
	enum result r;
	uint16_t code;
} bad_frames[] = {
    {"bad opcode 3", {0x83, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"bad opcode 0xB", {0x8B, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"unmasked client frame", {0x81, 0x01, 'a'}, 3, true, false, R_INVALID, 1002},
    {"masked server frame", {0x81, 0x81, 0, 0, 0, 0, 'a'}, 7, false, false, R_INVALID, 1002},
    {"rsv1", {0xC1, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"rsv2", {0xA1, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"rsv3", {0x91, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"oversized 64-bit length",
     {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0},
     10,
     true,
     false,
     R_TOO_BIG,
     1009},
    {"64-bit length high bit",
     {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0},
     10,
     true,
     false,
     R_INVALID,
     1002},
    {"oversized 16-bit length", {0x82, 0xFE, 0x10, 0x00}, 4, true, false, R_TOO_BIG, 1009},
    {"non-minimal 16-bit length", {0x82, 0xFE, 0x00, 0x05}, 4, true, false, R_INVALID, 1002},
    {"ping over 125", {0x89, 0xFE, 0x00, 0x7E}, 4, true, false, R_INVALID, 1002},
    {"fragmented ping", {0x09, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"continuation first", {0x80, 0x80, 0, 0, 0, 0}, 6, true, false, R_INVALID, 1002},
    {"text inside fragments", {0x81, 0x80, 0, 0, 0, 0}, 6, true, true, R_INVALID, 1002},
    {"bad utf-8 text", {0x81, 0x82, 0, 0, 0, 0, 0xC0, 0xAF}, 8, true, false, R_INVALID, 1007},
    {"surrogate in text",
     {0x81, 0x83, 0, 0, 0, 0, 0xED, 0xA0, 0x80},
     9,
     true,
     false,
     R_INVALID,
     1007},
    {"text ends mid-char", {0x81, 0x81, 0, 0, 0, 0, 0xE2}, 7, true, false, R_INVALID, 1007},
    {"close of one byte", {0x88, 0x81, 0, 0, 0, 0, 0x03}, 7, true, false, R_INVALID, 1002},
    {"close code 1005", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED}, 8, true, false, R_INVALID, 1002},
    {"close code 999", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE7}, 8, true, false, R_INVALID, 1002},
    {"close reason bad utf-8",
     {0x88, 0x83, 0, 0, 0, 0, 0x03, 0xE8, 0xFF},
     9,
     true,
     false,
     R_INVALID,
     1007},
};

static void invalid_frames_map_to_close_codes(void)
{
	for (size_t i = 0; i < sizeof(bad_frames) / sizeof(bad_frames[0]); i++) {
		const struct bad_frame *t = &bad_frames[i];
		struct ws_parser p;
		struct ws_frame f;
		unsigned char c[32];
		size_t used = 12345;
		enum result r;

		ws_parser_init(&p, 1024, t->masked_side);
		if (t->fragmented) {
			r = parse_one(&p, U8(0x01, 0x81, 0, 0, 0, 0, 'a'), 7, c, &f, &used);
			CU_ASSERT_EQUAL(r, R_SUCCESS);
			used = 12345;
		}
		r = parse_one(&p, t->bytes, t->n, c, &f, &used);
		if (r != t->r || p.error_code != t->code)
			fprintf(stderr, "\n  case '%s': got %s/%u\n", t->name, result_str(r),
				p.error_code);
		CU_ASSERT_EQUAL(r, t->r);
		CU_ASSERT_EQUAL(p.error_code, t->code);
		CU_ASSERT_PTR_NOT_NULL(p.error_reason);
		CU_ASSERT_EQUAL(used, 12345); /* untouched on failure */
	}
}

static void utf8_split_across_fragments(void)
{
	struct ws_parser p;
	struct ws_frame f;
	unsigned char c[16];
	size_t used;

	/* "€" = E2 82 AC split 1 + 2 over two frames is fine ... */
	ws_parser_init(&p, 1024, false);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x01, 0x01, 0xE2), 3, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x80, 0x02, 0x82, 0xAC), 4, c, &f, &used), R_SUCCESS);
	/* ... but a continuation that does not finish it is 1007 */
	ws_parser_init(&p, 1024, false);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x01, 0x01, 0xE2), 3, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x80, 0x01, 0x82), 3, c, &f, &used), R_INVALID);
	CU_ASSERT_EQUAL(p.error_code, 1007);
	/* fragmented message over the cap: 1009 */
	ws_parser_init(&p, 4, false);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x02, 0x03, 1, 2, 3), 5, c, &f, &used), R_SUCCESS);
	CU_ASSERT_EQUAL(parse_one(&p, U8(0x80, 0x02, 4, 5), 4, c, &f, &used), R_TOO_BIG);
	CU_ASSERT_EQUAL(p.error_code, 1009);
}

static void utf8_vectors(void)
{
	static const struct {
		const char *s;
		bool ok;
	} v[] = {
	    {"plain ascii", true},
	    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true}, /* κόσμε */
	    {"\xf0\x9f\x98\x80", true},				    /* U+1F600 */
	    {"\xf4\x8f\xbf\xbf", true},				    /* U+10FFFF */
	    {"\xef\xbf\xbf", true},				    /* U+FFFF */
	    {"\xc0\xaf", false},				    /* overlong '/' */
	    {"\xe0\x80\xaf", false},				    /* overlong */
	    {"\xf0\x80\x80\xaf", false},			    /* overlong */
	    {"\xed\xa0\x80", false},				    /* surrogate */
	    {"\xf4\x90\x80\x80", false},			    /* > U+10FFFF */
	    {"\xf5\x80\x80\x80", false},
	    {"\x80", false},
	    {"\xfe", false},
	    {"abcdefgh\xffzzzzzzz", false}, /* after the word-at-a-time path */
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ws_utf8 u;
		bool ok;

		ws_utf8_init(&u);
		ok = ws_utf8_feed(&u, (const unsigned char *)v[i].s, strlen(v[i].s)) &&
		     ws_utf8_is_complete(&u);
		CU_ASSERT_EQUAL(ok, v[i].ok);
	}
	/* byte by byte, with the pending count a splitter needs */
	{
		struct ws_utf8 u;
		const unsigned char e[] = {0xF0, 0x9F, 0x98, 0x80};

		ws_utf8_init(&u);
		for (size_t i = 0; i < 4; i++) {
			CU_ASSERT(ws_utf8_feed(&u, e + i, 1));
			CU_ASSERT_EQUAL(ws_utf8_pending(&u), i < 3 ? i + 1 : 0);
		}
		CU_ASSERT(ws_utf8_is_complete(&u));
	}
}

static const char rfc_request[] = "GET /chat HTTP/1.1\r\n"
				  "Host: server.example.com\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				  "Origin: http://example.com\r\n"
				  "Sec-WebSocket-Protocol: chat, superchat\r\n"
				  "Sec-WebSocket-Version: 13\r\n"
				  "\r\n";

static void handshake_rfc_example(void)
{
	struct ws_handshake h;
	struct ws_handshake_error e;
	char acc[WS_ACCEPT_LEN + 1];
	struct buf b;

	CU_ASSERT_EQUAL_FATAL(ws_handshake_parse(rfc_request, strlen(rfc_request), &h, &e),
			      R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(h.target, "/chat");
	CU_ASSERT_STRING_EQUAL(h.key, "dGhlIHNhbXBsZSBub25jZQ==");
	CU_ASSERT_STRING_EQUAL(h.origin, "http://example.com");
	CU_ASSERT(ws_handshake_has_protocol(&h, "chat"));
	CU_ASSERT(ws_handshake_has_protocol(&h, "superchat"));
	CU_ASSERT(!ws_handshake_has_protocol(&h, "super"));
	CU_ASSERT_EQUAL(ws_accept(h.key, acc), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	buf_init(&b, 4096);
	CU_ASSERT_EQUAL(ws_handshake_response(&b, h.key, "chat"), R_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(b.data, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "Sec-WebSocket-Protocol: chat\r\n\r\n"));
	CU_ASSERT_EQUAL(strncmp(b.data, "HTTP/1.1 101 ", 13), 0);
	buf_free(&b);
}

static const struct bad_handshake {
	const char *req;
	int status;
} bad_handshakes[] = {
    {"POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     405},
    {"GET / HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
     426},
    {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n", 400},
    {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400},
};

static void handshake_refusals(void)
{
	for (size_t i = 0; i < sizeof(bad_handshakes) / sizeof(bad_handshakes[0]); i++) {
		struct ws_handshake h;
		struct ws_handshake_error e = {0, NULL};

		h.target[0] = 'Z';
		CU_ASSERT_EQUAL(ws_handshake_parse(bad_handshakes[i].req,
						   strlen(bad_handshakes[i].req), &h, &e),
				R_INVALID);
		if (e.status != bad_handshakes[i].status)
			fprintf(stderr, "\n  handshake %zu: got %d (%s)\n", i, e.status,
				e.message ? e.message : "-");
		CU_ASSERT_EQUAL(e.status, bad_handshakes[i].status);
		CU_ASSERT_PTR_NOT_NULL(e.message);
		CU_ASSERT_EQUAL(h.target[0], 'Z'); /* out untouched */
	}
}

static void handshake_lenient_forms(void)
{
	/* Firefox sends "keep-alive, Upgrade"; header names are case-insensitive;
	 * bare LF line ends are tolerated; a second protocol header is joined. */
	const char *req = "GET /api/v1/sandbox/sbx_1/stream?token=a.b HTTP/1.1\n"
			  "host: x\n"
			  "upgrade: WebSocket\n"
			  "connection: keep-alive, Upgrade\n"
			  "sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\n"
			  "SEC-WEBSOCKET-VERSION: 13\n"
			  "Sec-WebSocket-Protocol: a\n"
			  "Sec-WebSocket-Protocol: sandpit.channel.v1\n"
			  "Authorization:   Bearer abc   \n"
			  "\n";
	struct ws_handshake h;
	struct ws_handshake_error e;

	CU_ASSERT_EQUAL_FATAL(ws_handshake_parse(req, strlen(req), &h, &e), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(h.target, "/api/v1/sandbox/sbx_1/stream?token=a.b");
	CU_ASSERT_STRING_EQUAL(h.authorization, "Bearer abc");
	CU_ASSERT(ws_handshake_has_protocol(&h, "sandpit.channel.v1"));
	CU_ASSERT(ws_handshake_has_protocol(&h, "a"));
}

UNIT_SUITE(ws, {"rfc 6455 5.7 examples, unmasked", rfc_examples_unmasked},
	   {"rfc 6455 5.7 examples, masked", rfc_examples_masked},
	   {"rfc 6455 16- and 64-bit lengths", rfc_lengths_16_and_64_bit},
	   {"serializer matches rfc", serializer_matches_rfc},
	   {"masked client frames roundtrip", masked_client_frames_roundtrip},
	   {"control frames between fragments", control_frames_between_fragments},
	   {"close frames", close_frames},
	   {"invalid frames map to close codes", invalid_frames_map_to_close_codes},
	   {"utf-8 split across fragments", utf8_split_across_fragments},
	   {"utf-8 vectors", utf8_vectors}, {"handshake rfc example", handshake_rfc_example},
	   {"handshake refusals", handshake_refusals},
	   {"handshake lenient forms", handshake_lenient_forms});
