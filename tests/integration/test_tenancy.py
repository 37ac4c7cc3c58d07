#!/usr/bin/env python3
"""One tenant cannot starve another, nor make one request cost the API
process without bound: per-org caps on long requests (429
concurrency_limited with Retry-After) and execute responses bounded in the
bytes they encode and the memory they take."""
import json
import os
import signal
import threading
import time

from harness import STATE, check, expect, get, main, new_key, post, psql, request, test

SLEEP = 12          # seconds each of org A's long executes runs
A_CLIENTS = 200     # org A's concurrent long executes
PER_ORG = int(os.environ.get("SANDPIT_LONG_REQUESTS_PER_ORG", "8"))
PACE = 0.025        # B's pause between requests: 40/s at most, under its rate limit


def create(key):
    return expect(post("/api/v1/sandbox/create", {"timeout_seconds": 300}, key=key,
                       timeout=60), 201)["sandbox_id"]


def stop(key, sid):
    post("/api/v1/sandbox/%s/stop" % sid, key=key, timeout=60)


def p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


def timed(fn):
    t0 = time.monotonic()
    try:
        status = fn()
    except OSError:  # timed out: starved
        status = "timeout"
    return time.monotonic() - t0, status


def measure(key, sid, n_status, n_exec, budget, duration=0):
    """B's latencies: at least n_status status reads and n_exec short
    executes, interleaved two to one, for at least `duration` seconds, but
    ending once `budget` seconds have passed (a starved API would otherwise
    keep the test waiting for minutes). A request that fails or times out
    counts with the time it took (and its status in `failed`). B paces
    itself (PACE between requests) to stay under its own rate limit."""
    status, execs, failed = [], [], []
    t0 = time.monotonic()
    end = t0 + budget

    def status_read():
        return get("/api/v1/sandbox/%s/status" % sid, key=key, timeout=budget).status

    def short_exec():
        return post("/api/v1/sandbox/%s/execute" % sid, {"command": "true"}, key=key,
                    timeout=budget).status

    i = 0
    while ((len(status) < n_status or len(execs) < n_exec or time.monotonic() < t0 + duration)
           and time.monotonic() < end):
        dt, code = timed(short_exec if i % 3 == 2 else status_read)
        (execs if i % 3 == 2 else status).append(dt if code == 200 else budget)
        if code != 200:
            failed.append(code)
        i += 1
        time.sleep(PACE)
    return status, execs, failed


def api_pids():
    with open(os.path.join(STATE, "run/api.pid")) as f:
        master = int(f.read().strip())
    pids = [master]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == master:
            pids.append(int(d))
    return pids


def api_rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


@test
def one_org_holding_long_executes_leaves_another_orgs_reads_and_executes_fast():
    a_key, b_key = new_key(), new_key()
    a_sids, b_sids = [], []
    try:
        a_sids += [create(a_key), create(a_key)]
        b_sids.append(create(b_key))
        storm(a_key, a_sids, b_key, b_sids[0])
    finally:
        for key, sids in ((a_key, a_sids), (b_key, b_sids)):
            for sid in sids:
                stop(key, sid)


def storm(a_key, a_sids, b_key, b_sid):
    for key, sid in ((a_key, a_sids[0]), (b_key, b_sid)):
        r = request("PUT", "/api/v1/sandbox/%s/files?path=/workspace/f.bin" % sid,
                    raw=os.urandom(1 << 20), key=key,
                    headers={"Content-Type": "application/octet-stream"})
        check(r.status in (200, 201), r)
    # Warm up, then B's idle latencies, measured in this run on this machine.
    measure(b_key, b_sid, 20, 5, 60)
    idle_status, idle_exec, idle_failed = measure(b_key, b_sid, 100, 40, 120)
    check(not idle_failed, "org B failed while idle: %r" % idle_failed)
    done = threading.Event()
    lock = threading.Lock()
    a_codes, a_errors, a_retry = [], [], []

    def org_a(i):
        sid = a_sids[i % len(a_sids)]
        while not done.is_set():
            r = post("/api/v1/sandbox/%s/execute" % sid,
                     {"command": "sleep %d" % SLEEP, "timeout": SLEEP + 30}, key=a_key,
                     timeout=SLEEP + 120)
            with lock:
                a_codes.append(r.status)
                if r.status == 429:
                    a_errors.append(json.loads(r.body)["error"]["code"])
                    a_retry.append(r.headers.get("Retry-After"))
            if r.status == 429:
                # Honour Retry-After, but keep the pressure on (at most 2 s).
                ra = r.headers.get("Retry-After") or "1"
                done.wait(min(2.0, float(ra)) if ra.isdigit() else 1.0)
            elif r.status != 200:
                done.wait(0.5)

    threads = [threading.Thread(target=org_a, args=(i,), daemon=True) for i in range(A_CLIENTS)]
    for t in threads:
        t.start()
    org_a = psql("SELECT org_id FROM sandboxes WHERE id = '%s'" % a_sids[0])[0][0]
    running = ("SELECT count(*) FROM executions WHERE org_id = '%s' AND finished_at IS NULL"
               % org_a)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and int(psql(running)[0][0]) < PER_ORG:
        time.sleep(0.1)
    held = int(psql(running)[0][0])
    try:
        # A file transfer is a long request too: A's is refused, B's served.
        f = "/api/v1/sandbox/%s/files?path=/workspace/f.bin&encoding=raw"
        try:
            expect(get(f % a_sids[0], key=a_key, timeout=SLEEP), 429, "concurrency_limited")
            r = get(f % b_sid, key=b_key, timeout=SLEEP)
        except OSError as e:
            raise AssertionError("a file download waited %d s: %s" % (SLEEP, e))
        check(r.status == 200 and len(r.body) == 1 << 20, "org B's download failed: %r" % r)
        busy_status, busy_exec, busy_failed = measure(b_key, b_sid, 100, 40, SLEEP - 1,
                                                      SLEEP - 3)
        held = max(held, int(psql(running)[0][0]))
    finally:
        done.set()
        for t in threads:
            t.join(SLEEP + 130)
    summary = {c: a_codes.count(c) for c in set(a_codes)}
    print("     org A: %d long executes held at once, responses %r, 429 codes %r"
          % (held, summary, {c: a_errors.count(c) for c in set(a_errors)}))
    print("     org B idle p99: status %.1f ms, execute %.1f ms; with A busy: status %.1f ms "
          "(%d reads), execute %.1f ms (%d)"
          % (p99(idle_status) * 1e3, p99(idle_exec) * 1e3, p99(busy_status) * 1e3,
             len(busy_status), p99(busy_exec) * 1e3, len(busy_exec)))
    # The bound is 3x the idle p99. On a shared 2-core machine an idle p99 of
    # a few milliseconds triples on CPU noise alone (A's 200 client threads
    # and their 429s run on the same cores), so the bound has a floor of
    # idle p99 + 250 ms: still 40x below what a starved thread pool costs
    # (a whole SLEEP, which is what this test measured before the cap).
    check(not busy_failed, "org B's requests failed: %r" % busy_failed[:10])
    for name, idle, busy, n in (("status", idle_status, busy_status, 100),
                                ("execute", idle_exec, busy_exec, 40)):
        bound = max(3 * p99(idle), p99(idle) + 0.25)
        check(len(busy) >= n, "org B got only %d of %d %s requests through in %d s"
              % (len(busy), n, name, SLEEP - 1))
        check(p99(busy) <= bound, "org B %s p99 %.1f ms over %.1f ms (idle p99 %.1f ms)"
              % (name, p99(busy) * 1e3, bound * 1e3, p99(idle) * 1e3))
    check(held <= PER_ORG, "org A held %d long executes at once" % held)
    check(a_codes.count(200) >= 1, summary)
    check(a_codes.count(429) >= 1, "org A's excess was never refused: %r" % summary)
    check("concurrency_limited" in a_errors, a_errors[:5])
    check(all(ra and ra.isdigit() and int(ra) >= 1 for ra in a_retry), a_retry[:5])


@test
def a_killed_workers_long_request_slots_are_given_back():
    key = new_key()
    sid = create(key)
    try:
        slots_survive_worker_deaths(key, sid)
    finally:
        stop(key, sid)


def burst_of_sleeps(key, sid, n, seconds):
    codes = [None] * n

    def one(i):
        try:
            codes[i] = post("/api/v1/sandbox/%s/execute" % sid,
                            {"command": "sleep %d" % seconds}, key=key,
                            timeout=seconds + 60).status
        except OSError as e:
            codes[i] = str(e)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    return ts, codes


def slots_survive_worker_deaths(key, sid):
    org = psql("SELECT org_id FROM sandboxes WHERE id = '%s'" % sid)[0][0]
    running = ("SELECT count(*) FROM executions WHERE org_id = '%s' AND finished_at IS NULL"
               % org)
    ts, codes = burst_of_sleeps(key, sid, PER_ORG, 60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and int(psql(running)[0][0]) < PER_ORG:
        time.sleep(0.05)
    check(int(psql(running)[0][0]) == PER_ORG, psql(running))
    # Every worker dies (SIGKILL: no cleanup of its own) holding the slots.
    workers = api_pids()[1:]
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    for t in ts:
        t.join(90)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
            len(set(api_pids()[1:]) - set(workers)) < len(workers)
            or get("/api/v1/health").status != 200):
        time.sleep(0.1)
    # The org gets its whole allowance back on the new workers.
    ts, codes = burst_of_sleeps(key, sid, PER_ORG, 2)
    for t in ts:
        t.join(90)
    check(codes == [200] * PER_ORG, "after the workers died: %r" % codes)


@test
def control_byte_outputs_are_capped_encoded_and_cost_flat_memory():
    key = new_key()
    sids = [create(key), create(key)]
    try:
        flat_memory(key, sids)
    finally:
        for sid in sids:
            stop(key, sid)


def flat_memory(key, sids):
    pids = api_pids()
    cmd = "head -c 10485760 /dev/zero | tr '\\0' '\\1'"
    # one warm-up round so every worker has its arenas and connections
    for sid in sids:
        post("/api/v1/sandbox/%s/execute" % sid, {"command": "true"}, key=key)
    base = api_rss_kib(pids)
    peak = [base]
    sampling = threading.Event()

    def sampler():
        while not sampling.is_set():
            peak[0] = max(peak[0], api_rss_kib(pids))
            time.sleep(0.02)

    results = [None] * 8

    def one(i):
        r = post("/api/v1/sandbox/%s/execute" % sids[i % 2], {"command": cmd}, key=key,
                 timeout=120)
        results[i] = (r.status, len(r.body), r.body)

    s = threading.Thread(target=sampler)
    s.start()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    sampling.set()
    s.join()
    grown = (peak[0] - base) / 1024
    print("     8 x 10 MiB of \\x01: responses of %s bytes, API RSS grew %.1f MiB"
          % (sorted({r[1] for r in results}), grown))
    for status, size, body in results:
        check(status == 200, (status, body[:200]))
        # SANDPIT_EXEC_OUTPUT_CAP (1 MiB by default) of encoded bytes per stream
        check(size <= 2 * 1024 * 1024 + 4096, "a %d-byte response" % size)
        body.decode("utf-8")  # strict: raises on invalid UTF-8
        out = json.loads(body)
        check(out["truncated"] is True and out["stdout_truncated"] is True
              and out["stderr_truncated"] is False, {k: out[k] for k in out if k != "stdout"})
        check(set(out["stdout"]) <= {"\x01"}, "stdout is not the command's bytes")
        check(out["exit_code"] == 0, out["exit_code"])
    check(grown < 64, "API processes grew %.1f MiB for 8 requests" % grown)


if __name__ == "__main__":
    main("tenancy")
