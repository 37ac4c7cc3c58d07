#!/usr/bin/env python3
"""Limits that do not multiply: one rate bucket per organization over all of
its keys, a cap on its live keys, registration throttled per client address,
closed registration with `sandpit-admin create-org`, and sandpit-migrate's
numbering (renamed migrations never run twice, duplicate numbers are refused,
a listing that fails is a failure).

Registration settings are read at start, so those tests run a second
sandpit-api and Caddy of their own on the stack's database, and send from
loopback addresses other than 127.0.0.1 (Caddy passes the peer address as
REMOTE_ADDR)."""
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid

from harness import (STATE, SecondApi, check, delete, expect, get, main, new_key, post, psql,
                     register, test)

BIN = os.environ.get("SANDPIT_BIN", "")
AS_SANDPIT = ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--"]


def org_of(reg):
    return reg["organization"]["id"]


# ---- the organization's bucket --------------------------------------------------------


@test
def org_bucket_bounds_all_keys_together_and_spares_other_orgs():
    # Every key has its own bucket (300 here); minting keys must not multiply
    # what the org may send. The org's own limit is set before its keys are
    # minted so no token of the instance default is leased to this host.
    rate, burst = 60, 12
    a = register()
    psql("UPDATE organizations SET rate_limit = %d, rate_burst = %d WHERE id = '%s'"
         % (rate, burst, org_of(a)))
    admin = a["api_key"]["key"]
    keys = [admin] + [expect(post("/api/v1/api-keys", {"name": "k%d" % i}, key=admin), 201)["key"]
                      for i in range(3)]
    other = new_key()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        fa = [ex.submit(get, "/api/v1/sandboxes", key=keys[i % 4]) for i in range(80)]
        fb = [ex.submit(get, "/api/v1/sandboxes", key=other) for _ in range(40)]
        ra = [f.result() for f in fa]
        rb = [f.result() for f in fb]
    elapsed = time.monotonic() - t0
    ok = sum(r.status == 200 for r in ra)
    check(set(r.status for r in ra) <= {200, 429}, sorted(set(r.status for r in ra)))
    # 3 tokens went to minting; each key alone would have admitted all 20 of its requests
    allowed = burst - 3 + rate / 60.0 * elapsed + 1
    check(ok <= allowed, "org admitted %d over 4 keys, bucket allows %.1f" % (ok, allowed))
    limited = [r for r in ra if r.status == 429]
    expect(limited[0], 429, "rate_limited")
    check(int(limited[0].headers["Retry-After"]) >= 1, limited[0].headers)
    check(all(r.status == 200 for r in rb), [r.status for r in rb])


# ---- the cap on live keys ---------------------------------------------------------------


@test
def live_keys_are_capped_per_org():
    a = register()
    admin = a["api_key"]["key"]
    psql("UPDATE organizations SET max_api_keys = 3 WHERE id = '%s'" % org_of(a))
    k2 = expect(post("/api/v1/api-keys", {"name": "two"}, key=admin), 201)
    expect(post("/api/v1/api-keys", {"name": "three"}, key=admin), 201)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(lambda i: post("/api/v1/api-keys", {"name": "x%d" % i}, key=admin),
                         range(4)))
    check([r.status for r in rs] == [409] * 4, [r.status for r in rs])
    expect(rs[0], 409, "quota_exceeded")
    check(rs[0].headers.get("Retry-After") is None and "revoke" in rs[0].json()["error"]["message"],
          rs[0])
    live = psql("SELECT count(*) FROM api_keys WHERE org_id = '%s' AND revoked_at IS NULL"
                % org_of(a))
    check(live == [["3"]], live)
    # A revoked key frees its place; another org is not affected.
    expect(delete("/api/v1/api-keys/" + k2["id"], key=admin), 200)
    expect(post("/api/v1/api-keys", {"name": "four"}, key=admin), 201)
    other = new_key()
    for i in range(3):
        expect(post("/api/v1/api-keys", {"name": "o%d" % i}, key=other), 201)


# ---- a second API with its own registration settings ------------------------------------


def registration(org="Limits Org"):
    return {"first_name": "L", "last_name": "Imit", "organization_name": org,
            "email": "l%s@example.com" % uuid.uuid4().hex[:12]}


def loopback_pair():
    a = random.randint(2, 250)
    return "127.0.0.%d" % a, "127.0.0.%d" % (a + 1)


@test
def registration_is_throttled_per_client_address():
    first, second = loopback_pair()
    psql("DELETE FROM rate_buckets WHERE key_id IN ('reg:%s', 'reg:%s')" % (first, second))
    inst = SecondApi(prefix="limits-", SANDPIT_REGISTRATION="open",
                     SANDPIT_REGISTRATION_RATE="60", SANDPIT_REGISTRATION_BURST="3")
    try:
        made = [inst.request("POST", "/api/v1/register", registration(), source=first)
                for _ in range(3)]
        check([r.status for r in made] == [201] * 3, made)
        # a malformed request costs nothing
        bad = inst.request("POST", "/api/v1/register", {"email": "x"}, source=first)
        expect(bad, 400)
        over = inst.request("POST", "/api/v1/register", registration(), source=first)
        expect(over, 429, "rate_limited")
        check(1 <= int(over.headers["Retry-After"]) <= 61, over.headers)
        # another address is its own bucket
        expect(inst.request("POST", "/api/v1/register", registration(), source=second), 201)
    finally:
        inst.stop()


def admin(*args):
    return subprocess.run(AS_SANDPIT + [os.path.join(BIN, "sandpit-admin")] + list(args),
                          capture_output=True, text=True, timeout=60)


@test
def closed_registration_and_admin_create_org():
    inst = SecondApi(prefix="limits-", SANDPIT_REGISTRATION="closed")
    try:
        body = registration()
        r = inst.request("POST", "/api/v1/register", body)
        expect(r, 403, "registration_closed")
        check("sandpit-admin" in r.json()["error"]["message"], r)
        check(psql("SELECT count(*) FROM users WHERE email = '%s'" % body["email"]) == [["0"]])
    finally:
        inst.stop()
    name = "Closed Co %s" % uuid.uuid4().hex[:8]
    out = admin("create-org", name, "owner-%s@example.com" % uuid.uuid4().hex[:8])
    check(out.returncode == 0, out)
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    org, key = lines["Organization"], lines["API key"]
    keys = expect(get("/api/v1/api-keys", key=key), 200)["api_keys"]
    check(len(keys) == 1, keys)
    check(psql("SELECT name FROM organizations WHERE id = '%s'" % org) == [[name]])
    # With a live key the org is left alone; without one, it gets a new key.
    again = admin("create-org", name)
    check(again.returncode == 1 and "live key" in again.stderr, again)
    expect(delete("/api/v1/api-keys/" + keys[0]["id"], key=key), 200)
    again = admin("create-org", name)
    check(again.returncode == 0 and "Organization: %s (existing)" % org in again.stdout, again)
    key2 = again.stdout.split("API key: ", 1)[1].strip()
    expect(get("/api/v1/sandboxes", key=key2), 200)
    expect(get("/api/v1/sandboxes", key=key), 401)


@test
def registration_setting_is_validated_at_start():
    out = subprocess.run([os.path.join(BIN, "sandpit-api"), "--check-config"],
                         env=dict(os.environ, SANDPIT_REGISTRATION="maybe"),
                         capture_output=True, text=True, timeout=30)
    check(out.returncode != 0 and "SANDPIT_REGISTRATION" in out.stderr
          and "open|closed" in out.stderr, out)


# ---- sandpit-migrate ----------------------------------------------------------------------

RENAMED = [("003_webhooks.sql", "004_webhooks.sql"),
           ("004_resource_level.sql", "005_resource_level.sql"),
           ("005_rate_lease.sql", "006_rate_lease.sql"),
           ("006_api_keys_page.sql", "007_api_keys_page.sql"),
           ("007_claim_functions.sql", "008_claim_functions.sql")]


def migrate(directory, **env):
    return subprocess.run(AS_SANDPIT + [os.path.join(BIN, "sandpit-migrate"), directory],
                          env=dict(os.environ, **env), capture_output=True, text=True,
                          timeout=120)


def scratch_dir():
    d = tempfile.mkdtemp(prefix="migrate-", dir=os.path.join(STATE, "run"))
    shutil.chown(d, "sandpit", "sandpit")
    return d


@test
def a_database_recorded_under_the_old_names_applies_nothing_twice():
    recorded = [r[0] for r in psql("SELECT name FROM schema_migrations")]
    check(all(new in recorded for _, new in RENAMED), recorded)
    # Put the bookkeeping back as a deployment from before the renumbering has it.
    psql("; ".join("UPDATE schema_migrations SET name = '%s' WHERE name = '%s'" % (old, new)
                   for old, new in RENAMED))
    try:
        out = migrate(os.path.join(STATE, "db"))
        check(out.returncode == 0 and "applied=0" in out.stderr, out)
        now = [r[0] for r in psql("SELECT name FROM schema_migrations")]
        check(all(new in now and old not in now for old, new in RENAMED), now)
    finally:
        psql("; ".join("UPDATE schema_migrations SET name = '%s' WHERE name = '%s'" % (new, old)
                       for old, new in RENAMED))


@test
def two_migrations_of_one_number_are_refused_before_anything_runs():
    d = scratch_dir()
    try:
        table = "sp_dup_%s" % uuid.uuid4().hex[:8]
        for name in ("001_a_%s.sql" % table, "001_b_%s.sql" % table):
            with open(os.path.join(d, name), "w") as f:
                f.write("CREATE TABLE %s_%s (x int);\n" % (table, name[4]))
        out = migrate(d)
        check(out.returncode != 0 and "share the number 001" in out.stderr, out)
        check(psql("SELECT count(*) FROM schema_migrations WHERE name LIKE '%%%s%%'" % table)
              == [["0"]])
        check(psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%s%%'" % table)
              == [["0"]])
        # the repository's own directory has unique numbers
        names = sorted(n for n in os.listdir(os.path.join(STATE, "db")) if n.endswith(".sql"))
        check(len(set(n[:3] for n in names)) == len(names), names)
    finally:
        shutil.rmtree(d, ignore_errors=True)


FAIL_STRDUP = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
/* strdup fails for the one string named by SP_FAIL_STRDUP */
char *strdup(const char *s)
{
	static char *(*real)(const char *);
	const char *victim = getenv("SP_FAIL_STRDUP");

	if (victim != NULL && strcmp(s, victim) == 0)
		return NULL;
	if (real == NULL)
		real = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
	return real(s);
}
"""


@test
def a_listing_cut_short_by_memory_is_a_failure_not_up_to_date():
    d = scratch_dir()
    try:
        src = os.path.join(d, "fail_strdup.c")
        so = os.path.join(d, "fail_strdup.so")
        with open(src, "w") as f:
            f.write(FAIL_STRDUP)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", so, src, "-ldl"], check=True)
        os.chmod(so, 0o755)
        os.chmod(d, 0o755)
        out = migrate(os.path.join(STATE, "db"), LD_PRELOAD=so, SP_FAIL_STRDUP="004_webhooks.sql")
        check(out.returncode != 0 and "up to date" not in out.stderr, out)
        check(migrate(os.path.join(STATE, "db")).returncode == 0)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main("limits")
