/* language.c: the language table (see language.h). Commands are fixed
 * strings run by /bin/sh -c inside the sandbox; nothing from a request is
 * ever spliced into them (the code and files are written as files). */
#include "sandbox/language.h"

#include <stdio.h>
#include <string.h>

/* Interpreted languages "compile" with their syntax check, so a syntax
 * error is a compile_error (as a judge reports it) and not a runtime error
 * of every test; their artifact is the source itself. */
static const struct language languages[] = {
    {"bash", "default", "main.sh", "bash -n main.sh", "main.sh", "exec bash main.sh"},
    {"c", "default", "main.c", "gcc -O2 -pipe -o main main.c -lm", "main", "exec ./main"},
    {"cpp", "default", "main.cpp", "g++ -O2 -pipe -o main main.cpp", "main", "exec ./main"},
    {"node", "node-basic", "main.js", "node --check main.js", "main.js", "exec node main.js"},
    {"python", "python-basic", "main.py", "python3 -m py_compile main.py", "main.py",
     "exec python3 main.py"},
    {"sh", "default", "main.sh", "sh -n main.sh", "main.sh", "exec sh main.sh"},
};

#define NLANG (sizeof(languages) / sizeof(languages[0]))

const struct language *language_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < NLANG; i++)
		if (strcmp(languages[i].name, name) == 0)
			return &languages[i];
	return NULL;
}

void language_names(char *out, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < NLANG && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", languages[i].name);
}
