"""Secrets (bring-your-own keys): POST/GET/DELETE /api/v1/secrets, sealed at
rest, injected into the env of an org's new sandboxes, rotated with
sandpit-admin, and never shown: not in a response, a log file or a dump of
the database (the last test looks for every value this suite used)."""
import os
import secrets as rnd
import subprocess
import tempfile
import time
import uuid

from harness import (STATE, URL, check, delete, expect, get, main, new_key, post, psql, request,
                     test)

BIN = os.environ.get("SANDPIT_BIN", os.path.join(os.path.dirname(__file__), "../../build/release"))
VALUES = []  # every plaintext value used: none may show up anywhere


def value(tag="v"):
    """A distinctive random value (and remember it for the leak checks)."""
    v = "spv-%s-%s" % (tag, rnd.token_hex(16))
    VALUES.append(v)
    return v


def name():
    return "SP_SECRET_%s" % uuid.uuid4().hex[:10].upper()


def org_of(key):
    return psql("SELECT org_id FROM api_keys WHERE key_prefix = '%s'" % key[:15])[0][0]


def put(key, n, v, status=201):
    return expect(post("/api/v1/secrets", {"name": n, "value": v}, key=key), status)


def names(key):
    return sorted(s["name"] for s in expect(get("/api/v1/secrets", key=key), 200)["secrets"])


def sandbox(key, body=None, status=201):
    r = post("/api/v1/sandbox/create", body or {}, key=key, timeout=120)
    for v in VALUES:
        check(v.encode() not in r.body, "a secret value in the create response")
    return expect(r, status)


def run(key, sid, cmd):
    r = post("/api/v1/sandbox/%s/execute" % sid, {"command": cmd}, key=key, timeout=120)
    return expect(r, 200)


def printenv(key, sid, n):
    out = run(key, sid, "printenv %s || echo '<unset>'" % n)
    return out["stdout"].rstrip("\n")


def drop(key, sid):
    expect(delete("/api/v1/sandbox/" + sid, key=key), 200)


@test
def store_list_replace_delete():
    key = new_key()
    n1, n2, v1, v2 = name(), name(), value(), value()
    s = put(key, n1, v1)
    check(set(s) == {"name", "created_at", "updated_at"} and s["name"] == n1, s)
    put(key, n2, v2)
    check(names(key) == sorted([n1, n2]))
    listed = expect(get("/api/v1/secrets", key=key), 200)
    check(all(set(x) == {"name", "created_at", "updated_at"} for x in listed["secrets"]), listed)
    check(listed["next_cursor"] is None, listed)
    # Posting an existing name replaces its value: 200, same created_at.
    v1b = value()
    time.sleep(0.01)
    s2 = put(key, n1, v1b, 200)
    check(s2["created_at"] == s["created_at"] and s2["updated_at"] > s["updated_at"], (s, s2))
    check(names(key) == sorted([n1, n2]))
    # Pages, newest first.
    one = expect(get("/api/v1/secrets?limit=1", key=key), 200)
    check([x["name"] for x in one["secrets"]] == [n2] and one["next_cursor"].startswith("sec_"),
          one)
    rest = expect(get("/api/v1/secrets?limit=1&cursor=" + one["next_cursor"], key=key), 200)
    check([x["name"] for x in rest["secrets"]] == [n1] and rest["next_cursor"] is None, rest)
    expect(get("/api/v1/secrets?limit=0", key=key), 400)
    expect(get("/api/v1/secrets?cursor=nope", key=key), 400)
    # Delete: 200 once, then 404.
    check(expect(delete("/api/v1/secrets/" + n1, key=key), 200) == {"name": n1, "deleted": True})
    expect(delete("/api/v1/secrets/" + n1, key=key), 404, "not_found")
    expect(delete("/api/v1/secrets/NOT_THERE", key=key), 404)
    expect(delete("/api/v1/secrets/bad-name", key=key), 404)
    check(names(key) == [n2])
    # Stored sealed, under key id 0 (SANDPIT_SECRET_KEY), bound to org and name.
    row = psql("SELECT key_id, sealed FROM secrets WHERE name = '%s'" % n2)[0]
    check(row[0] == "0" and v2 not in row[1] and v2.encode().hex() not in row[1], row)
    check(len(row[1]) == 2 * (len(v2) + 28), row)
    # Audit rows name the secret, never its value.
    acts = psql("SELECT action, target, coalesce(details::text, '') FROM audit_logs WHERE "
                "org_id = '%s' AND action LIKE 'secret.%%' ORDER BY id" % org_of(key))
    check([a[:2] for a in acts] == [["secret.create", n1], ["secret.create", n2],
                                    ["secret.update", n1], ["secret.delete", n1]], acts)
    check(not any(v in "".join(a) for a in acts for v in VALUES), acts)


@test
def auth_and_scopes():
    key = new_key()
    n = name()
    body = {"name": n, "value": value()}
    expect(post("/api/v1/secrets", body), 401, "unauthorized")
    expect(get("/api/v1/secrets"), 401)
    expect(delete("/api/v1/secrets/" + n), 401)
    bad = {"Authorization": "ApiKey sk-sandbox-" + "x" * 43}
    expect(request("POST", "/api/v1/secrets", body=body, headers=bad), 401)
    expect(request("GET", "/api/v1/secrets", headers=bad), 401)
    # A revoked key.
    victim = expect(post("/api/v1/api-keys", {"name": "victim"}, key=key), 201)
    expect(delete("/api/v1/api-keys/" + victim["id"], key=key), 200)
    expect(post("/api/v1/secrets", body, key=victim["key"]), 401)
    expect(get("/api/v1/secrets", key=victim["key"]), 401)
    # Secrets are admin: a read/write key is refused, like webhooks.
    rw = expect(post("/api/v1/api-keys", {"name": "rw", "scopes": ["read", "write"]}, key=key),
                201)["key"]
    expect(post("/api/v1/secrets", body, key=rw), 403, "forbidden")
    expect(get("/api/v1/secrets", key=rw), 403)
    expect(delete("/api/v1/secrets/" + n, key=rw), 403)
    check(names(key) == [], "nothing stored by a refused request")


@test
def validation():
    key = new_key()
    n = name()
    cases = [
        {"value": "x"},
        {"name": n},
        {"name": "", "value": "x"},
        {"name": "1ABC", "value": "x"},
        {"name": "A-B", "value": "x"},
        {"name": "A B", "value": "x"},
        {"name": "A=B", "value": "x"},
        {"name": "A" * 129, "value": "x"},
        {"name": 7, "value": "x"},
        {"name": n, "value": 7},
        {"name": n, "value": None},
        {"name": n, "value": ""},
        {"name": n, "value": "x", "surprise": True},
    ]
    for body in cases:
        expect(post("/api/v1/secrets", body, key=key), 400, "invalid_request")
    # A NUL escape would cut the value short: refused.
    raw = b'{"name": "%s", "value": "abc\\u0000def"}' % n.encode()
    expect(request("POST", "/api/v1/secrets", raw=raw, key=key,
                   headers={"Content-Type": "application/json"}), 400)
    # Lone surrogates are not UTF-8.
    raw = b'{"name": "%s", "value": "abc\\ud800"}' % n.encode()
    expect(request("POST", "/api/v1/secrets", raw=raw, key=key,
                   headers={"Content-Type": "application/json"}), 400)
    expect(request("POST", "/api/v1/secrets", raw=b"not json", key=key,
                   headers={"Content-Type": "application/json"}), 400)
    expect(request("POST", "/api/v1/secrets", raw=b'{"name":"A","value":"x"}', key=key,
                   headers={"Content-Type": "text/plain"}), 415)
    # Size: 16 KiB is the largest value.
    expect(post("/api/v1/secrets", {"name": n, "value": "x" * 16385}, key=key), 413)
    expect(post("/api/v1/secrets", {"name": n, "value": "\u00e9" * 10000}, key=key), 413)
    expect(post("/api/v1/secrets", {"name": n, "value": "x" * 200000}, key=key), 413)
    put(key, n, "y" * 16384)
    # Newlines (PEM keys) and any UTF-8 are fine.
    put(key, name(), "-----BEGIN KEY-----\nabc\n-----END KEY-----\n\u00e9\u2603")
    check(len(names(key)) == 2)


@test
def per_org_cap():
    key = new_key()
    # Full-size values: fifty of them still fit one SETENV and an execve.
    for i in range(50):
        put(key, "CAP_%02d" % i, ("v%02d" % i) * 5461 + "x")
    r = expect(post("/api/v1/secrets", {"name": "CAP_50", "value": "x"}, key=key), 429)
    check("at most 50 secrets" in r["error"]["message"], r)
    # Replacing one at the cap is fine; after a delete there is room again.
    put(key, "CAP_00", "again", 200)
    expect(delete("/api/v1/secrets/CAP_01", key=key), 200)
    put(key, "CAP_50", "x")
    # All fifty reach a sandbox.
    sid = sandbox(key)["sandbox_id"]
    out = run(key, sid, "env | grep -c '^CAP_'")["stdout"].strip()
    check(out == "50", out)
    check(printenv(key, sid, "CAP_00") == "again")
    out = run(key, sid, "printenv CAP_49 | wc -c; printenv CAP_49 | head -c 6")["stdout"]
    check(out == "16385\nv49v49", out)
    drop(key, sid)


@test
def injected_into_new_sandboxes_and_create_env_wins():
    key = new_key()
    n1, n2, v1, v2 = name(), name(), value(), value()
    put(key, n1, v1)
    put(key, n2, v2)
    mine = value("create-env")
    sb = sandbox(key, {"env": {n2: mine}})
    sid = sb["sandbox_id"]
    check(printenv(key, sid, n1) == v1)
    check(printenv(key, sid, n2) == mine, "the create's env must win over a secret")
    # GET /sandbox/:id and the list never show an injected value.
    for r in (get("/api/v1/sandbox/" + sid, key=key), get("/api/v1/sandboxes", key=key)):
        expect(r, 200)
        check(v1.encode() not in r.body and v2.encode() not in r.body, r)
    # Nor does the row: the sandbox's env column holds the create's env only.
    env = psql("SELECT env::text FROM sandboxes WHERE id = '%s'" % sid)[0][0]
    check(v1 not in env and v2 not in env and mine in env, env)
    # An execute's own env wins too.
    r = post("/api/v1/sandbox/%s/execute" % sid,
             {"command": "printenv %s" % n1, "env": {n1: "override"}}, key=key, timeout=120)
    check(expect(r, 200)["stdout"].strip() == "override")
    # Replace: a later sandbox gets the new value; the running one keeps its env.
    v1b = value()
    put(key, n1, v1b, 200)
    sid2 = sandbox(key)["sandbox_id"]
    check(printenv(key, sid2, n1) == v1b)
    check(printenv(key, sid2, n2) == v2)
    check(printenv(key, sid, n1) == v1)
    # Delete: later sandboxes no longer get it.
    expect(delete("/api/v1/secrets/" + n1, key=key), 200)
    sid3 = sandbox(key)["sandbox_id"]
    check(printenv(key, sid3, n1) == "<unset>")
    check(printenv(key, sid3, n2) == v2)
    for s in (sid, sid2, sid3):
        drop(key, s)


# One command over the WebSocket stream (python3-websockets, Debian's, so
# /usr/bin/python3): its stdout.
STREAM_CLIENT = r"""
import asyncio, base64, json, sys, websockets
async def main(url, key, cmd):
    out = b""
    async with websockets.connect(url, extra_headers={"Authorization": "ApiKey " + key}) as ws:
        await ws.send(json.dumps({"type": "exec", "command": cmd}))
        async for m in ws:
            m = json.loads(m)
            if m["type"] == "stdout":
                out += base64.b64decode(m["data"]) if m.get("encoding") == "base64" \
                    else m["data"].encode()
    sys.stdout.write(out.decode())
asyncio.run(main(*sys.argv[1:]))
"""


@test
def stream_commands_see_secrets_too():
    key = new_key()
    n, v = name(), value("stream")
    put(key, n, v)
    sid = sandbox(key)["sandbox_id"]
    url = URL.replace("http://", "ws://", 1) + "/api/v1/sandbox/%s/stream" % sid
    p = subprocess.run(["/usr/bin/python3", "-c", STREAM_CLIENT, url, key, "printenv " + n],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and p.stdout == v + "\n", p)
    drop(key, sid)


@test
def orgs_are_isolated():
    a, b = new_key(), new_key()
    n, va = name(), value()
    put(a, n, va)
    check(names(b) == [])
    expect(delete("/api/v1/secrets/" + n, key=b), 404)
    check(names(a) == [n], "org B's delete must not touch org A's secret")
    # B may have its own secret of the same name.
    vb = value()
    put(b, n, vb)
    sid = sandbox(b)["sandbox_id"]
    check(printenv(b, sid, n) == vb)
    drop(b, sid)
    expect(delete("/api/v1/secrets/" + n, key=b), 200)
    sid = sandbox(b)["sandbox_id"]
    check(printenv(b, sid, n) == "<unset>", "org A's secret leaked into org B's sandbox")
    drop(b, sid)
    sid = sandbox(a)["sandbox_id"]
    check(printenv(a, sid, n) == va)
    drop(a, sid)
    # A ciphertext moved to another org's row does not open: the create
    # fails cleanly (the sandbox is marked error), and no value leaks.
    c = new_key()
    org_a, org_c = org_of(a), org_of(c)
    psql("INSERT INTO secrets (id, org_id, name, key_id, sealed) SELECT 'sec_%s', '%s', name, "
         "key_id, sealed FROM secrets WHERE org_id = '%s' AND name = '%s'"
         % (uuid.uuid4().hex[:20], org_c, org_a, n))
    r = sandbox(c, status=502)
    check("secrets" in r["error"]["message"], r)
    check(psql("SELECT status FROM sandboxes WHERE org_id = '%s'" % org_c) == [["error"]])
    psql("DELETE FROM secrets WHERE org_id = '%s'" % org_c)


# ---- key ring and rotation ------------------------------------------------

def as_sandpit(args, **env):
    full = dict(os.environ, SANDPIT_STATE_DIR=STATE, SANDPIT_SECRET_KEY=legacy_key())
    full.update(env)
    return subprocess.run(["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups",
                           "--"] + args, env=full, capture_output=True, text=True, timeout=120)


def legacy_key():
    for line in open(os.path.join(STATE, "secrets.env")):
        if line.startswith("SANDPIT_SECRET_KEY="):
            return line.strip().split("=", 1)[1]
    raise AssertionError("no SANDPIT_SECRET_KEY in secrets.env")


@test
def bad_or_missing_keys_stop_start_up():
    api = os.path.join(BIN, "sandpit-api")
    k0, k2 = legacy_key(), rnd.token_hex(32)
    ok = as_sandpit([api, "--check-config"], SANDPIT_SECRET_KEYS="k2:%s,0:%s" % (k2, k0))
    check(ok.returncode == 0 and k2 not in ok.stdout and k0 not in ok.stdout, ok)
    check("SANDPIT_SECRET_KEYS=<redacted>" in ok.stdout, ok.stdout)
    bad = [
        ({"SANDPIT_SECRET_KEY": "", "SANDPIT_SECRET_KEYS": ""}, "no key"),
        ({"SANDPIT_SECRET_KEY": "abc"}, "SANDPIT_SECRET_KEY"),
        ({"SANDPIT_SECRET_KEY": "g" * 64}, "SANDPIT_SECRET_KEY"),
        ({"SANDPIT_SECRET_KEYS": "k2:" + k2[:-1]}, "SANDPIT_SECRET_KEYS"),
        ({"SANDPIT_SECRET_KEYS": k2}, "SANDPIT_SECRET_KEYS"),
        ({"SANDPIT_SECRET_KEYS": "k 2:" + k2}, "SANDPIT_SECRET_KEYS"),
        ({"SANDPIT_SECRET_KEYS": "k2:%s,k2:%s" % (k2, k0)}, "twice"),
        ({"SANDPIT_SECRET_KEYS": "k2:%s," % k2}, "SANDPIT_SECRET_KEYS"),
        ({"SANDPIT_SECRET_KEYS": "0:" + k2}, "key id \"0\""),
    ]
    for env, why in bad:
        p = as_sandpit([api, "--check-config"], **env)
        check(p.returncode == 1 and why in p.stderr, (env, p))
        check(k2 not in p.stderr and k0 not in p.stderr, "a key in an error message")
    # Only the key ring: no SANDPIT_SECRET_KEY at all is fine too.
    p = as_sandpit([api, "--check-config"], SANDPIT_SECRET_KEY="", SANDPIT_SECRET_KEYS="a:" + k2)
    check(p.returncode == 0, p)


class KeyedApi:
    """A second API worker on its own FastCGI socket (same database, same
    sandboxes) with its own key ring, spoken to with cgi-fcgi; its log goes
    with the instance's logs so the leak check reads it."""

    def __init__(self, keys):
        self.dir = tempfile.mkdtemp(prefix="sec-api-", dir=os.path.join(STATE, "run"))
        subprocess.run(["chown", "sandpit:sandpit", self.dir], check=True)
        self.sock = os.path.join(self.dir, "api.sock")
        env = dict(os.environ, SANDPIT_FCGI_LISTEN=self.sock, SANDPIT_WORKERS="1",
                   SANDPIT_THREADS="2", SANDPIT_SECRET_KEY=legacy_key(),
                   SANDPIT_SECRET_KEYS=keys)
        self.log = open(os.path.join(STATE, "logs", "secrets-keyed-api.log"), "a")
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
             os.path.join(BIN, "sandpit-api")], env=env, stdout=self.log, stderr=self.log)
        t0 = time.monotonic()
        while not os.path.exists(self.sock):
            check(time.monotonic() - t0 < 15, "keyed api did not start")
            time.sleep(0.05)

    def create(self, key):
        import json
        data = b"{}"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REQUEST_METHOD": "POST",
               "REQUEST_URI": "/api/v1/sandbox/create", "SCRIPT_NAME": "/api/v1/sandbox/create",
               "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(data)), "HTTP_AUTHORIZATION": "ApiKey " + key}
        out = subprocess.run(["cgi-fcgi", "-bind", "-connect", self.sock], input=data, env=env,
                             capture_output=True, timeout=120).stdout.decode()
        head, _, body = out.partition("\r\n\r\n")
        status = int(head.split("\r\n")[0].split()[1])
        check(status == 201, (status, body))
        return json.loads(body)["sandbox_id"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


def rotate(keys):
    p = as_sandpit([os.path.join(BIN, "sandpit-admin"), "secrets", "rotate"],
                   SANDPIT_SECRET_KEYS=keys)
    check(p.returncode == 0, p)
    return int(p.stdout.split()[1])


@test
def rotation_reseals_under_the_current_key():
    key = new_key()
    n, v = name(), value("rot")
    put(key, n, v)
    before = psql("SELECT key_id, sealed FROM secrets WHERE name = '%s'" % n)[0]
    check(before[0] == "0", before)
    k0, k2 = legacy_key(), rnd.token_hex(32)
    total = int(psql("SELECT count(*) FROM secrets")[0][0])
    # A new key first: every secret moves to it, once.
    check(rotate("k2:%s,0:%s" % (k2, k0)) == total)
    check(rotate("k2:%s,0:%s" % (k2, k0)) == 0, "rotation is idempotent")
    after = psql("SELECT key_id, sealed FROM secrets WHERE name = '%s'" % n)[0]
    check(after[0] == "k2" and after[1] != before[1], after)
    check(psql("SELECT DISTINCT key_id FROM secrets") == [["k2"]])
    # A rotation without the old key changes nothing.
    p = as_sandpit([os.path.join(BIN, "sandpit-admin"), "secrets", "rotate"],
                   SANDPIT_SECRET_KEYS="k3:" + rnd.token_hex(32))
    check(p.returncode == 1 and "nothing changed" in p.stderr, p)
    check(psql("SELECT key_id, sealed FROM secrets WHERE name = '%s'" % n)[0] == after)
    # The stack's API does not know k2: a create fails cleanly, no value shown.
    r = sandbox(key, status=502)
    check("secrets" in r["error"]["message"], r)
    # An API that knows k2 injects the value.
    api = KeyedApi("k2:%s,0:%s" % (k2, k0))
    try:
        sid = api.create(key)
        check(printenv(key, sid, n) == v)
        drop(key, sid)
    finally:
        api.stop()
    # Back to key 0, so the stack's API (and later suites) can open them all.
    check(rotate("0:%s,k2:%s" % (k0, k2)) == total)
    check(psql("SELECT DISTINCT key_id FROM secrets") == [["0"]])
    sid = sandbox(key)["sandbox_id"]
    check(printenv(key, sid, n) == v)
    drop(key, sid)


@test
def no_value_in_the_database_or_any_log():
    """Last: a dump of the whole database and every log file of the instance
    hold none of the values this suite stored."""
    check(VALUES, "no values to look for")
    dump = subprocess.run(
        ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--", "pg_dump",
         "-h", os.path.join(STATE, "pg/run"), "-U", "sandpit", "-d", "sandpit"],
        check=True, capture_output=True).stdout
    check(b"CREATE TABLE public.secrets" in dump and b"COPY public.secrets" in dump,
          "the dump has no secrets table")
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(STATE, "logs")) for f in fs]
    check(any(f.endswith("api.log") for f in files), files)
    blobs = [("pg_dump", dump)] + [(f, open(f, "rb").read()) for f in files]
    for what, data in blobs:
        for v in VALUES:
            check(v.encode() not in data, "a secret value in %s" % what)
            check(v.encode().hex().encode() not in data, "a secret value's hex in %s" % what)


if __name__ == "__main__":
    main("secrets")
