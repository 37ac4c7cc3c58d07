/* judge.h: verdicts of one run, from what the sandbox measured, and the
 * output comparison modes. Pure functions: no I/O. */
#ifndef SANDPIT_RUNNER_JUDGE_H
#define SANDPIT_RUNNER_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum verdict {
	V_ACCEPTED,
	V_WRONG_ANSWER,
	V_TIME_LIMIT,
	V_MEMORY_LIMIT,
	V_RUNTIME_ERROR,
	V_COMPILE_ERROR,
	V_OUTPUT_LIMIT,
};

enum compare_mode { CMP_EXACT, CMP_TRAILING_WS, CMP_NUMERIC };

/* What one run of the program did, as measured. */
struct run_facts {
	int exit_code; /* 128+signal when killed */
	int signal;
	bool wall_timed_out; /* the agent killed it at the wall limit */
	bool oom_killed;
	bool output_cut;   /* stdout reached the output limit */
	uint64_t cpu_usec; /* cgroup CPU time of the run */
	uint64_t cpu_limit_usec;
	uint64_t peak_bytes;  /* cgroup memory peak during the run */
	uint64_t limit_bytes; /* the cgroup's memory limit during the run */
};

/* judge_run: the verdict of a run; expected NULL means no expected output
 * (a plain run: accepted when it exits 0 within its limits). In order:
 * output limit, memory limit (OOM kill, or a failure at >= 95% of the
 * limit: an allocation the runtime refused), time limit (CPU time over its
 * limit, killed by SIGXCPU, or past the wall limit), runtime error (non-zero
 * exit), wrong answer. */
enum verdict judge_run(const struct run_facts *f, const char *out, size_t out_len,
		       const char *expected, enum compare_mode mode, double tolerance);

/* judge_compare: out matches expected under mode. CMP_TRAILING_WS ignores
 * whitespace at the end of each line and blank lines at the end;
 * CMP_NUMERIC compares whitespace-separated tokens, numbers within
 * tolerance (absolute, or relative to the expected value when that is
 * larger than 1), other tokens exactly. */
bool judge_compare(const char *out, size_t out_len, const char *expected, enum compare_mode mode,
		   double tolerance);

/* judge_name: "accepted", "wrong_answer", ... */
const char *judge_name(enum verdict v);

/* judge_mode: the mode named s ("exact", "trailing_whitespace", "numeric");
 * CMP_TRAILING_WS for anything else. */
enum compare_mode judge_mode(const char *s);

#endif
