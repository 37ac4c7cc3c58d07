"""harness.py: a tiny test runner and HTTP client for the integration suites.

Tests talk to the running stack exactly as a client would: HTTP through the
web server at SANDPIT_URL. Each test is a function decorated with @test; the
runner prints one line per test and ends with
"<suite>: N passed, N failed, N skipped".

A test whose precondition is missing calls skip(reason): it is counted and
printed as skipped, never as passed. Steps that only tidy up after the tests
are decorated with @cleanup: they run after every test, are not counted, and
an error in one counts as a failure.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("SANDPIT_URL", "http://127.0.0.1:8080")
STATE = os.environ.get("SANDPIT_STATE_DIR", "")
_tests = []
_cleanups = []


def test(fn):
    _tests.append(fn)
    return fn


def cleanup(fn):
    """Not a test: runs after all the tests, uncounted unless it fails."""
    _cleanups.append(fn)
    return fn


class Skip(Exception):
    """Raised by skip(): the test could not run here."""


def skip(reason):
    raise Skip(reason)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def request(method, path, body=None, key=None, headers=None, raw=None, timeout=60):
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if key is not None:
        hdrs.setdefault("Authorization", "ApiKey " + key)
    req = urllib.request.Request(URL + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


def get(path, **kw):
    return request("GET", path, **kw)


def post(path, body=None, **kw):
    return request("POST", path, body=body, **kw)


def delete(path, **kw):
    return request("DELETE", path, **kw)


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def expect(resp, status, code=None):
    """The response has this status, and for errors the JSON error shape."""
    check(resp.status == status, "expected %d, got %r" % (status, resp))
    if status >= 400:
        err = resp.json().get("error")
        check(isinstance(err, dict) and isinstance(err.get("code"), str)
              and isinstance(err.get("message"), str), "bad error body %r" % resp)
        if code is not None:
            check(err["code"] == code, "expected code %s, got %r" % (code, resp))
    check(resp.headers.get("X-Request-Id"), "no X-Request-Id")
    return resp.json() if resp.body else None


def register(org="Test Org", email=None):
    """A fresh org with an all-scopes key: returns the register response."""
    email = email or "u%s@example.com" % uuid.uuid4().hex[:12]
    r = post("/api/v1/register", {"first_name": "T", "last_name": "User", "email": email,
                                  "organization_name": org})
    return expect(r, 201)


def new_key():
    return register()["api_key"]["key"]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims, secret=None, header=None):
    secret = secret if secret is not None else os.environ["SANDPIT_JWT_SECRET"]
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


def psql(sql):
    """Run SQL against the instance's private cluster; rows as lists."""
    out = subprocess.run(
        ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
         "psql", "-h", os.path.join(STATE, "pg/run"), "-U", "sandpit", "-d", "sandpit",
         "-tA", "-F", "\t", "-c", sql],
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]

def free_port():
    """A loopback port nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


AS_SANDPIT = ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--"]


class SecondApi:
    """A second sandpit-api and Caddy with extra settings, on the stack's
    database, boxd and stream proxy: for settings read at start-up. Runs
    from the instance's installed copies ($STATE/bin, $STATE/etc), which the
    sandpit user can read whatever the checkout's permissions."""

    def __init__(self, prefix="api2-", **settings):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=os.path.join(STATE, "run"))
        shutil.chown(self.dir, "sandpit", "sandpit")
        self.sock = os.path.join(self.dir, "api.sock")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.procs = []
        env = dict(os.environ, SANDPIT_FCGI_LISTEN=self.sock, SANDPIT_WORKERS="1",
                   SANDPIT_THREADS="4", **settings)
        bin_dir = os.environ.get("SANDPIT_BIN", os.path.join(STATE, "bin"))
        self._spawn([os.path.join(bin_dir, "sandpit-api")], env)
        self._wait(lambda: os.path.exists(self.sock), "sandpit-api")
        cenv = dict(os.environ, SANDPIT_PORT=str(self.port), SANDPIT_BIND="127.0.0.1",
                    SANDPIT_API_SOCK=self.sock, SANDPIT_STATE_DIR=self.dir, HOME=self.dir,
                    XDG_DATA_HOME=self.dir, XDG_CONFIG_HOME=self.dir,
                    SANDPIT_STREAM_SOCK=os.path.join(STATE, "run", "stream.sock"))
        self._spawn(["caddy", "run", "--adapter", "caddyfile", "--config",
                     os.path.join(STATE, "etc", "Caddyfile")], cenv)
        self._wait(lambda: self.request("GET", "/api/v1/health").status == 200, "caddy")

    def _spawn(self, argv, env):
        self.procs.append(subprocess.Popen(AS_SANDPIT + argv, env=env, stdout=self.log,
                                           stderr=self.log))

    def _wait(self, ready, what):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("%s of the second instance did not start" % what)

    def request(self, method, path, body=None, key=None, source="127.0.0.1"):
        """One request from loopback address source; a Response."""
        hdrs = {"Content-Type": "application/json"}
        if key is not None:
            hdrs["Authorization"] = "ApiKey " + key
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60,
                                       source_address=(source, 0))
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers=hdrs)
            r = c.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            c.close()

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)



def wait_until(pred, timeout, what="condition", step=0.05):
    """pred()'s first true value, polled every step seconds; AssertionError
    naming what after timeout seconds. For waiting on an event instead of
    sleeping for the time it usually takes."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


def _proc_table():
    """{pid: (ppid, state)} of every process now."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(d)] = (int(st[1]), st[0])
    return procs


def instance_pids(state=None):
    """The processes of the instance at state (SANDPIT_STATE_DIR): those in
    its run/*.pid files and all their descendants (workers, boxd, agents,
    sandboxed code), and nothing else on the machine."""
    run = os.path.join(state or STATE, "run")
    roots = set()
    for name in os.listdir(run):
        if name.endswith(".pid"):
            try:
                with open(os.path.join(run, name)) as f:
                    roots.add(int(f.read().split()[0]))
            except (OSError, ValueError, IndexError):
                continue
    procs = _proc_table()
    mine, grew = {p for p in roots if p in procs}, True
    while grew:
        more = {p for p, (pp, _) in procs.items() if pp in mine and p not in mine}
        mine |= more
        grew = bool(more)
    return {p: procs[p] for p in mine}


def instance_zombies(state=None):
    """The instance's own zombies (see instance_pids)."""
    return sorted(p for p, (_, st) in instance_pids(state).items() if st == "Z")


def _sleeping_switches(pid):
    """Voluntary context switches of pid when it is in nanosleep (how the
    looping reaper waits between sweeps), else None."""
    try:
        with open("/proc/%d/wchan" % pid) as f:
            if "nanosleep" not in f.read():
                return None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        raise AssertionError("process %d is gone" % pid)
    return None


def wait_sweeps(pid, n=1, timeout=30):
    """Until the looping reaper pid has done n whole sweeps from now: seen
    asleep between sweeps, then asleep again n times after having blocked
    elsewhere (a sweep's database round trips) in between. Anything a sweep
    under way when called would write is written by then."""
    last = wait_until(lambda: _sleeping_switches(pid), timeout, "reaper %d asleep" % pid, 0.01)
    for i in range(n):
        prev = last
        last = wait_until(lambda: (_sleeping_switches(pid) or 0) > prev + 1
                          and _sleeping_switches(pid), timeout,
                          "reaper %d sweep %d" % (pid, i + 1), 0.01)


def stack_reaper_pid(state=None):
    with open(os.path.join(state or STATE, "run/reaper.pid")) as f:
        return int(f.read().split()[0])


def main(suite):
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok   %-60s %6.0f ms" % (fn.__name__, (time.monotonic() - t0) * 1e3), flush=True)
        except Skip as e:
            skipped += 1
            print("skip %-60s (%s)" % (fn.__name__, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__, flush=True)
            traceback.print_exc()
    for fn in _cleanups:
        try:
            fn()
        except Exception:
            failed += 1
            print("FAIL cleanup %s" % fn.__name__, flush=True)
            traceback.print_exc()
    print("%s: %d passed, %d failed, %d skipped" % (suite, passed, failed, skipped), flush=True)
    sys.exit(1 if failed else 0)
