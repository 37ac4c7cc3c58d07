#!/usr/bin/env python3
"""sandpit-reaper against the running stack: expiry, concurrent reapers,
crash recovery (agent killed, stuck rows, orphaned runtimes, the reaper itself
killed mid-sweep), usage samples, the timeout endpoint, and the time one sweep
takes over 1,000 expired sandboxes.

The stack runs one reaper with --loop --interval 1. Tests that must own the
sweep (the chaos and timing ones) pause it with SIGSTOP and resume it after.
"""
import concurrent.futures
import contextlib
import datetime
import os
import re
import signal
import subprocess
import time
import uuid

from harness import (STATE, check, expect, get, main, new_key, post, psql, register,
                     stack_reaper_pid, test, wait_sweeps, wait_until)

BIN = os.environ.get("SANDPIT_BIN", "")
SMALL = {"memory": "64Mi", "cpus": "0.1"}


def create(key, body=None, status=201):
    b = dict(SMALL)
    b.update(body or {})
    return expect(post("/api/v1/sandbox/create", b, key=key), status)


def status_of(sid):
    rows = psql("SELECT status, COALESCE(stop_reason, ''), COALESCE(error, '') "
                "FROM sandboxes WHERE id = '%s'" % sid)
    return tuple(rows[0]) if rows else None


def events_of(sid):
    return [r[0] for r in psql("SELECT type FROM events WHERE sandbox_id = '%s' ORDER BY seq"
                               % sid)]


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def parse_ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def reaper_env(**extra):
    env = dict(os.environ)
    env["SANDPIT_STATE_DIR"] = STATE
    env.update({k: str(v) for k, v in extra.items()})
    return env


def reaper_cmd(*args):
    return ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
            os.path.join(BIN, "sandpit-reaper")] + list(args)


def sweep_once(**extra):
    """One sweep as the sandpit user; (exit code, summary dict, stderr)."""
    p = subprocess.run(reaper_cmd(), env=reaper_env(**extra), capture_output=True, text=True,
                       timeout=300)
    m = re.findall(r"msg=sweep done (.*) ms=([0-9.]+) result=(\S+)", p.stderr)
    check(m, "no summary line: %s" % p.stderr[-2000:])
    counts = dict(kv.split("=") for kv in m[-1][0].split())
    counts = {k: int(v) for k, v in counts.items()}
    counts["ms"] = float(m[-1][1])
    counts["result"] = m[-1][2]
    return p.returncode, counts, p.stderr


@contextlib.contextmanager
def stack_reaper_paused():
    """SIGSTOP the stack's looping reaper so this test owns the sweep."""
    with open(os.path.join(STATE, "run/reaper.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def fake_org(max_sandboxes=None):
    oid = "org_" + uuid.uuid4().hex[:20]
    psql("INSERT INTO organizations (id, name, slug, max_sandboxes) VALUES ('%s', 'reaper', "
         "'%s', %s)" % (oid, oid, max_sandboxes or "NULL"))
    return oid


def insert_rows(org, n, status="running", expires="now() - interval '1 second'", extra_cols="",
                extra_vals=""):
    """n rows written directly (no runtime behind them); their ids."""
    prefix = "sbx_" + uuid.uuid4().hex[:8]
    psql("INSERT INTO sandboxes (id, org_id, status, backend, cpus_millis, memory_bytes, cpus, "
         "memory, timeout_seconds, expires_at, ready_at%s) SELECT '%s' || lpad(g::text, 12, "
         "'0'), '%s', '%s', 'local', 100, 67108864, '0.1', '64Mi', 1, %s, now()%s FROM "
         "generate_series(1, %d) g" % (extra_cols, prefix, org, status, expires, extra_vals, n))
    return prefix


def count_events(prefix):
    rows = psql("SELECT type, count(*), count(DISTINCT sandbox_id) FROM events WHERE "
                "sandbox_id LIKE '%s%%' GROUP BY type" % prefix)
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def stop_live(key, org):
    """Stop whatever this test left live in org (so later suites start clean)."""
    for (sid,) in psql("SELECT id FROM sandboxes WHERE org_id = '%s' AND status IN "
                       "('creating', 'running', 'stopping')" % org):
        post("/api/v1/sandbox/%s/stop" % sid, key=key)


def state_pid(sid):
    with open(os.path.join(STATE, "box/run/%s.state" % sid)) as f:
        return int(re.search(r"pid=(\d+)", f.read()).group(1))


def runtime_leftovers(sid):
    run = os.path.join(STATE, "box/run")
    return [n for n in os.listdir(run) if n.startswith(sid)]


@test
def expiry_within_two_seconds_of_timeout():
    key = new_key()
    sb = create(key, {"timeout_seconds": 2})
    sid = sb["sandbox_id"]
    expires = parse_ts(sb["expires_at"])
    done = wait_for(lambda: status_of(sid)[0] == "timeout", 8)
    seen = time.time()
    check(done, "not timed out: %r" % (status_of(sid),))
    late = seen - expires
    st = expect(get("/api/v1/sandbox/%s" % sid, key=key), 200)
    check(st["status"] == "timeout" and st["stop_reason"] == "expired", st)
    stopped_late = parse_ts(st["stopped_at"]) - expires
    print("     expiry: stopped %.2f s after expires_at (observed %.2f s)" % (stopped_late, late))
    check(0 <= stopped_late <= 2.0, "stopped %.2f s after expiry" % stopped_late)
    check(events_of(sid) == ["sandbox.created", "sandbox.ready", "sandbox.timeout",
                             "sandbox.stopped"], events_of(sid))
    check(runtime_leftovers(sid) == [], runtime_leftovers(sid))
    final = psql("SELECT count(*) FROM usage_events WHERE sandbox_id = '%s' AND final" % sid)
    check(final == [["1"]], final)


@test
def two_extra_reapers_and_the_stack_one_over_200_expiring_sandboxes():
    reg = register()
    key = reg["api_key"]["key"]
    psql("UPDATE organizations SET max_sandboxes = 250 WHERE id = '%s'"
         % reg["organization"]["id"])
    try:
        two_reapers(reg, key)
    finally:
        stop_live(key, reg["organization"]["id"])


def two_reapers(reg, key):
    # Four keys of the one org: 200 creates stay inside each key's rate burst.
    keys = [key] + [expect(post("/api/v1/api-keys", {"name": "r%d" % i}, key=key), 201)["key"]
                    for i in range(3)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        sbs = list(ex.map(lambda i: create(keys[i % 4], {"timeout_seconds": 600}), range(200)))
    ids = [s["sandbox_id"] for s in sbs]
    check(len(set(ids)) == 200)
    idlist = ",".join("'%s'" % i for i in ids)
    logs = [open(os.path.join(STATE, "logs", "reaper-extra-%d-%s.log" % (i, uuid.uuid4().hex[:8])),
                 "w+") for i in range(2)]
    procs = [subprocess.Popen(reaper_cmd("--loop", "--interval", "1"),
                              env=reaper_env(SANDPIT_REAPER_BATCH=20),
                              stderr=log, text=True) for log in logs]
    try:
        # all three loops are sweeping before the sandboxes expire, so
        # their sweeps overlap
        for log in logs:
            wait_until(lambda: "looping interval" in open(log.name).read(), 30,
                       "the extra reaper looping")
        psql("UPDATE sandboxes SET expires_at = now() WHERE id IN (%s)" % idlist)
        ok = wait_for(lambda: psql("SELECT count(*) FROM sandboxes WHERE id IN (%s) AND "
                                   "status = 'timeout'" % idlist) == [["200"]], 60, 0.2)
        check(ok, psql("SELECT status, count(*) FROM sandboxes WHERE id IN (%s) GROUP BY 1"
                       % idlist))
        # a late duplicate would show up once every sweep under way has ended
        for pid in [stack_reaper_pid()] + [p.pid for p in procs]:
            wait_sweeps(pid, 2, 60)
    finally:
        outs = []
        for p, log in zip(procs, logs):
            p.send_signal(signal.SIGTERM)
            p.wait(30)
            log.seek(0)
            outs.append(log.read())
            log.close()
    rows = psql("SELECT type, count(*), count(DISTINCT sandbox_id) FROM events WHERE sandbox_id "
                "IN (%s) GROUP BY type ORDER BY type" % idlist)
    got = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    for t in ("sandbox.created", "sandbox.ready", "sandbox.timeout", "sandbox.stopped"):
        check(got.get(t) == (200, 200), "%s: %r" % (t, got))
    check(set(got) == {"sandbox.created", "sandbox.ready", "sandbox.timeout",
                       "sandbox.stopped"}, got)
    finals = psql("SELECT count(*), count(DISTINCT sandbox_id) FROM usage_events WHERE final "
                  "AND sandbox_id IN (%s)" % idlist)
    check(finals == [["200", "200"]], finals)
    with open(os.path.join(STATE, "logs/reaper.log")) as f:
        stack_log = f.read()
    per = [len([i for i in ids if "id=%s status=timeout" % i in o]) for o in outs + [stack_log]]
    print("     stopped by: extra reaper 1 %d, extra reaper 2 %d, stack reaper %d" % tuple(per))
    check(sum(per) == 200, per)
    check(all(runtime_leftovers(i) == [] for i in ids))


@test
def killed_agent_becomes_runtime_lost():
    key = new_key()
    sid = create(key, {"timeout_seconds": 600})["sandbox_id"]
    pid = state_pid(sid)
    os.kill(pid, signal.SIGKILL)
    ok = wait_for(lambda: status_of(sid)[0] == "error", 5)
    check(ok, status_of(sid))
    check(status_of(sid) == ("error", "runtime_lost", "runtime_lost"), status_of(sid))
    check(events_of(sid) == ["sandbox.created", "sandbox.ready", "sandbox.error",
                             "sandbox.stopped"], events_of(sid))
    check(wait_for(lambda: runtime_leftovers(sid) == [], 3), runtime_leftovers(sid))
    r = post("/api/v1/sandbox/%s/execute" % sid, {"command": "true"}, key=key)
    check(r.status in (404, 409), r)


@test
def stuck_creating_and_stopping_rows_are_finished():
    org = fake_org()
    creating = insert_rows(org, 1, "creating", "now() + interval '1 hour'", ", created_at",
                           ", now() - interval '1 hour'")
    fresh = insert_rows(org, 1, "creating", "now() + interval '1 hour'")
    stopping = insert_rows(org, 1, "stopping", "now() + interval '1 hour'",
                           ", status_changed_at", ", now() - interval '1 hour'")
    expired_claim = insert_rows(org, 1, "stopping", "now() - interval '1 minute'",
                                ", status_changed_at, stop_reason",
                                ", now() - interval '1 hour', 'expired'")
    sid = lambda p: p + "0" * 11 + "1"
    ok = wait_for(lambda: status_of(sid(creating))[0] == "error"
                  and status_of(sid(stopping))[0] == "error"
                  and status_of(sid(expired_claim))[0] == "timeout", 5)
    check(ok, [status_of(sid(p)) for p in (creating, stopping, expired_claim)])
    check(status_of(sid(creating)) == ("error", "stuck_creating", "stuck_creating"),
          status_of(sid(creating)))
    check(status_of(sid(stopping))[1] == "stuck_stopping", status_of(sid(stopping)))
    check(events_of(sid(creating)) == ["sandbox.error", "sandbox.stopped"],
          events_of(sid(creating)))
    check(events_of(sid(expired_claim)) == ["sandbox.timeout", "sandbox.stopped"],
          events_of(sid(expired_claim)))
    # Inside its grace a creating row is a create in flight: left alone.
    check(status_of(sid(fresh))[0] == "creating", status_of(sid(fresh)))
    psql("DELETE FROM sandboxes WHERE org_id = '%s'" % org)


@test
def orphaned_runtime_is_destroyed():
    sid = "sbx_orphan" + uuid.uuid4().hex[:10]
    sock = os.path.join(STATE, "box/run/boxd.sock")
    out = subprocess.run([os.path.join(BIN, "sandpit-boxctl"), "-s", sock, "create", sid,
                          "memory=64Mi", "cpus=0.1"], capture_output=True, text=True)
    check(out.returncode == 0, out)
    check(runtime_leftovers(sid), "no runtime made")
    gone = wait_for(lambda: runtime_leftovers(sid) == [], 5)
    check(gone, runtime_leftovers(sid))
    listed = subprocess.run([os.path.join(BIN, "sandpit-boxctl"), "-s", sock, "list"],
                            capture_output=True, text=True).stdout
    check(sid not in listed, listed)


@test
def usage_samples_are_recorded():
    key = new_key()
    sid = create(key, {"timeout_seconds": 600})["sandbox_id"]
    expect(post("/api/v1/sandbox/%s/execute" % sid,
                {"command": "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}, key=key), 200)
    rc, counts, err = sweep_once(SANDPIT_USAGE_INTERVAL=0)
    check(rc == 0 and counts["samples"] >= 1, (rc, counts, err[-500:]))
    rows = psql("SELECT cpu_seconds, memory_byte_seconds, final FROM usage_events WHERE "
                "sandbox_id = '%s' ORDER BY id" % sid)
    check(rows and rows[0][2] == "f" and float(rows[0][0]) > 0 and float(rows[0][1]) >= 0, rows)
    # Inside the interval no second sample is written.
    rc, counts, _ = sweep_once(SANDPIT_USAGE_INTERVAL=3600)
    rows2 = psql("SELECT count(*) FROM usage_events WHERE sandbox_id = '%s'" % sid)
    check(rows2 == [[str(len(rows))]], (rows, rows2))
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)
    last = psql("SELECT final, cpu_seconds FROM usage_events WHERE sandbox_id = '%s' ORDER BY "
                "id DESC LIMIT 1" % sid)
    check(last[0][0] == "t" and float(last[0][1]) >= float(rows[0][0]), last)


@test
def timeout_endpoint_extends_shortens_and_caps():
    reg = register()
    key = reg["api_key"]["key"]
    sb = create(key, {"timeout_seconds": 3})
    sid = sb["sandbox_id"]
    t0 = time.time()
    out = expect(post("/api/v1/sandbox/%s/timeout" % sid, {"timeout_seconds": 120}, key=key),
                 200)
    check(out["status"] == "running", out)
    check(abs(parse_ts(out["expires_at"]) - (t0 + 120)) < 3, out)
    check(parse_ts(out["expires_at"]) - parse_ts(out["created_at"]) - out["timeout_seconds"]
          < 1.01, out)
    # past the first deadline, and the reaper has swept since
    while time.time() < parse_ts(sb["expires_at"]) + 0.5:
        time.sleep(0.1)
    wait_sweeps(stack_reaper_pid(), 2)
    check(status_of(sid)[0] == "running", "extended sandbox was reaped: %r" % (status_of(sid),))
    # The org's maximum duration caps the whole lifetime.
    psql("UPDATE organizations SET max_duration_seconds = 30 WHERE id = (SELECT org_id FROM "
         "sandboxes WHERE id = '%s')" % sid)
    capped = expect(post("/api/v1/sandbox/%s/timeout" % sid, {"timeout_seconds": 3600},
                         key=key), 200)
    life = parse_ts(capped["expires_at"]) - parse_ts(capped["created_at"])
    check(29 <= life <= 30.01 and capped["timeout_seconds"] == 30, capped)
    # Shortening works too, and the reaper honours it.
    short = expect(post("/api/v1/sandbox/%s/timeout" % sid, {"timeout_seconds": 1}, key=key),
                   200)
    check(wait_for(lambda: status_of(sid)[0] == "timeout", 5), status_of(sid))
    check(parse_ts(short["expires_at"]) < time.time())
    # Errors: stopped sandbox, bad bodies, other org, unknown id.
    expect(post("/api/v1/sandbox/%s/timeout" % sid, {"timeout_seconds": 60}, key=key), 409)
    for body in [{}, {"timeout_seconds": 0}, {"timeout_seconds": "60"},
                 {"timeout_seconds": 10 ** 9}, {"timeout_seconds": 60, "x": 1}]:
        expect(post("/api/v1/sandbox/%s/timeout" % sid, body, key=key), 400)
    other = new_key()
    sid2 = create(key, {"timeout_seconds": 60})["sandbox_id"]
    expect(post("/api/v1/sandbox/%s/timeout" % sid2, {"timeout_seconds": 60}, key=other), 404)
    expect(post("/api/v1/sandbox/sbx_nope/timeout", {"timeout_seconds": 60}, key=key), 404)
    expect(post("/api/v1/sandbox/%s/stop" % sid2, key=key), 200)


@test
def reaper_killed_mid_sweep_next_sweep_finishes():
    org = fake_org()
    n = 600
    with stack_reaper_paused():
        prefix = insert_rows(org, n)
        p = subprocess.Popen(reaper_cmd(), env=reaper_env(SANDPIT_REAPER_BATCH=100),
                             stderr=subprocess.PIPE, text=True)
        # Kill it once it has finished some but not all.
        done = lambda: int(psql("SELECT count(*) FROM sandboxes WHERE id LIKE '%s%%' AND "
                                "status = 'timeout'" % prefix)[0][0])
        wait_for(lambda: done() >= 50, 20, 0.005)
        p.kill()
        p.communicate()
        mid = dict(psql("SELECT status, count(*) FROM sandboxes WHERE id LIKE '%s%%' GROUP BY 1"
                        % prefix))
        print("     killed mid-sweep: %r" % mid)
        check(int(mid.get("timeout", 0)) < n, "the sweep finished before the kill: %r" % mid)
        # A sweep inside the stopping grace leaves the claimed rows to their
        # claimer (it might still be alive); after the grace they are retaken.
        rc, counts, err = sweep_once()
        left = psql("SELECT count(*) FROM sandboxes WHERE id LIKE '%s%%' AND status <> 'timeout'"
                    % prefix)[0][0]
        check(rc == 0 and int(left) == int(mid.get("stopping", 0)), (rc, counts, left, mid))
        rc, counts, err = sweep_once(SANDPIT_STOPPING_GRACE=0)
        check(rc == 0 and counts["result"] == "ok", (rc, counts, err[-500:]))
    final = psql("SELECT status, stop_reason, count(*) FROM sandboxes WHERE id LIKE '%s%%' "
                 "GROUP BY 1, 2" % prefix)
    check(final == [["timeout", "expired", str(n)]], final)
    ev = count_events(prefix)
    check(ev == {"sandbox.timeout": (n, n), "sandbox.stopped": (n, n)}, ev)
    psql("DELETE FROM sandboxes WHERE org_id = '%s'" % org)


@test
def measure_one_sweep_over_1000_expired_sandboxes():
    org = fake_org()
    with stack_reaper_paused():
        rc, idle, _ = sweep_once()
        check(rc == 0, idle)
        prefix = insert_rows(org, 1000)
        rc, counts, err = sweep_once()
        check(rc == 0 and counts["expired"] == 1000, (counts, err[-500:]))
        # Same run, for scale: 1000 rows moved by one bare UPDATE statement.
        base = insert_rows(org, 1000)
        t0 = time.monotonic()
        psql("UPDATE sandboxes SET status = 'timeout' WHERE id LIKE '%s%%'" % base)
        bare = (time.monotonic() - t0) * 1e3
    print("     sweep: idle %.1f ms; 1000 expired %.1f ms (%.2f ms each: claim, usage, destroy, "
          "final row + 2 events); baseline psql bulk UPDATE of 1000 rows %.1f ms"
          % (idle["ms"], counts["ms"], counts["ms"] / 1000, bare))
    ev = count_events(prefix)
    check(ev == {"sandbox.timeout": (1000, 1000), "sandbox.stopped": (1000, 1000)}, ev)
    psql("DELETE FROM sandboxes WHERE org_id = '%s'" % org)
    psql("DELETE FROM events WHERE sandbox_id LIKE '%s%%' OR sandbox_id LIKE '%s%%'"
         % (prefix, base))


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def boxctl(*args):
    sock = os.path.join(STATE, "box/run/boxd.sock")
    return subprocess.run([os.path.join(BIN, "sandpit-boxctl"), "-s", sock] + list(args),
                          capture_output=True, text=True)


@test
def worker_killed_mid_creates_leaves_nothing_behind_after_a_sweep():
    reg = register()
    key, org = reg["api_key"]["key"], reg["organization"]["id"]
    psql("UPDATE organizations SET max_sandboxes = 100 WHERE id = '%s'" % org)
    try:
        killed_workers(key, org)
    finally:
        stop_live(key, org)


def killed_workers(key, org):
    with open(os.path.join(STATE, "run/api.pid")) as f:
        master = int(f.read().strip())
    workers = children_of(master)
    check(workers, "no API workers under %d" % master)

    def one(_):
        return post("/api/v1/sandbox/create", dict(SMALL, timeout_seconds=600), key=key,
                    timeout=30).status

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        futs = [ex.submit(one, i) for i in range(36)]
        # creates under way: the first rows are in
        wait_until(lambda: psql("SELECT count(*) FROM sandboxes WHERE org_id = '%s'" % org)
                   != [["0"]], 30, "creates under way", 0.01)
        for w in workers[:2]:
            os.kill(w, signal.SIGKILL)
        codes = sorted(f.result() for f in futs)
    print("     create statuses with 2 workers killed: %r" % {c: codes.count(c) for c in codes})
    time.sleep(1.2)
    with stack_reaper_paused():
        rc, counts, err = sweep_once(SANDPIT_CREATING_GRACE=1, SANDPIT_STOPPING_GRACE=1)
        check(rc == 0, (counts, err[-800:]))
    live = psql("SELECT id, status FROM sandboxes WHERE org_id = '%s' AND status IN "
                "('creating', 'running', 'stopping')" % org)
    check(all(s == "running" for _, s in live), live)
    listed = boxctl("list").stdout.split()
    for sid, _ in live:
        ins = boxctl("inspect", sid).stdout
        check("alive=1" in ins, "running row without a live runtime: %s %s" % (sid, ins))
    dead = [r[0] for r in psql("SELECT id FROM sandboxes WHERE org_id = '%s' AND status NOT IN "
                               "('creating', 'running', 'stopping')" % org)]
    check(not set(dead) & set(listed), "runtimes left for finished rows: %r"
          % (set(dead) & set(listed)))


@test
def check_config_flag_and_bad_usage():
    p = subprocess.run(reaper_cmd("--check-config"), env=reaper_env(), capture_output=True,
                       text=True)
    secret = os.environ.get("SANDPIT_SECRET_KEY", "")
    check(p.returncode == 0 and "SANDPIT_REAPER_INTERVAL=" in p.stdout
          and "SANDPIT_STOPPING_GRACE=" in p.stdout and (not secret or secret not in p.stdout),
          p)
    p = subprocess.run(reaper_cmd("--check-config"), env=reaper_env(SANDPIT_CREATING_GRACE=0),
                       capture_output=True, text=True)
    check(p.returncode != 0 and "SANDPIT_CREATING_GRACE" in p.stderr, p)
    p = subprocess.run(reaper_cmd("--interval", "5"), env=reaper_env(), capture_output=True,
                       text=True)
    check(p.returncode == 2, p)
    # No database: a single run fails with a logged reason.
    p = subprocess.run(reaper_cmd(), env=reaper_env(SANDPIT_DATABASE_URL="host=/nonexistent "
                                                    "dbname=x connect_timeout=1"),
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "cannot connect to the database" in p.stderr, p)


# ---- races between stoppers, forced in the racy order ----------------------

def boxd_pids():
    """The sandbox daemon: its pid file's process and the daemon processes it
    forked (the one that serves requests among them)."""
    with open(os.path.join(STATE, "run/boxd.pid")) as f:
        top = int(f.read().strip())
    pids = [top]
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == top and b"sandpit-boxd" in cmd:
            pids.append(int(d))
    return pids


@contextlib.contextmanager
def boxd_stopped():
    """SIGSTOP the sandbox daemon for the block: runtime calls wait."""
    pids = boxd_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


@test
def stop_during_create_emits_no_ready():
    # The sandbox daemon is held, so the create waits for its runtime with
    # the row "creating"; the stop claims the row meanwhile. The create then
    # finds its row taken: no sandbox.ready after the stop's events, a 409,
    # and no runtime left behind.
    key = new_key()
    org = psql("SELECT org_id FROM api_keys WHERE key_prefix = '%s'" % key[:15])[0][0]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        with boxd_stopped():
            made = ex.submit(post, "/api/v1/sandbox/create", SMALL, key=key, timeout=60)
            rows = wait_for(lambda: psql("SELECT id FROM sandboxes WHERE org_id = '%s' AND "
                                         "status = 'creating'" % org), 10)
            check(rows, "the create did not reserve its row")
            sid = rows[0][0]
            stopped = ex.submit(post, "/api/v1/sandbox/%s/stop" % sid, key=key, timeout=60)
            check(wait_for(lambda: status_of(sid)[0] == "stopping", 10), status_of(sid))
        expect(stopped.result(), 200)
        r = made.result()
    check(r.status == 409 and r.json()["error"]["code"] == "conflict", r)
    check(status_of(sid)[0] == "stopped", status_of(sid))
    check(events_of(sid) == ["sandbox.created", "sandbox.stopped"], events_of(sid))
    check(runtime_leftovers(sid) == [], runtime_leftovers(sid))


class TableLock:
    """A psql session holding a lock on a table until release()."""

    def __init__(self, table, mode):
        self.p = subprocess.Popen(
            ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--", "psql",
             "-h", os.path.join(STATE, "pg/run"), "-U", "sandpit", "-d", "sandpit", "-qtA",
             "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        self.p.stdin.write("BEGIN;\nLOCK TABLE %s IN %s MODE;\nSELECT 'locked';\n" %
                           (table, mode))
        self.p.stdin.flush()
        check(self.p.stdout.readline().strip() == "locked", "no lock on %s" % table)

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("COMMIT;\n")
            self.p.stdin.close()
            self.p.wait(30)


def waiting_on(table):
    return int(psql("SELECT count(*) FROM pg_locks WHERE relation = '%s'::regclass AND NOT "
                    "granted" % table)[0][0])


@test
def api_stop_racing_the_reaper_writes_one_final_usage_row():
    # Both stoppers hold the row "stopping" and sample before destroying:
    # inserts into usage_events are held until both are waiting on them,
    # then released together. One final row, one stopper's events.
    key = new_key()
    sid = create(key)["sandbox_id"]
    with stack_reaper_paused(), concurrent.futures.ThreadPoolExecutor(1) as ex:
        # Rows other tests left due are finished first: the sweep below must
        # meet ours, not wait on another's sample.
        check(sweep_once()[0] == 0, "clearing sweep failed")
        lock = TableLock("usage_events", "SHARE")
        try:
            stopped = ex.submit(post, "/api/v1/sandbox/%s/stop" % sid, key=key, timeout=60)
            check(wait_for(lambda: status_of(sid)[0] == "stopping" and
                           waiting_on("usage_events") == 1, 10), "the stop is not sampling")
            # The reaper takes it for a stuck stop (its stopper looks gone).
            psql("UPDATE sandboxes SET status_changed_at = now() - interval '1 hour' "
                 "WHERE id = '%s'" % sid)
            sweep = subprocess.Popen(reaper_cmd(), env=reaper_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
            taken = "SELECT 1 FROM sandboxes WHERE id = '%s' AND status_changed_at > now() - " \
                    "interval '10 minutes'" % sid
            check(wait_for(lambda: psql(taken) and waiting_on("usage_events") == 2, 20),
                  "the reaper is not sampling")
        finally:
            lock.release()
        expect(stopped.result(), 200)
        err = sweep.communicate(timeout=60)[1]
        check(sweep.returncode == 0 and "sandbox finished id=%s " % sid in err, err[-2000:])
    final = psql("SELECT count(*) FROM usage_events WHERE sandbox_id = '%s' AND final" % sid)
    check(final == [["1"]], "final usage rows: %r" % final)
    evs = events_of(sid)
    check(evs.count("sandbox.stopped") == 1 and evs[0] == "sandbox.created", evs)
    check(status_of(sid)[0] in ("stopped", "error"), status_of(sid))


if __name__ == "__main__":
    main("reaper")
