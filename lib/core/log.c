/* log.c: key=value log lines on stderr, one write(2) per line so lines from
 * concurrent processes never interleave. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

static const char *proc_name = "sandpit";
static enum log_level min_level = LOG_INFO;
static _Thread_local char request_id[64];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

enum log_level log_level_from(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (enum log_level)i;
	return LOG_INFO;
}

void log_init(const char *proc, enum log_level min)
{
	proc_name = proc;
	min_level = min;
}

void log_set_request(const char *req_id)
{
	if (req_id == NULL) {
		request_id[0] = '\0';
		return;
	}
	snprintf(request_id, sizeof(request_id), "%s", req_id);
}

/* vput: append to a fixed line, clamping at its end (a long line is cut). */
static void vput(char *line, size_t size, size_t *n, const char *fmt, va_list ap)
{
	int w = vsnprintf(line + *n, size - *n, fmt, ap);

	if (w > 0)
		*n += (size_t)w < size - *n ? (size_t)w : size - *n - 1;
}

static void put(char *line, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *line, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vput(line, size, n, fmt, ap);
	va_end(ap);
}

static void emit(enum log_level lvl, const char *mod, const char *suffix, const char *fmt,
		 va_list ap)
{
	char line[2048], ts[CLOCK_RFC3339_SIZE];
	size_t n = 0;

	if (lvl < min_level)
		return;
	clock_rfc3339(clock_wall_ms(), ts);
	put(line, sizeof(line), &n, "ts=%s lvl=%s proc=%s pid=%d%s%s mod=%s msg=", ts,
	    level_names[lvl], proc_name, (int)getpid(), request_id[0] ? " req=" : "", request_id,
	    mod);
	vput(line, sizeof(line), &n, fmt, ap);
	if (suffix != NULL)
		put(line, sizeof(line), &n, " err=\"%s\"", suffix);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A short write to stderr loses a log line; nothing better to do. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(lvl, mod, NULL, fmt, ap);
	va_end(ap);
}

void log_errno(enum log_level lvl, const char *mod, const char *fmt, ...)
{
	char err[128];
	va_list ap;
	int saved = errno;

	snprintf(err, sizeof(err), "%s", strerror(saved));
	va_start(ap, fmt);
	emit(lvl, mod, err, fmt, ap);
	va_end(ap);
	errno = saved;
}
