/* agentproto.c: pure encoder/decoder of agent protocol frames (agentproto.h).
 * Decoders see hostile bytes: every length is checked against what remains
 * before it is used, counts are capped, and nothing is trusted to be
 * NUL-terminated. Over 700 lines on purpose: one codec, every frame's encoder
 * beside its decoder, so a change to a frame is read and fuzzed in one place. */
#include "agent/agentproto.h"

#include <stddef.h>
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
	static const char *const host[] = {"exec",    "stdin", "stdin_close", "signal", "resize",
					   "setenv",  "ps",    "ping",	      "fput",	"fdata",
					   "fcommit", "fget",  "fstat",	      "flist",	"fremove",
					   "fmkdir",  "fmove", "attach",      "detach"};
	static const char *const agent[] = {"started", "output", "exit",  "procs",  "ok",
					    "error",   "pong",	 "finfo", "fchunk", "fend"};

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
	return R_SUCCESS;
}

/* ---- encoding ----------------------------------------------------------- */

/* A payload is described once, by a fill function, and run twice: with a
 * counting writer (p == NULL) to learn its size, then in place at the end of
 * the caller's buffer, which grows once. No temporary copy on the hot path
 * (OUTPUT), and a frame that does not fit leaves the buffer as it was. Fill
 * functions cannot fail: encoders validate their arguments first, and a
 * payload over AGENTPROTO_MAX_PAYLOAD is refused before anything is written. */
struct writer {
	uint8_t *p; /* NULL: count only */
	size_t n;
};

typedef void fill_fn(struct writer *w, const void *arg);

static void w_bytes(struct writer *w, const void *src, size_t len)
{
	if (w->p != NULL && len > 0)
		memcpy(w->p + w->n, src, len);
	w->n += len;
}

static void w_be32(struct writer *w, uint32_t v)
{
	uint8_t x[4];

	put_be32(x, v);
	w_bytes(w, x, sizeof(x));
}

/* w_tlv: a field longer than a payload can hold is cut in its header only;
 * the total then exceeds AGENTPROTO_MAX_PAYLOAD and emit refuses the frame. */
static void w_tlv(struct writer *w, uint8_t tag, const void *v, size_t len)
{
	w_bytes(w, &tag, 1);
	w_be32(w, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	w_bytes(w, v, len);
}

static void w_tlv_u32(struct writer *w, uint8_t tag, uint32_t v)
{
	uint8_t x[4];

	put_be32(x, v);
	w_tlv(w, tag, x, sizeof(x));
}

static void w_tlv_u64(struct writer *w, uint8_t tag, uint64_t v)
{
	uint8_t x[8];

	put_be64(x, v);
	w_tlv(w, tag, x, sizeof(x));
}

static void w_tlv_str(struct writer *w, uint8_t tag, const char *s)
{
	w_tlv(w, tag, s, strlen(s));
}

/* emit: append one whole frame of the given type whose payload fill writes
 * (NULL: empty), or nothing. */
static enum result emit(struct buf *b, uint8_t type, fill_fn *fill, const void *arg)
{
	struct writer w = {NULL, 0};
	char *at;
	enum result r;

	if (fill != NULL)
		fill(&w, arg);
	if (w.n > AGENTPROTO_MAX_PAYLOAD)
		return R_TOO_BIG;
	r = buf_extend(b, AGENTPROTO_HDR_LEN + w.n, &at);
	if (r != R_SUCCESS)
		return r;
	at[0] = AGENTPROTO_VERSION;
	at[1] = (char)type;
	at[2] = at[3] = 0;
	put_be32((uint8_t *)at + 4, (uint32_t)w.n);
	if (fill != NULL) {
		w.p = (uint8_t *)at + AGENTPROTO_HDR_LEN;
		w.n = 0;
		fill(&w, arg);
	}
	return R_SUCCESS;
}

/* Raw payloads: STDIN, FDATA, FCHUNK, and the fixed-layout messages. */
struct raw {
	const void *p;
	size_t n;
};

static void fill_raw(struct writer *w, const void *arg)
{
	const struct raw *x = arg;

	w_bytes(w, x->p, x->n);
}

static enum result put_raw(struct buf *b, uint8_t type, const void *p, size_t n)
{
	struct raw x = {p, n};

	return emit(b, type, n > 0 ? fill_raw : NULL, &x);
}

static bool strings_ok(const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == NULL)
			return false;
	return true;
}

enum result agentproto_put_empty(struct buf *b, enum agentproto_type type)
{
	if (type != AP_STDIN_CLOSE && type != AP_PS && type != AP_PING && type != AP_OK &&
	    type != AP_PONG && type != AP_FCOMMIT && type != AP_FEND && type != AP_DETACH)
		return R_INVALID;
	return emit(b, (uint8_t)type, NULL, NULL);
}

static void fill_exec(struct writer *w, const void *arg)
{
	const struct agentproto_exec *e = arg;
	size_t i;

	w_tlv_u32(w, T_FLAGS, e->flags);
	w_tlv_u32(w, T_TIMEOUT, e->timeout_ms);
	w_tlv_u64(w, T_OUTCAP, e->stdout_cap);
	w_tlv_u64(w, T_ERRCAP, e->stderr_cap);
	if (e->flags & AP_EXEC_TTY) {
		uint8_t winsz[4];

		put_be16(winsz, e->cols);
		put_be16(winsz + 2, e->rows);
		w_tlv(w, T_WINSZ, winsz, sizeof(winsz));
	}
	if (e->cwd)
		w_tlv_str(w, T_CWD, e->cwd);
	for (i = 0; i < e->argc; i++)
		w_tlv_str(w, T_ARG, e->argv[i]);
	for (i = 0; i < e->envc; i++)
		w_tlv_str(w, T_ENV, e->env[i]);
	if (e->stdin_len > 0)
		w_tlv(w, T_STDIN, e->stdin_data, e->stdin_len);
}

enum result agentproto_put_exec(struct buf *b, const struct agentproto_exec *e)
{
	if (e->argc == 0 || e->argc > AGENTPROTO_MAX_ARGS || e->envc > AGENTPROTO_MAX_ENV ||
	    ((e->flags & AP_EXEC_SHELL) && e->argc != 1) || (e->stdin_len > 0 && !e->stdin_data) ||
	    !strings_ok(e->argv, e->argc) || !strings_ok(e->env, e->envc))
		return R_INVALID;
	return emit(b, AP_EXEC, fill_exec, e);
}

enum result agentproto_put_stdin(struct buf *b, const void *p, size_t n)
{
	if (n > AGENTPROTO_MAX_CHUNK)
		return R_TOO_BIG;
	return put_raw(b, AP_STDIN, p, n);
}

enum result agentproto_put_signal(struct buf *b, uint32_t signo)
{
	uint8_t x[4];

	put_be32(x, signo);
	return put_raw(b, AP_SIGNAL, x, sizeof(x));
}

enum result agentproto_put_resize(struct buf *b, uint16_t cols, uint16_t rows)
{
	uint8_t x[4];

	put_be16(x, cols);
	put_be16(x + 2, rows);
	return put_raw(b, AP_RESIZE, x, sizeof(x));
}

static void fill_setenv(struct writer *w, const void *arg)
{
	const struct agentproto_setenv *s = arg;

	w_tlv_u32(w, T_FLAGS, s->replace ? 1 : 0);
	for (size_t i = 0; i < s->envc; i++)
		w_tlv_str(w, T_ENV, s->env[i]);
}

enum result agentproto_put_setenv(struct buf *b, const struct agentproto_setenv *s)
{
	if (s->envc > AGENTPROTO_MAX_ENV || !strings_ok(s->env, s->envc))
		return R_INVALID;
	return emit(b, AP_SETENV, fill_setenv, s);
}

enum result agentproto_put_started(struct buf *b, uint32_t pid)
{
	uint8_t x[4];

	put_be32(x, pid);
	return put_raw(b, AP_STARTED, x, sizeof(x));
}

enum result agentproto_put_attach(struct buf *b, uint32_t pid)
{
	uint8_t x[4];

	if (pid == 0)
		return R_INVALID;
	put_be32(x, pid);
	return put_raw(b, AP_ATTACH, x, sizeof(x));
}

struct output {
	uint8_t stream;
	const void *p;
	size_t n;
};

static void fill_output(struct writer *w, const void *arg)
{
	const struct output *o = arg;

	w_bytes(w, &o->stream, 1);
	w_bytes(w, o->p, o->n);
}

enum result agentproto_put_output(struct buf *b, uint8_t stream, const void *p, size_t n)
{
	struct output o = {stream, p, n};

	if (n > AGENTPROTO_MAX_CHUNK)
		return R_TOO_BIG;
	if (stream != AP_STREAM_STDOUT && stream != AP_STREAM_STDERR)
		return R_INVALID;
	return emit(b, AP_OUTPUT, fill_output, &o);
}

#define EXIT_LEN 20

enum result agentproto_put_exit(struct buf *b, const struct agentproto_exit *x)
{
	uint8_t p[EXIT_LEN];

	put_be32(p, (uint32_t)x->exit_code);
	put_be32(p + 4, x->signal);
	put_be32(p + 8, x->flags);
	put_be64(p + 12, x->duration_ms);
	return put_raw(b, AP_EXIT, p, sizeof(p));
}

static void fill_proc(struct writer *w, const void *arg)
{
	const struct agentproto_proc *p = arg;
	char st = p->state;

	w_tlv_u32(w, T_PID, p->pid);
	w_tlv_u32(w, T_PPID, p->ppid);
	w_tlv_u32(w, T_UID, p->uid);
	w_tlv(w, T_STATE, &st, 1);
	w_tlv_u64(w, T_RSS, p->rss_kb);
	w_tlv(w, T_CMD, p->cmd ? p->cmd : "", p->cmd ? strnlen(p->cmd, MAX_CMD) : 0);
}

/* fill_procs: each T_PROC holds a nested TLV whose length is counted first. */
static void fill_procs(struct writer *w, const void *arg)
{
	const struct agentproto_procs *ps = arg;

	for (size_t i = 0; i < ps->n; i++) {
		struct writer count = {NULL, 0};

		fill_proc(&count, &ps->procs[i]);
		w_bytes(w, (const uint8_t[]){T_PROC}, 1);
		w_be32(w, (uint32_t)count.n); /* a few hundred bytes at most */
		fill_proc(w, &ps->procs[i]);
	}
}

enum result agentproto_put_procs(struct buf *b, const struct agentproto_procs *ps)
{
	if (ps->n > AGENTPROTO_MAX_PROCS)
		return R_INVALID;
	return emit(b, AP_PROCS, fill_procs, ps);
}

struct error {
	uint32_t code;
	const char *msg;
};

static void fill_error(struct writer *w, const void *arg)
{
	const struct error *e = arg;

	w_tlv_u32(w, T_CODE, e->code);
	w_tlv(w, T_MSG, e->msg ? e->msg : "", e->msg ? strnlen(e->msg, 1024) : 0);
}

enum result agentproto_put_error(struct buf *b, enum result code, const char *msg)
{
	struct error e = {(uint32_t)code, msg};

	return emit(b, AP_ERROR, fill_error, &e);
}

static bool path_ok(const char *s)
{
	size_t n = strnlen(s, AGENTPROTO_MAX_PATH);

	return n > 0 && n < AGENTPROTO_MAX_PATH;
}

static void fill_fileop(struct writer *w, const void *arg)
{
	const struct agentproto_fileop *op = arg;

	w_tlv_str(w, T_PATH, op->path);
	if (op->type == AP_FMOVE)
		w_tlv_str(w, T_PATH2, op->path2);
	w_tlv_u32(w, T_MODE, op->mode);
	w_tlv_u32(w, T_FLAGS, op->flags);
	w_tlv_u32(w, T_DEPTH, op->depth);
}

enum result agentproto_put_fileop(struct buf *b, const struct agentproto_fileop *op)
{
	if (!agentproto_type_is_fileop(op->type) || !path_ok(op->path) || op->mode > 07777 ||
	    (op->type == AP_FMOVE && !path_ok(op->path2)))
		return R_INVALID;
	return emit(b, op->type, fill_fileop, op);
}

enum result agentproto_put_bytes(struct buf *b, enum agentproto_type type, const void *p, size_t n)
{
	if (type != AP_FDATA && type != AP_FCHUNK)
		return R_INVALID;
	if (n > AGENTPROTO_MAX_CHUNK)
		return R_TOO_BIG;
	return put_raw(b, (uint8_t)type, p, n);
}

static void fill_finfo(struct writer *w, const void *arg)
{
	const struct agentproto_finfo *fi = arg;

	w_tlv(w, T_FTYPE, &fi->ftype, 1);
	w_tlv_u32(w, T_MODE, fi->mode & 07777);
	w_tlv_u64(w, T_SIZE, fi->size);
	w_tlv_u64(w, T_MTIME, (uint64_t)fi->mtime_ms);
	w_tlv_str(w, T_PATH, fi->path);
	if (fi->target[0] != '\0')
		w_tlv_str(w, T_TARGET, fi->target);
}

enum result agentproto_put_finfo(struct buf *b, const struct agentproto_finfo *fi)
{
	if (!path_ok(fi->path) || fi->ftype < AP_FT_FILE || fi->ftype > AP_FT_OTHER ||
	    strnlen(fi->target, AGENTPROTO_MAX_PATH) == AGENTPROTO_MAX_PATH)
		return R_INVALID;
	return emit(b, AP_FINFO, fill_finfo, fi);
}

/* ---- decoding ----------------------------------------------------------- */

struct tlv_iter {
	const uint8_t *p;
	size_t n;
};

/* next: R_SUCCESS with a field, R_NOT_FOUND at a clean end, R_INVALID on a field
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
	return R_SUCCESS;
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
	while ((r = next(&it, &tag, &v, &len)) == R_SUCCESS) {
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
			text += len + 1;    /* len <= n <= 1 MiB: no overflow */
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
	while (next(&it, &tag, &v, &len) == R_SUCCESS) {
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
	return R_SUCCESS;
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

	while ((r = next(&it, &tag, &v, &len)) == R_SUCCESS) {
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
	while (next(&it, &tag, &v, &len) == R_SUCCESS)
		if (tag == T_ENV)
			env[envc++] = arena_str(&a, v, len);
	env[envc] = NULL;
	s.env = env;
	s.envc = envc;
	s.owned_ = a.mem;
	*out = s;
	return R_SUCCESS;
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
	return R_SUCCESS;
}

enum result agentproto_get_resize(const uint8_t *p, size_t n, uint16_t *cols, uint16_t *rows)
{
	if (n != 4)
		return R_INVALID;
	*cols = be16(p);
	*rows = be16(p + 2);
	return R_SUCCESS;
}

enum result agentproto_get_output(const uint8_t *p, size_t n, uint8_t *stream, const uint8_t **data,
				  size_t *len)
{
	if (n < 1 || (p[0] != AP_STREAM_STDOUT && p[0] != AP_STREAM_STDERR))
		return R_INVALID;
	*stream = p[0];
	*data = p + 1;
	*len = n - 1;
	return R_SUCCESS;
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
	if (x.signal > 64 || x.exit_code < -1 || x.exit_code > 255 || (x.flags & ~(uint32_t)0xf))
		return R_INVALID;
	*out = x;
	return R_SUCCESS;
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

	while ((r = next(&it, &tag, &v, &len)) == R_SUCCESS) {
		if (tag != T_PROC)
			continue;
		if (++count > AGENTPROTO_MAX_PROCS)
			return R_INVALID;
		sub.p = v;
		sub.n = len;
		while ((r = next(&sub, &stag, &sv, &slen)) == R_SUCCESS) {
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
	while (next(&it, &tag, &v, &len) == R_SUCCESS) {
		struct agentproto_proc *pr;

		if (tag != T_PROC)
			continue;
		pr = &procs[k++];
		memset(pr, 0, sizeof(*pr));
		pr->cmd = "";
		sub.p = v;
		sub.n = len;
		while (next(&sub, &stag, &sv, &slen) == R_SUCCESS) {
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
					strs[i] =
					    (sv[i] >= 0x20 && sv[i] < 0x7f) ? (char)sv[i] : '?';
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
	return R_SUCCESS;
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

	while ((r = next(&it, &tag, &v, &len)) == R_SUCCESS) {
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
	if (c == R_SUCCESS || c > R_NO_SPACE)
		c = R_UPSTREAM;
	if (mlen > msglen - 1)
		mlen = msglen - 1;
	for (i = 0; i < mlen; i++)
		msgbuf[i] = (msg[i] >= 0x20 && msg[i] < 0x7f) ? (char)msg[i] : '?';
	msgbuf[mlen] = '\0';
	*code = (enum result)c;
	return R_SUCCESS;
}

/* Fixed-shape payloads (file requests, FINFO) are decoded from a table of
 * their fields: tag, kind, where it goes, its bounds. Unknown tags are
 * skipped (a newer peer may add fields); a known tag of the wrong size or out
 * of bounds refuses the whole payload. */
enum field_kind {
	FK_U8,
	FK_U32,
	FK_U64,
	FK_PATH,     /* 1..AGENTPROTO_MAX_PATH-1 bytes, no NUL */
	FK_PATH_ANY, /* the same, or empty */
};

struct field {
	uint8_t tag;
	uint8_t kind;
	size_t off;	   /* in the decoded struct */
	uint64_t min, max; /* FK_U8/FK_U32/FK_U64; max 0: any */
};

#define FIELD_SEEN(i) (1u << (i))

static enum result decode_field(const struct field *f, const uint8_t *v, size_t len, void *out)
{
	static const size_t width[] = {[FK_U8] = 1, [FK_U32] = 4, [FK_U64] = 8};
	char *dst = (char *)out + f->off;
	uint64_t x;

	if (f->kind == FK_PATH || f->kind == FK_PATH_ANY) {
		if ((len == 0 && f->kind == FK_PATH) || len >= AGENTPROTO_MAX_PATH ||
		    !text_ok(v, len))
			return R_INVALID;
		memcpy(dst, v, len);
		dst[len] = '\0';
		return R_SUCCESS;
	}
	if (len != width[f->kind])
		return R_INVALID;
	x = f->kind == FK_U8 ? v[0] : f->kind == FK_U32 ? be32(v) : be64(v);
	if (x < f->min || (f->max != 0 && x > f->max))
		return R_INVALID;
	if (f->kind == FK_U8)
		*(uint8_t *)(void *)dst = (uint8_t)x;
	else if (f->kind == FK_U32)
		*(uint32_t *)(void *)dst = (uint32_t)x;
	else
		*(uint64_t *)(void *)dst = x;
	return R_SUCCESS;
}

/* decode_fields: fill out from the payload; *seen gets FIELD_SEEN(i) for
 * each field i present. */
static enum result decode_fields(const uint8_t *p, size_t n, const struct field *fields,
				 size_t nfields, void *out, unsigned *seen)
{
	struct tlv_iter it = {p, n};
	const uint8_t *v;
	size_t len, i;
	uint8_t tag;
	enum result r;

	*seen = 0;
	while ((r = next(&it, &tag, &v, &len)) == R_SUCCESS) {
		for (i = 0; i < nfields && fields[i].tag != tag; i++)
			;
		if (i == nfields)
			continue;
		if (decode_field(&fields[i], v, len, out) != R_SUCCESS)
			return R_INVALID;
		*seen |= FIELD_SEEN(i);
	}
	return r == R_NOT_FOUND ? R_SUCCESS : R_INVALID;
}

#define FOP(m) offsetof(struct agentproto_fileop, m)
static const struct field fileop_fields[] = {
    {T_PATH, FK_PATH, FOP(path), 0, 0},
    {T_PATH2, FK_PATH, FOP(path2), 0, 0},
    {T_MODE, FK_U32, FOP(mode), 0, 07777},
    /* the flags are the low bits 0..1: a maximum is the mask check */
    {T_FLAGS, FK_U32, FOP(flags), 0, AP_F_PARENTS | AP_F_RECURSIVE},
    {T_DEPTH, FK_U32, FOP(depth), 0, 0},
};

/* copy_fileop / copy_finfo: the decoded struct into the caller's, paths by
 * their length (the arrays are 4 KiB each and FLIST sends thousands). */
static void copy_fileop(struct agentproto_fileop *dst, const struct agentproto_fileop *src)
{
	dst->type = src->type;
	dst->mode = src->mode;
	dst->flags = src->flags;
	dst->depth = src->depth;
	memcpy(dst->path, src->path, strlen(src->path) + 1);
	memcpy(dst->path2, src->path2, strlen(src->path2) + 1);
}

enum result agentproto_get_fileop(uint8_t type, const uint8_t *p, size_t n,
				  struct agentproto_fileop *out)
{
	struct agentproto_fileop op;
	unsigned seen;

	if (!agentproto_type_is_fileop(type))
		return R_INVALID;
	op.type = type;
	op.mode = op.flags = 0;
	op.depth = 1;
	op.path[0] = op.path2[0] = '\0';
	if (decode_fields(p, n, fileop_fields, sizeof(fileop_fields) / sizeof(fileop_fields[0]),
			  &op, &seen) != R_SUCCESS ||
	    !(seen & FIELD_SEEN(0)) || (type == AP_FMOVE && !(seen & FIELD_SEEN(1))))
		return R_INVALID;
	if (op.depth == 0)
		op.depth = 1;
	if (op.depth > AGENTPROTO_MAX_DEPTH)
		op.depth = AGENTPROTO_MAX_DEPTH;
	copy_fileop(out, &op);
	return R_SUCCESS;
}

#define FI(m) offsetof(struct agentproto_finfo, m)
static const struct field finfo_fields[] = {
    {T_FTYPE, FK_U8, FI(ftype), AP_FT_FILE, AP_FT_OTHER},
    {T_PATH, FK_PATH, FI(path), 0, 0},
    {T_MODE, FK_U32, FI(mode), 0, 07777},
    /* a size past what any signed 64-bit consumer handles is a lie */
    {T_SIZE, FK_U64, FI(size), 0, INT64_MAX},
    {T_MTIME, FK_U64, FI(mtime_ms), 0, 0}, /* two's complement */
    {T_TARGET, FK_PATH_ANY, FI(target), 0, 0},
};

static void copy_finfo(struct agentproto_finfo *dst, const struct agentproto_finfo *src)
{
	dst->ftype = src->ftype;
	dst->mode = src->mode;
	dst->size = src->size;
	dst->mtime_ms = src->mtime_ms;
	memcpy(dst->path, src->path, strlen(src->path) + 1);
	memcpy(dst->target, src->target, strlen(src->target) + 1);
}

enum result agentproto_get_finfo(const uint8_t *p, size_t n, struct agentproto_finfo *out)
{
	struct agentproto_finfo fi;
	unsigned seen;

	fi.ftype = 0;
	fi.mode = 0;
	fi.size = 0;
	fi.mtime_ms = 0;
	fi.path[0] = fi.target[0] = '\0';
	if (decode_fields(p, n, finfo_fields, sizeof(finfo_fields) / sizeof(finfo_fields[0]), &fi,
			  &seen) != R_SUCCESS ||
	    (seen & (FIELD_SEEN(0) | FIELD_SEEN(1))) != (FIELD_SEEN(0) | FIELD_SEEN(1)))
		return R_INVALID;
	copy_finfo(out, &fi);
	return R_SUCCESS;
}
