/* ws.c: RFC 6455 codec: handshake, frame parser and serializer, UTF-8. */
#include "net/ws.h"

#include <string.h>
#include <strings.h>

#include "core/crypto.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- UTF-8 ------------------------------------------------------------------ */

void ws_utf8_init(struct ws_utf8 *u)
{
	u->need = 0;
	u->have = 0;
	u->lo = 0x80;
	u->hi = 0xBF;
}

/* lead: set up the state for a lead byte c (not ASCII); false if c can never
 * start a character (continuation bytes, C0/C1 overlong leads, > U+10FFFF).
 * The narrowed second-byte ranges are what exclude overlongs (E0, F0),
 * surrogates (ED) and code points past U+10FFFF (F4). */
static bool lead(struct ws_utf8 *u, unsigned char c)
{
	u->lo = 0x80;
	u->hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		u->need = 1;
	else if (c == 0xE0) {
		u->need = 2;
		u->lo = 0xA0;
	} else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
		u->need = 2;
	else if (c == 0xED) {
		u->need = 2;
		u->hi = 0x9F;
	} else if (c == 0xF0) {
		u->need = 3;
		u->lo = 0x90;
	} else if (c >= 0xF1 && c <= 0xF3)
		u->need = 3;
	else if (c == 0xF4) {
		u->need = 3;
		u->hi = 0x8F;
	} else
		return false;
	u->have = 1;
	return true;
}

bool ws_utf8_feed(struct ws_utf8 *u, const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (u->need == 0) {
			if (c < 0x80) {
				/* Output is mostly ASCII: skip 8 bytes a word at a time. */
				i++;
				while (n - i >= 8) {
					uint64_t w;

					memcpy(&w, p + i, 8);
					if (w & 0x8080808080808080ULL)
						break;
					i += 8;
				}
				continue;
			}
			if (!lead(u, c))
				return false;
		} else {
			if (c < u->lo || c > u->hi)
				return false;
			u->lo = 0x80;
			u->hi = 0xBF;
			u->need--;
			u->have = u->need ? (uint8_t)(u->have + 1) : 0;
		}
		i++;
	}
	return true;
}

bool ws_utf8_is_complete(const struct ws_utf8 *u)
{
	return u->need == 0;
}

size_t ws_utf8_pending(const struct ws_utf8 *u)
{
	return u->need ? u->have : 0;
}

/* ---- handshake ------------------------------------------------------------- */

static enum result refuse(struct ws_handshake_error *err, int status, const char *msg)
{
	err->status = status;
	err->message = msg;
	return R_INVALID;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool name_is(const char *name, size_t nlen, const char *want)
{
	return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

/* has_token: does a comma-separated header value contain tok
 * (case-insensitive, optional whitespace around elements)? */
static bool has_token(const char *v, size_t vlen, const char *tok)
{
	size_t tlen = strlen(tok), i = 0;

	while (i < vlen) {
		size_t s, e;

		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < vlen && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tlen && strncasecmp(v + s, tok, tlen) == 0)
			return true;
	}
	return false;
}

/* copy_field: store a header value; repeated headers are refused except
 * where joining is allowed (then ", "-joined, as RFC 9110 §5.3 says). */
static bool copy_field(char *dst, size_t size, const char *v, size_t vlen, bool join)
{
	size_t cur = strlen(dst);

	if (cur > 0) {
		if (!join || size - cur < 3)
			return false;
		memcpy(dst + cur, ", ", 2);
		cur += 2;
	}
	if (vlen >= size - cur)
		return false;
	memcpy(dst + cur, v, vlen);
	dst[cur + vlen] = '\0';
	return true;
}

static bool key_is_valid(const char *v, size_t vlen)
{
	unsigned char raw[18];
	size_t n;

	if (vlen != WS_KEY_LEN)
		return false;
	if (crypto_base64_decode(v, vlen, raw, sizeof(raw), &n) != R_SUCCESS)
		return false;
	return n == 16;
}

/* parse_request_line: "GET SP target SP HTTP/1.x". */
static enum result parse_request_line(const char *l, size_t n, struct ws_handshake *h,
				      struct ws_handshake_error *err)
{
	const char *sp1, *sp2;
	size_t tlen;

	sp1 = memchr(l, ' ', n);
	if (sp1 == NULL)
		return refuse(err, 400, "malformed request line");
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - l));
	if (sp2 == NULL)
		return refuse(err, 400, "malformed request line");
	if (sp1 - l != 3 || memcmp(l, "GET", 3) != 0)
		return refuse(err, 405, "websocket handshake must be a GET");
	tlen = (size_t)(sp2 - sp1 - 1);
	if (tlen == 0 || sp1[1] != '/')
		return refuse(err, 400, "malformed request target");
	if (tlen >= sizeof(h->target))
		return refuse(err, 414, "request target too long");
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)sp1[1 + i] <= 0x20 || (unsigned char)sp1[1 + i] >= 0x7f)
			return refuse(err, 400, "malformed request target");
	memcpy(h->target, sp1 + 1, tlen);
	h->target[tlen] = '\0';
	/* HTTP/1.1 or later is required by RFC 6455 §4.1. */
	if (l + n - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '1' ||
	    sp2[8] > '9')
		return refuse(err, 400, "websocket handshake needs HTTP/1.1");
	return R_SUCCESS;
}

enum result ws_handshake_parse(const char *head, size_t len, struct ws_handshake *out,
			       struct ws_handshake_error *err)
{
	struct ws_handshake hs, *h = &hs;
	size_t pos = 0, nlines = 0;
	bool host = false, upgrade = false, connection = false, version = false,
	     saw_version = false;
	bool ended = false;
	enum result r = R_INVALID;

	if (len > WS_HEAD_MAX)
		return refuse(err, 431, "request head too large");
	/* Built aside (7 KiB of stack) so *out is untouched on failure. */
	memset(h, 0, sizeof(*h));
	while (pos < len) {
		const char *line = head + pos, *nl, *colon, *v;
		size_t n, nlen, vlen;

		nl = memchr(line, '\n', len - pos);
		if (nl == NULL) {
			r = refuse(err, 400, "request head not terminated");
			goto fail;
		}
		n = (size_t)(nl - line);
		pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (nlines == 0) {
			r = parse_request_line(line, n, h, err);
			if (r != R_SUCCESS)
				goto fail;
			nlines++;
			continue;
		}
		if (n == 0) {
			ended = true;
			break;
		}
		if (++nlines > WS_HEADERS_MAX) {
			r = refuse(err, 431, "too many header lines");
			goto fail;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			r = refuse(err, 400, "obsolete header folding");
			goto fail;
		}
		colon = memchr(line, ':', n);
		if (colon == NULL || colon == line) {
			r = refuse(err, 400, "malformed header line");
			goto fail;
		}
		nlen = (size_t)(colon - line);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar((unsigned char)line[i])) {
				r = refuse(err, 400, "malformed header name");
				goto fail;
			}
		v = colon + 1;
		vlen = n - nlen - 1;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		for (size_t i = 0; i < vlen; i++)
			if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n') {
				r = refuse(err, 400, "malformed header value");
				goto fail;
			}
		if (name_is(line, nlen, "Host"))
			host = vlen > 0;
		else if (name_is(line, nlen, "Upgrade"))
			upgrade = upgrade || has_token(v, vlen, "websocket");
		else if (name_is(line, nlen, "Connection"))
			connection = connection || has_token(v, vlen, "upgrade");
		else if (name_is(line, nlen, "Sec-WebSocket-Version")) {
			version = !saw_version && vlen == 2 && memcmp(v, "13", 2) == 0;
			saw_version = true;
		} else if (name_is(line, nlen, "Sec-WebSocket-Key")) {
			if (h->key[0] != '\0' || !key_is_valid(v, vlen)) {
				r = refuse(err, 400, "invalid sec-websocket-key");
				goto fail;
			}
			memcpy(h->key, v, vlen);
			h->key[vlen] = '\0';
		} else {
			static const struct {
				const char *name;
				size_t off, size;
				bool join;
			} fields[] = {
			    {"Sec-WebSocket-Protocol", offsetof(struct ws_handshake, protocols),
			     WS_PROTOCOLS_MAX, true},
			    {"Authorization", offsetof(struct ws_handshake, authorization),
			     WS_AUTH_MAX, false},
			    {"Origin", offsetof(struct ws_handshake, origin), WS_SHORT_MAX, false},
			    {"X-Request-Id", offsetof(struct ws_handshake, request_id),
			     WS_SHORT_MAX, false},
			    {"X-Forwarded-For", offsetof(struct ws_handshake, forwarded_for),
			     WS_SHORT_MAX, true},
			};

			for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
				if (!name_is(line, nlen, fields[i].name))
					continue;
				if (!copy_field((char *)h + fields[i].off, fields[i].size, v, vlen,
						fields[i].join)) {
					r = refuse(err, 431, "header value too long or repeated");
					goto fail;
				}
				break;
			}
		}
	}
	if (!ended) {
		r = refuse(err, 400, "request head not terminated");
		goto fail;
	}
	if (!host) {
		r = refuse(err, 400, "missing host header");
		goto fail;
	}
	if (!upgrade || !connection) {
		r = refuse(err, 400, "not a websocket upgrade request");
		goto fail;
	}
	if (!version) {
		r = refuse(err, 426, "unsupported sec-websocket-version, want 13");
		goto fail;
	}
	if (h->key[0] == '\0') {
		r = refuse(err, 400, "missing sec-websocket-key");
		goto fail;
	}
	*out = hs;
	r = R_SUCCESS;

fail:
	/* The copy may hold a credential: do not leave it on the stack. */
	crypto_wipe(&hs, sizeof(hs));
	return r;
}

bool ws_handshake_has_protocol(const struct ws_handshake *h, const char *proto)
{
	const char *v = h->protocols;
	size_t plen = strlen(proto);

	if (plen == 0)
		return false;
	while (*v != '\0') {
		size_t n;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		n = strcspn(v, ", \t");
		if (n == plen && memcmp(v, proto, plen) == 0)
			return true;
		v += n;
	}
	return false;
}

enum result ws_accept(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	char cat[WS_KEY_LEN + sizeof(WS_GUID)];
	unsigned char digest[CRYPTO_SHA1_LEN];
	char enc[CRYPTO_BASE64_SIZE(CRYPTO_SHA1_LEN)];
	enum result r;

	if (strnlen(key, WS_KEY_LEN + 1) != WS_KEY_LEN)
		return R_INVALID;
	memcpy(cat, key, WS_KEY_LEN);
	memcpy(cat + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
	r = crypto_sha1(cat, WS_KEY_LEN + sizeof(WS_GUID) - 1, digest);
	if (r != R_SUCCESS)
		return r;
	r = crypto_base64_encode(digest, sizeof(digest), enc, sizeof(enc), NULL);
	if (r != R_SUCCESS)
		return r;
	memcpy(out, enc, WS_ACCEPT_LEN + 1);
	return R_SUCCESS;
}

enum result ws_handshake_response(struct buf *out, const char *key, const char *protocol)
{
	char accept[WS_ACCEPT_LEN + 1];
	enum result r;

	r = ws_accept(key, accept);
	if (r != R_SUCCESS)
		return r;
	r = buf_printf(out,
		       "HTTP/1.1 101 Switching Protocols\r\n"
		       "Upgrade: websocket\r\n"
		       "Connection: Upgrade\r\n"
		       "Sec-WebSocket-Accept: %s\r\n",
		       accept);
	if (r == R_SUCCESS && protocol != NULL)
		r = buf_printf(out, "Sec-WebSocket-Protocol: %s\r\n", protocol);
	if (r == R_SUCCESS)
		r = buf_append_str(out, "\r\n");
	return r;
}

/* ---- parser ------------------------------------------------------------------ */

void ws_parser_init(struct ws_parser *p, size_t max_message, bool expect_masked)
{
	memset(p, 0, sizeof(*p));
	p->max_message = max_message;
	p->expect_masked = expect_masked;
	ws_utf8_init(&p->utf8);
}

static enum result fail(struct ws_parser *p, enum result r, uint16_t code, const char *why)
{
	p->error_code = code;
	p->error_reason = why;
	return r;
}

bool ws_close_code_is_valid(uint16_t code)
{
	/* 1004-1006 and 1015 are reserved for reporting, never for the wire;
	 * 1012-1014 are IANA-registered since RFC 6455. */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void ws_mask(unsigned char *p, size_t n, const unsigned char mask[4], size_t offset)
{
	unsigned char m[8];
	uint64_t w, mw;
	size_t i = 0;

	for (int k = 0; k < 8; k++)
		m[k] = mask[(offset + (size_t)k) & 3];
	memcpy(&mw, m, 8);
	/* A word at a time: payloads are large on the stdin path of pasted text
	 * and this is the proxy's only per-byte work on client input. */
	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= mw;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= m[i & 7];
}

enum result ws_parse(struct ws_parser *p, unsigned char *data, size_t len, size_t *used,
		     struct ws_frame *frame)
{
	unsigned char b0, b1, op, l7;
	bool fin, masked, control;
	size_t hlen = 2;
	uint64_t plen;
	struct ws_frame f;

	if (len < 2) {
		*used = 0;
		return R_SUCCESS;
	}
	b0 = data[0];
	b1 = data[1];
	fin = (b0 & 0x80) != 0;
	op = b0 & 0x0F;
	masked = (b1 & 0x80) != 0;
	l7 = b1 & 0x7F;
	control = (op & 0x08) != 0;
	if (b0 & 0x70)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "reserved bits set");
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "unknown opcode");
	if (masked != p->expect_masked)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL,
			    masked ? "masked server frame" : "unmasked client frame");
	if (control && !fin)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "fragmented control frame");
	if (control && l7 > WS_CONTROL_MAX)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "control frame too long");
	if (op == WS_OP_CONT && !p->in_message)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "continuation without a message");
	if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->in_message)
		return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
	if (l7 == 126) {
		if (len < 4) {
			*used = 0;
			return R_SUCCESS;
		}
		plen = (uint64_t)data[2] << 8 | data[3];
		hlen = 4;
		if (plen < 126)
			return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "non-minimal length");
	} else if (l7 == 127) {
		if (len < 10) {
			*used = 0;
			return R_SUCCESS;
		}
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | data[2 + i];
		hlen = 10;
		if (plen >> 63)
			return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "length high bit set");
		if (plen <= 0xFFFF)
			return fail(p, R_INVALID, WS_CLOSE_PROTOCOL, "non-minimal length");
	} else
		plen = l7;
	if (plen > p->max_message || (op == WS_OP_CONT && p->msg_len > p->max_message - plen))
		return fail(p, R_TOO_BIG, WS_CLOSE_TOO_BIG, "message too big");
	if (masked)
		hlen += 4;
	if (len < hlen || len - hlen < plen) {
		*used = 0;
		return R_SUCCESS;
	}

	memset(&f, 0, sizeof(f));
	f.opcode = op;
	f.fin = fin;
	f.payload = data + hlen;
	f.len = (size_t)plen;
	if (masked)
		ws_mask(f.payload, f.len, data + hlen - 4, 0);
	if (!control) {
		if (op != WS_OP_CONT) {
			ws_utf8_init(&p->utf8);
			p->msg_len = 0;
			p->msg_opcode = op;
		}
		f.msg_opcode = p->msg_opcode;
		if (f.msg_opcode == WS_OP_TEXT && (!ws_utf8_feed(&p->utf8, f.payload, f.len) ||
						   (fin && !ws_utf8_is_complete(&p->utf8))))
			return fail(p, R_INVALID, WS_CLOSE_BAD_DATA,
				    "invalid utf-8 in text message");
		p->msg_len += plen;
		p->in_message = !fin;
	} else {
		f.msg_opcode = op;
		if (op == WS_OP_CLOSE) {
			struct ws_utf8 u;

			f.close_code = WS_CLOSE_NO_STATUS;
			if (f.len == 1)
				return fail(p, R_INVALID, WS_CLOSE_PROTOCOL,
					    "close payload of one byte");
			if (f.len >= 2) {
				f.close_code = (uint16_t)(f.payload[0] << 8 | f.payload[1]);
				if (!ws_close_code_is_valid(f.close_code))
					return fail(p, R_INVALID, WS_CLOSE_PROTOCOL,
						    "invalid close code");
				f.close_reason = f.payload + 2;
				f.close_reason_len = f.len - 2;
				ws_utf8_init(&u);
				if (!ws_utf8_feed(&u, f.close_reason, f.close_reason_len) ||
				    !ws_utf8_is_complete(&u))
					return fail(p, R_INVALID, WS_CLOSE_BAD_DATA,
						    "invalid utf-8 in close reason");
			}
		}
	}
	*used = hlen + (size_t)plen;
	*frame = f;
	return R_SUCCESS;
}

/* ---- serializers ---------------------------------------------------------- */

size_t ws_frame_header(unsigned char out[WS_HEADER_MAX], enum ws_opcode op, bool fin, uint64_t len,
		       const unsigned char *mask)
{
	unsigned char mbit = mask != NULL ? 0x80 : 0;
	size_t n;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (op & 0x0F));
	if (len < 126) {
		out[1] = (unsigned char)(mbit | len);
		n = 2;
	} else if (len <= 0xFFFF) {
		out[1] = mbit | 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		n = 4;
	} else {
		out[1] = mbit | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

enum result ws_frame_append(struct buf *out, enum ws_opcode op, bool fin, const void *payload,
			    size_t len)
{
	unsigned char hdr[WS_HEADER_MAX];
	size_t n;
	enum result r;

	if ((op & 0x08) && (len > WS_CONTROL_MAX || !fin))
		return R_INVALID;
	n = ws_frame_header(hdr, op, fin, len, NULL);
	r = buf_append(out, hdr, n);
	if (r != R_SUCCESS)
		return r;
	return buf_append(out, payload, len);
}

enum result ws_close_payload(uint16_t code, const char *reason, unsigned char out[WS_CONTROL_MAX],
			     size_t *outlen)
{
	size_t rlen = reason != NULL ? strlen(reason) : 0;

	if (!ws_close_code_is_valid(code))
		return R_INVALID;
	if (rlen > WS_CONTROL_MAX - 2) {
		rlen = WS_CONTROL_MAX - 2;
		/* Never cut inside a character: the peer must see valid UTF-8. */
		while (rlen > 0 && ((unsigned char)reason[rlen] & 0xC0) == 0x80)
			rlen--;
	}
	out[0] = (unsigned char)(code >> 8);
	out[1] = (unsigned char)code;
	if (rlen > 0)
		memcpy(out + 2, reason, rlen);
	*outlen = rlen + 2;
	return R_SUCCESS;
}
