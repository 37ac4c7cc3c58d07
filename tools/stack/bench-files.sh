#!/bin/bash
# bench-files.sh: file throughput through the web server, run by bench.sh
# against its running stack (SANDPIT_URL, SANDPIT_API_KEY). Prints
# "bench|base NAME VALUE UNIT" lines on stdout, notes on stderr.
#
#   files_write_1k / files_read_1k    raw PUT / GET of 1 KiB files, one after
#                                     another on a kept-alive connection (MB/s)
#   files_write_64m / files_read_64m  raw PUT / GET of a 64 MiB file (MB/s)
#   cat_pipe_1k / cat_pipe_64m        the same bytes through `cat file | cat`
#                                     in the same run: the floor for moving
#                                     bytes between two processes
set -u
N1K=${BENCH_FILES_SMALL:-500}
NBIG=${BENCH_FILES_BIG:-3}
exec python3 - "$N1K" "$NBIG" <<'PY'
import http.client, json, os, subprocess, sys, tempfile, time, urllib.parse

n1k, nbig = int(sys.argv[1]), int(sys.argv[2])
u = urllib.parse.urlparse(os.environ["SANDPIT_URL"])
key = os.environ["SANDPIT_API_KEY"]
H = {"Authorization": "ApiKey " + key}


def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=300)


def call(c, method, path, body=None, headers=None):
    h = dict(H, **(headers or {}))
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit("bench-files: %s %s -> %d %s" % (method, path, r.status, data[:200]))
    return data


c = conn()
sid = json.loads(call(c, "POST", "/api/v1/sandbox/create", b"{}",
                      {"Content-Type": "application/json"}))["sandbox_id"]
base = "/api/v1/sandbox/%s/files?" % sid
small = os.urandom(1024)
big = os.urandom(64 << 20)


def mbps(nbytes, secs):
    return nbytes / secs / 1e6


t = time.monotonic()
for i in range(n1k):
    call(c, "PUT", base + "path=s/%d.bin" % i, small, {"Content-Type": "application/octet-stream"})
w1 = mbps(1024 * n1k, time.monotonic() - t)
t = time.monotonic()
for i in range(n1k):
    if call(c, "GET", base + "path=s/%d.bin&encoding=raw" % i) != small:
        raise SystemExit("bench-files: 1 KiB read differs")
r1 = mbps(1024 * n1k, time.monotonic() - t)
t = time.monotonic()
for i in range(nbig):
    call(c, "PUT", base + "path=big.bin", big, {"Content-Type": "application/octet-stream"})
wb = mbps(len(big) * nbig, time.monotonic() - t)
t = time.monotonic()
for i in range(nbig):
    if call(c, "GET", base + "path=big.bin&encoding=raw") != big:
        raise SystemExit("bench-files: 64 MiB read differs")
rb = mbps(len(big) * nbig, time.monotonic() - t)
call(c, "POST", "/api/v1/sandbox/%s/stop" % sid)

with tempfile.TemporaryDirectory() as d:
    f1, fb = os.path.join(d, "1k"), os.path.join(d, "64m")
    open(f1, "wb").write(small)
    open(fb, "wb").write(big)
    t = time.monotonic()
    for i in range(n1k):
        subprocess.run("cat %s | cat > /dev/null" % f1, shell=True, check=True)
    c1 = mbps(1024 * n1k, time.monotonic() - t)
    t = time.monotonic()
    for i in range(nbig):
        subprocess.run("cat %s | cat > /dev/null" % fb, shell=True, check=True)
    cb = mbps(len(big) * nbig, time.monotonic() - t)

for kind, name, v in (("bench", "files_write_1k", w1), ("bench", "files_read_1k", r1),
                      ("base", "cat_pipe_1k", c1), ("bench", "files_write_64m", wb),
                      ("bench", "files_read_64m", rb), ("base", "cat_pipe_64m", cb)):
    print("%s %s %.2f MB/s" % (kind, name, v), flush=True)
PY
