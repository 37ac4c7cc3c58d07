#!/usr/bin/env python3
"""`make run` as a user meets it: tools/stack/run.sh on its own state
directory and port. Up line and key line; a second start reuses the data and
the key; SIGTERM stops the sandboxes (reason shutdown) and every process,
leaving no zombie or orphan; a revoked bootstrap key is replaced with a
warning."""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
import harness  # noqa: E402
from harness import check, expect, main, test, wait_until  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("SANDPIT_BIN", os.path.join(REPO, "build/release"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Run:
    def __init__(self, state, port):
        env = dict(os.environ, SANDPIT_STATE_DIR=state, PORT=str(port))
        for k in ["SANDPIT_URL", "SANDPIT_API_KEY"]:
            env.pop(k, None)
        self.p = subprocess.Popen([os.path.join(REPO, "tools/stack/run.sh"), BIN], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        self.lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Logs:"):
                break
        self.key = next((l.split()[-1] for l in self.lines if l.startswith("API key: ")), None)

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rest, _ = self.p.communicate(timeout=60)
        self.lines += rest.splitlines()
        return self.p.returncode


def interrupt(pid):
    """SIGINT, unless the harness started us with SIGINT ignored (a shell
    backgrounding us without job control does): then no one can catch it and
    SIGTERM stands in for it."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("SigIgn:") and int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)):
            return signal.SIGTERM
    return signal.SIGINT


def processes_of(state):
    """Processes whose command line or cwd mentions the state directory."""
    out = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if state in l]


def cgroups_of(state):
    """The instance's cgroup parent (named in boxd's log), wherever it exists."""
    log = open(os.path.join(state, "logs/boxd.log")).read()
    parents = set(re.findall(r"parent=(sandpit-[0-9a-f]+)", log))
    check(parents, log[-500:])
    return [d for p in parents for d in glob.glob("/sys/fs/cgroup/*/" + p) +
            glob.glob("/sys/fs/cgroup/" + p)]


@test
def run_start_restart_stop():
    state = tempfile.mkdtemp(prefix="sandpit-run.")
    port = free_port()
    harness.URL = "http://127.0.0.1:%d" % port
    try:
        r = Run(state, port)
        check("Sandpit is up at http://127.0.0.1:%d" % port in r.lines, r.lines)
        check(r.key and r.key.startswith("sk-sandbox-"), r.lines)
        sid = expect(harness.post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=r.key),
                     201)["sandbox_id"]
        check(r.stop(signal.SIGTERM) == 0, r.lines)
        check(wait_until(lambda: processes_of(state) == [], 10, "every process gone"))

        again = Run(state, port)
        check(again.key == r.key, (r.key, again.key))
        body = expect(harness.get("/api/v1/sandbox/" + sid, key=again.key), 200)
        check(body["status"] == "stopped" and body["stop_reason"] == "shutdown", body)
        key_id = expect(harness.get("/api/v1/api-keys", key=again.key), 200)["api_keys"][0]["id"]
        expect(harness.delete("/api/v1/api-keys/" + key_id, key=again.key), 200)
        check(again.stop(interrupt(again.p.pid)) == 0)
        check(processes_of(state) == [])

        third = Run(state, port)
        check(third.key and third.key != r.key, third.lines)
        expect(harness.get("/api/v1/api-keys", key=third.key), 200)
        warned = open(os.path.join(state, "logs/admin.log")).read()
        check("creating a new one" in warned, warned[-500:])
        check(third.stop() == 0)
        check(processes_of(state) == [])
        check(cgroups_of(state) == [], cgroups_of(state))
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main("run")
