/* admin.c: sandpit-admin, operator commands that run beside the stack.
 *
 *   sandpit-admin bootstrap KEYFILE   print the dev stack's API key, creating
 *                                     the org and key when KEYFILE's key is
 *                                     missing, revoked or expired
 *   sandpit-admin stop-all REASON     stop every live sandbox of this instance
 *                                     (rows end "stopped" with REASON)
 *   sandpit-admin create-org NAME [EMAIL]
 *                                     create organization NAME (and its owner
 *                                     EMAIL) with an all-scopes key, or a key
 *                                     for an existing NAME that has no live
 *                                     key; prints both. With
 *                                     SANDPIT_REGISTRATION=closed this is how
 *                                     organizations are made.
 *   sandpit-admin secrets rotate       re-seal every stored secret under the
 *                                     current key (SANDPIT_SECRET_KEYS)
 *   sandpit-admin --check-config      print the configuration and exit
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/apikey.h"
#include "sandbox/audit.h"
#include "auth/auth.h"
#include "backend/backend.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "images.h"
#include "core/id.h"
#include "core/instance.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"
#include "sandbox/secrets.h"

/* read_key: KEYFILE's key into out; false when absent or malformed. */
static bool read_key(const char *path, char *out, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	n = read(fd, out, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return id_is_api_key(out);
}

static bool key_is_live(struct db *db, const char *key)
{
	char hash[65];
	struct db_res *res;
	bool live;

	if (auth_hash_key(key, hash) != R_SUCCESS ||
	    db_exec(db,
		    "SELECT 1 FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL "
		    "AND (expires_at IS NULL OR expires_at > now())",
		    1, (const char *[]){hash}, &res) != R_SUCCESS)
		return false;
	live = db_res_rows(res) == 1;
	db_res_free(res);
	return live;
}

static enum result write_key(const char *path, const char *key)
{
	char tmp[4096];
	size_t len = strlen(key);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return R_INTERNAL;
	if (write(fd, key, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return R_INTERNAL;
	}
	close(fd);
	return rename(tmp, path) == 0 ? R_SUCCESS : R_INTERNAL;
}

/* create: a fresh org "Sandpit Dev" with one all-scopes key. */
static enum result create(struct db *db, struct apikey_new *k)
{
	char org_id[ID_SIZE("org_")], slug[64];
	enum result r;

	if (id_new("org_", org_id, sizeof(org_id)) != R_SUCCESS)
		return R_INTERNAL;
	snprintf(slug, sizeof(slug), "sandpit-dev-%s", org_id + 4);
	r = db_begin(db);
	if (r == R_SUCCESS)
		r = db_exec(db, "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)", 3,
			    (const char *[]){org_id, "Sandpit Dev", slug}, NULL);
	if (r == R_SUCCESS)
		r = apikey_insert(db, org_id, NULL, k);
	if (r == R_SUCCESS)
		r = audit_record(db, org_id, "system", "api_key.bootstrap", k->id, NULL, NULL);
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS)
		db_rollback(db);
	return r;
}

static int bootstrap(struct db *db, const char *path)
{
	struct apikey_new k = {.name = "Bootstrap key", .scopes = AUTH_SCOPES_ALL};
	char key[ID_API_KEY_SIZE + 8];
	bool had = read_key(path, key, sizeof(key));
	enum result r;

	if (had && key_is_live(db, key)) {
		printf("API key: %s\n", key);
		crypto_wipe(key, sizeof(key));
		return 0;
	}
	if (had || access(path, F_OK) == 0)
		log_warnx("admin",
			  "bootstrap key in '%s' is revoked, expired or unknown; "
			  "creating a new one",
			  path);
	crypto_wipe(key, sizeof(key));
	r = create(db, &k);
	if (r == R_SUCCESS)
		r = write_key(path, k.key);
	if (r != R_SUCCESS) {
		log_errx("admin", "cannot create the bootstrap key err=\"%s\"", db_last_error(db));
		apikey_new_wipe(&k);
		return 1;
	}
	printf("API key: %s\n", k.key);
	apikey_new_wipe(&k);
	return 0;
}

/* find_org: the id of the organization named name (the oldest if several)
 * and whether it has a live key; R_NOT_FOUND when there is none. */
static enum result find_org(struct db *db, const char *name, char *id, size_t size, bool *keyed)
{
	struct db_res *res = NULL;
	enum result r;

	r = db_exec(
	    db,
	    "SELECT o.id, EXISTS (SELECT 1 FROM api_keys k WHERE k.org_id = o.id AND "
	    "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) "
	    "FROM organizations o WHERE o.name = $1 ORDER BY o.created_at LIMIT 1 FOR UPDATE",
	    1, (const char *[]){name}, &res);
	if (r != R_SUCCESS)
		return r;
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return R_NOT_FOUND;
	}
	snprintf(id, size, "%s", db_res_get(res, 0, 0));
	*keyed = strcmp(db_res_get(res, 0, 1), "t") == 0;
	db_res_free(res);
	return R_SUCCESS;
}

/* new_org: organization name, its owner email (may be NULL), in the
 * caller's transaction. The slug is the org id's: unique without a search. */
static enum result new_org(struct db *db, const char *name, const char *email, char *id,
			   size_t size)
{
	char user_id[ID_SIZE("user_")], slug[64];
	enum result r;

	if (id_new("org_", id, size) != R_SUCCESS ||
	    id_new("user_", user_id, sizeof(user_id)) != R_SUCCESS)
		return R_INTERNAL;
	snprintf(slug, sizeof(slug), "org-%s", id + 4);
	r = db_exec(db, "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)", 3,
		    (const char *[]){id, name, slug}, NULL);
	if (r == R_SUCCESS && email != NULL)
		r = db_exec(db,
			    "INSERT INTO users (id, org_id, first_name, last_name, email, role) "
			    "VALUES ($1, $2, '', '', $3, 'owner')",
			    3, (const char *[]){user_id, id, email}, NULL);
	if (r == R_SUCCESS)
		r = audit_record(db, id, "system", "organization.create", id, NULL, NULL);
	return r;
}

/* create_org: see the usage at the top. Exit status 0 with the org and key
 * printed, 1 when NAME exists with a live key (nothing changes) or on
 * failure. */
static int create_org(struct db *db, const char *name, const char *email)
{
	struct apikey_new k = {.name = "Admin-created key", .scopes = AUTH_SCOPES_ALL};
	char org_id[ID_SIZE("org_")];
	bool keyed = false, made = false;
	enum result r;

	if (*name == '\0' || strlen(name) > 100 || (email != NULL && strchr(email, '@') == NULL)) {
		fprintf(stderr, "sandpit-admin: NAME must be 1..100 bytes and EMAIL an address\n");
		return 2;
	}
	r = db_begin(db);
	if (r == R_SUCCESS)
		r = find_org(db, name, org_id, sizeof(org_id), &keyed);
	if (r == R_NOT_FOUND) {
		r = new_org(db, name, email, org_id, sizeof(org_id));
		made = true;
	} else if (r == R_SUCCESS && keyed) {
		db_rollback(db);
		log_errx("admin",
			 "organization '%s' (%s) exists and has a live key; create more "
			 "with POST /api/v1/api-keys",
			 name, org_id);
		return 1;
	}
	if (r == R_SUCCESS)
		r = apikey_insert(db, org_id, NULL, &k);
	if (r == R_SUCCESS)
		r = audit_record(db, org_id, "system", "api_key.create", k.id, NULL, NULL);
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS) {
		db_rollback(db);
		log_errx("admin", "cannot create the organization err=%s msg=\"%s\"", result_str(r),
			 db_last_error(db));
		apikey_new_wipe(&k);
		return 1;
	}
	printf("Organization: %s%s\nAPI key: %s\n", org_id, made ? "" : " (existing)", k.key);
	apikey_new_wipe(&k);
	return 0;
}

/* stop_all: every live sandbox, one at a time; a failure is logged and the
 * rest still stop (the reaper reconciles what is left). */
static int stop_all(struct db *db, const char *reason)
{
	struct backend_config cfg = {.kind = "local"};
	struct backend *b = NULL;
	struct db_res *res = NULL;
	char sock[4096];
	int failed = 0, n;

	if (instance_boxd_socket(sock, sizeof(sock)) != R_SUCCESS)
		return 1;
	cfg.daemon_socket = sock;
	if (backend_open(&cfg, &b) != R_SUCCESS ||
	    db_exec(db,
		    "SELECT id FROM sandboxes WHERE status IN ('creating', 'running', 'stopping')",
		    0, NULL, &res) != R_SUCCESS) {
		backend_close(b);
		return 1;
	}
	n = db_res_rows(res);
	for (int i = 0; i < n; i++) {
		enum result r = lifecycle_stop(db, b, "", db_res_get(res, i, 0), LIFECYCLE_STOPPED,
					       reason, false);

		if (r != R_SUCCESS && r != R_NOT_FOUND) {
			log_warnx("admin", "cannot stop id=%s err=%s", db_res_get(res, i, 0),
				  result_str(r));
			failed++;
		}
	}
	log_info("admin", "stopped sandboxes count=%d failed=%d reason=%s", n - failed, failed,
		 reason);
	db_res_free(res);
	backend_close(b);
	return failed ? 1 : 0;
}

/* rotate: one transaction; run it after putting a new key first in
 * SANDPIT_SECRET_KEYS (old keys kept until it has run). */
static int rotate(struct db *db)
{
	long long n = 0;
	const char *why;
	enum result r = secrets_check_config(&why);

	if (r != R_SUCCESS) {
		log_errx("admin", "%s", why);
		return 1;
	}
	r = secrets_rotate(db, &n);
	if (r != R_SUCCESS) {
		log_errx("admin", "cannot rotate secrets err=%s (nothing changed)", result_str(r));
		return 1;
	}
	printf("rotated %lld secrets\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	char conninfo[4096];
	struct db *db = NULL;
	const char *why;
	int rc;

	log_init("admin", LOG_INFO);
	if (config_load(&why) != R_SUCCESS) {
		fprintf(stderr, "sandpit-admin: %s\n", why);
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "--check-config") == 0) {
		config_print(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "images") == 0)
		return images_main(argc - 2, argv + 2);
	if (!(argc == 3 &&
	      (strcmp(argv[1], "bootstrap") == 0 || strcmp(argv[1], "stop-all") == 0)) &&
	    !((argc == 3 || argc == 4) && strcmp(argv[1], "create-org") == 0) &&
	    !(argc == 3 && strcmp(argv[1], "secrets") == 0 && strcmp(argv[2], "rotate") == 0)) {
		fprintf(stderr, "usage: sandpit-admin bootstrap KEYFILE | stop-all REASON | "
				"create-org NAME [EMAIL] | images build [NAME...] | images list | "
				"secrets rotate | "
				"--check-config\n");
		return 2;
	}
	if (instance_conninfo(conninfo, sizeof(conninfo)) != R_SUCCESS ||
	    db_open(conninfo, &db) != R_SUCCESS) {
		log_errx("admin", "cannot connect to the database err=\"%s\"",
			 db ? db_last_error(db) : "no memory");
		db_close(db);
		return 1;
	}
	if (strcmp(argv[1], "create-org") == 0)
		rc = create_org(db, argv[2], argc == 4 ? argv[3] : NULL);
	else if (strcmp(argv[1], "secrets") == 0)
		rc = rotate(db);
	else
		rc = strcmp(argv[1], "bootstrap") == 0 ? bootstrap(db, argv[2])
						       : stop_all(db, argv[2]);
	db_close(db);
	return rc;
}
