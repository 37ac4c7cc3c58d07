#!/usr/bin/env python3
"""resource.warning / resource.critical: the looping reaper samples memory
and announces each upward crossing of 80% and 95% of the limit once."""
import os
import time

from harness import (STATE, check, expect, main, new_key, post, psql, stack_reaper_pid, test,
                     wait_sweeps, wait_until)


def events(sid, kind):
    return psql("SELECT payload->'data'->>'percent', payload->>'orgId' FROM events "
                "WHERE sandbox_id = '%s' AND type = '%s'" % (sid, kind))


def wait_for(sid, kind, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = events(sid, kind)
        if rows:
            return rows
        time.sleep(0.2)
    return []


@test
def memory_pressure_is_announced_once_per_crossing():
    key = new_key()
    sb = expect(post("/api/v1/sandbox/create", {"memory": "256Mi"}, key=key), 201)
    sid = sb["sandbox_id"]
    org = psql("SELECT org_id FROM sandboxes WHERE id = '%s'" % sid)[0][0]

    def run(cmd):
        return expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": cmd}, key=key), 200)

    # /dev/shm is tmpfs: its pages are charged to the sandbox and stay put.
    check(run("head -c 215M /dev/zero > /dev/shm/a; echo $?")["stdout"] == "0\n")
    warn = wait_for(sid, "resource.warning")
    check(len(warn) == 1 and float(warn[0][0]) >= 80 and warn[0][1] == org, warn)
    check(events(sid, "resource.critical") == [])
    check(run("head -c 33M /dev/zero > /dev/shm/b; echo $?")["stdout"] == "0\n")
    crit = wait_for(sid, "resource.critical")
    check(len(crit) == 1 and float(crit[0][0]) >= 95, crit)
    wait_sweeps(stack_reaper_pid(), 2)  # more sweeps: nothing repeats while the level holds
    check(len(events(sid, "resource.warning")) == 1 and len(events(sid, "resource.critical")) == 1)
    # Falling back re-arms: a new crossing is announced again.
    run("rm -f /dev/shm/a /dev/shm/b")
    wait_until(lambda: psql("SELECT resource_level FROM sandboxes WHERE id = '%s'" % sid)
               == [["0"]], 20, "the level back to normal")
    run("head -c 215M /dev/zero > /dev/shm/a")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(events(sid, "resource.warning")) < 2:
        time.sleep(0.2)
    check(len(events(sid, "resource.warning")) == 2, events(sid, "resource.warning"))
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)


@test
def unowned_sandbox_under_pressure_does_not_stop_the_sweep():
    # A pooled sandbox has no org yet: there is nobody to tell, and its event
    # (orgId NULL) used to fail the runtime step on every sweep, so the rows
    # after it were never checked or sampled.
    key = new_key()
    sid = expect(post("/api/v1/sandbox/create", {"memory": "256Mi"}, key=key), 201)["sandbox_id"]
    org = psql("SELECT org_id FROM sandboxes WHERE id = '%s'" % sid)[0][0]
    out = expect(post("/api/v1/sandbox/%s/execute" % sid,
                      {"command": "head -c 215M /dev/zero > /dev/shm/a; echo $?"}, key=key), 200)
    check(out["stdout"] == "0\n", out)
    check(wait_for(sid, "resource.warning"), "no warning while owned")
    log = os.path.join(STATE, "logs/reaper.log")
    start = os.path.getsize(log)
    # Unowned and re-armed, still at 84%: the next sweep's runtime step sees
    # it before its pool step stops it (the loop runs once a second; landing
    # between those two steps of one sweep is a window of milliseconds).
    psql("UPDATE sandboxes SET org_id = NULL, resource_level = 0 WHERE id = '%s'" % sid)
    wait_sweeps(stack_reaper_pid(), 2)
    with open(log) as f:
        f.seek(start)
        new = f.read()
    check("step=runtime" not in new, new[-800:])
    check(len(events(sid, "resource.warning")) == 1, events(sid, "resource.warning"))
    psql("UPDATE sandboxes SET org_id = '%s' WHERE id = '%s'" % (org, sid))
    post("/api/v1/sandbox/%s/stop" % sid, key=key)


if __name__ == "__main__":
    main("resources")
