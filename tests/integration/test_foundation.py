#!/usr/bin/env python3
"""Foundation: health, registration, API keys, auth, errors, rate limits."""
import concurrent.futures
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from harness import (URL, check, delete, expect, get, jwt, main, new_key, post, psql,
                     register, request, skip, test, wait_until)


@test
def health_and_ready():
    check(expect(get("/api/v1/health"), 200) == {"status": "ok"})
    check(expect(get("/api/v1/ready"), 200)["status"] == "ready")


@test
def no_stray_status_header():
    # "Status" is the FastCGI reply's way to tell the web server the code;
    # it must not reach the client as a header of its own.
    key = new_key()
    for r in (get("/api/v1/health"), get("/api/v1/nothing-here"), delete("/api/v1/health"),
              post("/api/v1/api-keys", {"name": "s"}, key=key), get("/api/v1/api-keys", key=key)):
        check(r.headers.get("Status") is None, (r.status, dict(r.headers)))
        check(r.status in (200, 201, 404, 405), r)


@test
def register_returns_seed_shape():
    email = "Ada.%s@Example.com" % uuid.uuid4().hex[:8]
    body = register("Acme Corp", email)
    org, user, key = body["organization"], body["user"], body["api_key"]
    check(org["id"].startswith("org_") and org["name"] == "Acme Corp", org)
    check(org["plan"] == "hobby" and org["slug"].startswith("acme-corp"), org)
    check(user["id"].startswith("user_") and user["email"] == email and user["role"] == "owner")
    check(key["key"].startswith("sk-sandbox-") and len(key["key"]) >= 54, key)
    check(key["key_prefix"] == key["key"][:15] and key["name"] == "Default API Key", key)
    rows = psql("SELECT action FROM audit_logs WHERE org_id = '%s'" % org["id"])
    check(["organization.register"] in rows, rows)
    stored = psql("SELECT key_hash FROM api_keys WHERE org_id = '%s'" % org["id"])
    check(len(stored) == 1 and key["key"] not in stored[0][0] and len(stored[0][0]) == 64)


@test
def register_slug_is_unique():
    a = register("Same Name Ltd")["organization"]["slug"]
    b = register("Same Name Ltd")["organization"]["slug"]
    check(a != b and b.startswith("same-name-ltd"), (a, b))
    check(register("!!!")["organization"]["slug"].startswith("org"))


@test
def register_duplicate_email_conflicts_case_insensitively():
    email = "dup%s@example.com" % uuid.uuid4().hex[:8]
    register(email=email)
    r = post("/api/v1/register", {"first_name": "A", "last_name": "B", "email": email.upper(),
                                  "organization_name": "X"})
    expect(r, 409, "conflict")


@test
def register_validation():
    good = {"first_name": "A", "last_name": "B", "email": "v%s@example.com" % uuid.uuid4().hex[:8],
            "organization_name": "O"}
    cases = [
        dict(good, email="not-an-email"),
        dict(good, email="a@b"),
        dict(good, email="a b@example.com"),
        {k: v for k, v in good.items() if k != "last_name"},
        dict(good, first_name=42),
        dict(good, organization_name=None),
        dict(good, organization_name=""),
        dict(good, use_case=["x"]),
        dict(good, surprise=1),
        dict(good, first_name="x" * 101),
        dict(good, first_name="a\nb"),
    ]
    for body in cases:
        expect(post("/api/v1/register", body), 400, "invalid_request")
    expect(post("/api/v1/register", raw=b"[1,2]", headers={"Content-Type": "application/json"}),
           400)
    expect(post("/api/v1/register", raw=b"{\"a\":", headers={"Content-Type": "application/json"}),
           400)
    expect(post("/api/v1/register", raw=b"", headers={"Content-Type": "application/json"}), 400)
    expect(post("/api/v1/register", raw=b"{}", headers={"Content-Type": "text/plain"}), 415,
           "unsupported_media_type")
    expect(post("/api/v1/register", raw=b"{" + b" " * (2 << 20) + b"}",
                headers={"Content-Type": "application/json"}), 413, "payload_too_large")
    expect(post("/api/v1/register", raw=b"[" * 100000, headers={"Content-Type": "application/json"}),
           400)


@test
def api_keys_list_never_shows_material():
    reg = register()
    key = reg["api_key"]["key"]
    body = expect(get("/api/v1/api-keys", key=key), 200)
    check(len(body["api_keys"]) == 1 and body["next_cursor"] is None, body)
    k = body["api_keys"][0]
    check(set(k) == {"id", "name", "key_prefix", "scopes", "created_at", "last_used_at",
                     "expires_at"}, k)
    check(k["scopes"] == ["read", "write", "admin"] and k["last_used_at"] is not None, k)
    check(key not in get("/api/v1/api-keys", key=key).body.decode())


@test
def api_keys_create_shows_key_once_and_paginates():
    key = new_key()
    made = []
    for i in range(3):
        body = expect(post("/api/v1/api-keys", {"name": "k%d" % i}, key=key), 201)
        check(body["key"].startswith("sk-sandbox-") and body["name"] == "k%d" % i, body)
        made.append(body["id"])
        expect(get("/api/v1/api-keys", key=body["key"]), 200)
    page1 = expect(get("/api/v1/api-keys?limit=2", key=key), 200)
    check(len(page1["api_keys"]) == 2 and page1["next_cursor"], page1)
    page2 = expect(get("/api/v1/api-keys?limit=2&cursor=" + page1["next_cursor"], key=key), 200)
    ids = [k["id"] for k in page1["api_keys"] + page2["api_keys"]]
    check(len(ids) == 4 and len(set(ids)) == 4 and page2["next_cursor"] is None, (page1, page2))
    check(ids[:3] == made[::-1], ids)
    expect(get("/api/v1/api-keys?limit=0", key=key), 400)
    expect(get("/api/v1/api-keys?limit=abc", key=key), 400)
    expect(get("/api/v1/api-keys?cursor=../../x", key=key), 400)


@test
def api_keys_create_validation():
    key = new_key()
    for body in [{}, {"name": ""}, {"name": 5}, {"name": "a", "scopes": []},
                 {"name": "a", "scopes": ["root"]}, {"name": "a", "scopes": "read"},
                 {"name": "a", "expires_in": 0}, {"name": "a", "expires_in": "10"},
                 {"name": "a", "expires_in": 10, "expires_at": "2099-01-01T00:00:00Z"},
                 {"name": "a", "expires_at": "2001-01-01T00:00:00Z"},
                 {"name": "a", "expires_at": "tomorrow"}, {"name": "a", "color": "red"}]:
        expect(post("/api/v1/api-keys", body, key=key), 400)
    body = expect(post("/api/v1/api-keys", {"name": "later", "expires_at": "2099-01-01T00:00:00Z"},
                       key=key), 201)
    check(body["expires_at"].startswith("2099-01-01"), body)


@test
def scopes_are_enforced():
    key = new_key()
    ro = expect(post("/api/v1/api-keys", {"name": "ro", "scopes": ["read"]}, key=key), 201)
    check(ro["scopes"] == ["read"], ro)
    expect(post("/api/v1/api-keys", {"name": "x"}, key=ro["key"]), 403, "forbidden")
    expect(get("/api/v1/api-keys", key=ro["key"]), 403)
    admin = expect(post("/api/v1/api-keys", {"name": "a", "scopes": ["admin"]}, key=key), 201)
    expect(post("/api/v1/api-keys", {"name": "y", "scopes": ["write"]}, key=admin["key"]), 403)


@test
def revocation_is_immediate_and_org_scoped():
    key = new_key()
    other = new_key()
    victim = expect(post("/api/v1/api-keys", {"name": "v"}, key=key), 201)
    expect(get("/api/v1/api-keys", key=victim["key"]), 200)
    expect(delete("/api/v1/api-keys/" + victim["id"], key=other), 404, "not_found")
    expect(get("/api/v1/api-keys", key=victim["key"]), 200)
    body = expect(delete("/api/v1/api-keys/" + victim["id"], key=key), 200)
    check(body == {"id": victim["id"], "revoked": True}, body)
    expect(get("/api/v1/api-keys", key=victim["key"]), 401, "unauthorized")
    expect(delete("/api/v1/api-keys/" + victim["id"], key=key), 404)
    expect(delete("/api/v1/api-keys/key_doesnotexist0000000", key=key), 404)
    expect(delete("/api/v1/api-keys/nonsense", key=key), 404)
    actions = psql("SELECT action FROM audit_logs WHERE target = '%s' ORDER BY id" % victim["id"])
    check(actions == [["api_key.create"], ["api_key.revoke"]], actions)


@test
def expiring_key_stops_working():
    key = new_key()
    short = expect(post("/api/v1/api-keys", {"name": "s", "expires_in": 1}, key=key), 201)
    expect(get("/api/v1/api-keys", key=short["key"]), 200)
    time.sleep(1.5)
    expect(get("/api/v1/api-keys", key=short["key"]), 401)


@test
def auth_failures():
    key = new_key()
    expect(get("/api/v1/api-keys"), 401, "unauthorized")
    expect(get("/api/v1/api-keys", headers={"Authorization": "ApiKey sk-sandbox-" + "x" * 43}), 401)
    expect(get("/api/v1/api-keys", headers={"Authorization": "ApiKey "}), 401)
    expect(get("/api/v1/api-keys", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    expect(get("/api/v1/api-keys", headers={"Authorization": "ApiKey " + key[:-1]}), 401)
    expect(get("/api/v1/api-keys", headers={"Authorization": "Bearer " + key}), 200)
    expect(get("/api/v1/api-keys", headers={"Authorization": "ApiKey " + key + "x" * 300}), 401)


@test
def jwt_bearer():
    org = register()["organization"]["id"]
    now = int(time.time())
    good = jwt({"org_id": org, "sub": "agent-1", "exp": now + 60})
    expect(get("/api/v1/api-keys", headers={"Authorization": "Bearer " + good}), 200)
    ro = jwt({"org_id": org, "sub": "agent-1", "exp": now + 60, "scopes": ["read"]})
    expect(get("/api/v1/api-keys", headers={"Authorization": "Bearer " + ro}), 403)
    bad = [
        jwt({"org_id": org, "sub": "a", "exp": now - 1}),
        jwt({"org_id": org, "sub": "a", "exp": now + 60}, secret="wrong"),
        jwt({"org_id": org, "sub": "a", "exp": now + 60}, header={"alg": "none"}),
        jwt({"org_id": org, "sub": "a", "exp": now + 60}, header={"alg": "HS512"}),
        jwt({"org_id": "org_doesnotexist00000000", "sub": "a", "exp": now + 60}),
        jwt({"sub": "a", "exp": now + 60}),
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "a.b.c",
    ]
    for tok in bad:
        expect(get("/api/v1/api-keys", headers={"Authorization": "Bearer " + tok}), 401)


@test
def rate_limit_answers_429_with_retry_after():
    key = new_key()
    burst = int(os.environ.get("SANDPIT_RATE_BURST", "100"))
    statuses = []
    # Send in rounds until the bucket is empty: a slow build (ASan) refills
    # part of it while the first round is still running.
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for _ in range(10):
            for r in ex.map(lambda _: get("/api/v1/api-keys", key=key), range(burst + 20)):
                statuses.append((r.status, r.headers.get("Retry-After"), r))
            if any(s[0] == 429 for s in statuses):
                break
    limited = [s for s in statuses if s[0] == 429]
    check(limited, "no 429 after %d requests" % len(statuses))
    check(all(s[0] in (200, 429) for s in statuses),
          sorted(set((s[0], s[2].body[:120]) for s in statuses)))
    expect(limited[0][2], 429, "rate_limited")
    check(int(limited[0][1]) >= 1, limited[0])
    # Another key of another org is unaffected.
    expect(get("/api/v1/api-keys", key=new_key()), 200)


def rate_settings():
    return (int(os.environ.get("SANDPIT_RATE_LIMIT", "600")),
            int(os.environ.get("SANDPIT_RATE_BURST", "100")))


@test
def rate_limit_counts_exactly_across_workers():
    # Every worker of the host shares one leased pool and the row in
    # PostgreSQL is the bucket of record: a burst spread over all workers
    # admits the bucket and what refilled meanwhile, never more, and at most
    # one lease (a tenth of the burst) less.
    rate, burst = rate_settings()
    key = new_key()
    lease = max(1, burst // 10)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        statuses = list(ex.map(lambda _: get("/api/v1/api-keys", key=key).status,
                               range(2 * burst + 50)))
    elapsed = time.monotonic() - t0
    ok = statuses.count(200)
    check(set(statuses) <= {200, 429}, sorted(set(statuses)))
    refilled = rate / 60.0 * elapsed
    check(ok <= burst + refilled + 1, "admitted %d, bucket %d + refill %.1f" % (ok, burst, refilled))
    check(ok >= burst - lease, "admitted only %d of a bucket of %d" % (ok, burst))


@test
def retry_after_is_honoured():
    rate, burst = rate_settings()
    key = new_key()
    r = None
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for _ in range(10):
            rs = list(ex.map(lambda _: get("/api/v1/api-keys", key=key), range(burst + 20)))
            r = next((x for x in rs if x.status == 429), None)
            if r is not None:
                break
    check(r is not None, "never limited")
    wait = int(r.headers["Retry-After"])
    check(1 <= wait <= max(1, 60 // rate + 1), wait)
    time.sleep(wait)
    expect(get("/api/v1/api-keys", key=key), 200)


@test
def last_used_at_is_not_written_per_request():
    key = new_key()
    first = expect(get("/api/v1/api-keys", key=key), 200)["api_keys"][0]["last_used_at"]
    for _ in range(5):
        again = expect(get("/api/v1/api-keys", key=key), 200)["api_keys"][0]["last_used_at"]
        check(again == first, (first, again))
    # and it is written at least once a minute: backdate it, use the key
    psql("UPDATE api_keys SET last_used_at = now() - interval '2 minutes' "
         "WHERE key_hash = encode(sha256('%s'::bytea), 'hex')" % key)
    expect(get("/api/v1/api-keys", key=key), 200)
    after = expect(get("/api/v1/api-keys", key=key), 200)["api_keys"][0]["last_used_at"]
    check(after > first, (first, after))


@test
def errors_and_request_ids():
    r = get("/api/v1/nope")
    expect(r, 404, "not_found")
    r = request("PATCH", "/api/v1/api-keys")
    expect(r, 405, "method_not_allowed")
    check("GET" in r.headers["Allow"] and "POST" in r.headers["Allow"])
    r = get("/api/v1/health", headers={"X-Request-Id": "abc-123_x.y"})
    check(r.headers["X-Request-Id"] == "abc-123_x.y")
    r = get("/api/v1/health", headers={"X-Request-Id": "bad id with spaces"})
    check(r.headers["X-Request-Id"].startswith("req_"))
    # The web server refuses a NUL in the path before we see it (Caddy with
    # 400, Apache with 404); either way nothing reaches a handler.
    check(get("/api/v1/%00").status in (400, 404))
    expect(get("/api/v1/health/"), 200)


def api_workers():
    master = open(os.path.join(os.environ["SANDPIT_STATE_DIR"], "run/api.pid")).read().split()[0]
    out = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@test
def worker_killed_mid_load_is_replaced():
    keys = [new_key() for _ in range(4)]
    before = api_workers()
    check(len(before) >= 2, before)
    stop = [time.monotonic() + 60]  # until 2 s after the kill
    results = []

    def hammer(i):
        while time.monotonic() < stop[0]:
            results.append(get("/api/v1/api-keys", key=keys[i % 4]).status)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(hammer, i) for i in range(8)]
        try:
            # mid-load: answers are coming back
            wait_until(lambda: len(results) >= 16, 30, "the load under way")
            os.kill(before[0], signal.SIGKILL)
        finally:
            stop[0] = time.monotonic() + 2
        for f in futs:
            f.result()
    check(results.count(200) > 50, results[:20])
    def replaced():
        after = api_workers()
        return len(after) == len(before) and before[0] not in after
    wait_until(replaced, 10, "the killed worker replaced (before %r)" % before)
    for i in range(40):
        expect(get("/api/v1/health"), 200)


# ---- configuration: a bad value stops start-up, naming the key -------------------------

def start_with(binary, args, **settings):
    """Run a binary of this build with extra settings, as the services run it, on
    a private listen socket (never the stack's); (exit code, stderr), or None if
    it was still running after 10 s (it started: the value was not refused)."""
    d = tempfile.mkdtemp(prefix="badconf-")
    env = dict(os.environ, SANDPIT_FCGI_LISTEN=os.path.join(d, "api.sock"),
               SANDPIT_STREAM_LISTEN=os.path.join(d, "stream.sock"), **settings)
    env.pop("SANDPIT_CONFIG", None)
    p = subprocess.Popen([os.path.join(os.environ["SANDPIT_BIN"], binary)] + args, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        _, err = p.communicate(timeout=10)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        p.communicate(timeout=30)
        return None
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test
def bad_default_memory_stops_start_up():
    # Before the check, the API started with it and every create answered 400
    # blaming the client's (absent) memory, while the warm pool quietly stopped.
    if not os.environ.get("SANDPIT_BIN"):
        skip("SANDPIT_BIN not set")
    for binary, args in (("sandpit-api", []), ("sandpit-stream", []),
                         ("sandpit-reaper", ["--check-config"])):
        for settings, names in (({"DEFAULT_MEMORY": "2GB of RAM"}, ["DEFAULT_MEMORY"]),
                                ({"DEFAULT_CPUS": "two"}, ["DEFAULT_CPUS"]),
                                ({"DEFAULT_TIMEOUT": "7200", "SANDPIT_MAX_TIMEOUT": "3600",
                                  "SANDPIT_EXEC_MAX_TIMEOUT": "600"},
                                 ["DEFAULT_TIMEOUT", "SANDPIT_MAX_TIMEOUT"])):
            got = start_with(binary, args, **settings)
            check(got is not None, "%s started with %r" % (binary, settings))
            rc, err = got
            check(rc != 0 and all(n in err for n in names), (binary, settings, rc, err))
    # the same binaries with good values get past the configuration
    rc, err = start_with("sandpit-reaper", ["--check-config"], DEFAULT_MEMORY="1536Mi")
    check(rc == 0, err)


if __name__ == "__main__":
    main("integration")
