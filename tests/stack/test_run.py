#!/usr/bin/env python3
"""`make run` as a user meets it: tools/stack/run.sh on its own state
directory and port. Up line and key line; a second start reuses the data and
the key; SIGTERM stops the sandboxes (reason shutdown) and every process,
leaving no zombie or orphan; a revoked bootstrap key is replaced with a
warning. Then a newcomer's checkout in a directory only root can enter:
`make run` there on its default state directory, Ctrl-C and SIGTERM sent to
the whole process group (rows still end stopped/shutdown, no sandbox.error),
secrets from the environment winning over generated ones, and `make test`'s
own set-up from the same checkout."""
import base64
import glob
import hashlib
import hmac
import http.server
import json
import threading
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
    def __init__(self, state, port, **extra):
        env = dict(os.environ, SANDPIT_STATE_DIR=state, PORT=str(port), **extra)
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



def private_checkout():
    """A clone of this checkout (HEAD plus uncommitted changes to tracked
    files; a plain copy outside git) inside a fresh 0700 directory, with a
    copy of the build directory newer than every source so make finds
    nothing to rebuild."""
    top = tempfile.mkdtemp(prefix="sandpit-private.")
    check(os.stat(top).st_mode & 0o777 == 0o700, oct(os.stat(top).st_mode))
    repo = os.path.join(top, "sandpit")
    if subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"],
                      capture_output=True).returncode == 0:
        subprocess.run(["git", "clone", "-q", REPO, repo], check=True)
        diff = subprocess.run(["git", "-C", REPO, "diff", "HEAD", "--binary"], check=True,
                              capture_output=True).stdout
        if diff:
            subprocess.run(["git", "-C", repo, "apply", "--whitespace=nowarn"], input=diff,
                           check=True)
    else:
        shutil.copytree(REPO, repo, symlinks=True,
                        ignore=shutil.ignore_patterns("build", "var", "node_modules"))
    build = os.environ.get("SANDPIT_BUILD_DIR", os.path.join(REPO, "build/release"))
    if os.path.isdir(build):
        dest = os.path.join(repo, "build/release")
        shutil.copytree(build, dest, symlinks=True)
        now = time.time()
        for d, _, files in os.walk(dest):
            for f in files:
                os.utime(os.path.join(d, f), (now, now))
    return top, repo


def tree(pid):
    """pid and all its descendants, as (pid, start time) pairs."""
    parent, start = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(d)] = int(fields[1])
        start[int(d)] = fields[19]
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p in start:
            found.add((p, start[p]))
            todo += [c for c, pp in parent.items() if pp == p]
    return found


def still_there(procs):
    """Those of procs (pid, start time) that still exist, zombies included."""
    left = []
    for pid, st in procs:
        try:
            fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == st:
            left.append((pid, fields[0]))
    return left


RUNNING = []


def stop_leftovers(state):
    """After a failed test: stop what it left running, through run.sh if it
    still runs, else each service by its pid file (stack_stop's order)."""
    while RUNNING:
        p = RUNNING.pop()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=120)
    for name, sig in [("caddy", signal.SIGTERM), ("reaper", signal.SIGTERM),
                      ("stream", signal.SIGTERM), ("api", signal.SIGTERM),
                      ("boxd", signal.SIGTERM), ("postgres", signal.SIGINT)]:
        try:
            pid = int(open(os.path.join(state or "/nonexistent", "run", name + ".pid")).read())
            # A stale pid file's number may belong to someone else by now.
            if state.encode() not in open("/proc/%d/cmdline" % pid, "rb").read():
                continue
            os.kill(pid, sig)
        except (OSError, ValueError):
            continue
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
            time.sleep(0.1)


class Hooks(http.server.BaseHTTPRequestHandler):
    """A webhook receiver on loopback: records each delivery's event name."""
    events = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            Hooks.events.append(json.loads(body))
        except ValueError:
            Hooks.events.append({"event": "unparsable"})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def hooks_of(sid):
    return [e.get("event") for e in Hooks.events if e.get("sandboxId") == sid]


class MakeRun:
    """`make run` in a checkout, on its default state directory, in a process
    group of its own with SIGINT at its default (as a terminal's foreground
    job has it)."""

    def __init__(self, repo, port, env):
        self.p = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=repo, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        RUNNING.append(self.p)
        self.lines = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Logs:"):
                break
        self.key = next((l.split()[-1] for l in self.lines if l.startswith("API key: ")), None)
        self.state = next((l.split(" ", 1)[1] for l in self.lines if l.startswith("State: ")),
                          None)
        check(self.key and self.state, self.lines)

    def group_signal(self, sig, reader_gone=False):
        """sig to the whole process group, as a terminal's Ctrl-C does (with
        reader_gone, whatever read the output has gone first, as `tee` in
        `make run | tee log` does on Ctrl-C); every process of the instance
        has gone afterwards, zombies included."""
        procs = tree(self.p.pid)
        check(len(procs) > 8, procs)
        if reader_gone:
            self.p.stdout.close()
        os.killpg(self.p.pid, sig)
        if reader_gone:
            self.p.wait(timeout=120)
        else:
            rest, _ = self.p.communicate(timeout=120)
            self.lines += rest.splitlines()
            check("stack: stopped" in self.lines, self.lines[-20:])
        deadline = time.monotonic() + 10
        while still_there(procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        check(still_there(procs) == [], still_there(procs))
        check(not os.path.exists(os.path.join(self.state, "pg/data/postmaster.pid")))


def stopped_by_shutdown(sid, key):
    body = expect(harness.get("/api/v1/sandbox/" + sid, key=key), 200)
    check(body["status"] == "stopped" and body["stop_reason"] == "shutdown", body)


def stream_token_signed_with(token, secret):
    signed, _, sig = token.rpartition(".")
    key = hmac.new(secret.encode(), b"sandpit stream token v1", hashlib.sha256).digest()
    want = base64.urlsafe_b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest())
    return hmac.compare_digest(want.rstrip(b"=").decode(), sig)


@test
def private_checkout_make_run_group_signals_env_secrets():
    """`make run` from a clone under a 0700 directory on its default state
    directory; Ctrl-C (SIGINT) and SIGTERM to the whole group stop the
    sandboxes as `stopped`/`shutdown` with no sandbox.error; secrets from the
    environment are the ones in force."""
    top, repo = private_checkout()
    port = free_port()
    harness.URL = "http://127.0.0.1:%d" % port
    jwt_secret = "env-jwt-" + os.urandom(8).hex()
    secret_key = os.urandom(32).hex()
    env = dict(os.environ, PORT=str(port), SANDPIT_JWT_SECRET=jwt_secret,
               SANDPIT_SECRET_KEY=secret_key, SANDPIT_ALLOW_PRIVATE_WEBHOOKS="true")
    for k in ["SANDPIT_URL", "SANDPIT_API_KEY", "SANDPIT_STATE_DIR", "SANDPIT_BIN", "MAKEFLAGS",
              "MAKELEVEL", "SANDPIT_CONFIG"]:
        env.pop(k, None)
    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    # The documented default: outside the checkout, one per checkout path.
    state = "/var/lib/sandpit-dev/sandpit-" + hashlib.sha256(repo.encode()).hexdigest()[:12]
    try:
        r = MakeRun(repo, port, env)
        check(r.state == state, (r.state, state))
        check("Sandpit is up at http://127.0.0.1:%d" % port in r.lines, r.lines)
        harness.STATE = state
        org = harness.psql("SELECT org_id FROM api_keys LIMIT 1")[0][0]
        # The environment's JWT secret authenticates; another does not.
        claims = {"org_id": org, "sub": "stack-test", "exp": int(time.time()) + 300}
        bearer = {"Authorization": "Bearer " + harness.jwt(claims, jwt_secret)}
        expect(harness.get("/api/v1/sandboxes", headers=bearer), 200)
        forged = {"Authorization": "Bearer " + harness.jwt(claims, "not-" + jwt_secret)}
        expect(harness.get("/api/v1/sandboxes", headers=forged), 401)
        generated = open(os.path.join(state, "secrets.env")).read()
        check(jwt_secret not in generated and secret_key not in generated)
        check(os.stat(os.path.join(state, "secrets.env")).st_mode & 0o077 == 0)
        hook = {"url": "http://127.0.0.1:%d/hook" % hooks.server_address[1],
                "events": ["sandbox.stopped", "sandbox.error"]}
        expect(harness.post("/api/v1/webhooks", hook, key=r.key), 201)
        sids = [expect(harness.post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=r.key),
                       201)["sandbox_id"] for _ in range(2)]
        # The environment's SANDPIT_SECRET_KEY signs the stream tokens.
        token = expect(harness.post("/api/v1/sandbox/%s/stream-token" % sids[0], {},
                                    key=r.key), 201)["token"]
        check(stream_token_signed_with(token, secret_key), token)
        r.group_signal(signal.SIGINT)

        # Restarted: the rows say why they ended; the outbox only has stops.
        again = MakeRun(repo, port, env)
        check(again.state == state, (again.state, state))
        for sid in sids:
            stopped_by_shutdown(sid, again.key)
        wait = time.monotonic() + 30
        while time.monotonic() < wait and not all("sandbox.stopped" in hooks_of(s)
                                                  for s in sids):
            time.sleep(0.2)
        for sid in sids:
            check(hooks_of(sid) == ["sandbox.stopped"], (sid, Hooks.events))
        errors = harness.psql("SELECT count(*) FROM events WHERE type = 'sandbox.error'")
        check(errors == [["0"]], errors)
        sid = expect(harness.post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=again.key),
                     201)["sandbox_id"]
        again.group_signal(signal.SIGTERM)

        # Ctrl-C on `make run | tee log`: the reader ends at the same time.
        third = MakeRun(repo, port, env)
        stopped_by_shutdown(sid, third.key)
        sid = expect(harness.post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=third.key),
                     201)["sandbox_id"]
        third.group_signal(signal.SIGINT, reader_gone=True)

        fourth = MakeRun(repo, port, env)
        stopped_by_shutdown(sid, fourth.key)
        errors = harness.psql("SELECT count(*) FROM events WHERE type = 'sandbox.error'")
        check(errors == [["0"]], errors)
        fourth.group_signal(signal.SIGTERM)
        check(cgroups_of(state) == [], cgroups_of(state))
    finally:
        stop_leftovers(state)
        hooks.shutdown()
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
        harness.STATE = os.environ.get("SANDPIT_STATE_DIR", "")



@test
def private_checkout_make_test_setup():
    """`make test` from a clone under a 0700 directory: its instance starts,
    the unit suites that run as the services' user pass, and the Apache pass
    comes up. (The other suites take minutes; they reach the instance the
    same way.)"""
    top, repo = private_checkout()
    env = dict(os.environ, SANDPIT_SUITES="unit-db apache apache-stream")
    for k in ["SANDPIT_URL", "SANDPIT_API_KEY", "SANDPIT_STATE_DIR", "SANDPIT_BIN", "MAKEFLAGS",
              "MAKELEVEL", "SANDPIT_BUILD_DIR"]:
        env.pop(k, None)
    try:
        out = subprocess.run(["make", "--no-print-directory", "test"], cwd=repo, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=600, start_new_session=True)
        lines = out.stdout.splitlines()
        check(out.returncode == 0, lines[-40:])
        check(all("=== " + s in lines for s in env["SANDPIT_SUITES"].split()), lines[-40:])
        m = re.match(r"(\d+) passed, (\d+) failed(, \d+ skipped)?$", lines[-1])
        check(m and int(m.group(1)) > 0 and m.group(2) == "0", lines[-40:])
    finally:
        shutil.rmtree(top, ignore_errors=True)



@test
def run_reports_a_default_image_it_cannot_build():
    """The first start builds the default image once the stack is up; a
    build that fails says so and the stack serves on (sandboxes do not need
    images yet). An image cache that cannot be created makes it fail fast."""
    state = tempfile.mkdtemp(prefix="sandpit-run.")
    port = free_port()
    harness.URL = "http://127.0.0.1:%d" % port
    r = None
    try:
        r = Run(state, port, SANDPIT_IMAGE_CACHE="/proc/sandpit-no-such/images")
        check(r.key, r.lines)
        later = []  # read on a thread: a run.sh that never says it must not hang us
        reader = threading.Thread(target=lambda: later.extend(iter(r.p.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        wait_until(lambda: any("Could not build" in l for l in later), 60, "the build's verdict")
        r.lines += [l.rstrip("\n") for l in list(later)]
        check(any(l.startswith("Building the default image (first start") for l in r.lines),
              r.lines)
        check(any(l.startswith("Could not build the default image") for l in r.lines), r.lines)
        expect(harness.post("/api/v1/sandbox/create", {"memory": "64Mi"}, key=r.key), 201)
        check(r.p.poll() is None, r.lines)
        r.p.send_signal(signal.SIGTERM)
        check(r.p.wait(timeout=60) == 0, r.lines)
        check(wait_until(lambda: processes_of(state) == [], 10, "every process gone"))
    finally:
        if r and r.p.poll() is None:
            r.p.send_signal(signal.SIGTERM)
            r.p.wait(timeout=60)
        shutil.rmtree(state, ignore_errors=True)


@test
def run_refuses_unreachable_state_dir():
    """A state directory the services' user cannot reach is refused at once,
    with the reason, and its parent's permissions are left as they were."""
    top = tempfile.mkdtemp(prefix="sandpit-closed.")
    try:
        env = dict(os.environ, SANDPIT_STATE_DIR=os.path.join(top, "state"), PORT=str(free_port()))
        out = subprocess.run([os.path.join(REPO, "tools/stack/run.sh"), BIN], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=60)
        check(out.returncode == 1, out.stdout)
        check("cannot reach the state directory" in out.stdout, out.stdout)
        check(os.stat(top).st_mode & 0o777 == 0o700, oct(os.stat(top).st_mode))
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main("run")
