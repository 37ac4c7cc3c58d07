#!/usr/bin/env python3
"""Sandboxes through the API: lifecycle, execute, limits, scoping, events."""
import concurrent.futures
import os
import re
import signal
import threading
import time

from harness import (STATE, check, delete, expect, get, main, new_key, post, psql, register,
                     test)


def create(key, body=None, status=201):
    return expect(post("/api/v1/sandbox/create", body or {}, key=key), status)


def execute(key, sid, body, status=200):
    return expect(post("/api/v1/sandbox/%s/execute" % sid, body, key=key, timeout=120), status)


def stop(key, sid):
    return expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)


def events_of(sid):
    return [r[0] for r in psql("SELECT type FROM events WHERE sandbox_id = '%s' ORDER BY seq" % sid)]


@test
def create_with_defaults_and_stop():
    key = new_key()
    sb = create(key)
    sid = sb["sandbox_id"]
    check(sid.startswith("sbx_") and sb["status"] == "running", sb)
    check(sb["cpus"] == "2" and sb["memory"] == "2Gi" and sb["timeout_seconds"] == 600, sb)
    check(sb["created_at"] and sb["expires_at"] > sb["created_at"], sb)
    st = expect(get("/api/v1/sandbox/%s/status" % sid, key=key), 200)
    check(st == {"sandbox_id": sid, "status": "running", "expires_at": sb["expires_at"]}, st)
    detail = expect(get("/api/v1/sandbox/" + sid, key=key), 200)
    u = detail["usage"]
    check(u["alive"] and u["pids"] >= 1 and u["memory_current_bytes"] > 0, detail)
    out = stop(key, sid)
    check(out["status"] == "stopped" and out["stop_reason"] == "user", out)
    again = stop(key, sid)
    check(again["status"] == "stopped", again)
    check(events_of(sid) == ["sandbox.created", "sandbox.ready", "sandbox.stopped"],
          events_of(sid))


@test
def create_with_limits_env_and_metadata():
    key = new_key()
    sb = create(key, {"cpus": "500m", "memory": "512Mi", "timeout_seconds": 60,
                      "env": {"GREETING": "hi", "NODE_ENV": "production"},
                      "metadata": {"owner": "ci", "n": 1}})
    check(sb["cpus"] == "500m" and sb["memory"] == "512Mi" and sb["timeout_seconds"] == 60, sb)
    check(sb["metadata"] == {"owner": "ci", "n": 1}, sb)
    r = execute(key, sb["sandbox_id"], {"command": "echo $GREETING-$NODE_ENV",
                                        "env": {"NODE_ENV": "test"}})
    check(r["stdout"] == "hi-test\n" and r["exit_code"] == 0, r)
    limit = execute(key, sb["sandbox_id"], {"command": ["cat", "/sys/fs/cgroup/memory.max"]})
    check(limit["exit_code"] != 0 or limit["stdout"].strip() in ("536870912", "max"), limit)
    stop(key, sb["sandbox_id"])


@test
def create_validation():
    key = new_key()
    for body in [{"cpus": "abc"}, {"cpus": "-1"}, {"cpus": "0"}, {"memory": "12x"},
                 {"memory": "1Ki"}, {"timeout_seconds": 0}, {"timeout_seconds": "10"},
                 {"timeout_seconds": 10 ** 9}, {"env": {"A": 1}}, {"env": {"1A": "x"}},
                 {"memory": "1000Gi"}, {"cpus": "512"},
                 {"env": ["A=b"]}, {"metadata": [1]}, {"image": "ubuntu"}]:
        expect(post("/api/v1/sandbox/create", body, key=key), 400, "invalid_request")
    check(expect(get("/api/v1/sandboxes", key=key), 200)["sandboxes"] == [])


@test
def execute_shapes():
    key = new_key()
    sid = create(key)["sandbox_id"]
    r = execute(key, sid, {"command": "echo out; echo err >&2; exit 3"})
    check(r["stdout"] == "out\n" and r["stderr"] == "err\n" and r["exit_code"] == 3, r)
    check(r["timed_out"] is False and r["truncated"] is False and r["duration_ms"] >= 0, r)
    r = execute(key, sid, {"command": ["printf", "%s|", "a b", "$HOME", ";"]})
    check(r["stdout"] == "a b|$HOME|;|", r)
    r = execute(key, sid, {"command": "pwd"})
    check(r["stdout"] == "/workspace\n", r)
    r = execute(key, sid, {"command": "pwd", "working_dir": "/tmp"})
    check(r["stdout"] == "/tmp\n", r)
    r = execute(key, sid, {"command": "cat; echo", "stdin": "from stdin"})
    check(r["stdout"] == "from stdin\n", r)
    # Without stdin a command reads end-of-file at once, never waits for its timeout.
    t0 = time.monotonic()
    r = execute(key, sid, {"command": "cat; read x || echo eof", "timeout": 20})
    check(r["stdout"] == "eof\n" and r["timed_out"] is False and time.monotonic() - t0 < 5, r)
    r = execute(key, sid, {"command": "head -c 64 /dev/urandom"})
    check(isinstance(r["stdout"], str), r)
    # A program that cannot start is the request's fault, not an exit code.
    execute(key, sid, {"command": ["/no/such/binary"]}, status=400)
    execute(key, sid, {"command": "pwd", "working_dir": "/no/such/dir"}, status=400)
    r = execute(key, sid, {"command": "/no/such/binary"})
    check(r["exit_code"] == 127, r)
    for body in [{}, {"command": ""}, {"command": []}, {"command": [1]}, {"command": 5},
                 {"command": "true", "timeout": 0}, {"command": "true", "env": {"A": 2}},
                 {"command": "true", "stdin": 5}, {"command": "true", "shell": True}]:
        expect(post("/api/v1/sandbox/%s/execute" % sid, body, key=key), 400)
    types = events_of(sid)
    check(types.count("command.started") >= 7 and "command.completed" in types
          and "command.failed" in types, types)
    stop(key, sid)


@test
def execute_timeout_kills_process_group():
    key = new_key()
    sid = create(key)["sandbox_id"]
    t0 = time.monotonic()
    r = execute(key, sid, {"command": "trap '' TERM; (sleep 100 &) ; sleep 100", "timeout": 1})
    check(r["timed_out"] is True and time.monotonic() - t0 < 15, r)
    r = execute(key, sid, {"command": "ps -eo comm | grep -c '^sleep' || true"})
    check(r["stdout"].strip() in ("0", "1"), r)
    stop(key, sid)


@test
def output_is_capped():
    key = new_key()
    sid = create(key)["sandbox_id"]
    r = execute(key, sid, {"command": "head -c 20000000 /dev/zero | tr '\\0' a"})
    check(r["truncated"] is True and len(r["stdout"]) <= 10 * 1024 * 1024, len(r["stdout"]))
    r = execute(key, sid, {"command": "yes | head -c 30000000 | tr -d '\\n'"})
    check(r["truncated"] is True, r["truncated"])
    stop(key, sid)


@test
def nul_in_execute_command_or_env_is_refused():
    key = new_key()
    sid = create(key)["sandbox_id"]
    # json.dumps writes "\u0000": the parser would cut the string there.
    for body in [{"command": "echo a\x00b"}, {"command": ["echo", "a\x00b"]},
                 {"command": "echo $X", "env": {"X": "a\x00b"}},
                 {"command": "cat", "stdin": "a\x00b"}]:
        expect(post("/api/v1/sandbox/%s/execute" % sid, body, key=key), 400, "invalid_request")
    check(psql("SELECT count(*) FROM executions WHERE sandbox_id = '%s'" % sid) == [["0"]],
          "a refused execute was recorded")
    # An escaped backslash before u0000 is text, not a NUL.
    r = execute(key, sid, {"command": "printf '%s' '\\u0000'"})
    check(r["stdout"] == "\\u0000", r)
    stop(key, sid)


@test
def agent_killed_mid_execute_finishes_the_row_with_one_failed_event():
    key = new_key()
    sid = create(key, {"timeout_seconds": 600})["sandbox_id"]
    got = {}

    def run():
        got["r"] = post("/api/v1/sandbox/%s/execute" % sid, {"command": "sleep 30"}, key=key,
                        timeout=90)

    t = threading.Thread(target=run)
    t.start()
    rows = []
    deadline = time.monotonic() + 20
    while not rows and time.monotonic() < deadline:
        rows = psql("SELECT id FROM executions WHERE sandbox_id = '%s'" % sid)
        time.sleep(0.05)
    check(rows, "the execute never started")
    exe = rows[0][0]
    time.sleep(0.5)  # the command is running in the sandbox by now
    with open(os.path.join(STATE, "box/run/%s.state" % sid)) as f:
        agent = int(re.search(r"pid=(\d+)", f.read()).group(1))
    os.kill(agent, signal.SIGKILL)
    t.join(90)
    check(got["r"].status in (502, 504), got["r"])
    row = psql("SELECT finished_at IS NOT NULL FROM executions WHERE id = '%s'" % exe)
    check(row == [["t"]], "execution %s left unfinished: %r" % (exe, row))
    ends = psql("SELECT type, payload->'data'->>'error' FROM events WHERE sandbox_id = '%s' "
                "AND type LIKE 'command.%%' AND payload->'data'->>'executionId' = '%s' "
                "ORDER BY seq" % (sid, exe))
    check([e[0] for e in ends] == ["command.started", "command.failed"], ends)
    check(ends[1][1], ends)
    check(psql("SELECT error FROM executions WHERE id = '%s'" % exe) == [[ends[1][1]]], exe)
    post("/api/v1/sandbox/%s/stop" % sid, key=key)


@test
def background_processes_survive_between_executes_and_die_at_stop():
    key = new_key()
    sid = create(key)["sandbox_id"]
    r = execute(key, sid, {"command": "nohup sleep 300 >/dev/null 2>&1 & echo started"})
    check(r["stdout"] == "started\n", r)
    r = execute(key, sid, {"command": "sleep 200 & exec sleep 0"})
    check(r["exit_code"] == 0, r)
    r = execute(key, sid, {"command": "pgrep -c sleep"})
    check(r["stdout"].strip() == "2", r)
    # A child keeping stdout open does not hold the execute hostage.
    t0 = time.monotonic()
    r = execute(key, sid, {"command": "sleep 60 & echo quick"})
    check(r["stdout"] == "quick\n" and time.monotonic() - t0 < 10, r)
    stop(key, sid)
    check(int(psql("SELECT count(*) FROM sandboxes WHERE id = '%s' AND status = 'stopped'"
                   % sid)[0][0]) == 1)


@test
def scoping_and_not_found():
    a, b = new_key(), new_key()
    sid = create(a)["sandbox_id"]
    for path in ["/api/v1/sandbox/" + sid, "/api/v1/sandbox/%s/status" % sid]:
        expect(get(path, key=b), 404, "not_found")
    expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": "id"}, key=b), 404)
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=b), 404)
    expect(delete("/api/v1/sandbox/" + sid, key=b), 404)
    check(expect(get("/api/v1/sandboxes", key=b), 200)["sandboxes"] == [])
    for bad in ["sbx_doesnotexist00000000", "nonsense", "sbx_%27%3B"]:
        expect(get("/api/v1/sandbox/" + bad, key=a), 404)
    expect(get("/api/v1/sandbox/" + sid), 401)
    ro = expect(post("/api/v1/api-keys", {"name": "ro", "scopes": ["read"]}, key=a), 201)["key"]
    expect(get("/api/v1/sandbox/" + sid, key=ro), 200)
    expect(post("/api/v1/sandbox/create", {}, key=ro), 403)
    expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": "id"}, key=ro), 403)
    body = expect(delete("/api/v1/sandbox/" + sid, key=a), 200)
    check(body == {"sandbox_id": sid, "deleted": True}, body)
    expect(get("/api/v1/sandbox/" + sid, key=a), 404)
    expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": "id"}, key=a), 404)


@test
def stopped_sandbox_refuses_execute():
    key = new_key()
    sid = create(key)["sandbox_id"]
    stop(key, sid)
    expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": "id"}, key=key), 409, "conflict")


@test
def list_is_newest_first_filtered_and_paginated():
    key = new_key()
    ids = [create(key, {"memory": "64Mi", "cpus": "0.1"})["sandbox_id"] for _ in range(3)]
    stop(key, ids[0])
    body = expect(get("/api/v1/sandboxes", key=key), 200)
    check([s["sandbox_id"] for s in body["sandboxes"]] == ids[::-1], body)
    running = expect(get("/api/v1/sandboxes?status=running", key=key), 200)["sandboxes"]
    check([s["sandbox_id"] for s in running] == ids[:0:-1], running)
    p1 = expect(get("/api/v1/sandboxes?limit=2", key=key), 200)
    p2 = expect(get("/api/v1/sandboxes?limit=2&cursor=" + p1["next_cursor"], key=key), 200)
    check([s["sandbox_id"] for s in p1["sandboxes"] + p2["sandboxes"]] == ids[::-1], (p1, p2))
    expect(get("/api/v1/sandboxes?status=bogus", key=key), 400)
    for sid in ids[1:]:
        stop(key, sid)


@test
def timeout_reads_back_what_was_asked():
    key = new_key()
    sid = create(key, {"memory": "64Mi"})["sandbox_id"]
    out = expect(post("/api/v1/sandbox/%s/timeout" % sid, {"timeout_seconds": 600}, key=key), 200)
    check(out["timeout_seconds"] == 600, out)
    check(expect(get("/api/v1/sandbox/" + sid, key=key), 200)["timeout_seconds"] == 600)
    listed = expect(get("/api/v1/sandboxes", key=key), 200)["sandboxes"]
    check(listed[0]["timeout_seconds"] == 600, listed[0])
    stop(key, sid)


@test
def per_org_limit_holds_under_concurrency():
    key = new_key()
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        rs = list(ex.map(lambda _: post("/api/v1/sandbox/create",
                                        {"memory": "64Mi", "cpus": "0.1"}, key=key, timeout=120),
                         range(20)))
    made = [r.json()["sandbox_id"] for r in rs if r.status == 201]
    limited = [r for r in rs if r.status == 409]
    check(len(made) == 5 and len(limited) == 15, [r.status for r in rs])
    # A count cap is not a rate limit: its own code, and no Retry-After that
    # would make a client retry it forever.
    expect(limited[0], 409, "quota_exceeded")
    check(all(r.headers.get("Retry-After") is None for r in limited), limited[0].headers)
    check("MAX_SANDBOXES_PER_ORG" in limited[0].json()["error"]["message"])
    for sid in made:
        stop(key, sid)
    create(key, {"memory": "64Mi"})


if __name__ == "__main__":
    main("sandboxes")
