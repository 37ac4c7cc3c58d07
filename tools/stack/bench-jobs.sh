#!/bin/bash
# bench-jobs.sh: the job queue, run by bench.sh against its running stack
# (SANDPIT_URL, SANDPIT_API_KEY, SANDPIT_STATE_DIR, SANDPIT_BIN). Prints
# "bench|base|ratio NAME VALUE UNIT" lines on stdout, notes on stderr.
#
#   job_print1_p50 / exec_print1_p50
#                      submit -> result of `print(1)` as a python job (polled
#                      every 10 ms) beside the same program as a synchronous
#                      execute in a running sandbox (the floor)
#   jobs_per_s_4_runners
#                      200 `sh` jobs of 4 orgs drained by 4 runners (the
#                      stack's runner paused meanwhile)
#   job_cpu_cv_idle / job_cpu_cv_load
#                      coefficient of variation of the CPU time of the same
#                      C loop over 20 test cases, alone and with two other
#                      sandboxes spinning
set -u
exec python3 - <<'EOF'
import json, os, signal, statistics, subprocess, sys, threading, time, urllib.request

URL = os.environ["SANDPIT_URL"]
STATE = os.environ["SANDPIT_STATE_DIR"]
BIN = os.environ["SANDPIT_BIN"]


def call(method, path, body=None, key=None, timeout=120):
    req = urllib.request.Request(URL + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "ApiKey " + key})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def new_key():
    req = urllib.request.Request(URL + "/api/v1/register", method="POST", data=json.dumps({
        "first_name": "B", "last_name": "J", "organization_name": "bench",
        "email": "b%d%d@example.com" % (os.getpid(), time.monotonic_ns())}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["api_key"]["key"]


def wait(key, jid, poll=0.01):
    while True:
        j = call("GET", "/api/v1/jobs/" + jid, key=key)
        if j["status"] in ("completed", "failed", "cancelled"):
            return j
        time.sleep(poll)


def note(s):
    print("bench-jobs: " + s, file=sys.stderr)


key = new_key()
# Submit -> result beside a synchronous execute.
lat = []
for _ in range(15):
    t0 = time.monotonic()
    jid = call("POST", "/api/v1/jobs", {"language": "python", "code": "print(1)"}, key=key)["job_id"]
    wait(key, jid)
    lat.append((time.monotonic() - t0) * 1e3)
sid = call("POST", "/api/v1/sandbox/create", {}, key=key)["sandbox_id"]
ex = []
for _ in range(15):
    t0 = time.monotonic()
    call("POST", "/api/v1/sandbox/%s/execute" % sid, {"command": "python3 -c 'print(1)'"}, key=key)
    ex.append((time.monotonic() - t0) * 1e3)
call("POST", "/api/v1/sandbox/%s/stop" % sid, key=key)
print("bench job_print1_p50 %.1f ms" % statistics.median(lat))
print("base exec_print1_p50 %.1f ms" % statistics.median(ex))
print("ratio job_vs_exec_print1 %.2f x" % (statistics.median(lat) / statistics.median(ex)))

# Throughput with 4 runners (the stack's runner paused).
stack_runner = int(open(os.path.join(STATE, "run/runner.pid")).read())
os.kill(stack_runner, signal.SIGSTOP)
env = dict(os.environ, SANDPIT_JOB_RUNNER_THREADS="2", SANDPIT_JOB_MAX_PER_ORG="100",
           SANDPIT_JOB_MAX_PER_HOST="100")
runners = []
try:
    keys = [new_key() for _ in range(4)]
    ids = []
    for k in keys:
        for _ in range(2):
            r = call("POST", "/api/v1/jobs/batch",
                     {"submissions": [{"language": "sh", "code": "echo hi"}] * 25}, key=k)
            ids += [(k, j["job_id"]) for j in r["jobs"]]
    t0 = time.monotonic()
    for _ in range(4):
        runners.append(subprocess.Popen(
            ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
             os.path.join(BIN, "sandpit-runner")], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for k, jid in ids:
        wait(k, jid, poll=0.05)
    dt = time.monotonic() - t0
    print("bench jobs_per_s_4_runners %.1f jobs/s" % (len(ids) / dt))
finally:
    for r in runners:
        r.terminate()
        r.wait()
    os.kill(stack_runner, signal.SIGCONT)

# CPU-time consistency, alone and under load.
loop = ("#include <stdio.h>\nint main(void){volatile unsigned long x=0;"
        "for(unsigned long i=0;i<1000000000UL;i++)x+=i;printf(\"%d\\n\",x>0);}\n")


def cv():
    jid = call("POST", "/api/v1/jobs", {"language": "c", "code": loop,
               "resource_limits": {"timeout_ms": 20000},
               "tests": [{"stdin": "", "expected_output": "1"}] * 20}, key=key)["job_id"]
    c = [t["cpu_ms"] for t in wait(key, jid, poll=0.2)["result"]["tests"]]
    note("cpu_ms min %d max %d mean %.0f" % (min(c), max(c), statistics.mean(c)))
    return 100 * statistics.pstdev(c) / statistics.mean(c)


print("bench job_cpu_cv_idle %.1f %%" % cv())
lk = new_key()
sids = [call("POST", "/api/v1/sandbox/create", {"cpus": "1"}, key=lk)["sandbox_id"] for _ in range(2)]
spin = "timeout 300 sh -c 'while :; do :; done'"


def spinner(s):
    try:  # ends with an error when the sandbox is stopped under it
        call("POST", "/api/v1/sandbox/%s/execute" % s, {"command": spin, "timeout": 310},
             key=lk, timeout=320)
    except Exception:
        pass


for s in sids:
    threading.Thread(target=spinner, args=(s,), daemon=True).start()
time.sleep(1)
try:
    print("bench job_cpu_cv_load %.1f %%" % cv())
finally:
    for s in sids:
        call("POST", "/api/v1/sandbox/%s/stop" % s, key=lk)
EOF
