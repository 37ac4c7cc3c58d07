/* events.c: outbox rows with their final payload. */
#include "sandbox/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "db/db.h"
#include "core/id.h"
#include "core/json.h"

enum result events_build(const char *org_id, const char *sandbox_id, const char *type,
			 const struct json *data, char *id, size_t id_size, char **payload)
{
	char stamp[CLOCK_RFC3339_SIZE];
	struct json *p = json_new_object();
	char *text = NULL;
	enum result r = R_NO_MEMORY;

	if (p == NULL)
		goto out;
	r = id_new("evt_", id, id_size);
	if (r != R_SUCCESS)
		goto out;
	r = R_NO_MEMORY;
	clock_rfc3339(clock_wall_ms(), stamp);
	if (json_add_str(p, "id", id) != R_SUCCESS || json_add_str(p, "event", type) != R_SUCCESS ||
	    json_add_str(p, "timestamp", stamp) != R_SUCCESS ||
	    json_add_str_or_null(p, "sandboxId", sandbox_id) != R_SUCCESS ||
	    json_add_str_or_null(p, "orgId", org_id) != R_SUCCESS ||
	    json_add(p, "data", data ? json_dup(data) : json_new_object()) != R_SUCCESS)
		goto out;
	text = json_print(p);
	if (text == NULL)
		goto out;
	*payload = text;
	r = R_SUCCESS;
out:
	json_free(p);
	return r;
}

enum result events_emit(struct db *db, const char *org_id, const char *sandbox_id, const char *type,
			const struct json *data)
{
	char id[ID_SIZE("evt_")];
	char *text = NULL;
	enum result r = events_build(org_id, sandbox_id, type, data, id, sizeof(id), &text);

	if (r != R_SUCCESS)
		return r;
	r = db_exec(db,
		    "INSERT INTO events (id, org_id, sandbox_id, type, payload) "
		    "VALUES ($1, $2, $3, $4, $5::jsonb)",
		    5, (const char *[]){id, org_id, sandbox_id, type, text}, NULL);
	free(text);
	return r;
}
