/* agentproto.h: the wire protocol between host code and sandpit-agent (PID 1
 * of every sandbox). This header is its only specification. The codec is pure:
 * it encodes into capped buffers and decodes from byte ranges, never does I/O,
 * and every decoder treats its input as hostile (fuzz target material).
 *
 * FRAMES. A connection carries frames in both directions:
 *
 *   offset 0  u8   version  (AGENTPROTO_VERSION; anything else: close)
 *   offset 1  u8   type     (enum agentproto_type)
 *   offset 2  u16  reserved (must be 0)
 *   offset 4  u32  payload length, big-endian, <= AGENTPROTO_MAX_PAYLOAD
 *   offset 8  payload
 *
 * PAYLOADS. Fixed-layout messages are big-endian fields at fixed offsets.
 * Variable messages (EXEC, SETENV, PROCS, ERROR) are TLV: u8 tag, u32 BE
 * length, value; tags may repeat (argv, env), unknown tags are skipped so a
 * newer peer can add fields. Binary rather than JSON because stdin/stdout are
 * arbitrary bytes (no base64 on the hot path), the agent stays free of a JSON
 * library, and a length-checked TLV walk is short enough to audit and fuzz.
 *
 * CONVERSATION. The host sends one request at a time per connection; several
 * connections to one agent run concurrently (an execute and a streaming
 * session at once).
 *
 *   EXEC       -> STARTED(pid), OUTPUT*, EXIT      (or ERROR)
 *                 while it runs the host may send STDIN, STDIN_CLOSE, SIGNAL,
 *                 RESIZE. Without AP_EXEC_STREAM the inline stdin bytes are the
 *                 whole of stdin (EOF follows); with it stdin stays open for
 *                 STDIN frames until STDIN_CLOSE. Output always arrives as
 *                 OUTPUT frames as it is produced; past a stream's cap bytes
 *                 are dropped and EXIT says truncated. EXIT is sent when the
 *                 command's main process ends, even if a background child still
 *                 holds the pipes open.
 *                 With AP_EXEC_DETACH the command outlives the connection: when
 *                 it closes, the agent keeps draining (and discarding) the
 *                 command's output so it never blocks on a full pipe, keeps
 *                 its stdin open and its timeout running; a detached command
 *                 that ends with no connection bound is reaped and forgotten.
 *                 Without it, closing the connection kills the command.
 *   DETACH     -> (no answer) the command running on this connection becomes
 *                 detached, as if EXEC had carried AP_EXEC_DETACH; ignored
 *                 when none runs.
 *   ATTACH(pid) -> STARTED(pid), OUTPUT*, EXIT   (or ERROR)
 *                 binds this connection to the detached command whose STARTED
 *                 said pid and which no connection holds; output from then on
 *                 (what it wrote while unattached is gone), then STDIN,
 *                 STDIN_CLOSE, SIGNAL, RESIZE, DETACH as after an EXEC. The
 *                 command stays detached. ERROR R_NOT_FOUND for a pid that is
 *                 not a running detached command (unknown, never detached,
 *                 already reaped), R_CONFLICT when another connection holds
 *                 it or this connection already runs a command.
 *   SETENV     -> OK      (merged into the sandbox env used by later EXECs)
 *   PS         -> PROCS
 *   PING       -> PONG
 *
 * VERSIONS. AGENTPROTO_VERSION changes only when an existing frame changes
 * meaning. New frame types, EXEC flags and TLV tags are additions within a
 * version: an agent that predates a type answers ERROR and closes (unknown
 * type in the header), one that predates a flag answers ERROR "malformed
 * exec" (unknown flags are refused, never ignored: a command must not
 * silently lose its detach), and unknown TLV tags are skipped. ATTACH, DETACH
 * and AP_EXEC_DETACH were added this way.
 *
 * FILES. A file request hands the connection to a helper process that runs
 * as the sandbox user (see tools/agent/files.c); use a fresh connection per
 * file request and close it afterwards. Paths are text of 1..AGENTPROTO_MAX_PATH-1
 * bytes without NUL; relative ones resolve under /workspace.
 *   FPUT (FDATA*) [FPUT (FDATA*)]* FCOMMIT -> OK  (or ERROR, possibly early:
 *                 the helper answers ERROR as soon as a write fails and closes;
 *                 nothing of the request stays behind). Each file is written to
 *                 a temporary beside its target; FCOMMIT renames them all.
 *                 Closing the connection before FCOMMIT aborts the request.
 *   FGET       -> FINFO, FCHUNK* (exactly FINFO.size bytes), FEND (or ERROR)
 *   FSTAT      -> FINFO  (of the path itself: a symlink is reported as one)
 *   FLIST      -> FINFO* (paths relative to the listed directory), FEND
 *   FREMOVE, FMKDIR, FMOVE -> OK
 */
#ifndef SANDPIT_AGENTPROTO_H
#define SANDPIT_AGENTPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

#define AGENTPROTO_VERSION     1
#define AGENTPROTO_HDR_LEN     8
#define AGENTPROTO_MAX_PAYLOAD (1024u * 1024u)
#define AGENTPROTO_MAX_FRAME   (AGENTPROTO_HDR_LEN + AGENTPROTO_MAX_PAYLOAD)
#define AGENTPROTO_MAX_ARGS    4096			    /* argv entries in EXEC */
#define AGENTPROTO_MAX_ENV     4096			    /* env entries in EXEC / SETENV */
#define AGENTPROTO_MAX_PROCS   4096			    /* entries in PROCS */
#define AGENTPROTO_MAX_CHUNK   (AGENTPROTO_MAX_PAYLOAD - 1) /* OUTPUT/STDIN bytes */
#define AGENTPROTO_MAX_PATH    4096  /* PATH_MAX: a path is at most 4095 bytes */
#define AGENTPROTO_MAX_FILES   4096  /* files in one FPUT..FCOMMIT request */
#define AGENTPROTO_MAX_LIST    10000 /* entries one FLIST answers at most */
#define AGENTPROTO_MAX_DEPTH   32    /* FLIST depth */

enum agentproto_type {
	/* host -> agent */
	AP_EXEC = 1,
	AP_STDIN = 2,	    /* payload: raw bytes */
	AP_STDIN_CLOSE = 3, /* payload: empty */
	AP_SIGNAL = 4,	    /* u32 signo, sent to the command's process group */
	AP_RESIZE = 5,	    /* u16 cols, u16 rows (tty sessions) */
	AP_SETENV = 6,	    /* TLV: T_ENV "K=V"*, optional T_FLAGS bit0 = replace */
	AP_PS = 7,	    /* payload: empty */
	AP_PING = 8,	    /* payload: empty */
	AP_FPUT = 9,	    /* struct agentproto_fileop: path, mode, flags */
	AP_FDATA = 10,	    /* payload: raw bytes of the current FPUT file */
	AP_FCOMMIT = 11,    /* payload: empty */
	AP_FGET = 12,	    /* fileop: path */
	AP_FSTAT = 13,	    /* fileop: path */
	AP_FLIST = 14,	    /* fileop: path, depth */
	AP_FREMOVE = 15,    /* fileop: path, flags (AP_F_RECURSIVE) */
	AP_FMKDIR = 16,	    /* fileop: path, mode, flags (AP_F_PARENTS) */
	AP_FMOVE = 17,	    /* fileop: path (from), path2 (to), flags (AP_F_PARENTS) */
	AP_ATTACH = 18,	    /* u32 pid of a detached command (see CONVERSATION) */
	AP_DETACH = 19,	    /* payload: empty */
	/* agent -> host */
	AP_STARTED = 0x41, /* u32 pid (in the sandbox's pid namespace) */
	AP_OUTPUT = 0x42,  /* u8 stream (1 stdout, 2 stderr), then bytes */
	AP_EXIT = 0x43,	   /* see struct agentproto_exit */
	AP_PROCS = 0x44,   /* TLV: T_PROC* (nested TLV: pid, ppid, uid, state, rss, cmd) */
	AP_OK = 0x45,	   /* payload: empty */
	AP_ERROR = 0x46,   /* TLV: T_CODE u32 (enum result), T_MSG text */
	AP_PONG = 0x47,	   /* payload: empty */
	AP_FINFO = 0x48,   /* struct agentproto_finfo */
	AP_FCHUNK = 0x49,  /* payload: raw file bytes */
	AP_FEND = 0x4a,	   /* payload: empty */
};

/* EXEC flags */
#define AP_EXEC_SHELL  0x1 /* argv[0] is a shell string run by /bin/sh -c */
#define AP_EXEC_STREAM 0x2 /* stdin stays open for STDIN frames */
#define AP_EXEC_TTY    0x4 /* run on a pty (cols/rows); one output stream */
#define AP_EXEC_DETACH 0x8 /* the command outlives this connection (ATTACH) */

#define AP_STREAM_STDOUT 1
#define AP_STREAM_STDERR 2

/* EXIT flags */
#define AP_EXIT_TIMED_OUT	 0x1
#define AP_EXIT_OOM_KILLED	 0x2
#define AP_EXIT_STDOUT_TRUNCATED 0x4
#define AP_EXIT_STDERR_TRUNCATED 0x8

/* file request flags */
#define AP_F_PARENTS   0x1 /* create missing parent directories (mode 0755) */
#define AP_F_RECURSIVE 0x2 /* FREMOVE of a directory and everything in it */

/* A file request. Decoded strings point into the struct's own arrays. */
struct agentproto_fileop {
	uint8_t type;	/* AP_FPUT..AP_FMOVE except FDATA/FCOMMIT */
	uint32_t mode;	/* permission bits (<= 07777); 0: default (0644 file, 0755 dir) */
	uint32_t flags; /* AP_F_* */
	uint32_t depth; /* FLIST: 1..AGENTPROTO_MAX_DEPTH */
	char path[AGENTPROTO_MAX_PATH];
	char path2[AGENTPROTO_MAX_PATH]; /* FMOVE destination, else "" */
};

enum agentproto_ftype { AP_FT_FILE = 1, AP_FT_DIR = 2, AP_FT_SYMLINK = 3, AP_FT_OTHER = 4 };

/* What FINFO says about one file. path is printable-sanitized on decode
 * only if it has control bytes; it never contains NUL. */
struct agentproto_finfo {
	uint8_t ftype; /* enum agentproto_ftype */
	uint32_t mode; /* permission bits */
	uint64_t size;
	int64_t mtime_ms; /* modification time, ms since the epoch */
	char path[AGENTPROTO_MAX_PATH];
	char target[AGENTPROTO_MAX_PATH]; /* symlink target, "" otherwise */
};

struct agentproto_hdr {
	uint8_t type;
	uint32_t len; /* payload bytes, already checked <= AGENTPROTO_MAX_PAYLOAD */
};

/* An EXEC request. When decoded, the strings and the argv/env arrays live in
 * one allocation owned by the struct (free with agentproto_exec_free), while
 * stdin_data points into the decoded frame's payload (valid as long as it
 * is); when encoding, the caller owns everything. Strings never contain NUL
 * bytes. */
struct agentproto_exec {
	uint32_t flags;	     /* AP_EXEC_* */
	uint32_t timeout_ms; /* 0: no timeout */
	uint64_t stdout_cap; /* bytes kept per stream; 0: agent default (10 MiB) */
	uint64_t stderr_cap;
	uint16_t cols, rows;	 /* AP_EXEC_TTY only */
	const char *cwd;	 /* NULL: /workspace */
	const char *const *argv; /* argc >= 1 entries; with SHELL exactly 1 */
	size_t argc;
	const char *const *env; /* "KEY=VALUE", overriding the sandbox env */
	size_t envc;
	const uint8_t *stdin_data; /* inline stdin (may be NULL when len 0) */
	size_t stdin_len;
	void *owned_; /* decoder's allocation; leave NULL when encoding */
};

struct agentproto_exit {
	int32_t exit_code; /* 128+signal when killed; 137 when OOM-killed */
	uint32_t signal;   /* terminating signal, 0 if exited */
	uint32_t flags;	   /* AP_EXIT_* */
	uint64_t duration_ms;
};

struct agentproto_setenv {
	bool replace; /* drop the old sandbox env first */
	const char *const *env;
	size_t envc;
	void *owned_;
};

struct agentproto_proc {
	uint32_t pid, ppid, uid;
	char state; /* as in /proc/<pid>/stat */
	uint64_t rss_kb;
	const char *cmd; /* cmdline with NULs as spaces (or comm), capped 4 KiB */
};

struct agentproto_procs {
	struct agentproto_proc *procs;
	size_t n;
	void *owned_;
};

/* agentproto_parse_header: p holds at least AGENTPROTO_HDR_LEN bytes. R_INVALID
 * for a wrong version, non-zero reserved bits or an unknown type; R_TOO_BIG for
 * a length over AGENTPROTO_MAX_PAYLOAD. *out written only on R_SUCCESS. */
SP_MUST_CHECK enum result agentproto_parse_header(const uint8_t *p, struct agentproto_hdr *out);

/* agentproto_type_name: "exec", "output"...; "unknown" for anything else. */
const char *agentproto_type_name(int type);

/* Encoders append one whole frame (header + payload) to b, built in place, or
 * nothing: on failure b is exactly as it was (the frames already queued stay
 * whole) and the result is R_TOO_BIG (frame over AGENTPROTO_MAX_PAYLOAD or
 * over b's limit), R_INVALID (bad argument: a NULL string, argc 0, too many
 * entries) or R_NO_MEMORY. */
SP_MUST_CHECK enum result agentproto_put_empty(struct buf *b, enum agentproto_type type);
SP_MUST_CHECK enum result agentproto_put_exec(struct buf *b, const struct agentproto_exec *e);
SP_MUST_CHECK enum result agentproto_put_stdin(struct buf *b, const void *p, size_t n);
SP_MUST_CHECK enum result agentproto_put_signal(struct buf *b, uint32_t signo);
SP_MUST_CHECK enum result agentproto_put_resize(struct buf *b, uint16_t cols, uint16_t rows);
SP_MUST_CHECK enum result agentproto_put_setenv(struct buf *b, const struct agentproto_setenv *s);
SP_MUST_CHECK enum result agentproto_put_started(struct buf *b, uint32_t pid);
/* agentproto_put_attach: R_INVALID for pid 0 (decode with agentproto_get_u32,
 * and refuse 0 there too). */
SP_MUST_CHECK enum result agentproto_put_attach(struct buf *b, uint32_t pid);
SP_MUST_CHECK enum result agentproto_put_output(struct buf *b, uint8_t stream, const void *p,
						size_t n);
SP_MUST_CHECK enum result agentproto_put_exit(struct buf *b, const struct agentproto_exit *x);
SP_MUST_CHECK enum result agentproto_put_procs(struct buf *b, const struct agentproto_procs *ps);
SP_MUST_CHECK enum result agentproto_put_error(struct buf *b, enum result code, const char *msg);
/* agentproto_put_fileop: R_INVALID for a path that is empty, too long or has
 * a NUL byte, a wrong type, mode over 07777, or an FMOVE without path2. */
SP_MUST_CHECK enum result agentproto_put_fileop(struct buf *b, const struct agentproto_fileop *op);
/* agentproto_put_bytes: an FDATA or FCHUNK frame (n <= AGENTPROTO_MAX_CHUNK). */
SP_MUST_CHECK enum result agentproto_put_bytes(struct buf *b, enum agentproto_type type,
					       const void *p, size_t n);
SP_MUST_CHECK enum result agentproto_put_finfo(struct buf *b, const struct agentproto_finfo *fi);

/* agentproto_type_is_fileop: a request that starts a file conversation. */
bool agentproto_type_is_fileop(int type);

/* Decoders take one frame's payload (the bytes after the header). R_INVALID
 * for any malformed payload; out is written only on R_SUCCESS. Decoders whose
 * struct has owned_ allocate; release with the matching _free (NULL-safe,
 * idempotent). Borrowed pointers (output bytes) point into p. */
SP_MUST_CHECK enum result agentproto_get_exec(const uint8_t *p, size_t n,
					      struct agentproto_exec *out);
void agentproto_exec_free(struct agentproto_exec *e);
SP_MUST_CHECK enum result agentproto_get_setenv(const uint8_t *p, size_t n,
						struct agentproto_setenv *out);
void agentproto_setenv_free(struct agentproto_setenv *s);
SP_MUST_CHECK enum result agentproto_get_u32(const uint8_t *p, size_t n,
					     uint32_t *out); /* SIGNAL, STARTED, ATTACH */
SP_MUST_CHECK enum result agentproto_get_resize(const uint8_t *p, size_t n, uint16_t *cols,
						uint16_t *rows);
SP_MUST_CHECK enum result agentproto_get_output(const uint8_t *p, size_t n, uint8_t *stream,
						const uint8_t **data, size_t *len);
SP_MUST_CHECK enum result agentproto_get_exit(const uint8_t *p, size_t n,
					      struct agentproto_exit *out);
SP_MUST_CHECK enum result agentproto_get_procs(const uint8_t *p, size_t n,
					       struct agentproto_procs *out);
void agentproto_procs_free(struct agentproto_procs *ps);
SP_MUST_CHECK enum result agentproto_get_fileop(uint8_t type, const uint8_t *p, size_t n,
						struct agentproto_fileop *out);
SP_MUST_CHECK enum result agentproto_get_finfo(const uint8_t *p, size_t n,
					       struct agentproto_finfo *out);
/* agentproto_get_error: msg is copied into msgbuf (NUL-terminated, cut to fit,
 * non-printable bytes replaced by '?'). */
SP_MUST_CHECK enum result agentproto_get_error(const uint8_t *p, size_t n, enum result *code,
					       char *msgbuf, size_t msglen);

#endif
