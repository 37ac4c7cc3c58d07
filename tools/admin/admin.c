/* admin.c: sandpit-admin, operator commands that run beside the stack.
 *
 *   sandpit-admin bootstrap KEYFILE   print the dev stack's API key, creating
 *                                     the org and key when KEYFILE's key is
 *                                     missing, revoked or expired
 *   sandpit-admin stop-all REASON     stop every live sandbox of this instance
 *                                     (rows end "stopped" with REASON)
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

#include "apikey.h"
#include "audit.h"
#include "auth.h"
#include "backend/backend.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "images.h"
#include "id.h"
#include "instance.h"
#include "lifecycle.h"
#include "log.h"
#include "secrets.h"

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

	if (auth_hash_key(key, hash) != R_OK ||
	    db_exec(db,
		    "SELECT 1 FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL "
		    "AND (expires_at IS NULL OR expires_at > now())",
		    1, (const char *[]){hash}, &res) != R_OK)
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
	return rename(tmp, path) == 0 ? R_OK : R_INTERNAL;
}

/* create: a fresh org "Sandpit Dev" with one all-scopes key. */
static enum result create(struct db *db, struct apikey_new *k)
{
	char org_id[ID_SIZE("org_")], slug[64];
	enum result r;

	if (id_new("org_", org_id, sizeof(org_id)) != R_OK)
		return R_INTERNAL;
	snprintf(slug, sizeof(slug), "sandpit-dev-%s", org_id + 4);
	r = db_begin(db);
	if (r == R_OK)
		r = db_exec(db, "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)", 3,
			    (const char *[]){org_id, "Sandpit Dev", slug}, NULL);
	if (r == R_OK)
		r = apikey_insert(db, org_id, NULL, k);
	if (r == R_OK)
		r = audit_record(db, org_id, "system", "api_key.bootstrap", k->id, NULL, NULL);
	if (r == R_OK)
		r = db_commit(db);
	if (r != R_OK)
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
		log_warnx("admin", "bootstrap key in '%s' is revoked, expired or unknown; "
				   "creating a new one",
			  path);
	crypto_wipe(key, sizeof(key));
	r = create(db, &k);
	if (r == R_OK)
		r = write_key(path, k.key);
	if (r != R_OK) {
		log_errx("admin", "cannot create the bootstrap key err=\"%s\"", db_last_error(db));
		apikey_new_wipe(&k);
		return 1;
	}
	printf("API key: %s\n", k.key);
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

	if (instance_boxd_socket(sock, sizeof(sock)) != R_OK)
		return 1;
	cfg.daemon_socket = sock;
	if (backend_open(&cfg, &b) != R_OK ||
	    db_exec(db,
		    "SELECT id FROM sandboxes WHERE status IN ('creating', 'running', 'stopping')",
		    0, NULL, &res) != R_OK) {
		backend_close(b);
		return 1;
	}
	n = db_res_rows(res);
	for (int i = 0; i < n; i++) {
		enum result r = lifecycle_stop(db, b, "", db_res_get(res, i, 0), "stopped", reason,
					       false);

		if (r != R_OK && r != R_NOT_FOUND) {
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

	if (r != R_OK) {
		log_errx("admin", "%s", why);
		return 1;
	}
	r = secrets_rotate(db, &n);
	if (r != R_OK) {
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
	if (config_load(&why) != R_OK) {
		fprintf(stderr, "sandpit-admin: %s\n", why);
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "--check-config") == 0) {
		config_print(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "images") == 0)
		return images_main(argc - 2, argv + 2);
	if (argc != 3 || (strcmp(argv[1], "bootstrap") != 0 && strcmp(argv[1], "stop-all") != 0 &&
			  (strcmp(argv[1], "secrets") != 0 || strcmp(argv[2], "rotate") != 0))) {
		fprintf(stderr, "usage: sandpit-admin bootstrap KEYFILE | stop-all REASON | "
				"images build [NAME...] | images list | secrets rotate | "
				"--check-config\n");
		return 2;
	}
	if (instance_conninfo(conninfo, sizeof(conninfo)) != R_OK ||
	    db_open(conninfo, &db) != R_OK) {
		log_errx("admin", "cannot connect to the database err=\"%s\"",
			 db ? db_last_error(db) : "no memory");
		db_close(db);
		return 1;
	}
	if (strcmp(argv[1], "secrets") == 0)
		rc = rotate(db);
	else
		rc = strcmp(argv[1], "bootstrap") == 0 ? bootstrap(db, argv[2]) : stop_all(db, argv[2]);
	db_close(db);
	return rc;
}
