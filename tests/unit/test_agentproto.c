/* test_agentproto.c: agent protocol codec: round trips, truncated, oversized
 * and garbage frames. */
#include <stdlib.h>
#include <string.h>

#include "agent/agentproto.h"
#include "unit.h"

/* frame: the payload of the single frame in b, after checking its header. */
static const uint8_t *frame(const struct buf *b, uint8_t type, size_t *len)
{
	struct agentproto_hdr h;

	CU_ASSERT_FATAL(b->len >= AGENTPROTO_HDR_LEN);
	CU_ASSERT_EQUAL_FATAL(agentproto_parse_header((const uint8_t *)b->data, &h), R_SUCCESS);
	CU_ASSERT_EQUAL(h.type, type);
	CU_ASSERT_EQUAL_FATAL(h.len + AGENTPROTO_HDR_LEN, b->len);
	*len = h.len;
	return (const uint8_t *)b->data + AGENTPROTO_HDR_LEN;
}

static void exec_round_trip(void)
{
	static const char *const argv[] = {"ls", "-la", ""};
	static const char *const env[] = {"A=1", "B=two=2"};
	struct agentproto_exec e = {.flags = AP_EXEC_TTY | AP_EXEC_STREAM,
				    .timeout_ms = 1234,
				    .stdout_cap = 1ull << 33,
				    .stderr_cap = 7,
				    .cols = 80,
				    .rows = 25,
				    .cwd = "/workspace/x",
				    .argv = argv,
				    .argc = 3,
				    .env = env,
				    .envc = 2,
				    .stdin_data = (const uint8_t *)"in\0put",
				    .stdin_len = 6};
	struct agentproto_exec d;
	struct buf b;
	const uint8_t *p;
	size_t n;

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_exec(&b, &e), R_SUCCESS);
	p = frame(&b, AP_EXEC, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_exec(p, n, &d), R_SUCCESS);
	CU_ASSERT_EQUAL(d.flags, e.flags);
	CU_ASSERT_EQUAL(d.timeout_ms, 1234);
	CU_ASSERT_EQUAL(d.stdout_cap, 1ull << 33);
	CU_ASSERT_EQUAL(d.stderr_cap, 7);
	CU_ASSERT_EQUAL(d.cols, 80);
	CU_ASSERT_EQUAL(d.rows, 25);
	CU_ASSERT_STRING_EQUAL(d.cwd, "/workspace/x");
	CU_ASSERT_EQUAL_FATAL(d.argc, 3);
	CU_ASSERT_STRING_EQUAL(d.argv[1], "-la");
	CU_ASSERT_STRING_EQUAL(d.argv[2], "");
	CU_ASSERT_PTR_NULL(d.argv[3]);
	CU_ASSERT_EQUAL_FATAL(d.envc, 2);
	CU_ASSERT_STRING_EQUAL(d.env[1], "B=two=2");
	CU_ASSERT_EQUAL(d.stdin_len, 6);
	CU_ASSERT(memcmp(d.stdin_data, "in\0put", 6) == 0);
	agentproto_exec_free(&d);
	agentproto_exec_free(&d); /* idempotent */
	buf_free(&b);
}

static void exec_refuses_bad_requests(void)
{
	static const char *const two[] = {"a", "b"};
	static const char *const nul[] = {"a"};
	struct agentproto_exec e = {.flags = AP_EXEC_SHELL, .argv = two, .argc = 2};
	struct buf b;

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	CU_ASSERT_EQUAL(agentproto_put_exec(&b, &e), R_INVALID); /* shell takes one string */
	e.flags = 0;
	e.argc = 0;
	CU_ASSERT_EQUAL(agentproto_put_exec(&b, &e), R_INVALID);
	e.argv = nul;
	e.argc = 1;
	e.stdin_len = AGENTPROTO_MAX_PAYLOAD;
	e.stdin_data = calloc(1, AGENTPROTO_MAX_PAYLOAD);
	CU_ASSERT_EQUAL(agentproto_put_exec(&b, &e), R_TOO_BIG);
	CU_ASSERT_EQUAL(b.len, 0);
	free((void *)e.stdin_data);
	buf_free(&b);
}

static void exec_decoder_rejects_garbage(void)
{
	/* T_ARG with a NUL inside; a field running past the end; no argv */
	static const uint8_t nul_in_arg[] = {7, 0, 0, 0, 3, 'a', 0, 'b'};
	static const uint8_t overrun[] = {7, 0, 0, 0, 9, 'a'};
	static const uint8_t no_argv[] = {1, 0, 0, 0, 4, 0, 0, 0, 0};
	static const uint8_t bad_flag_len[] = {1, 0, 0, 0, 2, 0, 0, 7, 0, 0, 0, 1, 'x'};
	static const uint8_t bad_flags[] = {1, 0, 0, 0, 4, 0, 0, 1, 0, 7, 0, 0, 0, 1, 'x'};
	static const uint8_t unknown_tag_ok[] = {99, 0, 0, 0, 1, 'z', 7, 0, 0, 0, 1, 'x'};
	struct agentproto_exec d;

	CU_ASSERT_EQUAL(agentproto_get_exec(nul_in_arg, sizeof(nul_in_arg), &d), R_INVALID);
	CU_ASSERT_EQUAL(agentproto_get_exec(overrun, sizeof(overrun), &d), R_INVALID);
	CU_ASSERT_EQUAL(agentproto_get_exec(no_argv, sizeof(no_argv), &d), R_INVALID);
	CU_ASSERT_EQUAL(agentproto_get_exec(bad_flag_len, sizeof(bad_flag_len), &d), R_INVALID);
	CU_ASSERT_EQUAL(agentproto_get_exec(bad_flags, sizeof(bad_flags), &d), R_INVALID);
	CU_ASSERT_EQUAL(agentproto_get_exec(overrun, 3, &d), R_INVALID); /* truncated TLV header */
	CU_ASSERT_EQUAL_FATAL(agentproto_get_exec(unknown_tag_ok, sizeof(unknown_tag_ok), &d),
			      R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(d.argv[0], "x");
	agentproto_exec_free(&d);
}

static void header_checks(void)
{
	uint8_t h[8] = {AGENTPROTO_VERSION, AP_PING, 0, 0, 0, 0, 0, 0};
	struct agentproto_hdr out = {0};

	CU_ASSERT_EQUAL(agentproto_parse_header(h, &out), R_SUCCESS);
	h[0] = 2;
	CU_ASSERT_EQUAL(agentproto_parse_header(h, &out), R_INVALID);
	h[0] = AGENTPROTO_VERSION;
	h[2] = 1;
	CU_ASSERT_EQUAL(agentproto_parse_header(h, &out), R_INVALID);
	h[2] = 0;
	h[1] = 0x30;
	CU_ASSERT_EQUAL(agentproto_parse_header(h, &out), R_INVALID);
	h[1] = AP_OUTPUT;
	h[5] = 0x10; /* 1 MiB + 1 */
	h[7] = 1;
	CU_ASSERT_EQUAL(agentproto_parse_header(h, &out), R_TOO_BIG);
	h[4] = 0xff;
	CU_ASSERT_EQUAL(agentproto_parse_header(h, &out), R_TOO_BIG);
}

static void small_frames_round_trip(void)
{
	struct agentproto_exit x = {137, 9, AP_EXIT_OOM_KILLED | AP_EXIT_STDOUT_TRUNCATED, 42}, y;
	const uint8_t *p, *data;
	uint16_t cols, rows;
	uint32_t v;
	uint8_t stream;
	size_t n, len;
	struct buf b;
	enum result code;
	char msg[8];

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_exit(&b, &x), R_SUCCESS);
	p = frame(&b, AP_EXIT, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_exit(p, n, &y), R_SUCCESS);
	CU_ASSERT(x.exit_code == y.exit_code && x.signal == y.signal && x.flags == y.flags &&
		  x.duration_ms == y.duration_ms);
	CU_ASSERT_EQUAL(agentproto_get_exit(p, n - 1, &y), R_INVALID);
	buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_output(&b, AP_STREAM_STDERR, "a\0b", 3), R_SUCCESS);
	p = frame(&b, AP_OUTPUT, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_output(p, n, &stream, &data, &len), R_SUCCESS);
	CU_ASSERT_EQUAL(stream, AP_STREAM_STDERR);
	CU_ASSERT_EQUAL(len, 3);
	CU_ASSERT_EQUAL(agentproto_get_output((const uint8_t *)"\x03zz", 3, &stream, &data, &len),
			R_INVALID);
	CU_ASSERT_EQUAL(agentproto_get_output(p, 0, &stream, &data, &len), R_INVALID);
	buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_resize(&b, 132, 43), R_SUCCESS);
	p = frame(&b, AP_RESIZE, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_resize(p, n, &cols, &rows), R_SUCCESS);
	CU_ASSERT(cols == 132 && rows == 43);
	buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_signal(&b, 15), R_SUCCESS);
	p = frame(&b, AP_SIGNAL, &n);
	CU_ASSERT_EQUAL(agentproto_get_u32(p, n, &v), R_SUCCESS);
	CU_ASSERT_EQUAL(v, 15);
	buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_error(&b, R_INVALID,
						   "bad\x01"
						   "cwd that is long"),
			      R_SUCCESS);
	p = frame(&b, AP_ERROR, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_error(p, n, &code, msg, sizeof(msg)), R_SUCCESS);
	CU_ASSERT_EQUAL(code, R_INVALID);
	CU_ASSERT_STRING_EQUAL(msg, "bad?cwd"); /* sanitized and cut */
	CU_ASSERT_EQUAL(agentproto_put_empty(&b, AP_EXEC), R_INVALID);
	CU_ASSERT_EQUAL(agentproto_put_output(&b, 1, "", AGENTPROTO_MAX_PAYLOAD), R_TOO_BIG);
	buf_free(&b);
}

static void setenv_and_procs_round_trip(void)
{
	static const char *const env[] = {"X=1", "Y="};
	struct agentproto_setenv s = {.replace = true, .env = env, .envc = 2}, d;
	struct agentproto_proc pr[2] = {{5, 1, 1000, 'S', 1234, "sleep 10"},
					{6, 5, 1000, 'R', 0, "bad\x02"}};
	struct agentproto_procs ps = {pr, 2, NULL}, dp;
	static const uint8_t env_no_eq[] = {8, 0, 0, 0, 1, 'X'};
	const uint8_t *p;
	struct buf b;
	size_t n;

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_setenv(&b, &s), R_SUCCESS);
	p = frame(&b, AP_SETENV, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_setenv(p, n, &d), R_SUCCESS);
	CU_ASSERT(d.replace);
	CU_ASSERT_EQUAL_FATAL(d.envc, 2);
	CU_ASSERT_STRING_EQUAL(d.env[1], "Y=");
	agentproto_setenv_free(&d);
	CU_ASSERT_EQUAL(agentproto_get_setenv(env_no_eq, sizeof(env_no_eq), &d), R_INVALID);
	buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_procs(&b, &ps), R_SUCCESS);
	p = frame(&b, AP_PROCS, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_procs(p, n, &dp), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(dp.n, 2);
	CU_ASSERT_EQUAL(dp.procs[0].pid, 5);
	CU_ASSERT_EQUAL(dp.procs[0].rss_kb, 1234);
	CU_ASSERT_STRING_EQUAL(dp.procs[0].cmd, "sleep 10");
	CU_ASSERT_STRING_EQUAL(dp.procs[1].cmd, "bad?");
	CU_ASSERT_EQUAL(dp.procs[1].state, 'R');
	agentproto_procs_free(&dp);
	CU_ASSERT_EQUAL(agentproto_get_procs(p, n - 1, &dp), R_INVALID);
	buf_free(&b);
}

/* every prefix and a byte-flipped copy of a valid EXEC must decode or fail
 * cleanly (run under ASan by make check) */
static void exec_prefixes_and_flips(void)
{
	static const char *const argv[] = {"sh"};
	static const char *const env[] = {"K=V"};
	struct agentproto_exec e = {.argv = argv,
				    .argc = 1,
				    .env = env,
				    .envc = 1,
				    .cwd = "/w",
				    .stdin_data = (const uint8_t *)"abc",
				    .stdin_len = 3};
	struct agentproto_exec d;
	const uint8_t *p;
	uint8_t *copy;
	struct buf b;
	size_t n, i;

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_exec(&b, &e), R_SUCCESS);
	p = frame(&b, AP_EXEC, &n);
	copy = malloc(n);
	CU_ASSERT_FATAL(copy != NULL);
	for (i = 0; i < n; i++) {
		memcpy(copy, p, i);
		if (agentproto_get_exec(copy, i, &d) == R_SUCCESS)
			agentproto_exec_free(&d);
	}
	for (i = 0; i < n * 8; i++) {
		memcpy(copy, p, n);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (agentproto_get_exec(copy, n, &d) == R_SUCCESS)
			agentproto_exec_free(&d);
	}
	free(copy);
	buf_free(&b);
}

/* file requests and FINFO: round trips, refusals, and every prefix and
 * bit flip of a valid FINFO decodes or fails cleanly */
static void file_frames(void)
{
	struct agentproto_fileop *op = calloc(1, sizeof(*op)), *d = calloc(1, sizeof(*d));
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi)), *g = calloc(1, sizeof(*g));
	const uint8_t *p;
	uint8_t *copy;
	struct buf b;
	size_t n, i;

	CU_ASSERT_FATAL(op && d && fi && g);
	buf_init(&b, AGENTPROTO_MAX_FRAME);
	op->type = AP_FMOVE;
	op->mode = 0755;
	op->flags = AP_F_PARENTS;
	memcpy(op->path, "a/b", 4);
	memcpy(op->path2, "/tmp/c", 7);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_fileop(&b, op), R_SUCCESS);
	p = frame(&b, AP_FMOVE, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_fileop(AP_FMOVE, p, n, d), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(d->path, "a/b");
	CU_ASSERT_STRING_EQUAL(d->path2, "/tmp/c");
	CU_ASSERT_EQUAL(d->mode, 0755);
	CU_ASSERT_EQUAL(d->flags, AP_F_PARENTS);
	CU_ASSERT_EQUAL(agentproto_get_fileop(AP_FDATA, p, n, d), R_INVALID);
	buf_free(&b);
	/* empty path, mode out of range, a move without a destination */
	buf_init(&b, AGENTPROTO_MAX_FRAME);
	op->path2[0] = '\0';
	CU_ASSERT_EQUAL(agentproto_put_fileop(&b, op), R_INVALID);
	op->type = AP_FGET;
	op->mode = 010000;
	CU_ASSERT_EQUAL(agentproto_put_fileop(&b, op), R_INVALID);
	op->mode = 0;
	op->path[0] = '\0';
	CU_ASSERT_EQUAL(agentproto_put_fileop(&b, op), R_INVALID);
	CU_ASSERT(agentproto_type_is_fileop(AP_FGET) && !agentproto_type_is_fileop(AP_FDATA));
	CU_ASSERT_EQUAL(agentproto_put_bytes(&b, AP_FCHUNK, "x", AGENTPROTO_MAX_CHUNK + 1),
			R_TOO_BIG);
	CU_ASSERT_EQUAL(agentproto_put_bytes(&b, AP_OUTPUT, "x", 1), R_INVALID);
	buf_free(&b);

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	fi->ftype = AP_FT_SYMLINK;
	fi->mode = 0777;
	fi->size = 12345;
	fi->mtime_ms = -5;
	memcpy(fi->path, "dir/link", 9);
	memcpy(fi->target, "../x", 5);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_finfo(&b, fi), R_SUCCESS);
	p = frame(&b, AP_FINFO, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_finfo(p, n, g), R_SUCCESS);
	CU_ASSERT_EQUAL(g->ftype, AP_FT_SYMLINK);
	CU_ASSERT_EQUAL(g->size, 12345);
	CU_ASSERT_EQUAL(g->mtime_ms, -5);
	CU_ASSERT_STRING_EQUAL(g->path, "dir/link");
	CU_ASSERT_STRING_EQUAL(g->target, "../x");
	copy = malloc(n);
	CU_ASSERT_FATAL(copy != NULL);
	for (i = 0; i < n; i++) {
		memcpy(copy, p, i);
		if (agentproto_get_finfo(copy, i, g) == R_SUCCESS)
			CU_ASSERT(strlen(g->path) > 0);
	}
	for (i = 0; i < n * 8; i++) {
		memcpy(copy, p, n);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (agentproto_get_finfo(copy, n, g) == R_SUCCESS)
			CU_ASSERT(strlen(g->path) > 0 && g->mode <= 07777);
	}
	free(copy);
	buf_free(&b);
	free(op);
	free(d);
	free(fi);
	free(g);
}

/* ATTACH carries a pid (never 0), DETACH is empty, AP_EXEC_DETACH survives a
 * round trip, and a flag nobody defined is still refused. */
static void attach_detach_frames(void)
{
	static const char *const argv[] = {"sleep", "9"};
	struct agentproto_exec e = {
	    .flags = AP_EXEC_STREAM | AP_EXEC_DETACH, .argv = argv, .argc = 2};
	static const uint8_t unknown_flag[] = {1, 0, 0, 0, 4, 0, 0, 0, 0x10, 7, 0, 0, 0, 1, 'x'};
	struct agentproto_exec d;
	struct agentproto_hdr h;
	const uint8_t *p;
	uint32_t v = 7;
	size_t n;
	struct buf b;

	buf_init(&b, AGENTPROTO_MAX_FRAME);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_attach(&b, 4242), R_SUCCESS);
	p = frame(&b, AP_ATTACH, &n);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(agentproto_get_u32(p, n, &v), R_SUCCESS);
	CU_ASSERT_EQUAL(v, 4242);
	CU_ASSERT_EQUAL(agentproto_get_u32(p, n - 1, &v), R_INVALID);
	CU_ASSERT_EQUAL(v, 4242); /* untouched on failure */
	CU_ASSERT_STRING_EQUAL(agentproto_type_name(AP_ATTACH), "attach");
	CU_ASSERT_FALSE(agentproto_type_is_fileop(AP_ATTACH));
	buf_reset(&b);
	CU_ASSERT_EQUAL(agentproto_put_attach(&b, 0), R_INVALID);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_empty(&b, AP_DETACH), R_SUCCESS);
	p = frame(&b, AP_DETACH, &n);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_STRING_EQUAL(agentproto_type_name(AP_DETACH), "detach");
	CU_ASSERT_FALSE(agentproto_type_is_fileop(AP_DETACH));
	buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_exec(&b, &e), R_SUCCESS);
	p = frame(&b, AP_EXEC, &n);
	CU_ASSERT_EQUAL_FATAL(agentproto_get_exec(p, n, &d), R_SUCCESS);
	CU_ASSERT_EQUAL(d.flags, AP_EXEC_STREAM | AP_EXEC_DETACH);
	agentproto_exec_free(&d);
	CU_ASSERT_EQUAL(agentproto_get_exec(unknown_flag, sizeof(unknown_flag), &d), R_INVALID);
	/* the type after DETACH is still unknown */
	{
		uint8_t hb[8] = {AGENTPROTO_VERSION, AP_DETACH + 1, 0, 0, 0, 0, 0, 0};

		CU_ASSERT_EQUAL(agentproto_parse_header(hb, &h), R_INVALID);
		hb[1] = AP_ATTACH;
		hb[7] = 4;
		CU_ASSERT_EQUAL_FATAL(agentproto_parse_header(hb, &h), R_SUCCESS);
		CU_ASSERT(h.type == AP_ATTACH && h.len == 4);
	}
	buf_free(&b);
}

/* A frame that does not fit a queue leaves the queue as it was: the frames
 * already in it stay whole (a send queue never loses or cuts one). */
static void full_queue_keeps_its_frames(void)
{
	static const char out[64] = "0123456789";
	struct buf b;
	char before[AGENTPROTO_HDR_LEN];

	buf_init(&b, 40);
	CU_ASSERT_EQUAL_FATAL(agentproto_put_empty(&b, AP_PING), R_SUCCESS);
	memcpy(before, b.data, sizeof(before));
	CU_ASSERT_EQUAL(agentproto_put_output(&b, AP_STREAM_STDOUT, out, sizeof(out)), R_TOO_BIG);
	CU_ASSERT_EQUAL_FATAL(b.len, AGENTPROTO_HDR_LEN);
	CU_ASSERT_EQUAL(memcmp(b.data, before, sizeof(before)), 0);
	/* one that fits exactly still goes in, header and payload intact */
	CU_ASSERT_EQUAL(agentproto_put_output(&b, AP_STREAM_STDERR, out, 40 - 2 * 8 - 1),
			R_SUCCESS);
	CU_ASSERT_EQUAL(b.len, 40);
	CU_ASSERT_EQUAL((uint8_t)b.data[9], AP_OUTPUT);
	CU_ASSERT_EQUAL((uint8_t)b.data[16], AP_STREAM_STDERR);
	CU_ASSERT_EQUAL(memcmp(b.data + 17, out, 23), 0);
	buf_free(&b);
}

/* Decoders write their output only on success. */
static void decoders_leave_output_on_failure(void)
{
	struct agentproto_fileop *op = calloc(1, sizeof(*op));
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi));
	/* T_PATH "x", then T_MODE with a value over 07777 */
	static const uint8_t bad_mode[] = {19, 0, 0, 0, 1, 'x', 21, 0, 0, 0, 4, 0, 0, 0x10, 0};
	/* T_FTYPE file, T_PATH "y", T_SIZE 2^63 */
	static const uint8_t huge[] = {23, 0, 0, 0, 1,	  1, 19, 0, 0, 0, 1, 'y', 24,
				       0,  0, 0, 8, 0x80, 0, 0,	 0, 0, 0, 0, 0};
	/* an unknown tag (99) is skipped */
	static const uint8_t unknown[] = {99, 0, 0, 0, 2, 'z', 'z', 19, 0, 0, 0, 1, 'x'};

	CU_ASSERT_FATAL(op && fi);
	memcpy(op->path, "keep", 5);
	memcpy(fi->path, "keep", 5);
	CU_ASSERT_EQUAL(agentproto_get_fileop(AP_FGET, bad_mode, sizeof(bad_mode), op), R_INVALID);
	CU_ASSERT_STRING_EQUAL(op->path, "keep");
	CU_ASSERT_EQUAL(agentproto_get_finfo(huge, sizeof(huge), fi), R_INVALID);
	CU_ASSERT_STRING_EQUAL(fi->path, "keep");
	CU_ASSERT_EQUAL(agentproto_get_fileop(AP_FGET, unknown, sizeof(unknown), op), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(op->path, "x");
	CU_ASSERT_EQUAL(op->depth, 1);
	free(op);
	free(fi);
}

UNIT_SUITE(agentproto, {"full queue keeps its frames", full_queue_keeps_its_frames},
	   {"decoders leave output on failure", decoders_leave_output_on_failure},
	   {"attach and detach frames", attach_detach_frames}, {"exec round trip", exec_round_trip},
	   {"exec refuses bad requests", exec_refuses_bad_requests},
	   {"exec decoder rejects garbage", exec_decoder_rejects_garbage},
	   {"header checks", header_checks}, {"small frames round trip", small_frames_round_trip},
	   {"setenv and procs round trip", setenv_and_procs_round_trip},
	   {"exec prefixes and flips", exec_prefixes_and_flips}, {"file frames", file_frames});
