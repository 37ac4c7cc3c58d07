/* message.c: stream protocol messages. Client messages go through lib/json;
 * output messages are written by hand in two passes (length, then bytes
 * straight into the outgoing frame) because they carry every byte a command
 * prints and a tree per chunk would cost more than the copy itself. */
#include "message.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/json.h"
#include "net/ws.h"

#define MAX_TTY_DIM 1000

static enum result bad(const char **why, const char *msg)
{
	*why = msg;
	return R_INVALID;
}

int message_signal_number(const char *name)
{
	static const struct {
		const char *name;
		int no;
	} sigs[] = {
	    {"HUP", SIGHUP},   {"INT", SIGINT},	  {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
	    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
	    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
	};

	if (name == NULL)
		return 0;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		char num[8];

		if (strcasecmp(name, sigs[i].name) == 0)
			return sigs[i].no;
		snprintf(num, sizeof(num), "%d", sigs[i].no);
		if (strcmp(name, num) == 0)
			return sigs[i].no;
	}
	return 0;
}

/* get_dim: an optional terminal dimension, 1..MAX_TTY_DIM. */
static enum result get_dim(const struct json *o, const char *key, uint16_t def, uint16_t *out)
{
	long long v;
	enum result r = json_get_int(o, key, &v);

	if (r == R_NOT_FOUND) {
		*out = def;
		return R_SUCCESS;
	}
	if (r != R_SUCCESS || v < 1 || v > MAX_TTY_DIM)
		return R_INVALID;
	*out = (uint16_t)v;
	return R_SUCCESS;
}

static enum result parse_exec(struct message *m, const struct json *o, long long max_timeout_s,
			      const char **why)
{
	struct json *cmd = json_get(o, "command"), *env = json_get(o, "env"), *t;
	const char *s;
	bool tty = false;
	enum result r;

	if (json_is_string(cmd)) {
		if (json_str(cmd)[0] == '\0')
			return bad(why, "command is empty");
		m->argv_ = calloc(1, sizeof(*m->argv_));
		if (m->argv_ == NULL)
			return R_NO_MEMORY;
		m->argv_[0] = json_str(cmd);
		m->exec.argc = 1;
		m->exec.flags |= AP_EXEC_SHELL;
	} else if (json_is_array(cmd)) {
		size_t n = json_len(cmd);

		if (n == 0 || n > AGENTPROTO_MAX_ARGS)
			return bad(why, "command must have 1 to 4096 elements");
		m->argv_ = calloc(n, sizeof(*m->argv_));
		if (m->argv_ == NULL)
			return R_NO_MEMORY;
		for (size_t i = 0; i < n; i++) {
			if (!json_is_string(json_at(cmd, i)))
				return bad(why, "command elements must be strings");
			m->argv_[i] = json_str(json_at(cmd, i));
		}
		m->exec.argc = n;
	} else
		return bad(why, "command must be a string or an array of strings");
	m->exec.argv = m->argv_;

	if (env != NULL && !json_is_null(env)) {
		size_t n = json_len(env), i = 0;
		struct json *kv;

		if (!json_is_object(env))
			return bad(why, "env must be an object of strings");
		if (n > AGENTPROTO_MAX_ENV)
			return bad(why, "env has too many entries");
		/* "KEY=VALUE" strings are built in one block owned by the message. */
		size_t total = 0, off = 0;

		for (kv = json_child(env); kv != NULL; kv = json_next(kv)) {
			const char *k = json_key(kv), *v = json_str(kv);

			if (v == NULL)
				return bad(why, "env values must be strings");
			if (k == NULL || k[0] == '\0' || strchr(k, '=') != NULL)
				return bad(why, "env names must be non-empty and contain no '='");
			/* each part is bounded by the message size cap, so no overflow */
			total += strlen(k) + strlen(v) + 2;
		}
		m->env_ = calloc(n ? n : 1, sizeof(*m->env_));
		m->envbuf_ = malloc(total ? total : 1);
		if (m->env_ == NULL || m->envbuf_ == NULL)
			return R_NO_MEMORY;
		for (kv = json_child(env); kv != NULL; kv = json_next(kv), i++) {
			size_t kl = strlen(json_key(kv)), vl = strlen(json_str(kv));

			m->env_[i] = m->envbuf_ + off;
			memcpy(m->envbuf_ + off, json_key(kv), kl);
			m->envbuf_[off + kl] = '=';
			memcpy(m->envbuf_ + off + kl + 1, json_str(kv), vl + 1);
			off += kl + vl + 2;
		}
		m->exec.env = m->env_;
		m->exec.envc = i;
	}

	r = json_get_str(o, "working_dir", &s);
	if (r == R_SUCCESS)
		m->exec.cwd = s[0] ? s : NULL;
	else if (r != R_NOT_FOUND)
		return bad(why, "working_dir must be a string");

	t = json_get(o, "timeout");
	if (t != NULL && !json_is_null(t)) {
		double v = json_number(t);

		if (!json_is_number(t) || v < 0 || v > (double)max_timeout_s)
			return bad(why, "timeout must be a number of seconds within the limit");
		m->exec.timeout_ms = (uint32_t)(v * 1000.0);
	}
	r = json_get_bool(o, "tty", &tty);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return bad(why, "tty must be a boolean");
	if (get_dim(o, "cols", 80, &m->cols) != R_SUCCESS ||
	    get_dim(o, "rows", 24, &m->rows) != R_SUCCESS)
		return bad(why, "cols and rows must be 1..1000");
	if (tty) {
		m->exec.flags |= AP_EXEC_TTY;
		m->exec.cols = m->cols;
		m->exec.rows = m->rows;
	}
	{
		bool detach = false;

		r = json_get_bool(o, "detach", &detach);
		if (r != R_SUCCESS && r != R_NOT_FOUND)
			return bad(why, "detach must be a boolean");
		if (detach)
			m->exec.flags |= AP_EXEC_DETACH;
	}
	/* A stream is not capped by the synchronous execute's output cap: the
	 * client consumes as it goes, and backpressure bounds memory. */
	m->exec.stdout_cap = UINT64_MAX;
	m->exec.stderr_cap = UINT64_MAX;
	return R_SUCCESS;
}

static enum result parse_stdin(struct message *m, const struct json *o, const char **why)
{
	struct json *d = json_get(o, "data");
	const char *enc = NULL;
	size_t n, max;
	enum result r;

	if (!json_is_string(d))
		return bad(why, "stdin data must be a string");
	r = json_get_str(o, "encoding", &enc);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return bad(why, "encoding must be a string");
	n = strlen(json_str(d));
	if (r == R_NOT_FOUND || strcmp(enc, "utf-8") == 0 || strcmp(enc, "utf8") == 0) {
		m->data = (const unsigned char *)json_str(d);
		m->len = n;
		return R_SUCCESS;
	}
	if (strcmp(enc, "base64") != 0)
		return bad(why, "encoding must be utf-8 or base64");
	max = crypto_base64_decoded_max(n);
	m->decoded_ = malloc(max ? max : 1);
	if (m->decoded_ == NULL)
		return R_NO_MEMORY;
	if (crypto_base64_decode(json_str(d), n, m->decoded_, max ? max : 1, &m->len) != R_SUCCESS)
		return bad(why, "stdin data is not valid base64");
	m->data = m->decoded_;
	return R_SUCCESS;
}

enum result message_parse(const char *text, size_t len, long long max_timeout_s,
			  struct message *out, const char **why)
{
	struct message m;
	const char *type;
	long long v;
	enum result r;

	memset(&m, 0, sizeof(m));
	m.root_ = json_parse(text, len);
	if (m.root_ == NULL || !json_is_object(m.root_)) {
		r = bad(why, "message is not a JSON object");
		goto fail;
	}
	if (json_get_str(m.root_, "type", &type) != R_SUCCESS) {
		r = bad(why, "message has no type");
		goto fail;
	}
	r = R_SUCCESS;
	if (strcmp(type, "exec") == 0) {
		m.type = MSG_EXEC;
		r = parse_exec(&m, m.root_, max_timeout_s, why);
	} else if (strcmp(type, "attach") == 0) {
		m.type = MSG_ATTACH;
		if (json_get_int(m.root_, "pid", &v) != R_SUCCESS || v < 1 || v > INT32_MAX)
			r = bad(why, "attach needs a pid");
		else
			m.pid = (uint32_t)v;
	} else if (strcmp(type, "stdin") == 0) {
		m.type = MSG_STDIN;
		r = parse_stdin(&m, m.root_, why);
	} else if (strcmp(type, "stdin_close") == 0) {
		m.type = MSG_STDIN_CLOSE;
	} else if (strcmp(type, "signal") == 0) {
		struct json *sg = json_get(m.root_, "signal");

		m.type = MSG_SIGNAL;
		if (json_is_number(sg)) {
			double d = json_number(sg);
			char num[16];

			/* Range first: converting a double out of int's range is
			 * undefined; signal numbers are small anyway. */
			m.signo = 0;
			if (d >= 1 && d <= 64 && d == (double)(int)d) {
				snprintf(num, sizeof(num), "%d", (int)d);
				m.signo = message_signal_number(num);
			}
		} else
			m.signo = message_signal_number(json_str(sg));
		if (m.signo == 0)
			r = bad(why, "unknown or disallowed signal");
	} else if (strcmp(type, "resize") == 0) {
		m.type = MSG_RESIZE;
		if (json_get(m.root_, "cols") == NULL || json_get(m.root_, "rows") == NULL ||
		    get_dim(m.root_, "cols", 0, &m.cols) != R_SUCCESS ||
		    get_dim(m.root_, "rows", 0, &m.rows) != R_SUCCESS)
			r = bad(why, "resize needs cols and rows in 1..1000");
	} else if (strcmp(type, "detach") == 0) {
		m.type = MSG_DETACH;
	} else
		r = bad(why, "unknown message type");
	if (r != R_SUCCESS) {
		if (r == R_NO_MEMORY)
			*why = "out of memory";
		goto fail;
	}
	*out = m;
	return R_SUCCESS;

fail:
	message_free(&m);
	return r;
}

void message_free(struct message *m)
{
	json_free(m->root_);
	free(m->argv_);
	free(m->env_);
	free(m->decoded_);
	free(m->envbuf_);
	memset(m, 0, sizeof(*m));
}

/* ---- proxy -> client -------------------------------------------------------- */

enum result message_started(struct buf *out, uint32_t pid)
{
	return buf_printf(out, "{\"type\":\"started\",\"pid\":%u}", pid);
}

enum result message_exit(struct buf *out, const struct agentproto_exit *x)
{
	char sig[16] = "null";

	if (x->signal != 0)
		snprintf(sig, sizeof(sig), "%u", x->signal);
	return buf_printf(
	    out,
	    "{\"type\":\"exit\",\"exit_code\":%d,\"signal\":%s,\"timed_out\":%s,"
	    "\"oom_killed\":%s,\"truncated\":%s,\"duration_ms\":%llu}",
	    x->exit_code, sig, (x->flags & AP_EXIT_TIMED_OUT) ? "true" : "false",
	    (x->flags & AP_EXIT_OOM_KILLED) ? "true" : "false",
	    (x->flags & (AP_EXIT_STDOUT_TRUNCATED | AP_EXIT_STDERR_TRUNCATED)) ? "true" : "false",
	    (unsigned long long)x->duration_ms);
}

enum result message_error(struct buf *out, const char *code, const char *msg)
{
	struct json *o = json_new_object();
	char *s;
	enum result r;

	if (o == NULL)
		return R_NO_MEMORY;
	r = json_add_str(o, "type", "error");
	if (r == R_SUCCESS)
		r = json_add_str(o, "code", code);
	if (r == R_SUCCESS)
		r = json_add_str(o, "message", msg);
	if (r != R_SUCCESS)
		goto out_json;
	s = json_print(o);
	if (s == NULL) {
		r = R_NO_MEMORY;
		goto out_json;
	}
	r = buf_append_str(out, s);
	free(s);

out_json:
	json_free(o);
	return r;
}

static const char *const prefix_text[] = {"", "{\"type\":\"stdout\",\"data\":\"",
					  "{\"type\":\"stderr\",\"data\":\""};
static const char *const prefix_b64[] = {
    "", "{\"type\":\"stdout\",\"encoding\":\"base64\",\"data\":\"",
    "{\"type\":\"stderr\",\"encoding\":\"base64\",\"data\":\""};
#define SUFFIX "\"}"

/* escaped_extra: bytes escaping adds to p[0..n), or SIZE_MAX on NUL. */
static size_t escaped_extra(const unsigned char *p, size_t n)
{
	size_t extra = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (c == 0)
			return SIZE_MAX;
		extra += (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ||
			  c == '\b' || c == '\f')
			     ? 1
			     : 5;
	}
	return extra;
}

enum result message_output_len(uint8_t stream, const unsigned char *a, size_t alen,
			       const unsigned char *b, size_t blen, bool *base64, size_t *len)
{
	struct ws_utf8 u;
	size_t n, ea, eb, fixed, b64;
	bool text;

	if (stream != AP_STREAM_STDOUT && stream != AP_STREAM_STDERR)
		return R_INVALID;
	if (alen > SIZE_MAX / 2 - blen)
		return R_TOO_BIG;
	n = alen + blen;
	ws_utf8_init(&u);
	text = ws_utf8_feed(&u, a, alen) && ws_utf8_feed(&u, b, blen) && ws_utf8_is_complete(&u);
	ea = text ? escaped_extra(a, alen) : SIZE_MAX;
	eb = text && ea != SIZE_MAX ? escaped_extra(b, blen) : SIZE_MAX;
	/* Text only when it is no bigger on the wire than base64 would be. */
	text = ea != SIZE_MAX && eb != SIZE_MAX && (ea + eb) <= n / 3;
	if (crypto_base64_size(n, &b64) != R_SUCCESS)
		return R_TOO_BIG;
	fixed = strlen(text ? prefix_text[stream] : prefix_b64[stream]) + sizeof(SUFFIX) - 1;
	*base64 = !text;
	*len = fixed + (text ? n + ea + eb : b64 - 1);
	return R_SUCCESS;
}

static unsigned char *escape(unsigned char *o, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = (unsigned char)hex[c >> 4];
			*o++ = (unsigned char)hex[c & 15];
		}
	}
	return o;
}

/* b64: encode n bytes at p to o (n a multiple of 3 unless it is the last
 * piece); room is what the buffer has left, which always covers the NUL the
 * encoder writes (the message suffix follows). */
static unsigned char *b64(unsigned char *o, size_t room, const unsigned char *p, size_t n)
{
	size_t w = 0;

	if (n == 0)
		return o;
	if (crypto_base64_encode(p, n, (char *)o, room, &w) != R_SUCCESS)
		abort(); /* sizes were computed by message_output_len */
	return o + w;
}

void message_output_write(unsigned char *out, size_t total, uint8_t stream, const unsigned char *a,
			  size_t alen, const unsigned char *b, size_t blen, bool base64)
{
	const char *pre = base64 ? prefix_b64[stream] : prefix_text[stream];
	size_t plen = strlen(pre);
	unsigned char *o = out;

	memcpy(o, pre, plen);
	o += plen;
	if (!base64) {
		o = escape(o, a, alen);
		o = escape(o, b, blen);
	} else {
		/* a's whole groups, one group straddling a and b, then b's rest:
		 * only the last piece may be padded. */
		size_t ahead = alen - alen % 3, k = alen % 3, take = 0;
		unsigned char mid[3];

		o = b64(o, total - (size_t)(o - out), a, ahead);
		if (k > 0) {
			take = blen < 3 - k ? blen : 3 - k;
			memcpy(mid, a + ahead, k);
			memcpy(mid + k, b, take);
			o = b64(o, total - (size_t)(o - out), mid, k + take);
		}
		o = b64(o, total - (size_t)(o - out), b + take, blen - take);
	}
	memcpy(o, SUFFIX, sizeof(SUFFIX) - 1);
}
