/* fuzz_json.c: request bodies go through json_parse first; the parser, the
 * typed getters and the printer must hold for any bytes.
 *
 * fuzz-sources: lib/core/json.c lib/core/utf8.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json *j = json_parse((const char *)data, size);
	const char *s;
	long long i;
	bool b;
	char *text;

	if (j == NULL)
		return 0;
	(void)!json_get_str(j, "command", &s);
	(void)!json_get_int(j, "timeout", &i);
	(void)!json_get_bool(j, "tty", &b);
	for (struct json *c = json_child(j); c != NULL; c = json_next(c))
		(void)json_key(c);
	text = json_print(j);
	/* what we print must parse again */
	if (text != NULL) {
		struct json *again = json_parse(text, strlen(text));

		if (again == NULL)
			abort();
		json_free(again);
	}
	free(text);
	json_free(j);
	return 0;
}
