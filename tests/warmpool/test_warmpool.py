#!/usr/bin/env python3
"""The warm pool against a private instance started by run.sh with
WARM_POOL_ENABLED=true (size WARM_POOL_SIZE, defaults 0.5 CPU / 128Mi)."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../integration"))
from harness import check, delete, expect, get, main, post, psql, register, test  # noqa: E402

SIZE = int(os.environ.get("WARM_POOL_SIZE", "4"))
STATE = os.environ.get("SANDPIT_STATE_DIR", "")
BIN = os.environ.get("SANDPIT_BIN", "")


def pool_ready():
    return int(psql("SELECT count(*) FROM sandboxes WHERE org_id IS NULL AND status = "
                    "'running'")[0][0])


def wait_pool(n=SIZE, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pool_ready() >= n:
            return True
        time.sleep(0.05)
    return False


def org(max_sandboxes=100):
    reg = register()
    psql("UPDATE organizations SET max_sandboxes = %d WHERE id = '%s'"
         % (max_sandboxes, reg["organization"]["id"]))
    return reg["api_key"]["key"]


def ready_data(sid):
    rows = psql("SELECT payload::text FROM events WHERE sandbox_id = '%s' AND type = "
                "'sandbox.ready'" % sid)
    check(len(rows) == 1, rows)
    return json.loads(rows[0][0])["data"]


def timed_create(key, body):
    t0 = time.perf_counter()
    r = post("/api/v1/sandbox/create", body, key=key)
    ms = (time.perf_counter() - t0) * 1e3
    return expect(r, 201), ms


@test
def pool_fills_to_size():
    check(wait_pool(), "pool has %d of %d" % (pool_ready(), SIZE))
    rows = psql("SELECT cpus, memory, cpus_millis, memory_bytes FROM sandboxes WHERE org_id IS "
                "NULL AND status = 'running'")
    check(all(r == ["0.5", "128Mi", "500", str(128 << 20)] for r in rows), rows)
    # Nobody can reach an unowned sandbox through the API.
    sid = psql("SELECT id FROM sandboxes WHERE org_id IS NULL LIMIT 1")[0][0]
    key = org()
    expect(get("/api/v1/sandbox/" + sid, key=key), 404)


@test
def claim_applies_env_metadata_expiry_and_is_clean():
    check(wait_pool())
    key = org()
    before = set(r[0] for r in psql("SELECT id FROM sandboxes WHERE org_id IS NULL AND "
                                    "status = 'running'"))
    sb, _ = timed_create(key, {"env": {"GREETING": "warm"}, "metadata": {"k": 1},
                               "timeout_seconds": 77})
    sid = sb["sandbox_id"]
    check(sid in before, "not taken from the pool")
    check(ready_data(sid).get("warmPool") is True, ready_data(sid))
    check(sb["status"] == "running" and sb["metadata"] == {"k": 1}
          and sb["timeout_seconds"] == 77, sb)
    t_created = sb["created_at"]
    check(sb["expires_at"] > t_created, sb)
    r = expect(post("/api/v1/sandbox/%s/execute" % sid,
                    {"command": "echo $GREETING; ls -A /tmp /workspace; ps -e -o pid= | wc -l"},
                    key=key), 200)
    lines = r["stdout"].split("\n")
    check(lines[0] == "warm", r)
    # /tmp and /workspace empty; the agent, the shell, ps and wc only.
    check("/tmp:\n\n/workspace:\n" in r["stdout"], r)
    check(int(lines[-2].strip()) <= 4, r)
    types = [t[0] for t in psql("SELECT type FROM events WHERE sandbox_id = '%s' AND type "
                                "LIKE 'sandbox.%%' ORDER BY seq" % sid)]
    check(types == ["sandbox.created", "sandbox.ready"], types)
    check(wait_pool(), "pool not refilled: %d" % pool_ready())
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)


@test
def claim_gets_the_orgs_secrets_and_create_env_wins():
    check(wait_pool())
    key = org()
    value = "warm-secret-" + os.urandom(12).hex()
    for n, v in (("WARM_SECRET", value), ("WARM_SHADOWED", "from-secret")):
        expect(post("/api/v1/secrets", {"name": n, "value": v}, key=key), 201)
    before = set(r[0] for r in psql("SELECT id FROM sandboxes WHERE org_id IS NULL AND "
                                    "status = 'running'"))
    sb, _ = timed_create(key, {"env": {"WARM_SHADOWED": "from-create"}})
    sid = sb["sandbox_id"]
    check(sid in before and ready_data(sid).get("warmPool") is True, "not taken from the pool")
    r = expect(post("/api/v1/sandbox/%s/execute" % sid,
                    {"command": "printenv WARM_SECRET WARM_SHADOWED"}, key=key), 200)
    check(r["stdout"] == value + "\nfrom-create\n", r)
    got = expect(get("/api/v1/sandbox/" + sid, key=key), 200)
    check(value not in json.dumps(got), got)
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)
    # A pooled sandbox never holds anyone's secrets before it is claimed.
    check(wait_pool(), "pool not refilled: %d" % pool_ready())
    other = org()
    sb, _ = timed_create(other, {})
    r = expect(post("/api/v1/sandbox/%s/execute" % sb["sandbox_id"],
                    {"command": "printenv WARM_SECRET || echo unset"}, key=other), 200)
    check(r["stdout"] == "unset\n", r)
    expect(post("/api/v1/sandbox/%s/stop" % sb["sandbox_id"], key=other), 200)


@test
def other_limits_start_cold():
    check(wait_pool())
    key = org()
    sb, _ = timed_create(key, {"memory": "256Mi"})
    check("warmPool" not in ready_data(sb["sandbox_id"]), ready_data(sb["sandbox_id"]))
    check(pool_ready() == SIZE, pool_ready())
    expect(delete("/api/v1/sandbox/" + sb["sandbox_id"], key=key), 200)


@test
def org_limit_applies_to_claims():
    check(wait_pool())
    key = org(max_sandboxes=1)
    sb, _ = timed_create(key, {})
    check(ready_data(sb["sandbox_id"]).get("warmPool") is True)
    check(wait_pool())
    expect(post("/api/v1/sandbox/create", {}, key=key), 409, "quota_exceeded")
    check(pool_ready() == SIZE, pool_ready())
    expect(delete("/api/v1/sandbox/" + sb["sandbox_id"], key=key), 200)


@test
def measure_create_to_ready_pool_on_and_off():
    key = org(max_sandboxes=200)
    warm, cold, warm_srv, cold_srv, health = [], [], [], [], []
    made = []
    status = []
    probe = timed_create(key, {"cpus": "499m"})[0]["sandbox_id"]
    for _ in range(40):
        t0 = time.perf_counter()
        expect(get("/api/v1/health"), 200)
        health.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        expect(get("/api/v1/sandbox/%s/status" % probe, key=key), 200)
        status.append((time.perf_counter() - t0) * 1e3)
    made.append(probe)
    # The stack's reaper is paused and a one-shot sweep fills the pool to 20,
    # so the claims are timed without a refill competing for the two CPUs.
    n = 20
    with open(os.path.join(STATE, "run/reaper.pid")) as f:
        rpid = int(f.read().strip())
    os.kill(rpid, signal.SIGSTOP)
    try:
        env = dict(os.environ, WARM_POOL_SIZE=str(n))
        subprocess.run(["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
                        os.path.join(BIN, "sandpit-reaper")], env=env, check=True,
                       capture_output=True, timeout=120)
        check(pool_ready() >= n, pool_ready())
        for _ in range(n):
            sb, ms = timed_create(key, {})
            check(ready_data(sb["sandbox_id"]).get("warmPool") is True)
            warm.append(ms)
            warm_srv.append(sb["startup_ms"] or 0.0)
            made.append(sb["sandbox_id"])
    finally:
        os.kill(rpid, signal.SIGCONT)
    for _ in range(n):
        # Same size class as the pool, one millicore apart: always cold.
        sb, ms = timed_create(key, {"cpus": "499m"})
        cold.append(ms)
        cold_srv.append(sb["startup_ms"] or 0.0)
        made.append(sb["sandbox_id"])
    for sid in made:
        expect(delete("/api/v1/sandbox/" + sid, key=key), 200)
    p50 = statistics.median
    print("     create -> ready p50 (HTTP round trip through Caddy, n=%d each):" % len(warm))
    print("       GET /health (floor)  %6.2f ms" % p50(health))
    print("       GET /sandbox/:id/status (authenticated read) %6.2f ms" % p50(status))
    print("       pool on  (claim)     %6.2f ms   server startup_ms %.2f" % (p50(warm),
                                                                           p50(warm_srv)))
    print("       pool off (cold)      %6.2f ms   server startup_ms %.2f" % (p50(cold),
                                                                           p50(cold_srv)))
    print("       claim beyond the health round trip: %.2f ms; beyond an authenticated "
          "read: %.2f ms" % (p50(warm) - p50(health), p50(warm) - p50(status)))
    check(p50(warm) < p50(cold), (p50(warm), p50(cold)))


if __name__ == "__main__":
    main("warmpool")
