/* language.h: the languages a job may be written in, in one table: the file
 * the code is written to, the optional compile step and what it produces,
 * the run command, and the image template that provides the toolchain
 * (sandboxes see the host's /usr today; once they boot from templates a
 * language names the one it needs here and nowhere else). */
#ifndef SANDPIT_LANGUAGE_H
#define SANDPIT_LANGUAGE_H

#include <stddef.h>

struct language {
	const char *name;     /* "python" */
	const char *template; /* image template providing the toolchain */
	const char *file;     /* the code is written to /workspace/<file> */
	const char *compile;  /* shell command run once in /workspace (a compiler,
			       * or a syntax check), or NULL */
	const char *artifact; /* the file compile leaves for every run (the binary,
			       * or the source); NULL when compile is NULL */
	const char *run;      /* shell command of one run, in /workspace */
};

/* language_find: the entry named name, or NULL. */
const struct language *language_find(const char *name);

/* language_names: "bash, c, ..." (every name, comma-separated) into out. */
void language_names(char *out, size_t size);

#endif
