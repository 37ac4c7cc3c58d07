#!/usr/bin/env python3
"""Webhooks: subscriptions, signed delivery from the outbox by the reaper,
the test endpoint, delivery history, retries, timeouts, a dead receiver and
the SSRF guard. The receiver (tests/webhook_receiver.js) verifies every
signature with the production guide's Node snippet. All traffic stays on
127.0.0.1."""
import collections
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

from harness import (STATE, check, delete, expect, get, main, new_key, post, psql,
                     stack_reaper_pid, test, wait_sweeps)

HERE = os.path.dirname(os.path.abspath(__file__))
RECEIVER = os.path.join(HERE, "..", "webhook_receiver.js")
BIN = os.environ.get("SANDPIT_BIN", "")


class Receiver:
    def __init__(self, port=0):
        self.proc = subprocess.Popen(["node", RECEIVER, str(port)], stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        check(line.startswith("port="), "receiver did not start: %r" % line)
        self.port = int(line.strip().split("=")[1])

    def url(self, name, host="127.0.0.1"):
        return "http://%s:%d/hook/%s" % (host, self.port, name)

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def config(self, name, **cfg):
        self._call("POST", "/_config/" + name, cfg)

    def received(self, name):
        return self._call("GET", "/_received/" + name)

    def served(self, name):
        """Requests whose body has arrived, answered or not."""
        return self._call("GET", "/_served/" + name)["served"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


REC = Receiver()


def wait_for(fn, timeout=20, what="condition"):
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.1)


def hook_name():
    return "h" + uuid.uuid4().hex[:12]


def create_hook(key, url, events=("*",), secret=None, status=201):
    body = {"url": url, "events": list(events)}
    if secret is not None:
        body["secret"] = secret
    return expect(post("/api/v1/webhooks", body, key=key), status)


def org_of(key):
    return psql("SELECT org_id FROM api_keys WHERE key_prefix = '%s'" % key[:15])[0][0]


def emit(org, etype="sandbox.created", sandbox=None):
    """An outbox row exactly as events_emit writes it (for the delivery-path
    tests, which need events without sandboxes)."""
    eid = "evt_" + uuid.uuid4().hex[:20]
    payload = {"id": eid, "event": etype, "timestamp": "2024-01-15T12:00:00.000Z",
               "sandboxId": sandbox, "orgId": org, "data": {"n": 1}}
    psql("INSERT INTO events (id, org_id, sandbox_id, type, payload) VALUES "
         "('%s', '%s', NULL, '%s', '%s'::jsonb)" % (eid, org, etype, json.dumps(payload)))
    return eid


def delivery(hid, eid):
    """[status, attempts, status code, error, seconds to the next attempt];
    ["", "0", "", "", ""] before the event is fanned out."""
    rows = psql("SELECT status, attempts, last_status_code, last_error, "
                "extract(epoch FROM next_attempt_at - now()) FROM webhook_deliveries "
                "WHERE webhook_id = '%s' AND event_id = '%s'" % (hid, eid))
    return rows[0] if rows else ["", "0", "", "", ""]


def due_now(hid):
    """Skip the backoff: make the pending deliveries of hid due now."""
    psql("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE webhook_id = '%s' "
         "AND status = 'pending'" % hid)


def check_signed(rec, secret, etype=None):
    check(rec["valid"] is True, "signature rejected by the seeds' snippet: %r" % rec)
    h = rec["headers"]
    check(h["x-sandpit-signature"].startswith("sha256=") and len(h["x-sandpit-signature"]) == 71)
    check(h["content-type"] == "application/json", h)
    ts = int(h["x-sandpit-timestamp"])
    check(abs(ts - time.time()) < 120, h)
    body = json.loads(rec["body"])
    check(set(body) == {"id", "event", "timestamp", "sandboxId", "orgId", "data"}, body)
    check(h["x-sandpit-event"] == body["event"], (h, body))
    if etype:
        check(body["event"] == etype, body)
    return body


@test
def create_list_delete_and_validation():
    key = new_key()
    name = hook_name()
    wh = create_hook(key, REC.url(name), ["sandbox.created", "sandbox.ready"], "whsec_given_123")
    check(wh["id"].startswith("wh_") and wh["secret"] == "whsec_given_123", wh)
    check(wh["events"] == ["sandbox.created", "sandbox.ready"] and wh["url"] == REC.url(name))
    gen = create_hook(key, REC.url(name), ["*"])
    check(gen["secret"].startswith("whsec_") and len(gen["secret"]) == 70, gen)
    listed = expect(get("/api/v1/webhooks", key=key), 200)["webhooks"]
    check([w["id"] for w in listed] == [gen["id"], wh["id"]], listed)
    check(all("secret" not in w for w in listed), listed)
    # Stored sealed: neither the secret nor its hex appears in the row.
    stored = psql("SELECT secret_sealed FROM webhooks WHERE id = '%s'" % wh["id"])[0][0]
    check("whsec_given_123" not in stored and b"whsec_given_123".hex() not in stored, stored)
    check(len(stored) == 2 * (len("whsec_given_123") + 28), stored)
    # ... and never logged.
    logs = ""
    for f in ("api.log", "reaper.log"):
        p = os.path.join(STATE, "logs", f)
        if os.path.exists(p):
            logs += open(p, errors="replace").read()
    check("whsec_given_123" not in logs and gen["secret"] not in logs, "secret in a log")
    # Validation.
    good = {"url": REC.url(name), "events": ["*"]}
    cases = [
        {"events": ["*"]},
        {"url": REC.url(name)},
        dict(good, events=[]),
        dict(good, events="*"),
        dict(good, events=["sandbox.exploded"]),
        dict(good, events=[1]),
        dict(good, events=["webhook.test"]),
        dict(good, secret="short"),
        dict(good, secret=7),
        dict(good, url=7),
        dict(good, url="not a url"),
        dict(good, surprise=True),
    ]
    for body in cases:
        expect(post("/api/v1/webhooks", body, key=key), 400, "invalid_request")
    # Scopes: webhooks are admin.
    rw = expect(post("/api/v1/api-keys", {"name": "rw", "scopes": ["read", "write"]}, key=key),
                201)["key"]
    expect(get("/api/v1/webhooks", key=rw), 403)
    expect(post("/api/v1/webhooks", good, key=rw), 403)
    # Another org sees nothing of ours.
    other = new_key()
    check(expect(get("/api/v1/webhooks", key=other), 200)["webhooks"] == [])
    expect(delete("/api/v1/webhooks/" + wh["id"], key=other), 404)
    expect(post("/api/v1/webhooks/%s/test" % wh["id"], key=other), 404)
    expect(get("/api/v1/webhooks/%s/deliveries" % wh["id"], key=other), 404)
    # Delete.
    check(expect(delete("/api/v1/webhooks/" + wh["id"], key=key), 200) ==
          {"id": wh["id"], "deleted": True})
    expect(delete("/api/v1/webhooks/" + wh["id"], key=key), 404)
    expect(delete("/api/v1/webhooks/wh_nope", key=key), 404)
    listed = expect(get("/api/v1/webhooks", key=key), 200)["webhooks"]
    check([w["id"] for w in listed] == [gen["id"]], listed)
    acts = [r[0] for r in psql("SELECT action FROM audit_logs WHERE org_id = '%s' AND action "
                               "LIKE 'webhook.%%' ORDER BY id" % org_of(key))]
    check(acts == ["webhook.create", "webhook.create", "webhook.delete"], acts)


@test
def get_one_webhook_by_id():
    key = new_key()
    wh = create_hook(key, REC.url(hook_name()), ["sandbox.ready"])
    got = expect(get("/api/v1/webhooks/" + wh["id"], key=key), 200)
    listed = expect(get("/api/v1/webhooks", key=key), 200)["webhooks"]
    check(got == listed[0] and "secret" not in got, (got, listed))
    check(got["id"] == wh["id"] and got["events"] == ["sandbox.ready"], got)
    expect(get("/api/v1/webhooks/" + wh["id"], key=new_key()), 404, "not_found")
    expect(get("/api/v1/webhooks/wh_nope", key=key), 404, "not_found")
    rw = expect(post("/api/v1/api-keys", {"name": "rw", "scopes": ["read", "write"]}, key=key),
                201)["key"]
    expect(get("/api/v1/webhooks/" + wh["id"], key=rw), 403)


@test
def webhook_cap_is_quota_exceeded_not_rate_limited():
    key = new_key()
    url = REC.url(hook_name())
    made = 0
    while True:
        r = post("/api/v1/webhooks", {"url": url, "events": ["*"]}, key=key)
        if r.status != 201:
            break
        made += 1
        check(made <= 50, "no cap after %d webhooks" % made)
    check(made == 50, made)
    expect(r, 409, "quota_exceeded")
    check(r.headers.get("Retry-After") is None, r.headers)


@test
def test_endpoint_and_history():
    key = new_key()
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    REC.config(name, secret=secret, statuses=[200, 503])
    wh = create_hook(key, REC.url(name), ["sandbox.ready"], secret)
    t = expect(post("/api/v1/webhooks/%s/test" % wh["id"], key=key), 200)
    check(t["success"] is True and t["status_code"] == 200 and "error" not in t, t)
    check(isinstance(t["duration_ms"], int) and t["duration_ms"] >= 0, t)
    got = REC.received(name)
    check(len(got) == 1, got)
    body = check_signed(got[0], secret, "webhook.test")
    check(got[0]["headers"]["x-sandpit-delivery"] == t["delivery_id"], got[0]["headers"])
    check(body["orgId"] == org_of(key) and body["id"].startswith("evt_"), body)
    # A failing receiver: success false, its status, an error.
    t2 = expect(post("/api/v1/webhooks/%s/test" % wh["id"], key=key), 200)
    check(t2["success"] is False and t2["status_code"] == 503 and "503" in t2["error"], t2)
    hist = expect(get("/api/v1/webhooks/%s/deliveries?limit=10" % wh["id"], key=key),
                  200)["deliveries"]
    check([d["id"] for d in hist] == [t2["delivery_id"], t["delivery_id"]], hist)
    d0, d1 = hist
    check(d0["status"] == "failed" and d0["status_code"] == 503 and d0["attempts"] == 1, d0)
    check(d0["event_type"] == "webhook.test" and d0["next_attempt_at"] is None, d0)
    check(json.loads(d0["response_excerpt"])["status"] == 503, d0)
    check(d1["status"] == "delivered" and d1["status_code"] == 200 and d1["error"] is None, d1)
    check(d1["event_id"] == body["id"] and isinstance(d1["duration_ms"], int), d1)
    one = expect(get("/api/v1/webhooks/%s/deliveries?limit=1" % wh["id"], key=key), 200)
    check(len(one["deliveries"]) == 1 and one["next_cursor"] == t2["delivery_id"], one)
    rest = expect(get("/api/v1/webhooks/%s/deliveries?limit=1&cursor=%s" %
                      (wh["id"], one["next_cursor"]), key=key), 200)
    check([d["id"] for d in rest["deliveries"]] == [t["delivery_id"]], rest)
    expect(get("/api/v1/webhooks/%s/deliveries?limit=0" % wh["id"], key=key), 400)
    expect(post("/api/v1/webhooks/wh_%s/test" % ("0" * 20), key=key), 404)


def sandbox_events(key):
    """Drive a sandbox through the events Sandpit produces today."""
    sb = expect(post("/api/v1/sandbox/create", {}, key=key), 201)
    sid = sb["sandbox_id"]
    expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": "true"}, key=key, timeout=120),
           200)
    expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": "exit 3"}, key=key,
                timeout=120), 200)
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)
    # A sandbox that outlives its timeout: the reaper times it out.
    sb2 = expect(post("/api/v1/sandbox/create", {"timeout_seconds": 1}, key=key), 201)
    wait_for(lambda: psql("SELECT 1 FROM events WHERE sandbox_id = '%s' AND type = "
                          "'sandbox.timeout'" % sb2["sandbox_id"]), 30, "sandbox.timeout")
    return sid


@test
def every_event_delivered_once_per_subscription():
    key = new_key()
    org = org_of(key)
    all_name, some_name = hook_name(), hook_name()
    s_all, s_some = "whsec_all_" + uuid.uuid4().hex, "whsec_some_" + uuid.uuid4().hex
    REC.config(all_name, secret=s_all)
    REC.config(some_name, secret=s_some)
    h_all = create_hook(key, REC.url(all_name), ["*"], s_all)
    some_types = ["sandbox.ready", "command.completed", "command.failed", "sandbox.timeout"]
    h_some = create_hook(key, REC.url(some_name), some_types, s_some)
    sandbox_events(key)
    events = psql("SELECT id, type, payload::text FROM events WHERE org_id = '%s' ORDER BY seq"
                  % org)
    types = {e[1] for e in events}
    need = {"sandbox.created", "sandbox.ready", "command.started", "command.completed",
            "command.failed", "sandbox.stopped", "sandbox.timeout"}
    check(need <= types, types)
    want_all = {e[0]: json.loads(e[2]) for e in events}
    want_some = {e[0]: p for e, p in zip(events, want_all.values()) if e[1] in some_types}
    wait_for(lambda: len(REC.received(all_name)) >= len(want_all) and
             len(REC.received(some_name)) >= len(want_some), 40, "deliveries")
    wait_sweeps(stack_reaper_pid(), 2)  # a duplicate would show up by then
    for name, secret, want, hid in ((all_name, s_all, want_all, h_all["id"]),
                                    (some_name, s_some, want_some, h_some["id"])):
        got = REC.received(name)
        check(len(got) == len(want), (name, len(got), len(want)))
        seen = {}
        for rec in got:
            body = check_signed(rec, secret)
            check(body["id"] not in seen, "delivered twice: %s" % body["id"])
            seen[body["id"]] = body
            check(body == want[body["id"]], (body, want[body["id"]]))
            check(body["orgId"] == org and body["sandboxId"].startswith("sbx_"), body)
        hist = expect(get("/api/v1/webhooks/%s/deliveries?limit=100" % hid, key=key),
                      200)["deliveries"]
        check(len(hist) == len(want) and all(d["status"] == "delivered" and d["attempts"] == 1
                                             for d in hist), hist)
        dlv_ids = {rec["headers"]["x-sandpit-delivery"] for rec in got}
        check(dlv_ids == {d["id"] for d in hist}, "delivery ids differ")
    ready = [b for b in want_all.values() if b["event"] == "sandbox.ready"][0]
    check(isinstance(ready["data"].get("startupMs"), int), ready)


@test
def receiver_500_then_200_is_retried_and_delivered_once():
    key = new_key()
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    REC.config(name, secret=secret, statuses=[500, 200])
    wh = create_hook(key, REC.url(name), ["*"], secret)
    eid = emit(org_of(key))
    wait_for(lambda: len(REC.received(name)) == 1, 20, "first attempt")
    d = wait_for(lambda: delivery(wh["id"], eid)[0] == "pending" and
                 delivery(wh["id"], eid)[2] == "500" and delivery(wh["id"], eid), 10,
                 "recorded failure")
    check(d[1] == "1" and "500" in d[3], d)
    # Backoff: base 10 s, attempt 1 waits between 5 and 10 s.
    check(3 <= float(d[4]) <= 10.5, d)
    due_now(wh["id"])
    wait_for(lambda: delivery(wh["id"], eid)[0] == "delivered", 20, "redelivery")
    wait_sweeps(stack_reaper_pid(), 2)  # a third attempt would have come by then
    got = REC.received(name)
    check([g["status"] for g in got] == [500, 200], got)
    check(got[0]["headers"]["x-sandpit-delivery"] == got[1]["headers"]["x-sandpit-delivery"])
    check(got[0]["body"] == got[1]["body"], "body changed between attempts")
    for g in got:
        check_signed(g, secret)
    hist = expect(get("/api/v1/webhooks/%s/deliveries" % wh["id"], key=key), 200)["deliveries"]
    check(len(hist) == 1 and hist[0]["attempts"] == 2 and hist[0]["status_code"] == 200, hist)


@test
def hanging_receiver_times_out_and_is_retried():
    key = new_key()
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    REC.config(name, secret=secret, hang_ms=14000, hang_times=1)
    wh = create_hook(key, REC.url(name), ["*"], secret)
    eid = emit(org_of(key))
    d = wait_for(lambda: delivery(wh["id"], eid)[1] == "1" and
                 delivery(wh["id"], eid)[3] and delivery(wh["id"], eid), 30, "timeout")
    check(d[0] == "pending" and d[2] == "" and "tim" in d[3].lower(), d)
    due_now(wh["id"])
    wait_for(lambda: delivery(wh["id"], eid)[0] == "delivered", 20, "redelivery")
    d = delivery(wh["id"], eid)
    check(d[1] == "2" and d[2] == "200", d)


@test
def trickling_receiver_is_not_waited_for():
    # The status and a 1 KiB excerpt are all a delivery keeps: a receiver
    # that answers 200 and then trickles its body for longer than the
    # timeout (10 s) is a delivery, recorded at once.
    key = new_key()
    name = hook_name()
    REC.config(name, trickle_ms=15000)
    wh = create_hook(key, REC.url(name), ["*"])
    eid = emit(org_of(key))
    t0 = time.monotonic()
    wait_for(lambda: delivery(wh["id"], eid)[0] == "delivered", 8, "delivery")
    check(time.monotonic() - t0 < 8)
    d = delivery(wh["id"], eid)
    check(d[1] == "1" and d[2] == "200", d)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@test
def receiver_down_for_several_sweeps_then_up():
    key = new_key()
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    port = free_port()
    url = "http://127.0.0.1:%d/hook/%s" % (port, name)
    wh = create_hook(key, url, ["*"], secret)
    eid = emit(org_of(key))
    for attempt in (1, 2, 3):
        wait_for(lambda: int(delivery(wh["id"], eid)[1]) == attempt and
                 delivery(wh["id"], eid)[3], 20, "attempt %d" % attempt)
        d = delivery(wh["id"], eid)
        check(d[0] == "pending" and d[2] == "", d)
        due_now(wh["id"])
    wait_for(lambda: int(delivery(wh["id"], eid)[1]) == 4 and delivery(wh["id"], eid)[3], 20,
             "attempt 4")
    up = Receiver(port)
    try:
        up.config(name, secret=secret)
        due_now(wh["id"])
        wait_for(lambda: delivery(wh["id"], eid)[0] == "delivered", 20, "delivery once up")
        wait_sweeps(stack_reaper_pid(), 2)
        got = up.received(name)
        check(len(got) == 1, got)
        check_signed(got[0], secret)
        check(delivery(wh["id"], eid)[1] == "5", delivery(wh["id"], eid))
    finally:
        up.stop()


@test
def gives_up_after_max_attempts():
    key = new_key()
    url = "http://127.0.0.1:%d/hook/x" % free_port()
    wh = create_hook(key, url, ["*"])
    eid = emit(org_of(key))
    wait_for(lambda: delivery(wh["id"], eid)[1] == "1" and
             delivery(wh["id"], eid)[3], 20, "first attempt")
    # Jump to the last allowed attempt (SANDPIT_WEBHOOK_MAX_ATTEMPTS, default 8).
    psql("UPDATE webhook_deliveries SET attempts = 7, next_attempt_at = now() "
         "WHERE webhook_id = '%s'" % wh["id"])
    wait_for(lambda: delivery(wh["id"], eid)[0] == "failed", 20, "failed")
    d = delivery(wh["id"], eid)
    check(d[1] == "8" and d[4] == "", d)


@test
def deleted_webhook_gets_nothing_more():
    key = new_key()
    name = hook_name()
    REC.config(name, statuses=[500])
    wh = create_hook(key, REC.url(name), ["*"])
    eid = emit(org_of(key))
    wait_for(lambda: len(REC.received(name)) == 1, 20, "first attempt")
    expect(delete("/api/v1/webhooks/" + wh["id"], key=key), 200)
    check(psql("SELECT count(*) FROM webhook_deliveries WHERE event_id = '%s'" % eid) == [["0"]])
    later = emit(org_of(key))
    # the event has been through the outbox, and a sweep more
    wait_for(lambda: psql("SELECT 1 FROM events WHERE id = '%s' AND dispatched_at IS NOT NULL"
                          % later), 20, "the event dispatched")
    wait_sweeps(stack_reaper_pid(), 2)
    check(REC.served(name) == 1, REC.received(name))


def fanning_out():
    """Does a sweep hold the outbox fan-out lock (lib/sandbox/webhook.c FANOUT_LOCK)?"""
    return psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
                "AND objid = 727276 AND objsubid = 1 AND granted") != [["0"]]


@contextlib.contextmanager
def stack_reaper_paused():
    """SIGSTOP the stack's looping reaper so this test owns the sweeps (never
    while it holds the fan-out lock, which would stop every other sweep's)."""
    with open(os.path.join(STATE, "run/reaper.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGSTOP)
    while fanning_out():
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
        os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def reaper(*args):
    return subprocess.Popen(["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups",
                             "--", os.path.join(BIN, "sandpit-reaper")] + list(args),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@test
def reaper_killed_mid_delivery_delivers_at_least_once():
    key = new_key()
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    REC.config(name, secret=secret, hang_ms=3000, hang_times=1)
    wh = create_hook(key, REC.url(name), ["*"], secret)
    with stack_reaper_paused():
        eid = emit(org_of(key))
        p = reaper()
        wait_for(lambda: delivery(wh["id"], eid)[1] == "1", 20, "claimed")
        # the POST is in flight: its body is at the receiver, which holds it
        wait_for(lambda: REC.served(name) == 1, 20, "the POST at the receiver")
        check(REC.received(name) == [], "answered already")
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        d = delivery(wh["id"], eid)
        # Claimed, never recorded: pending under its lease, not lost.
        check(d[0] == "pending" and d[2] == "" and d[3] == "" and float(d[4]) > 20, d)
        due_now(wh["id"])  # the lease runs out
        p = reaper()
        check(p.wait(60) == 0, "sweep failed")
    d = delivery(wh["id"], eid)
    check(d[0] == "delivered" and d[1] == "2" and d[2] == "200", d)
    got = wait_for(lambda: len(REC.received(name)) == 2 and REC.received(name), 10, "records")
    check(sorted(str(g["status"]) for g in got) == ["200", "abandoned"], got)
    check(got[0]["headers"]["x-sandpit-delivery"] == got[1]["headers"]["x-sandpit-delivery"])
    for g in got:
        check_signed(g, secret)


# ---- order and form: one endpoint gets each sandbox's events in order ------

def emit_many(org, sandboxes, types):
    """Every type for every sandbox, in one statement, type-major: the outbox
    interleaves the sandboxes and each sandbox's events are in seq order."""
    payload = ("jsonb_build_object('id', 'evt_' || md5(s || t), 'event', t, 'timestamp', "
               "'2024-01-15T12:00:00.000Z', 'sandboxId', s, 'orgId', '%s', 'data', "
               "jsonb_build_object('i', i))" % org)
    psql("INSERT INTO events (id, org_id, sandbox_id, type, payload) SELECT 'evt_' || "
         "md5(s || t), '%s', s, t, %s FROM unnest(%s::text[]) WITH ORDINALITY AS tt(t, i), "
         "unnest(%s::text[]) AS ss(s) ORDER BY i, s" %
         (org, payload, pg_array(types), pg_array(sandboxes)))


def pg_array(items):
    return "'{%s}'" % ",".join(items)


def fake_sandbox():
    return "sbx_" + uuid.uuid4().hex[:20]


def check_in_order(records, org):
    """Each sandbox's deliveries in outbox order: an event is never sent to
    the endpoint before the one before it was answered 2xx; each event
    delivered once."""
    by_event = {}
    for rec in records:
        by_event.setdefault(json.loads(rec["body"])["id"], []).append(rec)
    rows = psql("SELECT id, sandbox_id FROM events WHERE org_id = '%s' AND sandbox_id IS NOT "
                "NULL ORDER BY seq" % org)
    last = {}
    for eid, sid in rows:
        recs = by_event.get(eid, [])
        ok = [r for r in recs if r["status"] == 200]
        check(len(ok) == 1, "event %s delivered %d times: %r" % (eid, len(ok), recs))
        if sid in last:
            prev_eid, prev_done = last[sid]
            first = min(r["arrived"] for r in recs)
            check(first > prev_done, "%s arrived before %s of %s was answered" %
                  (eid, prev_eid, sid))
        last[sid] = (eid, ok[0]["answered"])
    return len(rows)


def real_sandbox_life(key):
    sb = expect(post("/api/v1/sandbox/create", {}, key=key, timeout=120), 201)
    expect(post("/api/v1/sandbox/%s/stop" % sb["sandbox_id"], key=key), 200)


@test
def sandbox_events_arrive_in_order_with_concurrent_reapers():
    key = new_key()
    org = org_of(key)
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    # A receiver that takes its time: a sandbox's next event sent in
    # parallel with its previous one would arrive before that was answered.
    REC.config(name, secret=secret, delay_ms=40)
    create_hook(key, REC.url(name), ["*"], secret)
    types = ["sandbox.created", "sandbox.ready", "command.started", "command.completed",
             "sandbox.stopped"]
    fakes = [fake_sandbox() for _ in range(30)]
    with stack_reaper_paused():
        sweeps = [reaper("--loop", "--interval", "1") for _ in range(3)]
        try:
            emit_many(org, fakes, types)
            # Real sandboxes too, made while the reapers sweep.
            lives = [threading.Thread(target=real_sandbox_life, args=(key,)) for _ in range(2)]
            for t in lives:
                t.start()
            for t in lives:
                t.join()
            want = int(psql("SELECT count(*) FROM events WHERE org_id = '%s'" % org)[0][0])
            check(want >= len(fakes) * len(types) + 2 * 3, want)
            wait_for(lambda: sum(r["status"] == 200 for r in REC.received(name)) >= want, 90,
                     "%d deliveries" % want)
        finally:
            for p in sweeps:
                p.send_signal(signal.SIGTERM)
            for p in sweeps:
                p.wait(30)
    got = REC.received(name)
    for rec in got:
        check(rec["valid"] is True, rec)
    check(check_in_order(got, org) == want, "not every event was checked")


@test
def a_failed_delivery_holds_back_the_next_event_of_its_sandbox():
    key = new_key()
    org = org_of(key)
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    REC.config(name, secret=secret, statuses=[500, 200])
    wh = create_hook(key, REC.url(name), ["*"], secret)
    sid = fake_sandbox()
    emit_many(org, [sid], ["sandbox.created", "sandbox.ready"])
    created, ready = [r[0] for r in psql("SELECT id FROM events WHERE sandbox_id = '%s' "
                                         "ORDER BY seq" % sid)]
    wait_for(lambda: delivery(wh["id"], created)[0] == "pending" and
             delivery(wh["id"], created)[2] == "500", 20, "the first attempt failing")
    # Its retry waits until this test says so (due_now below).
    psql("UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' "
         "WHERE webhook_id = '%s' AND event_id = '%s'" % (wh["id"], created))
    # A later sweep delivers another sandbox's event but not this one's next.
    other = fake_sandbox()
    emit_many(org, [other], ["sandbox.created"])
    wait_for(lambda: psql("SELECT 1 FROM webhook_deliveries d JOIN events e ON e.id = "
                          "d.event_id WHERE e.sandbox_id = '%s' AND d.status = 'delivered'"
                          % other), 20, "the other sandbox's delivery")
    check(delivery(wh["id"], ready)[:2] == ["pending", "0"], delivery(wh["id"], ready))
    check(len(REC.received(name)) == 2, REC.received(name))
    due_now(wh["id"])  # the retry's backoff is over
    wait_for(lambda: delivery(wh["id"], ready)[0] == "delivered", 20, "the next event")
    got = REC.received(name)
    check([json.loads(g["body"])["id"] for g in got if json.loads(g["body"])["sandboxId"] == sid]
          == [created, created, ready], got)
    check(check_in_order(got, org) == 3)


def compact(raw):
    """raw re-encoded compactly in its own key order: equal to raw only when
    raw has no blank between tokens."""
    return json.dumps(json.loads(raw, object_pairs_hook=collections.OrderedDict),
                      separators=(",", ":"), ensure_ascii=False)


@test
def bodies_are_compact_and_signed_from_the_test_endpoint_and_the_reaper():
    key = new_key()
    org = org_of(key)
    name = hook_name()
    secret = "whsec_" + uuid.uuid4().hex
    REC.config(name, secret=secret)
    wh = create_hook(key, REC.url(name), ["*"], secret)
    check(expect(post("/api/v1/webhooks/%s/test" % wh["id"], key=key), 200)["success"] is True)
    sid = fake_sandbox()
    eid = "evt_" + uuid.uuid4().hex[:20]
    payload = {"id": eid, "event": "command.completed", "timestamp": "2024-01-15T12:00:00.000Z",
               "sandboxId": sid, "orgId": org,
               "data": {"command": "echo 'a: b, c' \"q\"\n\u00e9", "exitCode": 0,
                        "nested": {"list": [1, 2.5, "x, y", None, True], "empty": {}}}}
    psql("INSERT INTO events (id, org_id, sandbox_id, type, payload) VALUES ('%s', '%s', '%s', "
         "'command.completed', $j$%s$j$::jsonb)" % (eid, org, sid, json.dumps(payload)))
    got = wait_for(lambda: len(REC.received(name)) == 2 and REC.received(name), 20,
                   "the reaper's delivery")
    envelope = ["id", "event", "timestamp", "sandboxId", "orgId", "data"]
    for rec in got:
        raw = rec["body"]
        check(raw == compact(raw), "not compact: %s" % raw)
        check(list(json.loads(raw, object_pairs_hook=collections.OrderedDict)) == envelope, raw)
        mac = hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
        check(rec["headers"]["x-sandpit-signature"] == "sha256=" + mac, rec["headers"])
    test_body, reaped = [json.loads(g["body"]) for g in got]
    check(test_body["event"] == "webhook.test" and reaped == payload, (test_body, reaped))
    # What was sent is what the history keeps.
    bodies = [r[0] for r in psql("SELECT body FROM webhook_deliveries WHERE webhook_id = '%s' "
                                 "ORDER BY created_at" % wh["id"])]
    check(sorted(bodies) == sorted(g["body"] for g in got), bodies)


# ---- SSRF: a second API instance with private targets disallowed ----------
#
# The stack allows private targets so the local receiver can be used; the
# guard's refusals are exercised against an API worker this test starts on
# its own FastCGI socket with SANDPIT_ALLOW_PRIVATE_WEBHOOKS=false (same
# database), spoken to with cgi-fcgi. The classifier itself is unit-tested
# as pure data (tests/unit/test_netguard.c).

class StrictApi:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wh-strict-", dir=os.path.join(STATE, "run"))
        subprocess.run(["chown", "sandpit:sandpit", self.dir], check=True)
        self.sock = os.path.join(self.dir, "api.sock")
        env = dict(os.environ, SANDPIT_FCGI_LISTEN=self.sock,
                   SANDPIT_ALLOW_PRIVATE_WEBHOOKS="false", SANDPIT_WORKERS="1",
                   SANDPIT_THREADS="2")
        self.log = open(os.path.join(self.dir, "api.log"), "w")
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
             os.path.join(BIN, "sandpit-api")], env=env, stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.sock), 10, "strict api socket")

    def request(self, method, path, key, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REQUEST_METHOD": method,
               "REQUEST_URI": path, "SCRIPT_NAME": path, "QUERY_STRING": "",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
               "HTTP_AUTHORIZATION": "ApiKey " + key}
        out = subprocess.run(["cgi-fcgi", "-bind", "-connect", self.sock], input=data, env=env,
                             capture_output=True, timeout=60).stdout.decode()
        head, _, body = out.partition("\r\n\r\n")
        status = int(head.split("\r\n")[0].split()[1])
        return status, (json.loads(body) if body else None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


@test
def ssrf_refused_at_creation_and_delivery_when_private_is_disallowed():
    key = new_key()
    name = hook_name()
    api = StrictApi()
    try:
        p = REC.port
        refused = [
            "http://127.0.0.1:%d/hook/%s" % (p, name),
            "http://localhost:%d/hook/%s" % (p, name),
            "http://LocalHost.:%d/hook/%s" % (p, name),
            "http://[::1]:%d/hook/%s" % (p, name),
            "http://[::ffff:127.0.0.1]:%d/hook/%s" % (p, name),
            "http://2130706433:%d/hook/%s" % (p, name),
            "http://0x7f.1:%d/hook/%s" % (p, name),
            "http://0x7f000001:%d/hook/%s" % (p, name),
            "http://0177.0.0.1:%d/hook/%s" % (p, name),
            "http://127.1:%d/hook/%s" % (p, name),
            "http://0.0.0.0:%d/hook/%s" % (p, name),
            "http://0:%d/hook/%s" % (p, name),
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://10.0.0.1/",
            "http://user@127.0.0.1:%d/" % p,
            "file:///etc/passwd",
            "gopher://127.0.0.1:%d/_POST%%20/hook/%s" % (p, name),
            "ftp://127.0.0.1:%d/" % p,
            "dict://127.0.0.1:%d/" % p,
        ]
        for url in refused:
            status, body = api.request("POST", "/api/v1/webhooks", key,
                                       {"url": url, "events": ["*"]})
            check(status == 400 and body["error"]["code"] == "invalid_request",
                  (url, status, body))
        # A webhook that was allowed when created (the stack permits private
        # targets) is still refused at delivery by an instance that does not:
        # the guard runs again on every attempt, on the address connected to.
        wh = create_hook(key, REC.url(name), ["*"])
        status, body = api.request("POST", "/api/v1/webhooks/%s/test" % wh["id"], key)
        check(status == 200 and body["success"] is False and body["status_code"] is None, body)
        check("address" in body["error"] or "refused" in body["error"], body)
        # (a request the API had sent would have arrived before its answer)
        check(REC.served(name) == 0, "the receiver saw a refused request")
    finally:
        api.stop()


if __name__ == "__main__":
    try:
        main("webhooks")
    finally:
        REC.stop()
