#!/usr/bin/python3
"""One tenant cannot stall another's streams, and stream errors say what the
docs say. Against a stack (tests/stream/run.sh): SANDPIT_URL,
SANDPIT_STREAM_URL, SANDPIT_API_KEY.

t_busy_agent_cannot_stall_other_org: org A's sandboxed code keeps its agent
busy (a `kill -STOP -1` loop stops every command between fork and exec, so
each exec waits) and 150 upgrades are fired at that sandbox, while org B's
stream prints every 100 ms. Org B's output must keep flowing: no gap over
max(500 ms, 3x the largest gap seen before the attack), and a fresh stream
of org B must still open and run meanwhile.

t_revoked_key_kills_its_tokens: a stream token minted with a key stops
opening streams once that key is revoked (401 unauthorized).

t_slow_database_cannot_stall_streams: while PostgreSQL does not answer,
upgrades wait and an open stream keeps flowing.

t_invalid_message_code: an invalid client message yields the documented
error code (docs/stream-protocol.json).
Prints one line per test and "isolation: N passed, N failed"."""
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

import websockets

API = os.environ["SANDPIT_URL"].rstrip("/")
URL = os.environ["SANDPIT_STREAM_URL"].rstrip("/")
KEY = os.environ["SANDPIT_API_KEY"]
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")


def rest(method, path, key=KEY, body=None):
    data = json.dumps(body if body is not None else {}).encode()
    req = urllib.request.Request(API + path, data=data if method != "GET" else None,
                                 method=method,
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


_org_b = []


def org_b():
    """The second org's all-scopes key: registered once per run (the
    registration endpoint may be throttled per client address)."""
    if not _org_b:
        _org_b.append(register())
    return _org_b[0]


def register():
    """A second org with its own all-scopes key."""
    email = "iso%s@example.com" % uuid.uuid4().hex[:12]
    req = urllib.request.Request(API + "/api/v1/register", method="POST", data=json.dumps(
        {"first_name": "I", "last_name": "Solation", "email": email,
         "organization_name": "isolation"}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["api_key"]["key"]


def create(key):
    st, b = rest("POST", "/api/v1/sandbox/create", key)
    assert st == 201, (st, b)
    return b["sandbox_id"]


def stream_url(sbx, token=None):
    return f"{URL}/api/v1/sandbox/{sbx}/stream" + (f"?token={token}" if token else "")


def auth(key):
    return {"Authorization": "Bearer " + key}


async def upgrade_status(url, headers):
    """101, or the HTTP status of the refusal and its JSON error body."""
    try:
        async with websockets.connect(url, extra_headers=headers, open_timeout=30):
            return 101, None
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code, None
    except websockets.exceptions.InvalidStatus as e:  # newer websockets
        return e.response.status_code, json.loads(e.response.body or b"null")


async def ticker(key, sbx, times, started):
    """Org B's stream: a line every 100 ms; arrival times go to times."""
    async with websockets.connect(stream_url(sbx), extra_headers=auth(key)) as ws:
        await ws.send(json.dumps({"type": "exec", "command":
                                  "while :; do echo t; sleep 0.1; done", "timeout": 600}))
        async for m in ws:
            msg = json.loads(m)
            if msg["type"] == "stdout":
                times.append(time.monotonic())
                started.set()


def max_gap(times, t0, t1):
    """The longest silence within [t0, t1], its edges included: counted from
    the last output before t0 (or t0) to the first in it, and from the last
    one in it to t1."""
    before = [t for t in times if t < t0]
    pts = before[-1:] or [t0]
    pts += [t for t in times if t0 <= t <= t1] + [t1]
    return max(b - a for a, b in zip(pts, pts[1:]))


def gap_at(times, t0, t1):
    """Where (seconds after t0) the longest silence of [t0, t1] began."""
    before = [t for t in times if t < t0]
    pts = before[-1:] or [t0]
    pts += [t for t in times if t0 <= t <= t1] + [t1]
    return max(zip(pts, pts[1:]), key=lambda p: p[1] - p[0])[0] - t0


async def attacker(key, sbx, results):
    """One of the 150: upgrade and exec; whatever happens, it is bounded."""
    t = time.monotonic()
    try:
        async with websockets.connect(stream_url(sbx), extra_headers=auth(key),
                                      open_timeout=40, close_timeout=1) as ws:
            await ws.send(json.dumps({"type": "exec", "command": "true"}))
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed):
                pass
            results.append(("open", time.monotonic() - t))
    except websockets.exceptions.InvalidStatusCode as e:
        results.append((e.status_code, time.monotonic() - t))
    except Exception as e:  # noqa: BLE001 - any failure is an answer here
        results.append((type(e).__name__, time.monotonic() - t))


async def stall_agent(key, sbx, results):
    """Waves of execs at sbx until the agent is stuck starting one (a stream
    waits over a second for its started): the loop catches about one exec
    in ten between the agent's fork and exec. Returns the tasks."""
    tasks, pending = [], {}

    async def probe(i):
        t = time.monotonic()
        pending[i] = t
        try:
            async with websockets.connect(stream_url(sbx), extra_headers=auth(key),
                                          open_timeout=40, close_timeout=1) as ws:
                await ws.send(json.dumps({"type": "exec", "command": "true"}))
                await asyncio.wait_for(ws.recv(), 20)
        except Exception:  # noqa: BLE001 - only the timing matters here
            pass
        pending.pop(i, None)
        results.append(("stall", time.monotonic() - t))

    for wave in range(5):
        tasks += [asyncio.ensure_future(probe(wave * 40 + i)) for i in range(40)]
        for _ in range(30):
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if any(now - t > 1.0 for t in pending.values()):
                return tasks
    raise AssertionError("the stop loop never caught an exec")


async def t_busy_agent_cannot_stall_other_org():
    key_b = org_b()
    sbx_a, sbx_b = create(KEY), create(key_b)
    try:
        times, started = [], asyncio.Event()
        tick = asyncio.ensure_future(ticker(key_b, sbx_b, times, started))
        await asyncio.wait_for(started.wait(), 30)
        t0 = time.monotonic()
        await asyncio.sleep(3)
        base = max_gap(times, t0, time.monotonic())
        # org A: stop every new process of the sandbox, forever (the loop
        # stops this execute's own shell too: it ends by its timeout)
        # (off this event loop, which must keep reading org B's output)
        st, b = await asyncio.get_running_loop().run_in_executor(None, lambda: rest(
            "POST", f"/api/v1/sandbox/{sbx_a}/execute", KEY, {
                "command": 'setsid -f sh -c "while :; do kill -STOP -1; done" >/dev/null 2>&1',
                "timeout": 2}))
        assert st == 200, (st, b)
        # The attack runs in a process of its own: 190 handshakes on this
        # event loop would delay the timestamps of org B's output, and the
        # gaps measured must be the proxy's, not this client's.
        t1 = time.monotonic()
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        proc = ctx.Process(target=attack_process, args=(KEY, sbx_a, out))
        proc.start()
        # meanwhile org B opens a new stream and runs a command
        await asyncio.sleep(4)
        t2 = time.monotonic()
        async with websockets.connect(stream_url(sbx_b), extra_headers=auth(key_b),
                                      open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "exec", "command": "echo fresh"}))
            got = b""
            async for m in ws:
                msg = json.loads(m)
                if msg["type"] == "stdout":
                    got += msg["data"].encode()
        fresh = time.monotonic() - t2
        assert got == b"fresh\n", got
        # watch org B for the attack's duration (bounded: every attacker has
        # its own timeouts), at least 10 s
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(None, lambda: out.get(timeout=120))
        await loop.run_in_executor(None, proc.join)
        await asyncio.sleep(max(0, t1 + 10 - time.monotonic()))
        t3 = time.monotonic()
        gap = max_gap(times, t1, t3)
        tick.cancel()
        bound = max(0.5, 3 * base)
        assert "error" not in results, results
        assert results.get("unanswered", 0) == 0, f"upgrades never answered: {results}"
        assert gap <= bound, f"org B's stream stalled {gap:.2f}s (bound {bound:.2f}s, " \
            f"baseline gap {base:.2f}s) from {gap_at(times, t1, t3):.2f}s into the attack " \
            f"(wall clock {time.time() - (time.monotonic() - t1):.3f}); attackers: {results}"
        assert fresh <= max(5.0, 10 * base), f"org B's new stream took {fresh:.2f}s"
        return f"gap {gap * 1000:.0f} ms, baseline {base * 1000:.0f} ms, fresh stream " \
            f"{fresh * 1000:.0f} ms; attackers: {results}"
    finally:
        rest("POST", f"/api/v1/sandbox/{sbx_a}/stop")
        rest("POST", f"/api/v1/sandbox/{sbx_b}/stop", key_b)


def psql_process(sql):
    """psql as the instance's database user, on the instance's socket."""
    return subprocess.Popen(
        ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--", "psql", "-h",
         os.path.join(os.environ["SANDPIT_STATE_DIR"], "pg", "run"), "-U", "sandpit", "-d",
         "sandpit", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def t_slow_database_cannot_stall_streams():
    """While PostgreSQL does not answer (api_keys locked for 3 s), upgrades
    wait for it, and an open stream goes on: the database work is off the
    proxy's loop."""
    if not os.environ.get("SANDPIT_STATE_DIR") or os.geteuid() != 0:
        return "skipped (needs root and SANDPIT_STATE_DIR)"
    key_b = org_b()
    sbx_b = create(key_b)
    try:
        times, started = [], asyncio.Event()
        tick = asyncio.ensure_future(ticker(key_b, sbx_b, times, started))
        await asyncio.wait_for(started.wait(), 30)
        t0 = time.monotonic()
        await asyncio.sleep(2)
        base = max_gap(times, t0, time.monotonic())
        lock = psql_process("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE; "
                            "SELECT pg_sleep(3); COMMIT;")
        await asyncio.sleep(0.5)  # the lock is taken
        t1 = time.monotonic()
        ups = [asyncio.ensure_future(upgrade_status(stream_url(sbx_b), auth(key_b)))
               for _ in range(5)]
        loop = asyncio.get_running_loop()
        rc = await loop.run_in_executor(None, lock.wait)
        assert rc == 0, lock.stderr.read()
        statuses = [(await u)[0] for u in ups]
        t2 = time.monotonic()
        gap = max_gap(times, t1, t2)
        tick.cancel()
        waited = t2 - t1
        assert waited >= 2, f"the upgrades did not wait for the lock ({waited:.2f}s)"
        assert statuses == [101] * 5, statuses
        bound = max(0.5, 3 * base)
        assert gap <= bound, f"open stream stalled {gap:.2f}s while the database was " \
            f"locked (bound {bound:.2f}s)"
        return f"gap {gap * 1000:.0f} ms over {waited:.1f} s of a locked table"
    finally:
        rest("POST", f"/api/v1/sandbox/{sbx_b}/stop", key_b)


def attack_process(key, sbx, out):
    """Child process: stall org A's agent, fire the 150, report a summary."""
    async def attack():
        results = []
        tasks = await stall_agent(key, sbx, results)
        tasks += [asyncio.ensure_future(attacker(key, sbx, results)) for _ in range(150)]
        _, pending = await asyncio.wait(tasks, timeout=90)
        res = summary(results)
        res["unanswered"] = len(pending)
        for t in pending:
            t.cancel()
        return res
    try:
        out.put(asyncio.run(attack()))
    except Exception:  # noqa: BLE001 - reported to the parent
        out.put({"error": traceback.format_exc()})


def summary(results):
    out = {}
    for what, _ in results:
        out[str(what)] = out.get(str(what), 0) + 1
    return out


async def t_revoked_key_kills_its_tokens():
    admin = org_b()
    st, b = rest("POST", "/api/v1/api-keys", admin, {"name": "minter", "scopes": ["read", "write"]})
    assert st == 201, (st, b)
    minter, minter_id = b["key"], b["id"]
    sbx = create(admin)
    try:
        st, b = rest("POST", f"/api/v1/sandbox/{sbx}/stream-token", minter)
        assert st == 201, (st, b)
        tok = b["token"]
        st2, b2 = rest("POST", f"/api/v1/sandbox/{sbx}/stream-token", minter)
        assert st2 == 201, (st2, b2)
        # the token works while its key lives
        async with websockets.connect(stream_url(sbx, tok)) as ws:
            await ws.send(json.dumps({"type": "exec", "command": "echo live"}))
            assert json.loads(await ws.recv())["type"] == "started"
        st, b = rest("DELETE", f"/api/v1/api-keys/{minter_id}", admin)
        assert st in (200, 204), (st, b)
        status = await raw_upgrade(stream_url(sbx, b2["token"]))
        assert status[0] == 401, status
        assert status[1]["error"]["code"] == "unauthorized", status
    finally:
        rest("POST", f"/api/v1/sandbox/{sbx}/stop", admin)


async def raw_upgrade(url):
    """The HTTP status and JSON body of a refused upgrade, read off the wire."""
    hostport, path = url[len("ws://"):].split("/", 1)
    host, port = hostport.rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    w.write((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    await w.drain()
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
    length = [int(h.split(b":")[1]) for h in head.split(b"\r\n")
              if h.lower().startswith(b"content-length:")]
    body = await asyncio.wait_for(r.readexactly(length[0]), 30) if length else b""
    w.close()
    return int(head.split()[1]), json.loads(body) if body.strip() else None


def documented_codes():
    with open(os.path.join(DOCS, "stream-protocol.json")) as f:
        text = f.read()
    return text


async def t_invalid_message_code():
    sbx = create(KEY)
    try:
        async with websockets.connect(stream_url(sbx), extra_headers=auth(KEY)) as ws:
            await ws.send('{"type":"exec"}')  # no command
            msg = json.loads(await ws.recv())
        assert msg["type"] == "error", msg
        async with websockets.connect(stream_url(sbx), extra_headers=auth(KEY)) as ws:
            await ws.send('{"type":"stdin","data":"x"}')  # not a first message
            msg2 = json.loads(await ws.recv())
        assert msg2["type"] == "error", msg2
        spec = json.load(open(os.path.join(DOCS, "stream-protocol.json")))
        codes = spec["$defs"]["error"]["properties"]["code"]["enum"]
        assert msg["code"] == "invalid_request" and msg["code"] in codes, (msg, codes)
        assert msg2["code"] == "invalid_request", msg2
        md = open(os.path.join(DOCS, "stream-protocol.md")).read()
        assert '"code":"invalid"' not in md and "`invalid`" not in md
    finally:
        rest("POST", f"/api/v1/sandbox/{sbx}/stop")


TESTS = [t_invalid_message_code, t_revoked_key_kills_its_tokens,
         t_slow_database_cannot_stall_streams, t_busy_agent_cannot_stall_other_org]


async def main():
    only = sys.argv[1:]
    passed = failed = 0
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        try:
            note = await asyncio.wait_for(t(), 240)
            passed += 1
            print(f"ok   {t.__name__}" + (f"  ({note})" if note else ""), flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__}\n" + traceback.format_exc(), flush=True)
    print(f"isolation: {passed} passed, {failed} failed")
    return 1 if failed else 0


sys.exit(asyncio.run(main()))
