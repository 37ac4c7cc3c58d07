/* judge.c: verdicts and output comparison (see judge.h). */
#include "judge.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    [V_ACCEPTED] = "accepted",
    [V_WRONG_ANSWER] = "wrong_answer",
    [V_TIME_LIMIT] = "time_limit_exceeded",
    [V_MEMORY_LIMIT] = "memory_limit_exceeded",
    [V_RUNTIME_ERROR] = "runtime_error",
    [V_COMPILE_ERROR] = "compile_error",
    [V_OUTPUT_LIMIT] = "output_limit_exceeded",
};

const char *judge_name(enum verdict v)
{
	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

enum compare_mode judge_mode(const char *s)
{
	if (s != NULL && strcmp(s, "exact") == 0)
		return CMP_EXACT;
	if (s != NULL && strcmp(s, "numeric") == 0)
		return CMP_NUMERIC;
	return CMP_TRAILING_WS;
}

/* line_end: length of the line at p (up to n bytes) without its '\n'. */
static size_t line_len(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);

	return nl ? (size_t)(nl - p) : n;
}

static size_t rtrim(const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
			 p[n - 1] == '\f' || p[n - 1] == '\v'))
		n--;
	return n;
}

/* content_end: length without trailing whitespace of every kind (so
 * trailing blank lines go too). */
static size_t content_end(const char *p, size_t n)
{
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	return n;
}

static bool same_trimmed(const char *a, size_t an, const char *b, size_t bn)
{
	an = content_end(a, an);
	bn = content_end(b, bn);
	while (an > 0 || bn > 0) {
		size_t la = line_len(a, an), lb = line_len(b, bn);
		size_t ta = rtrim(a, la), tb = rtrim(b, lb);

		if (ta != tb || memcmp(a, b, ta) != 0)
			return false;
		if ((la < an) != (lb < bn))
			return false;
		a += la + (la < an);
		an -= la + (la < an);
		b += lb + (lb < bn);
		bn -= lb + (lb < bn);
	}
	return true;
}

/* token: the next whitespace-separated token at *p (n bytes left). */
static bool token(const char **p, size_t *n, const char **tok, size_t *len)
{
	while (*n > 0 && isspace((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	if (*n == 0)
		return false;
	*tok = *p;
	while (*n > 0 && !isspace((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	*len = (size_t)(*p - *tok);
	return true;
}

/* number: the token as a finite double, if all of it is one. */
static bool number(const char *t, size_t n, double *v)
{
	char buf[64], *end;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, t, n);
	buf[n] = '\0';
	*v = strtod(buf, &end);
	return *end == '\0' && isfinite(*v);
}

static bool same_numeric(const char *a, size_t an, const char *b, size_t bn, double tol)
{
	const char *ta, *tb;
	size_t la, lb;

	for (;;) {
		bool ga = token(&a, &an, &ta, &la), gb = token(&b, &bn, &tb, &lb);
		double x, y;

		if (!ga || !gb)
			return ga == gb;
		if (number(ta, la, &x) && number(tb, lb, &y)) {
			double d = x > y ? x - y : y - x, scale = y < 0 ? -y : y;

			if (d > tol * (scale > 1.0 ? scale : 1.0))
				return false;
		} else if (la != lb || memcmp(ta, tb, la) != 0) {
			return false;
		}
	}
}

bool judge_compare(const char *out, size_t out_len, const char *expected, enum compare_mode mode,
		   double tolerance)
{
	size_t en = strlen(expected);

	switch (mode) {
	case CMP_EXACT:
		return out_len == en && memcmp(out, expected, en) == 0;
	case CMP_NUMERIC:
		return same_numeric(out, out_len, expected, en, tolerance);
	case CMP_TRAILING_WS:
	default:
		return same_trimmed(out, out_len, expected, en);
	}
}

enum verdict judge_run(const struct run_facts *f, const char *out, size_t out_len,
		       const char *expected, enum compare_mode mode, double tolerance)
{
	if (f->output_cut)
		return V_OUTPUT_LIMIT;
	if (f->oom_killed ||
	    (f->exit_code != 0 && f->limit_bytes > 0 && f->peak_bytes >= f->limit_bytes / 20 * 19))
		return V_MEMORY_LIMIT;
	if (f->cpu_usec > f->cpu_limit_usec || f->signal == SIGXCPU || f->wall_timed_out)
		return V_TIME_LIMIT;
	if (f->exit_code != 0)
		return V_RUNTIME_ERROR;
	if (expected != NULL && !judge_compare(out, out_len, expected, mode, tolerance))
		return V_WRONG_ANSWER;
	return V_ACCEPTED;
}
