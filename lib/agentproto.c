/* agentproto.c: pure encoder/decoder of agent protocol frames (agentproto.h).
 * Decoders see hostile bytes: every length is checked against what remains
 * before it is used, counts are capped, and nothing is trusted to be
 * NUL-terminated. */
#include "agentproto.h"

#include <stdlib.h>
#include <string.h>

/* TLV tags */
enum {
	T_FLAGS = 1,   /* u32 */
	T_TIMEOUT = 2, /* u32 ms */
	T_OUTCAP = 3,  /* u64 */
	T_ERRCAP = 4,  /* u64 */
	T_WINSZ = 5,   /* u16 cols, u16 rows */
	T_CWD = 6,     /* text */
	T_ARG = 7,     /* text, repeated */
	T_ENV = 8,     /* text "K=V", repeated */
	T_STDIN = 9,   /* bytes */
	T_PROC = 10,   /* nested TLV */
	T_PID = 11,    /* u32 */
	T_PPID = 12,   /* u32 */
	T_UID = 13,    /* u32 */
	T_STATE = 14,  /* 1 byte */
	T_RSS = 15,    /* u64 kB */
	T_CMD = 16,    /* text */
	T_CODE = 17,   /* u32 */
	T_MSG = 18,    /* text */
	T_PATH = 19,   /* text */
	T_PATH2 = 20,  /* text */
	T_MODE = 21,   /* u32 */
	T_DEPTH = 22,  /* u32 */
	T_FTYPE = 23,  /* u8 */
	T_SIZE = 24,   /* u64 */
	T_MTIME = 25,  /* u64 (two's complement ms) */
	T_TARGET = 26, /* text */
};

#define TLV_HDR 5
#define MAX_CMD 4096

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

static bool type_is_known(int t)
{
	return (t >= AP_EXEC && t <= AP_DETACH) || (t >= AP_STARTED && t <= AP_FEND);
}

bool agentproto_type_is_fileop(int t)
{
	return t == AP_FPUT || (t >= AP_FGET && t <= AP_FMOVE);
}

const char *agentproto_type_name(int type)
{
	static const char *const host[] = {"exec",   "stdin",  "stdin_close", "signal", "resize",
					   "setenv", "ps",     "ping",        "fput",   "fdata",
					   "fcommit", "fget",  "fstat",       "flist",  "fremove",
					   "fmkdir", "fmove",  "attach",      "detach"};
	static const char *const agent[] = {"started", "output", "exit",   "procs", "ok",
					    "error",   "pong",   "finfo", "fchunk", "fend"};

	if (type >= AP_EXEC && type <= AP_DETACH)
		return host[type - AP_EXEC];
	if (type >= AP_STARTED && type <= AP_FEND)
		return agent[type - AP_STARTED];
	return "unknown";
}

enum result agentproto_parse_header(const uint8_t *p, struct agentproto_hdr *out)
{
	uint32_t len;

	if (p[0] != AGENTPROTO_VERSION || p[2] != 0 || p[3] != 0 || !type_is_known(p[1]))
		return R_INVALID;
	len = be32(p + 4);
	if (len > AGENTPROTO_MAX_PAYLOAD)
		return R_TOO_BIG;
	out->type = p[1];
	out->len = len;
	return R_OK;
}

/* ---- encoding ----------------------------------------------------------- */

/* A frame is built in a local buffer capped at one frame, then appended to the
 * caller's buffer in one piece so a failure never leaves half a frame. */
struct frame {
	struct buf b;
};

static enum result frame_begin(struct frame *f, uint8_t type)
{
	uint8_t h[AGENTPROTO_HDR_LEN] = {AGENTPROTO_VERSION, type, 0, 0, 0, 0, 0, 0};

	buf_init(&f->b, AGENTPROTO_MAX_FRAME);
	return buf_append(&f->b, h, sizeof(h));
}

static enum result frame_end(struct frame *f, struct buf *out)
{
	enum result r;

	put_be32((uint8_t *)f->b.data + 4, (uint32_t)(f->b.len - AGENTPROTO_HDR_LEN));
	r = buf_append(out, f->b.data, f->b.len);
	buf_free(&f->b);
	return r;
}

static enum result tlv(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	uint8_t h[TLV_HDR];
	enum result r;

	if (n > AGENTPROTO_MAX_PAYLOAD)
		return R_TOO_BIG;
	h[0] = tag;
	put_be32(h + 1, (uint32_t)n);
	r = buf_append(b, h, sizeof(h));
	if (r == R_OK && n > 0)
		r = buf_append(b, p, n);
	return r;
}

static enum result tlv_u32(struct buf *b, uint8_t tag, uint32_t v)
{
	uint8_t x[4];

	put_be32(x, v);
	return tlv(b, tag, x, sizeof(x));
}

static enum result tlv_u64(struct buf *b, uint8_t tag, uint64_t v)
{
	uint8_t x[8];

	put_be64(x, v);
	return tlv(b, tag, x, sizeof(x));
}

static enum result tlv_str(struct buf *b, uint8_t tag, const char *s)
{
	if (s == NULL)
		return R_INVALID;
	return tlv(b, tag, s, strlen(s));
}

static enum result put_fixed(struct buf *b, uint8_t type, const void *p, size_t n)
{
	struct frame f;
	enum result r;

	r = frame_begin(&f, type);
	if (r == R_OK && n > 0)
		r = buf_append(&f.b, p, n);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

enum result agentproto_put_empty(struct buf *b, enum agentproto_type type)
{
	if (type != AP_STDIN_CLOSE && type != AP_PS && type != AP_PING && type != AP_OK &&
	    type != AP_PONG && type != AP_FCOMMIT && type != AP_FEND && type != AP_DETACH)
		return R_INVALID;
	return put_fixed(b, (uint8_t)type, NULL, 0);
}

enum result agentproto_put_exec(struct buf *b, const struct agentproto_exec *e)
{
	struct frame f;
	uint8_t winsz[4];
	enum result r;
	size_t i;

	if (e->argc == 0 || e->argc > AGENTPROTO_MAX_ARGS || e->envc > AGENTPROTO_MAX_ENV ||
	    ((e->flags & AP_EXEC_SHELL) && e->argc != 1) || (e->stdin_len > 0 && !e->stdin_data))
		return R_INVALID;
	r = frame_begin(&f, AP_EXEC);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_FLAGS, e->flags);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_TIMEOUT, e->timeout_ms);
	if (r == R_OK)
		r = tlv_u64(&f.b, T_OUTCAP, e->stdout_cap);
	if (r == R_OK)
		r = tlv_u64(&f.b, T_ERRCAP, e->stderr_cap);
	if (r == R_OK && (e->flags & AP_EXEC_TTY)) {
		put_be16(winsz, e->cols);
		put_be16(winsz + 2, e->rows);
		r = tlv(&f.b, T_WINSZ, winsz, sizeof(winsz));
	}
	if (r == R_OK && e->cwd)
		r = tlv_str(&f.b, T_CWD, e->cwd);
	for (i = 0; r == R_OK && i < e->argc; i++)
		r = tlv_str(&f.b, T_ARG, e->argv[i]);
	for (i = 0; r == R_OK && i < e->envc; i++)
		r = tlv_str(&f.b, T_ENV, e->env[i]);
	if (r == R_OK && e->stdin_len > 0)
		r = tlv(&f.b, T_STDIN, e->stdin_data, e->stdin_len);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

enum result agentproto_put_stdin(struct buf *b, const void *p, size_t n)
{
	if (n > AGENTPROTO_MAX_CHUNK)
		return R_TOO_BIG;
	return put_fixed(b, AP_STDIN, p, n);
}

enum result agentproto_put_signal(struct buf *b, uint32_t signo)
{
	uint8_t x[4];

	put_be32(x, signo);
	return put_fixed(b, AP_SIGNAL, x, sizeof(x));
}

enum result agentproto_put_resize(struct buf *b, uint16_t cols, uint16_t rows)
{
	uint8_t x[4];

	put_be16(x, cols);
	put_be16(x + 2, rows);
	return put_fixed(b, AP_RESIZE, x, sizeof(x));
}

enum result agentproto_put_setenv(struct buf *b, const struct agentproto_setenv *s)
{
	struct frame f;
	enum result r;
	size_t i;

	if (s->envc > AGENTPROTO_MAX_ENV)
		return R_INVALID;
	r = frame_begin(&f, AP_SETENV);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_FLAGS, s->replace ? 1 : 0);
	for (i = 0; r == R_OK && i < s->envc; i++)
		r = tlv_str(&f.b, T_ENV, s->env[i]);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

enum result agentproto_put_started(struct buf *b, uint32_t pid)
{
	uint8_t x[4];

	put_be32(x, pid);
	return put_fixed(b, AP_STARTED, x, sizeof(x));
}

enum result agentproto_put_attach(struct buf *b, uint32_t pid)
{
	uint8_t x[4];

	if (pid == 0)
		return R_INVALID;
	put_be32(x, pid);
	return put_fixed(b, AP_ATTACH, x, sizeof(x));
}

enum result agentproto_put_output(struct buf *b, uint8_t stream, const void *p, size_t n)
{
	struct frame f;
	enum result r;

	if (n > AGENTPROTO_MAX_CHUNK)
		return R_TOO_BIG;
	if (stream != AP_STREAM_STDOUT && stream != AP_STREAM_STDERR)
		return R_INVALID;
	r = frame_begin(&f, AP_OUTPUT);
	if (r == R_OK)
		r = buf_append(&f.b, &stream, 1);
	if (r == R_OK && n > 0)
		r = buf_append(&f.b, p, n);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

#define EXIT_LEN 20

enum result agentproto_put_exit(struct buf *b, const struct agentproto_exit *x)
{
	uint8_t p[EXIT_LEN];

	put_be32(p, (uint32_t)x->exit_code);
	put_be32(p + 4, x->signal);
	put_be32(p + 8, x->flags);
	put_be64(p + 12, x->duration_ms);
	return put_fixed(b, AP_EXIT, p, sizeof(p));
}

enum result agentproto_put_procs(struct buf *b, const struct agentproto_procs *ps)
{
	struct frame f;
	struct buf one;
	enum result r;
	size_t i;
	char st;

	if (ps->n > AGENTPROTO_MAX_PROCS)
		return R_INVALID;
	r = frame_begin(&f, AP_PROCS);
	for (i = 0; r == R_OK && i < ps->n; i++) {
		const struct agentproto_proc *p = &ps->procs[i];

		buf_init(&one, AGENTPROTO_MAX_PAYLOAD);
		st = p->state;
		r = tlv_u32(&one, T_PID, p->pid);
		if (r == R_OK)
			r = tlv_u32(&one, T_PPID, p->ppid);
		if (r == R_OK)
			r = tlv_u32(&one, T_UID, p->uid);
		if (r == R_OK)
			r = tlv(&one, T_STATE, &st, 1);
		if (r == R_OK)
			r = tlv_u64(&one, T_RSS, p->rss_kb);
		if (r == R_OK)
			r = tlv(&one, T_CMD, p->cmd ? p->cmd : "",
				p->cmd ? strnlen(p->cmd, MAX_CMD) : 0);
		if (r == R_OK)
			r = tlv(&f.b, T_PROC, one.data, one.len);
		buf_free(&one);
	}
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

enum result agentproto_put_error(struct buf *b, enum result code, const char *msg)
{
	struct frame f;
	enum result r;

	r = frame_begin(&f, AP_ERROR);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_CODE, (uint32_t)code);
	if (r == R_OK)
		r = tlv(&f.b, T_MSG, msg ? msg : "", msg ? strnlen(msg, 1024) : 0);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

static bool path_ok(const char *s)
{
	size_t n = strnlen(s, AGENTPROTO_MAX_PATH);

	return n > 0 && n < AGENTPROTO_MAX_PATH;
}

enum result agentproto_put_fileop(struct buf *b, const struct agentproto_fileop *op)
{
	struct frame f;
	enum result r;

	if (!agentproto_type_is_fileop(op->type) || !path_ok(op->path) || op->mode > 07777 ||
	    (op->type == AP_FMOVE && !path_ok(op->path2)))
		return R_INVALID;
	r = frame_begin(&f, op->type);
	if (r == R_OK)
		r = tlv_str(&f.b, T_PATH, op->path);
	if (r == R_OK && op->type == AP_FMOVE)
		r = tlv_str(&f.b, T_PATH2, op->path2);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_MODE, op->mode);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_FLAGS, op->flags);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_DEPTH, op->depth);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

enum result agentproto_put_bytes(struct buf *b, enum agentproto_type type, const void *p, size_t n)
{
	if (type != AP_FDATA && type != AP_FCHUNK)
		return R_INVALID;
	if (n > AGENTPROTO_MAX_CHUNK)
		return R_TOO_BIG;
	return put_fixed(b, (uint8_t)type, p, n);
}

enum result agentproto_put_finfo(struct buf *b, const struct agentproto_finfo *fi)
{
	struct frame f;
	uint8_t t = fi->ftype;
	enum result r;

	if (!path_ok(fi->path) || t < AP_FT_FILE || t > AP_FT_OTHER ||
	    strnlen(fi->target, AGENTPROTO_MAX_PATH) == AGENTPROTO_MAX_PATH)
		return R_INVALID;
	r = frame_begin(&f, AP_FINFO);
	if (r == R_OK)
		r = tlv(&f.b, T_FTYPE, &t, 1);
	if (r == R_OK)
		r = tlv_u32(&f.b, T_MODE, fi->mode & 07777);
	if (r == R_OK)
		r = tlv_u64(&f.b, T_SIZE, fi->size);
	if (r == R_OK)
		r = tlv_u64(&f.b, T_MTIME, (uint64_t)fi->mtime_ms);
	if (r == R_OK)
		r = tlv_str(&f.b, T_PATH, fi->path);
	if (r == R_OK && fi->target[0] != '\0')
		r = tlv_str(&f.b, T_TARGET, fi->target);
	if (r != R_OK) {
		buf_free(&f.b);
		return r;
	}
	return frame_end(&f, b);
}

/* ---- decoding ----------------------------------------------------------- */

struct tlv_iter {
	const uint8_t *p;
	size_t n;
};

/* next: R_OK with a field, R_NOT_FOUND at a clean end, R_INVALID on a field
 * that runs past the end. */
static enum result next(struct tlv_iter *it, uint8_t *tag, const uint8_t **v, size_t *len)
{
	uint32_t l;

	if (it->n == 0)
		return R_NOT_FOUND;
	if (it->n < TLV_HDR)
		return R_INVALID;
	l = be32(it->p + 1);
	if (l > it->n - TLV_HDR)
		return R_INVALID;
	*tag = it->p[0];
	*v = it->p + TLV_HDR;
	*len = l;
	it->p += TLV_HDR + (size_t)l;
	it->n -= TLV_HDR + (size_t)l;
	return R_OK;
}

static bool text_ok(const uint8_t *v, size_t len)
{
	return memchr(v, '\0', len) == NULL;
}

/* Decoded text is copied into one arena: pointers + strings, sized in a first
 * pass so the second pass cannot overflow it. */
struct arena {
	char *mem;
	size_t used, size;
};

static char *arena_str(struct arena *a, const uint8_t *v, size_t len)
{
	char *s = a->mem + a->used;

	memcpy(s, v, len);
	s[len] = '\0';
	a->used += len + 1;
	return s;
}

enum result agentproto_get_exec(const uint8_t *p, size_t n, struct agentproto_exec *out)
{
	struct agentproto_exec e = {0};
	struct tlv_iter it = {p, n};
	struct arena a = {0};
	const char **argv, **env;
	const uint8_t *v;
	size_t len, argc = 0, envc = 0, text = 0, ptrs;
	uint8_t tag;
	enum result r;

	/* pass 1: validate and size */
	while ((r = next(&it, &tag, &v, &len)) == R_OK) {
		switch (tag) {
		case T_FLAGS:
		case T_TIMEOUT:
			if (len != 4)
				return R_INVALID;
			break;
		case T_OUTCAP:
		case T_ERRCAP:
			if (len != 8)
				return R_INVALID;
			break;
		case T_WINSZ:
			if (len != 4)
				return R_INVALID;
			break;
		case T_ARG:
		case T_ENV:
		case T_CWD:
			if (!text_ok(v, len))
				return R_INVALID;
			if (tag == T_ARG && ++argc > AGENTPROTO_MAX_ARGS)
				return R_INVALID;
			if (tag == T_ENV && ++envc > AGENTPROTO_MAX_ENV)
				return R_INVALID;
			if (tag == T_CWD && e.cwd)
				return R_INVALID;
			if (tag == T_CWD)
				e.cwd = ""; /* marks "seen" */
			text += len + 1; /* len <= n <= 1 MiB: no overflow */
			break;
		case T_STDIN:
			if (e.stdin_data)
				return R_INVALID;
			e.stdin_data = v;
			e.stdin_len = len;
			break;
		default:
			break;
		}
	}
	if (r != R_NOT_FOUND || argc == 0)
		return R_INVALID;
	ptrs = (argc + 1 + envc + 1) * sizeof(char *);
	a.size = ptrs + text;
	a.mem = malloc(a.size);
	if (!a.mem)
		return R_NO_MEMORY;
	argv = (const char **)(void *)a.mem;
	env = argv + argc + 1;
	a.used = ptrs;
	e.cwd = NULL;
	argc = envc = 0;
	/* pass 2: fill */
	it.p = p;
	it.n = n;
	while (next(&it, &tag, &v, &len) == R_OK) {
		switch (tag) {
		case T_FLAGS:
			e.flags = be32(v);
			break;
		case T_TIMEOUT:
			e.timeout_ms = be32(v);
			break;
		case T_OUTCAP:
			e.stdout_cap = be64(v);
			break;
		case T_ERRCAP:
			e.stderr_cap = be64(v);
			break;
		case T_WINSZ:
			e.cols = be16(v);
			e.rows = be16(v + 2);
			break;
		case T_CWD:
			e.cwd = arena_str(&a, v, len);
			break;
		case T_ARG:
			argv[argc++] = arena_str(&a, v, len);
			break;
		case T_ENV:
			env[envc++] = arena_str(&a, v, len);
			break;
		default:
			break;
		}
	}
	argv[argc] = NULL;
	env[envc] = NULL;
	if (((e.flags & AP_EXEC_SHELL) && argc != 1) ||
	    (e.flags &
	     ~(uint32_t)(AP_EXEC_SHELL | AP_EXEC_STREAM | AP_EXEC_TTY | AP_EXEC_DETACH))) {
		free(a.mem);
		return R_INVALID;
	}
	e.argv = argv;
	e.argc = argc;
	e.env = env;
	e.envc = envc;
	e.owned_ = a.mem;
	*out = e;
	return R_OK;
}

void agentproto_exec_free(struct agentproto_exec *e)
{
	if (!e)
		return;
	free(e->owned_);
	e->owned_ = NULL;
	e->argv = NULL;
	e->env = NULL;
	e->cwd = NULL;
	e->argc = e->envc = 0;
}

enum result agentproto_get_setenv(const uint8_t *p, size_t n, struct agentproto_setenv *out)
{
	struct agentproto_setenv s = {0};
	struct tlv_iter it = {p, n};
	struct arena a = {0};
	const char **env;
	const uint8_t *v;
	size_t len, envc = 0, text = 0;
	uint8_t tag;
	enum result r;

	while ((r = next(&it, &tag, &v, &len)) == R_OK) {
		if (tag == T_FLAGS) {
			if (len != 4)
				return R_INVALID;
			s.replace = (be32(v) & 1) != 0;
		} else if (tag == T_ENV) {
			if (!text_ok(v, len) || memchr(v, '=', len) == NULL ||
			    ++envc > AGENTPROTO_MAX_ENV)
				return R_INVALID;
			text += len + 1;
		}
	}
	if (r != R_NOT_FOUND)
		return R_INVALID;
	a.used = (envc + 1) * sizeof(char *);
	a.size = a.used + text;
	a.mem = malloc(a.size);
	if (!a.mem)
		return R_NO_MEMORY;
	env = (const char **)(void *)a.mem;
	envc = 0;
	it.p = p;
	it.n = n;
	while (next(&it, &tag, &v, &len) == R_OK)
		if (tag == T_ENV)
			env[envc++] = arena_str(&a, v, len);
	env[envc] = NULL;
	s.env = env;
	s.envc = envc;
	s.owned_ = a.mem;
	*out = s;
	return R_OK;
}

void agentproto_setenv_free(struct agentproto_setenv *s)
{
	if (!s)
		return;
	free(s->owned_);
	s->owned_ = NULL;
	s->env = NULL;
	s->envc = 0;
}

enum result agentproto_get_u32(const uint8_t *p, size_t n, uint32_t *out)
{
	if (n != 4)
		return R_INVALID;
	*out = be32(p);
	return R_OK;
}

enum result agentproto_get_resize(const uint8_t *p, size_t n, uint16_t *cols, uint16_t *rows)
{
	if (n != 4)
		return R_INVALID;
	*cols = be16(p);
	*rows = be16(p + 2);
	return R_OK;
}

enum result agentproto_get_output(const uint8_t *p, size_t n, uint8_t *stream,
				  const uint8_t **data, size_t *len)
{
	if (n < 1 || (p[0] != AP_STREAM_STDOUT && p[0] != AP_STREAM_STDERR))
		return R_INVALID;
	*stream = p[0];
	*data = p + 1;
	*len = n - 1;
	return R_OK;
}

enum result agentproto_get_exit(const uint8_t *p, size_t n, struct agentproto_exit *out)
{
	struct agentproto_exit x;

	if (n != EXIT_LEN)
		return R_INVALID;
	x.exit_code = (int32_t)be32(p);
	x.signal = be32(p + 4);
	x.flags = be32(p + 8);
	x.duration_ms = be64(p + 12);
	if (x.signal > 64 || x.exit_code < -1 || x.exit_code > 255 ||
	    (x.flags & ~(uint32_t)0xf))
		return R_INVALID;
	*out = x;
	return R_OK;
}

enum result agentproto_get_procs(const uint8_t *p, size_t n, struct agentproto_procs *out)
{
	struct tlv_iter it = {p, n}, sub;
	struct agentproto_procs ps = {0};
	struct agentproto_proc *procs;
	const uint8_t *v, *sv;
	size_t len, slen, count = 0, text = 0, k;
	uint8_t tag, stag;
	char *mem, *strs;
	enum result r;

	while ((r = next(&it, &tag, &v, &len)) == R_OK) {
		if (tag != T_PROC)
			continue;
		if (++count > AGENTPROTO_MAX_PROCS)
			return R_INVALID;
		sub.p = v;
		sub.n = len;
		while ((r = next(&sub, &stag, &sv, &slen)) == R_OK) {
			if (((stag == T_PID || stag == T_PPID || stag == T_UID) && slen != 4) ||
			    (stag == T_RSS && slen != 8) || (stag == T_STATE && slen != 1))
				return R_INVALID;
		}
		if (r != R_NOT_FOUND)
			return R_INVALID;
		text += len + 1; /* a cmd is never longer than its PROC field */
	}
	if (r != R_NOT_FOUND)
		return R_INVALID;
	mem = malloc(count * sizeof(*procs) + text + 1);
	if (!mem)
		return R_NO_MEMORY;
	procs = (struct agentproto_proc *)(void *)mem;
	strs = mem + count * sizeof(*procs);
	it.p = p;
	it.n = n;
	k = 0;
	while (next(&it, &tag, &v, &len) == R_OK) {
		struct agentproto_proc *pr;

		if (tag != T_PROC)
			continue;
		pr = &procs[k++];
		memset(pr, 0, sizeof(*pr));
		pr->cmd = "";
		sub.p = v;
		sub.n = len;
		while (next(&sub, &stag, &sv, &slen) == R_OK) {
			switch (stag) {
			case T_PID:
				pr->pid = be32(sv);
				break;
			case T_PPID:
				pr->ppid = be32(sv);
				break;
			case T_UID:
				pr->uid = be32(sv);
				break;
			case T_STATE:
				pr->state = (char)sv[0];
				break;
			case T_RSS:
				pr->rss_kb = be64(sv);
				break;
			case T_CMD: {
				size_t i, m = slen < MAX_CMD ? slen : MAX_CMD;

				for (i = 0; i < m; i++)
					strs[i] = (sv[i] >= 0x20 && sv[i] < 0x7f) ? (char)sv[i] : '?';
				strs[m] = '\0';
				pr->cmd = strs;
				strs += m + 1;
				break;
			}
			default:
				break;
			}
		}
	}
	ps.procs = procs;
	ps.n = count;
	ps.owned_ = mem;
	*out = ps;
	return R_OK;
}

void agentproto_procs_free(struct agentproto_procs *ps)
{
	if (!ps)
		return;
	free(ps->owned_);
	ps->owned_ = NULL;
	ps->procs = NULL;
	ps->n = 0;
}

enum result agentproto_get_error(const uint8_t *p, size_t n, enum result *code, char *msgbuf,
				 size_t msglen)
{
	struct tlv_iter it = {p, n};
	const uint8_t *v, *msg = NULL;
	size_t len, mlen = 0, i;
	uint32_t c = R_INTERNAL;
	uint8_t tag;
	enum result r;

	while ((r = next(&it, &tag, &v, &len)) == R_OK) {
		if (tag == T_CODE) {
			if (len != 4)
				return R_INVALID;
			c = be32(v);
		} else if (tag == T_MSG) {
			msg = v;
			mlen = len;
		}
	}
	if (r != R_NOT_FOUND || msglen == 0)
		return R_INVALID;
	if (c == R_OK || c > R_NO_SPACE)
		c = R_UPSTREAM;
	if (mlen > msglen - 1)
		mlen = msglen - 1;
	for (i = 0; i < mlen; i++)
		msgbuf[i] = (msg[i] >= 0x20 && msg[i] < 0x7f) ? (char)msg[i] : '?';
	msgbuf[mlen] = '\0';
	*code = (enum result)c;
	return R_OK;
}

/* copy_path: a text field into a PATH_MAX array; R_INVALID when empty (unless
 * allowed), too long or holding NUL. */
static enum result copy_path(char *dst, const uint8_t *v, size_t len, bool allow_empty)
{
	if ((len == 0 && !allow_empty) || len >= AGENTPROTO_MAX_PATH || !text_ok(v, len))
		return R_INVALID;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return R_OK;
}

enum result agentproto_get_fileop(uint8_t type, const uint8_t *p, size_t n,
				  struct agentproto_fileop *out)
{
	struct tlv_iter it = {p, n};
	const uint8_t *v;
	size_t len;
	uint8_t tag;
	bool have_path = false;
	enum result r;

	if (!agentproto_type_is_fileop(type))
		return R_INVALID;
	out->type = type;
	out->mode = out->flags = 0;
	out->depth = 1;
	out->path[0] = out->path2[0] = '\0';
	while ((r = next(&it, &tag, &v, &len)) == R_OK) {
		switch (tag) {
		case T_PATH:
		case T_PATH2:
			if (copy_path(tag == T_PATH ? out->path : out->path2, v, len, false) != R_OK)
				return R_INVALID;
			have_path = have_path || tag == T_PATH;
			break;
		case T_MODE:
		case T_FLAGS:
		case T_DEPTH:
			if (len != 4)
				return R_INVALID;
			if (tag == T_MODE)
				out->mode = be32(v);
			else if (tag == T_FLAGS)
				out->flags = be32(v);
			else
				out->depth = be32(v);
			break;
		default:
			break;
		}
	}
	if (r != R_NOT_FOUND || !have_path || out->mode > 07777 ||
	    (out->flags & ~(uint32_t)(AP_F_PARENTS | AP_F_RECURSIVE)) ||
	    (type == AP_FMOVE && out->path2[0] == '\0'))
		return R_INVALID;
	if (out->depth == 0)
		out->depth = 1;
	if (out->depth > AGENTPROTO_MAX_DEPTH)
		out->depth = AGENTPROTO_MAX_DEPTH;
	return R_OK;
}

enum result agentproto_get_finfo(const uint8_t *p, size_t n, struct agentproto_finfo *out)
{
	struct tlv_iter it = {p, n};
	const uint8_t *v;
	size_t len;
	uint8_t tag;
	bool have_path = false, have_type = false;
	enum result r;

	out->ftype = 0;
	out->mode = 0;
	out->size = 0;
	out->mtime_ms = 0;
	out->path[0] = out->target[0] = '\0';
	while ((r = next(&it, &tag, &v, &len)) == R_OK) {
		switch (tag) {
		case T_FTYPE:
			if (len != 1 || v[0] < AP_FT_FILE || v[0] > AP_FT_OTHER)
				return R_INVALID;
			out->ftype = v[0];
			have_type = true;
			break;
		case T_MODE:
			if (len != 4 || be32(v) > 07777)
				return R_INVALID;
			out->mode = be32(v);
			break;
		case T_SIZE:
		case T_MTIME:
			if (len != 8)
				return R_INVALID;
			if (tag == T_SIZE)
				out->size = be64(v);
			else
				out->mtime_ms = (int64_t)be64(v);
			break;
		case T_PATH:
			if (copy_path(out->path, v, len, false) != R_OK)
				return R_INVALID;
			have_path = true;
			break;
		case T_TARGET:
			if (copy_path(out->target, v, len, true) != R_OK)
				return R_INVALID;
			break;
		default:
			break;
		}
	}
	if (r != R_NOT_FOUND || !have_path || !have_type)
		return R_INVALID;
	/* a size past what any signed 64-bit consumer handles is a lie */
	if (out->size > (uint64_t)INT64_MAX)
		return R_INVALID;
	return R_OK;
}
