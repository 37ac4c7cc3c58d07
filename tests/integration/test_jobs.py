#!/usr/bin/env python3
"""The async job queue and judge verdicts: POST /api/v1/jobs (and /batch),
GET /api/v1/jobs[/:id], DELETE /api/v1/jobs/:id, run by sandpit-runner in
fresh sandboxes. Every verdict is forced by a real program; fairness is
measured between two orgs; a runner is killed mid-job twice."""
import http.server
import json
import os
import signal
import subprocess
import threading
import time

from harness import STATE, check, delete, expect, get, main, new_key, post, psql, test

BIN = os.environ.get("SANDPIT_BIN", "")
KEY = new_key()


def submit(body, key=KEY):
    r = expect(post("/api/v1/jobs", body, key=key), 202)
    check(r["status"] == "queued" and r["job_id"].startswith("job_"), "bad submit %r" % r)
    return r["job_id"]


def wait(job_id, key=KEY, timeout=120, until=("completed", "failed", "cancelled")):
    end = time.monotonic() + timeout
    while True:
        j = expect(get("/api/v1/jobs/" + job_id, key=key), 200)
        if j["status"] in until:
            return j
        check(time.monotonic() < end, "job %s still %s after %ds" % (job_id, j["status"], timeout))
        time.sleep(0.1)


def run(language, code, key=KEY, **kw):
    body = {"language": language, "code": code}
    body.update(kw)
    return wait(submit(body, key=key), key=key)


def verdict_of(language, code, **kw):
    j = run(language, code, **kw)
    check(j["status"] == "completed", "job did not complete: %r" % j)
    return j["result"]["verdict"], j


def live_sandboxes(key):
    rows = expect(get("/api/v1/sandboxes?limit=200", key=key), 200)["sandboxes"]
    return [s for s in rows if s["status"] in ("creating", "running", "stopping")]


# ---- happy paths -------------------------------------------------------

HELLO = {
    "python": "import sys\nprint('hello', sys.stdin.read().strip())\n",
    "node": "const s = require('fs').readFileSync(0, 'utf8').trim();\nconsole.log('hello ' + s);\n",
    "bash": "read x\necho \"hello $x\"\n",
    "sh": "read x\necho \"hello $x\"\n",
    "c": "#include <stdio.h>\nint main(void){char b[64];scanf(\"%63s\",b);printf(\"hello %s\\n\",b);return 0;}\n",
    "cpp": "#include <iostream>\n#include <string>\nint main(){std::string s;std::cin>>s;std::cout<<\"hello \"<<s<<std::endl;}\n",
}


@test
def every_language_runs_and_is_accepted():
    ids = {lang: submit({"language": lang, "code": code, "stdin": "world\n"})
           for lang, code in HELLO.items()}
    for lang, jid in ids.items():
        j = wait(jid)
        check(j["status"] == "completed", "%s: %r" % (lang, j))
        res = j["result"]
        check(res["verdict"] == "accepted", "%s: %r" % (lang, res))
        check(res["stdout"] == "hello world\n", "%s stdout %r" % (lang, res["stdout"]))
        check(res["exit_code"] == 0 and res["wall_ms"] >= 0 and res["cpu_ms"] >= 0, "%r" % res)
        check(j["attempts"] == 1 and j["started_at"] and j["finished_at"], "%r" % j)


@test
def judge_tests_report_a_verdict_per_case_and_overall():
    code = "a, b = map(int, input().split())\nprint(a + b)\n"
    tests = [{"stdin": "1 2\n", "expected_output": "3\n"},
             {"stdin": "5 5\n", "expected_output": "10"},
             {"stdin": "2 2\n", "expected_output": "5\n"}]
    v, j = verdict_of("python", code, tests=tests)
    check(v == "wrong_answer", "overall %r" % j)
    per = [t["verdict"] for t in j["result"]["tests"]]
    check(per == ["accepted", "accepted", "wrong_answer"], "per test %r" % per)
    for t in j["result"]["tests"]:
        check(t["memory_kb"] > 0 and t["cpu_ms"] >= 0 and t["wall_ms"] >= 0, "measures %r" % t)
    # All accepted: overall accepted; a C program compiles once for all.
    c = "#include <stdio.h>\nint main(void){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);}\n"
    v, j = verdict_of("c", c, tests=tests[:2])
    check(v == "accepted" and j["result"]["compile"]["exit_code"] == 0, "%r" % j)


# ---- every verdict from a real program ------------------------------------

@test
def infinite_loop_is_time_limit_exceeded_by_cpu_time():
    # A wall limit far away: the CPU limit is what ends it, even on a
    # loaded machine where 500 ms of CPU take seconds.
    v, j = verdict_of("python", "while True:\n    pass\n",
                      tests=[{"stdin": "", "expected_output": "", "timeout_ms": 500,
                              "wall_timeout_ms": 60000}])
    t = j["result"]["tests"][0]
    check(v == "time_limit_exceeded", "%r" % j)
    check(t["cpu_ms"] >= 500, "a spinning program used only %d ms of CPU" % t["cpu_ms"])
    v, _ = verdict_of("c", "int main(void){volatile unsigned long x=0;for(;;)x++;}\n",
                      resource_limits={"timeout_ms": 500})
    check(v == "time_limit_exceeded", "c: %s" % v)


@test
def sleeping_program_is_judged_by_wall_time_not_cpu_time():
    # 1.5 s asleep under a 500 ms CPU limit and a 5 s wall limit: accepted,
    # its CPU time is tiny; 20 s asleep passes the wall limit: TLE.
    v, j = verdict_of("python", "import time\ntime.sleep(1.5)\nprint('ok')\n",
                      resource_limits={"timeout_ms": 500, "wall_timeout_ms": 5000})
    check(v == "accepted", "%r" % j)
    check(j["result"]["wall_ms"] >= 1400 and j["result"]["cpu_ms"] < 500, "%r" % j["result"])
    t0 = time.monotonic()
    v, j = verdict_of("python", "import time\ntime.sleep(20)\n",
                      resource_limits={"timeout_ms": 500, "wall_timeout_ms": 2000})
    check(v == "time_limit_exceeded", "%r" % j)
    check(j["result"]["cpu_ms"] < 500, "%r" % j["result"])
    check(time.monotonic() - t0 < 15, "the wall limit did not end the run")


@test
def allocation_is_memory_limit_exceeded():
    v, j = verdict_of("python", "x = bytearray(512 * 1024 * 1024)\nprint(len(x))\n",
                      tests=[{"stdin": "", "expected_output": "", "memory_mb": 64}])
    check(v == "memory_limit_exceeded", "%r" % j)
    c = ("#include <stdlib.h>\n#include <string.h>\nint main(void){"
         "for(int i=0;i<64;i++){char*p=malloc(16<<20);if(!p)return 3;memset(p,1,16<<20);}return 0;}\n")
    v, j = verdict_of("c", c, resource_limits={"memory_mb": 64})
    check(v == "memory_limit_exceeded", "c: %r" % j)
    check(j["result"]["memory_kb"] > 48 * 1024, "peak %r" % j["result"]["memory_kb"])
    # The same program under a limit it fits in is accepted, with its peak.
    v, j = verdict_of("c", c.replace("i<64", "i<4"), resource_limits={"memory_mb": 256})
    check(v == "accepted" and j["result"]["memory_kb"] >= 60 * 1024, "%r" % j["result"])


@test
def exit_1_and_crash_are_runtime_errors():
    v, j = verdict_of("python", "import sys\nsys.exit(1)\n")
    check(v == "runtime_error" and j["result"]["exit_code"] == 1, "%r" % j)
    v, j = verdict_of("c", "int main(void){volatile int*p=0;return *p;}\n")
    check(v == "runtime_error", "segfault: %r" % j)


@test
def syntax_errors_are_compile_errors():
    v, j = verdict_of("c", "int main(void){ return 0 }\n",
                      tests=[{"stdin": "", "expected_output": ""}, {"expected_output": "x"}])
    check(v == "compile_error", "%r" % j)
    check("error" in j["result"]["compile"]["stderr"], "%r" % j["result"]["compile"])
    check([t["verdict"] for t in j["result"]["tests"]] == ["compile_error"] * 2, "%r" % j)
    v, j = verdict_of("python", "def f(:\n    pass\n")
    check(v == "compile_error" and "SyntaxError" in j["result"]["compile"]["stderr"], "%r" % j)
    v, _ = verdict_of("node", "function (\n")
    check(v == "compile_error", "node: %s" % v)


@test
def wrong_print_is_wrong_answer():
    v, j = verdict_of("python", "print('goodbye')\n",
                      tests=[{"stdin": "", "expected_output": "hello\n"}])
    check(v == "wrong_answer" and j["result"]["tests"][0]["stdout"] == "goodbye\n", "%r" % j)


@test
def huge_output_is_output_limit_exceeded():
    v, j = verdict_of("python", "import sys\nsys.stdout.write('x' * (8 << 20))\n")
    check(v == "output_limit_exceeded", "%r" % j)
    v, j = verdict_of("c", "#include <stdio.h>\nint main(void){for(;;)puts(\"yyyyyyyyyyyyyyyy\");}\n",
                      resource_limits={"timeout_ms": 1000},
                      tests=[{"stdin": "", "expected_output": "y"}])
    check(v == "output_limit_exceeded", "endless output: %r" % j)


@test
def comparison_modes():
    code = "print('3.14159   ')\nprint()\n"
    tests = [{"stdin": "", "expected_output": "3.14159"}]
    check(verdict_of("python", code, tests=tests)[0] == "accepted", "trailing whitespace")
    check(verdict_of("python", code, tests=tests, compare="exact")[0] == "wrong_answer", "exact")
    num = [{"stdin": "", "expected_output": "3.1416"}]
    check(verdict_of("python", code, tests=num, compare="numeric", tolerance=1e-4)[0] ==
          "accepted", "numeric within tolerance")
    check(verdict_of("python", code, tests=num, compare="numeric", tolerance=1e-7)[0] ==
          "wrong_answer", "numeric outside tolerance")


# ---- queue: list, cancel, batch -----------------------------------------

@test
def cancel_running_and_queued_jobs_and_list_by_status():
    key = new_key()
    sleepy = {"language": "python", "code": "import time\ntime.sleep(60)\n",
              "resource_limits": {"timeout_ms": 1000, "wall_timeout_ms": 120000}}
    # Per-org bound (SANDPIT_JOB_MAX_PER_ORG, 2): the third stays queued.
    ids = [submit(sleepy, key=key) for _ in range(3)]
    running = [wait(i, key=key, until=("running",))["job_id"] for i in ids[:2]]
    end = time.monotonic() + 20
    while len(live_sandboxes(key)) != 2:  # past their syntax-check step
        check(time.monotonic() < end, "running jobs without their sandboxes")
        time.sleep(0.1)
    time.sleep(0.5)
    j3 = expect(get("/api/v1/jobs/" + ids[2], key=key), 200)
    check(j3["status"] == "queued", "third job of an org at its bound: %r" % j3)
    listed = expect(get("/api/v1/jobs?status=running", key=key), 200)["jobs"]
    check(sorted(j["job_id"] for j in listed) == sorted(running), "running list %r" % listed)
    listed = expect(get("/api/v1/jobs?status=queued", key=key), 200)["jobs"]
    check([j["job_id"] for j in listed] == [ids[2]], "queued list %r" % listed)

    r = expect(delete("/api/v1/jobs/" + ids[2], key=key), 200)
    check(r["status"] == "cancelled", "%r" % r)
    t0 = time.monotonic()
    for i in running:
        expect(delete("/api/v1/jobs/" + i, key=key), 200)
    for i in ids:
        j = expect(get("/api/v1/jobs/" + i, key=key), 200)
        check(j["status"] == "cancelled", "%r" % j)
    check(expect(get("/api/v1/jobs/" + ids[2], key=key), 200)["started_at"] is None,
          "a cancelled queued job never starts")
    while live_sandboxes(key):
        check(time.monotonic() - t0 < 10, "cancelled jobs' sandboxes still live")
        time.sleep(0.2)
    expect(delete("/api/v1/jobs/" + ids[0], key=key), 409)
    time.sleep(1)
    for i in ids:  # the runner does not resurrect a cancelled job
        check(expect(get("/api/v1/jobs/" + i, key=key), 200)["status"] == "cancelled", i)
    listed = expect(get("/api/v1/jobs?status=cancelled&limit=2", key=key), 200)
    check(len(listed["jobs"]) == 2 and listed["next_cursor"], "paged %r" % listed)
    more = expect(get("/api/v1/jobs?status=cancelled&limit=2&cursor=" + listed["next_cursor"],
                      key=key), 200)
    check(len(more["jobs"]) == 1 and more["next_cursor"] is None, "page 2 %r" % more)
    expect(get("/api/v1/jobs?status=bogus", key=key), 400)
    check(len(expect(get("/api/v1/jobs?status=", key=key), 200)["jobs"]) == 3, "empty status")


@test
def batch_submits_up_to_100_jobs_at_once():
    key = new_key()
    subs = [{"language": "python", "code": "print(%d * 2)" % i,
             "tests": [{"stdin": "", "expected_output": str(i * 2)}]} for i in range(5)]
    r = expect(post("/api/v1/jobs/batch", {"submissions": subs}, key=key), 202)
    check(len(r["jobs"]) == 5 and all(j["status"] == "queued" for j in r["jobs"]), "%r" % r)
    for j in r["jobs"]:
        check(wait(j["job_id"], key=key)["verdict"] == "accepted", j["job_id"])
    too_many = {"submissions": [{"language": "sh", "code": "true"}] * 101}
    expect(post("/api/v1/jobs/batch", too_many, key=key), 400)
    bad = {"submissions": [subs[0], {"language": "cobol", "code": "x"}]}
    e = expect(post("/api/v1/jobs/batch", bad, key=key), 400)
    check("submissions[1]" in e["error"]["message"], "%r" % e)
    check(len(expect(get("/api/v1/jobs?limit=200", key=key), 200)["jobs"]) == 5,
          "a refused batch queues nothing")


# ---- auth and validation ----------------------------------------------------

@test
def auth_failures_and_other_orgs_jobs_are_404():
    jid = submit({"language": "sh", "code": "echo hi"})
    expect(post("/api/v1/jobs", {"language": "sh", "code": "echo"}), 401)
    expect(get("/api/v1/jobs/" + jid), 401)
    expect(get("/api/v1/jobs/" + jid, key="sk-sandbox-" + "x" * 43), 401)
    expect(post("/api/v1/jobs", {"language": "sh", "code": "echo"},
                key="sk-sandbox-" + "y" * 43), 401)
    other = new_key()
    expect(get("/api/v1/jobs/" + jid, key=other), 404)
    expect(delete("/api/v1/jobs/" + jid, key=other), 404)
    check(jid not in [j["job_id"] for j in
                      expect(get("/api/v1/jobs", key=other), 200)["jobs"]], "listed to another org")
    expect(get("/api/v1/jobs/job_" + "0" * 20, key=KEY), 404)
    expect(get("/api/v1/jobs/nonsense", key=KEY), 404)
    wait(jid)


@test
def validation_failures():
    e = expect(post("/api/v1/jobs", {"language": "cobol", "code": "x"}, key=KEY), 400)
    for lang in HELLO:
        check(lang in e["error"]["message"], "supported languages not listed: %r" % e)
    expect(post("/api/v1/jobs", {"code": "x"}, key=KEY), 400)
    expect(post("/api/v1/jobs", {"language": "python"}, key=KEY), 400)
    expect(post("/api/v1/jobs", {"language": "python", "code": ""}, key=KEY), 400)
    expect(post("/api/v1/jobs", {"language": "python", "code": "x", "bogus": 1}, key=KEY), 400)
    expect(post("/api/v1/jobs", {"language": "python", "code": "x" * (300 * 1024)}, key=KEY),
           413)
    bad = [{"resource_limits": {"memory_mb": 1}}, {"resource_limits": {"timeout_ms": 0}},
           {"resource_limits": {"cpu_cores": 1e9}}, {"resource_limits": {"nope": 1}},
           {"resource_limits": {"timeout_ms": 1.5}},
           {"tests": []}, {"tests": [{"stdin": "1"}]}, {"tests": [{"expected_output": 3}]},
           {"tests": "x"}, {"files": {"../etc/passwd": "x"}}, {"files": {"/abs": "x"}},
           {"files": {"a": 1}}, {"compare": "fuzzy"}, {"tolerance": -1}, {"stdin": 5}]
    for extra in bad:
        body = {"language": "python", "code": "print(1)"}
        body.update(extra)
        expect(post("/api/v1/jobs", body, key=KEY), 400)
    # files land beside the code
    v, j = verdict_of("python", "print(open('data/in.txt').read().strip())\n",
                      files={"data/in.txt": "from a file\n"})
    check(v == "accepted" and j["result"]["stdout"] == "from a file\n", "%r" % j)


# ---- events -------------------------------------------------------------------

class Receiver(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


@test
def job_events_are_recorded_and_delivered_to_webhooks():
    key = new_key()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
        expect(post("/api/v1/webhooks", {"url": url, "events": ["job.completed", "job.failed"]},
                    key=key), 201)
        ok = run("sh", "echo fine", key=key)
        end = time.monotonic() + 30
        while not any(e["event"] == "job.completed" and e["data"]["jobId"] == ok["job_id"]
                      for e in Receiver.got):
            check(time.monotonic() < end, "no job.completed delivered: %r" % Receiver.got)
            time.sleep(0.2)
        e = [e for e in Receiver.got if e["data"].get("jobId") == ok["job_id"]][0]
        check(e["data"]["verdict"] == "accepted" and e["data"]["status"] == "completed", "%r" % e)
        rows = psql("SELECT type FROM events WHERE payload->'data'->>'jobId' = '%s'" % ok["job_id"])
        check(rows == [["job.completed"]], "events table %r" % rows)
    finally:
        srv.shutdown()


# ---- fairness between two orgs -------------------------------------------

@test
def one_orgs_queue_does_not_delay_another_orgs_first_job():
    a, b = new_key(), new_key()
    job = {"language": "python", "code": "import time\ntime.sleep(1)\nprint('a')\n",
           "resource_limits": {"timeout_ms": 1000, "wall_timeout_ms": 10000}}
    # Same-run baselines: one A job and one B job alone.
    t0 = time.monotonic()
    wait(submit(job, key=a), key=a)
    t_a = time.monotonic() - t0
    quick = {"language": "sh", "code": "echo b"}
    t0 = time.monotonic()
    wait(submit(quick, key=b), key=b)
    t_b = time.monotonic() - t0
    # A queues 60 (FIFO would hold B behind ~30 of them), then B submits one.
    n = 60
    for start in range(0, n, 20):
        expect(post("/api/v1/jobs/batch", {"submissions": [job] * 20}, key=a), 202)
    time.sleep(0.5)
    t0 = time.monotonic()
    jb = wait(submit(quick, key=b), key=b)
    waited = time.monotonic() - t0
    check(jb["result"]["verdict"] == "accepted", "%r" % jb)
    bound = 3 * (t_a + t_b) + 2
    print("     B waited %.2fs (one A job %.2fs, one B job %.2fs alone; bound %.2fs)"
          % (waited, t_a, t_b, bound))
    check(waited < bound, "B's job waited %.2fs behind A's queue (bound %.2fs)" % (waited, bound))
    queued = expect(get("/api/v1/jobs?status=queued&limit=200", key=a), 200)["jobs"]
    check(len(queued) > n // 2, "A's queue drained too fast to show anything: %d" % len(queued))
    for j in queued:  # A's backlog is not this test's business any more
        delete("/api/v1/jobs/" + j["job_id"], key=a)
    for j in expect(get("/api/v1/jobs?status=running", key=a), 200)["jobs"]:
        delete("/api/v1/jobs/" + j["job_id"], key=a)


# ---- a runner killed mid-job ------------------------------------------------

def start_runner(*args, **extra):
    env = dict(os.environ, SANDPIT_JOB_LEASE="2", SANDPIT_JOB_RUNNER_THREADS="1")
    env.update(extra)
    return subprocess.Popen(["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups",
                             "--", os.path.join(BIN, "sandpit-runner")] + list(args), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def holder_pid(job_id):
    rows = psql("SELECT runner FROM jobs WHERE id = '%s' AND status = 'running'" % job_id)
    return int(rows[0][0].split(":")[1]) if rows and rows[0][0] else None


@test
def runner_killed_mid_job_is_retried_once_then_failed():
    key = new_key()
    stack_runner = int(open(os.path.join(STATE, "run/runner.pid")).read())
    os.kill(stack_runner, signal.SIGSTOP)
    mine = []
    try:
        mine.append(start_runner())
        jid = submit({"language": "python", "code": "import time\ntime.sleep(60)\n",
                      "resource_limits": {"timeout_ms": 1000, "wall_timeout_ms": 120000}}, key=key)
        for attempt in (1, 2):
            end = time.monotonic() + 30
            while True:
                j = expect(get("/api/v1/jobs/" + jid, key=key), 200)
                if j["status"] == "running" and j["attempts"] == attempt and holder_pid(jid):
                    break
                check(time.monotonic() < end, "attempt %d never ran: %r" % (attempt, j))
                time.sleep(0.1)
            while len(live_sandboxes(key)) != 1:
                check(time.monotonic() < end, "attempt %d has no sandbox" % attempt)
                time.sleep(0.1)
            time.sleep(0.3)
            pid = holder_pid(jid)
            check(pid == mine[-1].pid, "held by %r, not the test's runner" % pid)
            os.kill(pid, signal.SIGKILL)
            mine[-1].wait()
            mine.append(start_runner())  # recovers the lost lease
        j = wait(jid, key=key, timeout=30)
        check(j["status"] == "failed" and j["attempts"] == 2, "%r" % j)
        check("lease expired" in j["error"] and "both attempts" in j["error"], "%r" % j)
        end = time.monotonic() + 10
        while live_sandboxes(key):  # the killed runners' sandboxes are stopped
            check(time.monotonic() < end, "sandboxes left: %r" % live_sandboxes(key))
            time.sleep(0.2)
        ev = psql("SELECT type FROM events WHERE payload->'data'->>'jobId' = '%s'" % jid)
        check(ev == [["job.failed"]], "events %r" % ev)
    finally:
        for p in mine:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
        os.kill(stack_runner, signal.SIGCONT)


@test
def runner_stopped_with_sigterm_hands_its_job_back():
    # A graceful stop is not a lost runner: the job goes back to the queue
    # without counting an attempt, its sandbox stops at once (the runner
    # exits long before the 8 s program would end) and another runner
    # runs it to completion.
    key = new_key()
    stack_runner = int(open(os.path.join(STATE, "run/runner.pid")).read())
    os.kill(stack_runner, signal.SIGSTOP)
    rs = []
    try:
        rs.append(start_runner())
        jid = submit({"language": "python", "code": "import time\ntime.sleep(8)\nprint('done')\n",
                      "resource_limits": {"timeout_ms": 1000, "wall_timeout_ms": 30000}}, key=key)
        wait(jid, key=key, until=("running",), timeout=30)
        time.sleep(0.5)
        t0 = time.monotonic()
        rs[0].terminate()
        rs[0].wait(timeout=30)
        check(time.monotonic() - t0 < 5, "the runner took %.1fs to stop" % (time.monotonic() - t0))
        j = expect(get("/api/v1/jobs/" + jid, key=key), 200)
        check(j["status"] == "queued" and j["attempts"] == 0, "handed back: %r" % j)
        check(live_sandboxes(key) == [], "its sandbox stopped: %r" % live_sandboxes(key))
        rs.append(start_runner())
        j = wait(jid, key=key, timeout=60)
        check(j["status"] == "completed" and j["attempts"] == 1 and
              j["result"]["stdout"] == "done\n", "%r" % j)
    finally:
        for r in rs:
            if r.poll() is None:
                r.terminate()
                r.wait(timeout=30)
        os.kill(stack_runner, signal.SIGCONT)


@test
def a_compile_that_never_ends_is_a_compile_error_at_its_own_limit():
    # A runner whose compile limit (200 ms) is below what g++ needs for
    # <iostream> (the stack's runner is paused meanwhile).
    key = new_key()
    stack_runner = int(open(os.path.join(STATE, "run/runner.pid")).read())
    os.kill(stack_runner, signal.SIGSTOP)
    r = start_runner(SANDPIT_JOB_COMPILE_TIMEOUT_MS="200")
    try:
        j = run("cpp", HELLO["cpp"], key=key, stdin="x\n")
        check(j["status"] == "completed" and j["result"]["verdict"] == "compile_error", "%r" % j)
        check("time limit of 200 ms" in j["result"]["compile"]["reason"], "%r" % j["result"])
    finally:
        r.terminate()
        r.wait(timeout=30)
        os.kill(stack_runner, signal.SIGCONT)


@test
def per_host_bound_holds_across_the_runners_of_a_host():
    # Two runners of host "jobs-test-host", two threads each, per-host bound
    # 1 and per-org bound 10: one of the org's jobs runs at a time.
    key = new_key()
    stack_runner = int(open(os.path.join(STATE, "run/runner.pid")).read())
    os.kill(stack_runner, signal.SIGSTOP)
    rs = []
    try:
        for _ in range(2):
            rs.append(start_runner("--host", "jobs-test-host", SANDPIT_JOB_RUNNER_THREADS="2",
                                   SANDPIT_JOB_MAX_PER_HOST="1", SANDPIT_JOB_MAX_PER_ORG="10"))
        job = {"language": "python", "code": "import time\ntime.sleep(1)\n",
               "resource_limits": {"timeout_ms": 1000, "wall_timeout_ms": 10000}}
        ids = [submit(job, key=key) for _ in range(3)]
        most = 0
        end = time.monotonic() + 60
        while True:
            states = [expect(get("/api/v1/jobs/" + i, key=key), 200)["status"] for i in ids]
            most = max(most, states.count("running"))
            if all(s == "completed" for s in states):
                break
            check(time.monotonic() < end, "jobs did not finish: %r" % states)
            time.sleep(0.05)
        check(most == 1, "%d jobs ran at once on a host bounded to 1" % most)
        hosts = psql("SELECT DISTINCT host FROM jobs WHERE id IN ('%s')" % "','".join(ids))
        check(hosts == [["jobs-test-host"]], "%r" % hosts)
    finally:
        for r in rs:
            r.terminate()
            r.wait(timeout=30)
        os.kill(stack_runner, signal.SIGCONT)


@test
def nothing_leaks_once_jobs_finish():
    for j in expect(get("/api/v1/jobs?status=running", key=KEY), 200)["jobs"]:
        wait(j["job_id"])
    end = time.monotonic() + 15
    while True:
        rows = psql("SELECT count(*) FROM sandboxes WHERE status IN "
                    "('creating','running','stopping') AND metadata ? 'job_id'")
        running = psql("SELECT count(*) FROM jobs WHERE status IN ('running')")
        if rows == [["0"]] and running == [["0"]]:
            break
        check(time.monotonic() < end, "job sandboxes still live: %r, jobs %r" % (rows, running))
        time.sleep(0.3)
    run_dir = os.path.join(STATE, "box/run")
    socks = [f for f in os.listdir(run_dir) if f.endswith(".sock") and f != "boxd.sock"]
    live = psql("SELECT id FROM sandboxes WHERE status IN ('creating','running','stopping')")
    check(len(socks) <= len(live), "runtime sockets %r beyond live rows %r" % (socks, live))


if __name__ == "__main__":
    main("jobs")
