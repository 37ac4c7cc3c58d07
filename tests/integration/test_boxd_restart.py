#!/usr/bin/env python3
"""The privileged daemon dies (SIGKILL): its keeper restarts it, the new
daemon adopts the running sandboxes, and the agents the dead one left are
reaped by the keeper instead of piling up as zombies."""
import os
import signal
import subprocess
import time

from harness import STATE, check, delete, expect, main, new_key, post, test, wait_until


def procs():
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat=,comm="], capture_output=True,
                         text=True).stdout
    return [(int(p), int(pp), st, c) for p, pp, st, c in (l.split(None, 3)
                                                          for l in out.splitlines())]


def keeper():
    return int(open(os.path.join(STATE, "run/boxd.pid")).read().split()[0])


def daemon():
    found = [p for p, pp, st, c in procs() if pp == keeper() and c == "sandpit-boxd"]
    check(len(found) == 1, found)
    return found[0]


def cgroup_of(pid):
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            return f.read()
    except OSError:
        return ""


def execute(key, sid, command):
    return expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": command}, key=key), 200)


@test
def killed_daemon_is_restarted_and_leaves_no_zombie():
    key = new_key()
    sid = expect(post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=key), 201)["sandbox_id"]
    check(execute(key, sid, "echo before")["stdout"] == "before\n")
    dead = daemon()
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = [p for p, pp, st, c in procs() if pp == keeper() and c == "sandpit-boxd"]
        if now and now[0] != dead and os.path.exists(os.path.join(STATE, "box/run/boxd.sock")):
            break
        time.sleep(0.05)
    check(daemon() != dead, "daemon not restarted")
    # the old agent now belongs to the keeper and still answers (this test's
    # own: other sandboxes may be running on the instance)
    agents = [p for p, pp, st, c in procs() if pp == keeper() and c == "sandpit-agent"
              and sid in cgroup_of(p)]
    check(len(agents) == 1, procs())
    check(execute(key, sid, "echo after")["stdout"] == "after\n")
    # the new daemon creates and destroys, the adopted sandbox included
    deadline = time.monotonic() + 10
    while True:
        r = post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=key)
        if r.status == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    fresh = expect(r, 201)["sandbox_id"]
    check(execute(key, fresh, "echo fresh")["stdout"] == "fresh\n")
    expect(delete("/api/v1/sandbox/" + sid, key=key), 200)
    expect(delete("/api/v1/sandbox/" + fresh, key=key), 200)

    def left():
        return [(p, st, c) for p, pp, st, c in procs() if pp in (keeper(), daemon()) and
                (st.startswith("Z") or p in agents)]
    try:
        wait_until(lambda: left() == [], 10, "the agents gone and reaped")
    except AssertionError:
        check(False, left())


if __name__ == "__main__":
    main("boxd_restart")
