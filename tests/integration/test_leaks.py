#!/usr/bin/env python3
"""Leak check through the API: many create -> execute -> stop cycles from
parallel clients leave no process, cgroup, mount, socket, state file or live
row behind. Zombies are counted among the instance's own processes only
(harness.instance_zombies): the machine's others are none of its business.
Every other cycle boots from the python-basic template (an overlay root of
image layers) when it is built."""
import concurrent.futures
import glob
import os
import subprocess

from harness import (check, expect, get, instance_zombies, main, new_key, post, psql, test,
                     wait_until)

STATE = os.environ["SANDPIT_STATE_DIR"]
CYCLES = int(os.environ.get("LEAK_CYCLES", "500"))
CLIENTS = 8
CACHE = os.environ.get("SANDPIT_IMAGE_CACHE", "/var/cache/sandpit/images")


def boxd_children():
    """Agents: children of the daemon, or of its keeper (run/boxd.pid) when a
    daemon died and left them."""
    keeper = int(open(os.path.join(STATE, "run/boxd.pid")).read().split()[0])
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    procs = [(int(p), int(pp), c) for p, pp, c in (l.split(None, 2) for l in out.splitlines())]
    daemons = {p for p, pp, c in procs if pp == keeper and c == "sandpit-boxd"}
    return [p for p, pp, c in procs if (pp == keeper or pp in daemons) and p not in daemons]


def cgroup_parent():
    """The instance's cgroup parent, read off a live agent."""
    key = new_key()
    sid = expect(post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=key), 201)["sandbox_id"]
    parent = None
    for pid in boxd_children():
        for line in open("/proc/%d/cgroup" % pid):
            path = line.strip().split(":", 2)[2]
            if sid in path:
                ctl = line.split(":")[1].split(",")[0] or "unified"
                parent = (ctl, os.path.dirname(path.rstrip("/")))
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)
    check(parent is not None, "no agent cgroup found")
    return parent


def census(parent):
    ctl, path = parent
    root = "/sys/fs/cgroup" if ctl == "unified" else "/sys/fs/cgroup/" + ctl
    cgroups = [d for d in glob.glob(root + path + "/*") if os.path.isdir(d)]
    mounts = [l for l in open("/proc/self/mountinfo") if STATE in l or CACHE in l]
    run = os.path.join(STATE, "box/run")
    sockets = [f for f in os.listdir(run) if f.endswith(".sock") and f != "boxd.sock"]
    states = [f for f in os.listdir(run) if f.endswith(".state")]
    rows = psql("SELECT count(*) FROM sandboxes WHERE status IN ('creating','running','stopping')")
    return {"processes": len(boxd_children()), "cgroups": len(cgroups), "mounts": len(mounts),
            "sockets": len(sockets), "state_files": len(states), "live_rows": int(rows[0][0]),
            "zombies": len(instance_zombies())}


@test
def cycles_leave_nothing_behind():
    parent = cgroup_parent()
    before = census(parent)
    keys = [new_key() for _ in range(CLIENTS * 2)]
    template = get("/api/v1/templates/python-basic", key=keys[0]).json().get("status")

    def client(i):
        for n in range(CYCLES // CLIENTS):
            key = keys[i * 2 + n % 2]
            body = {"memory": "64Mi", "cpus": "0.5"}
            if template == "ready" and n % 2:
                body["template"] = "python-basic"
            r = post("/api/v1/sandbox/create", body, key=key)
            sid = expect(r, 201)["sandbox_id"]
            out = expect(post("/api/v1/sandbox/%s/execute" % sid,
                              {"command": "echo $((6*7)); sleep 30 &"}, key=key), 200)
            check(out["stdout"] == "42\n", out)
            expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
        for f in [ex.submit(client, i) for i in range(CLIENTS)]:
            f.result()
    # a process that just ended may wait a moment for its parent to reap it
    wait_until(lambda: len(instance_zombies()) <= before["zombies"], 10, "zombies reaped")
    after = census(parent)
    print("census before %s after %s" % (before, after))
    check(after["processes"] == before["processes"] and after["cgroups"] == before["cgroups"]
          and after["mounts"] == before["mounts"] and after["sockets"] == before["sockets"]
          and after["state_files"] == before["state_files"]
          and after["live_rows"] == before["live_rows"]
          and after["zombies"] <= before["zombies"], (before, after))


def state_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@test
def census_counts_the_instances_zombies_and_no_others():
    # One zombie outside the instance (a child of this test, unreaped) and
    # one inside it (in a sandbox, under a parent that never waits): the
    # census sees the second and not the first.
    key = new_key()
    sid = expect(post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=key), 201)["sandbox_id"]
    outside = subprocess.Popen(["true"])
    try:
        wait_until(lambda: state_of(outside.pid) == "Z", 10, "the outside zombie")
        before = instance_zombies()
        check(outside.pid not in before, "a zombie of the test counted as the instance's")
        expect(post("/api/v1/sandbox/%s/execute" % sid, {
            "command": "sh -c 'sleep 0 & exec sleep 60' >/dev/null 2>&1 &"}, key=key), 200)
        inside = wait_until(lambda: set(instance_zombies()) - set(before), 20,
                            "the sandbox's zombie")
        check(outside.pid not in instance_zombies(), "the outside zombie counted")
    finally:
        outside.wait()
        expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)
    wait_until(lambda: not set(instance_zombies()) & inside, 20, "the sandbox's zombie gone")


if __name__ == "__main__":
    main("leaks")
