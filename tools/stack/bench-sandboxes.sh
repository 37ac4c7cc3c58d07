#!/bin/bash
# bench-sandboxes.sh: sandbox figures through the web server, beside floors
# measured in the same run (run by bench.sh, which exports SANDPIT_URL,
# SANDPIT_API_KEY, SANDPIT_STATE_DIR). Prints "bench|base|ratio NAME VALUE UNIT".
#   create -> ready p50/p99       floor: unshare of the same namespaces, bwrap
#   create -> ready from python-basic (image layers)  floor: create without
#   execute of `true` p50/p99     floor: fork+exec of true, GET /health
#   executes per second, 16 clients
#   host memory per idle sandbox (MemAvailable drop over IDLE_N sandboxes)
set -u
exec python3 - "$@" <<'PY'
import concurrent.futures, http.client, json, os, subprocess, threading, time, urllib.parse

URL = urllib.parse.urlparse(os.environ["SANDPIT_URL"])
KEY = os.environ["SANDPIT_API_KEY"]
N = int(os.environ.get("BENCH_N", "100"))
IDLE_N = int(os.environ.get("BENCH_IDLE_N", "1000"))
HDRS = {"Authorization": "ApiKey " + KEY, "Content-Type": "application/json"}


def out(kind, name, value, unit):
    print("%s %s %.3f %s" % (kind, name, value, unit), flush=True)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


class Client:
    def __init__(self):
        self.c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=120)

    def call(self, method, path, body=None):
        self.c.request(method, path, body=json.dumps(body) if body is not None else None,
                       headers=HDRS)
        r = self.c.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError("%s %s -> %d %s" % (method, path, r.status, data[:200]))
        return json.loads(data) if data else None


def timed(fn, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return ts


def floor(cmd, n):
    return timed(lambda: subprocess.run(cmd, check=True), n)


def mem_available():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


c = Client()
small = {"memory": "64Mi", "cpus": "0.1"}

# create -> ready (the 201 comes only once the agent answered)
ids = []
def create():
    ids.append(c.call("POST", "/api/v1/sandbox/create", small)["sandbox_id"])
create_ms = []
for _ in range(N):
    create_ms += timed(create, 1)
    c.call("POST", "/api/v1/sandbox/%s/stop" % ids[-1])
unshare = floor(["unshare", "-Ur", "-pf", "-m", "-n", "-u", "-i", "-C", "true"], N)
bwrap = floor(["bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
               "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--unshare-all",
               "true"], N)
out("bench", "create_ready_p50", pct(create_ms, .5), "ms")
out("bench", "create_ready_p99", pct(create_ms, .99), "ms")
out("base", "unshare_5ns_true_p50", pct(unshare, .5), "ms")
out("base", "bwrap_ro_root_true_p50", pct(bwrap, .5), "ms")
out("ratio", "create_p50_vs_bwrap", pct(create_ms, .5) / pct(bwrap, .5), "x")

# create -> ready from a template (an overlay of image layers, issue #13)
# against the plain root, interleaved and in alternating order (a create
# right after a stop pays for it) so both see the same load; the layers are
# mounted, never copied, so the target is at most 1.2x
tpl = c.call("GET", "/api/v1/templates/python-basic")
if tpl["status"] == "ready":
    plain_ms, tpl_ms = [], []
    for i in range(N):
        pair = [(small, plain_ms), (dict(small, template="python-basic"), tpl_ms)]
        for body, xs in pair if i % 2 else pair[::-1]:
            t = time.perf_counter()
            sid = c.call("POST", "/api/v1/sandbox/create", body)["sandbox_id"]
            xs.append((time.perf_counter() - t) * 1e3)
            c.call("POST", "/api/v1/sandbox/%s/stop" % sid)
    out("bench", "create_ready_template_p50", pct(tpl_ms, .5), "ms")
    out("base", "create_ready_plain_p50", pct(plain_ms, .5), "ms")
    out("ratio", "create_template_vs_plain_p50", pct(tpl_ms, .5) / pct(plain_ms, .5), "x")

# execute of `true`, on a sandbox with the default CPU limit (a 0.1 CPU
# quota would measure the throttle, not the path)
sid = c.call("POST", "/api/v1/sandbox/create", {"memory": "256Mi"})["sandbox_id"]
ex = timed(lambda: c.call("POST", "/api/v1/sandbox/%s/execute" % sid, {"command": ["true"]}), N * 2)
health = timed(lambda: c.call("GET", "/api/v1/health"), N * 2)
fork = floor(["true"], N)
out("bench", "execute_true_p50", pct(ex, .5), "ms")
out("bench", "execute_true_p99", pct(ex, .99), "ms")
out("base", "http_health_p50", pct(health, .5), "ms")
out("base", "fork_exec_true_p50", pct(fork, .5), "ms")

# executes per second, 16 clients on 16 sandboxes' worth of connections
stop_at = time.monotonic() + float(os.environ.get("BENCH_SECONDS", "5"))
count = [0]
lock = threading.Lock()
def worker(_):
    cl = Client()
    n = 0
    while time.monotonic() < stop_at:
        cl.call("POST", "/api/v1/sandbox/%s/execute" % sid, {"command": ["true"]})
        n += 1
    with lock:
        count[0] += n
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(worker, range(16)))
out("bench", "executes_per_second_16_clients", count[0] / (time.monotonic() - t0), "exec/s")
c.call("POST", "/api/v1/sandbox/%s/stop" % sid)

# idle sandboxes: how many at once, and host memory each
before = mem_available()
idle = []
t0 = time.monotonic()
try:
    for _ in range(IDLE_N):
        idle.append(c.call("POST", "/api/v1/sandbox/create", small)["sandbox_id"])
finally:
    took = time.monotonic() - t0
    time.sleep(1)
    after = mem_available()
    out("bench", "idle_sandboxes_alive", len(idle), "sandboxes")
    out("bench", "idle_sandbox_host_memory", (before - after) / max(1, len(idle)) / 1048576, "MiB")
    out("bench", "idle_sandboxes_create_rate", len(idle) / took, "sandboxes/s")
    for s in idle:
        c.call("DELETE", "/api/v1/sandbox/" + s)
PY
