/* ws.h: RFC 6455 WebSocket codec: opening-handshake validation and accept key,
 * an incremental frame parser over a caller's byte buffer, frame serializers,
 * close codes and incremental UTF-8 validation. No I/O happens here.
 *
 * The parser works on whole frames: it reports "need more bytes" until a
 * frame's header and payload are all in the buffer, so a caller's input buffer
 * must hold max_message + WS_HEADER_MAX bytes. Payloads are unmasked in place
 * and handed back as pointers into that buffer (zero copy). */
#ifndef SANDPIT_WS_H
#define SANDPIT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close codes we send (RFC 6455 §7.4.1). 1005 is only ever reported as "the
 * peer's close frame had no code"; it is never sent. */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_NO_STATUS = 1005,
	WS_CLOSE_BAD_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

#define WS_HEADER_MAX	 14    /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_CONTROL_MAX	 125   /* payload cap of ping, pong and close */
#define WS_KEY_LEN	 24    /* base64 of 16 bytes */
#define WS_ACCEPT_LEN	 28    /* base64 of a SHA-1 */
#define WS_TARGET_MAX	 2048  /* request-target incl. query (stream tokens) */
#define WS_AUTH_MAX	 4096  /* Authorization header value (JWTs) */
#define WS_PROTOCOLS_MAX 256   /* Sec-WebSocket-Protocol offers, joined */
#define WS_SHORT_MAX	 128   /* Origin, X-Request-Id, X-Forwarded-For */
#define WS_HEAD_MAX	 16384 /* whole request head, the caller's read cap */
#define WS_HEADERS_MAX	 64    /* header lines in a request head */

/* ---- UTF-8 ----------------------------------------------------------------
 * Incremental validator (RFC 3629: no overlongs, no surrogates, <= U+10FFFF)
 * that can be fed a message in any number of pieces. */
struct ws_utf8 {
	uint8_t need;	/* continuation bytes still expected */
	uint8_t have;	/* bytes of the current sequence already seen */
	uint8_t lo, hi; /* allowed range of the next continuation byte */
};

/* ws_utf8_init: start of a message. */
void ws_utf8_init(struct ws_utf8 *u);

/* ws_utf8_feed: consume n bytes; false as soon as they cannot be part of valid
 * UTF-8 (the state is then meaningless). A sequence may stay open between
 * calls. */
bool ws_utf8_feed(struct ws_utf8 *u, const unsigned char *p, size_t n);

/* ws_utf8_is_complete: true when the bytes fed so far end on a character
 * boundary (required at the end of a text message). */
bool ws_utf8_is_complete(const struct ws_utf8 *u);

/* ws_utf8_pending: bytes of an unfinished character at the end of what was
 * fed (0..3); a caller splitting a stream can hold them back. */
size_t ws_utf8_pending(const struct ws_utf8 *u);

/* ---- opening handshake ---------------------------------------------------- */

/* What a valid client opening handshake carried. Every string is
 * NUL-terminated and empty when the header was absent. */
struct ws_handshake {
	char target[WS_TARGET_MAX];	  /* e.g. "/api/v1/sandbox/sbx_x/stream?token=.." */
	char key[WS_KEY_LEN + 1];	  /* Sec-WebSocket-Key */
	char protocols[WS_PROTOCOLS_MAX]; /* Sec-WebSocket-Protocol, all offers ", "-joined */
	char authorization[WS_AUTH_MAX];  /* Authorization (a secret: never log it) */
	char origin[WS_SHORT_MAX];
	char request_id[WS_SHORT_MAX];	  /* X-Request-Id, when a proxy set one */
	char forwarded_for[WS_SHORT_MAX]; /* X-Forwarded-For, for logs */
};

/* Why a handshake was refused: the HTTP status to answer (400, or 426 for a
 * version other than 13, to be answered with "Sec-WebSocket-Version: 13";
 * 405 for a method other than GET; 431 for oversized headers) and a static
 * lowercase message. */
struct ws_handshake_error {
	int status;
	const char *message;
};

/* ws_handshake_parse: parse and validate a complete request head (request line
 * and header lines, ending with the empty line; len bytes, no NUL needed).
 * Requires GET, HTTP/1.1 or later, Host, "websocket" in Upgrade, "upgrade" in
 * Connection (tokens, case-insensitive), Sec-WebSocket-Version 13 and a key
 * that is 16 bytes in base64. On R_SUCCESS *out is filled; on R_INVALID *err
 * (and only *err) is written. A value longer than its field is R_INVALID
 * (431), never truncated. */
SP_MUST_CHECK enum result ws_handshake_parse(const char *head, size_t len, struct ws_handshake *out,
					     struct ws_handshake_error *err);

/* ws_handshake_has_protocol: true when the client offered proto (exact,
 * case-sensitive token match as RFC 6455 §4.1 asks). */
bool ws_handshake_has_protocol(const struct ws_handshake *h, const char *proto);

/* ws_accept: the Sec-WebSocket-Accept value for key: base64(SHA-1(key ||
 * 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)), NUL-terminated. R_INVALID for a key
 * that is not WS_KEY_LEN characters, R_INTERNAL if hashing fails. */
SP_MUST_CHECK enum result ws_accept(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* ws_handshake_response: append the 101 response for key (and the chosen
 * subprotocol, NULL for none) to out. Errors of ws_accept and buf_append. */
SP_MUST_CHECK enum result ws_handshake_response(struct buf *out, const char *key,
						const char *protocol);

/* ---- frame parser ---------------------------------------------------------- */

struct ws_parser {
	/* settings, from ws_parser_init */
	size_t max_message; /* cap on one frame and on a reassembled message */
	bool expect_masked; /* server side: every client frame must be masked */
	/* message state between frames (private) */
	bool in_message;
	uint8_t msg_opcode;
	uint64_t msg_len;
	struct ws_utf8 utf8;
	/* after a failed ws_parse: the close code to send and why */
	uint16_t error_code;
	const char *error_reason;
};

struct ws_frame {
	uint8_t opcode;		/* as on the wire */
	uint8_t msg_opcode;	/* TEXT or BINARY for every frame of a data message
				 * (continuations included); = opcode otherwise */
	bool fin;		/* last frame of its message */
	unsigned char *payload; /* into the caller's buffer, unmasked */
	size_t len;
	/* close frames only: the peer's code (WS_CLOSE_NO_STATUS when absent)
	 * and its UTF-8 reason, not NUL-terminated */
	uint16_t close_code;
	const unsigned char *close_reason;
	size_t close_reason_len;
};

/* ws_parser_init: a parser for one connection. max_message caps a single
 * frame's payload and a whole fragmented message; expect_masked is true for
 * a server parsing client frames and false for a client. */
void ws_parser_init(struct ws_parser *p, size_t max_message, bool expect_masked);

/* ws_parse: look for one frame at the start of data[0..len).
 * - R_SUCCESS, *used == 0: the frame is not complete yet; read more and call again
 *   with the same bytes at the start (nothing was changed).
 * - R_SUCCESS, *used > 0: *frame is a complete, valid frame occupying the first
 *   *used bytes; its payload was unmasked in place; text is UTF-8-checked
 *   (across fragments) and close frames are checked.
 * - R_INVALID: protocol violation (close code 1002) or invalid UTF-8 in a text
 *   message or close reason (1007).
 * - R_TOO_BIG: a frame or message past max_message (1009); detected from the
 *   header alone, before the payload arrives.
 * After an error p->error_code / p->error_reason say what to send in the close
 * frame, and the connection must not be parsed further. */
SP_MUST_CHECK enum result ws_parse(struct ws_parser *p, unsigned char *data, size_t len,
				   size_t *used, struct ws_frame *frame);

/* ---- serializers ----------------------------------------------------------- */

/* ws_frame_header: write the header of one frame carrying len payload bytes
 * into out and return its length (2..14). mask is 4 bytes for a client frame
 * (the caller then masks the payload with ws_mask) or NULL for a server frame.
 * The caller keeps control frames <= WS_CONTROL_MAX and unfragmented. */
size_t ws_frame_header(unsigned char out[WS_HEADER_MAX], enum ws_opcode op, bool fin, uint64_t len,
		       const unsigned char *mask);

/* ws_mask: XOR n bytes with the 4-byte mask, as if they started offset bytes
 * into a payload (so a payload can be masked in pieces). Its own inverse. */
void ws_mask(unsigned char *p, size_t n, const unsigned char mask[4], size_t offset);

/* ws_frame_append: append one unmasked (server) frame to out. R_INVALID for a
 * control frame over WS_CONTROL_MAX or not final; errors of buf_append. */
SP_MUST_CHECK enum result ws_frame_append(struct buf *out, enum ws_opcode op, bool fin,
					  const void *payload, size_t len);

/* ws_close_payload: the payload of a close frame: code (big-endian) then
 * reason cut to fit in WS_CONTROL_MAX on a UTF-8 character boundary. *outlen
 * = bytes written. R_INVALID for a code that may not be sent. */
SP_MUST_CHECK enum result ws_close_payload(uint16_t code, const char *reason,
					   unsigned char out[WS_CONTROL_MAX], size_t *outlen);

/* ws_close_code_is_valid: true for codes a peer may put in a close frame
 * (RFC 6455 §7.4: 1000-1003, 1007-1011, 3000-4999). */
bool ws_close_code_is_valid(uint16_t code);

#endif
