#!/usr/bin/python3
"""Stream protocol tests with python3-websockets (a client nobody here wrote).

Env: SANDPIT_STREAM_URL (ws://host:port, or the stack's URL with ws://),
SANDPIT_API_KEY, SANDPIT_SANDBOX_ID (a running sandbox), optional
SANDPIT_STOPPED_ID, SANDPIT_SECRET_KEY (to mint stream tokens locally; else
they come from POST /api/v1/sandbox/:id/stream-token via SANDPIT_URL).
SANDPIT_STREAM_PID (the proxy; run.sh and standalone.sh set it) lets the
limit tests watch its memory and CPU, and, as root, start private proxies
with other settings.
Prints one line per test and "python: N passed, N failed, N skipped"; a test
whose precondition is missing calls skip() and is counted as skipped."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

import websockets

sys.path.insert(0, os.path.dirname(__file__))

URL = os.environ["SANDPIT_STREAM_URL"].rstrip("/")
KEY = os.environ["SANDPIT_API_KEY"]
SBX = os.environ["SANDPIT_SANDBOX_ID"]
STOPPED = os.environ.get("SANDPIT_STOPPED_ID")
AUTH = {"Authorization": "Bearer " + KEY}
MB = 1024 * 1024


def stream_url(sbx=SBX, token=None):
    u = f"{URL}/api/v1/sandbox/{sbx}/stream"
    return u + ("?token=" + token if token else "")


from test_python_token import mint_token  # noqa: E402


class Skip(Exception):
    """The test cannot run here (raised by skip): counted apart, not passed."""


def skip(reason):
    raise Skip(reason)


async def run(cmd, stdin=None, close_stdin=False, extra=None, url=None, headers=AUTH):
    """Run one command; return (messages, close code, close reason)."""
    msgs = []
    async with websockets.connect(url or stream_url(), extra_headers=headers,
                                  max_size=None) as ws:
        await ws.send(json.dumps({"type": "exec", "command": cmd, **(extra or {})}))
        if stdin is not None:
            await ws.send(json.dumps({"type": "stdin", "data": stdin}))
        if close_stdin:
            await ws.send(json.dumps({"type": "stdin_close"}))
        async for m in ws:
            msgs.append(json.loads(m))
    return msgs, ws.close_code, ws.close_reason


def output(msgs, stream="stdout"):
    out = b""
    for m in msgs:
        if m["type"] == stream:
            out += base64.b64decode(m["data"]) if m.get("encoding") == "base64" \
                else m["data"].encode()
    return out


def exit_of(msgs):
    ex = [m for m in msgs if m["type"] == "exit"]
    assert len(ex) == 1, msgs
    return ex[0]


async def collect(ws):
    """Messages until the server closes, whatever the close code."""
    msgs = []
    try:
        async for m in ws:
            msgs.append(json.loads(m))
    except websockets.exceptions.ConnectionClosed:
        pass
    return msgs


async def http_status(url, headers):
    try:
        async with websockets.connect(url, extra_headers=headers):
            return 101
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


# ---- tests ------------------------------------------------------------------

async def t_exec_shell_string():
    msgs, code, reason = await run("echo hi; echo err >&2; exit 3")
    assert msgs[0]["type"] == "started" and msgs[0]["pid"] > 0, msgs
    assert output(msgs) == b"hi\n" and output(msgs, "stderr") == b"err\n", msgs
    ex = exit_of(msgs)
    assert ex["exit_code"] == 3 and ex["signal"] is None and ex["timed_out"] is False, ex
    assert isinstance(ex["duration_ms"], int)
    assert msgs[-1]["type"] == "exit" and code == 1000, (code, reason)


async def t_exec_argv_env_cwd():
    msgs, code, _ = await run(["sh", "-c", 'printf "%s %s" "$FOO" "$(pwd)"'],
                              extra={"env": {"FOO": "bar baz"}, "working_dir": "/tmp"})
    assert output(msgs) == b"bar baz /tmp", msgs
    assert exit_of(msgs)["exit_code"] == 0 and code == 1000


async def t_stdin_roundtrip():
    msgs, code, _ = await run("cat; echo done", stdin="hello \u00e9\n", close_stdin=True)
    assert output(msgs) == "hello \u00e9\ndone\n".encode(), msgs
    assert code == 1000


async def t_binary_output_is_base64():
    msgs, _, _ = await run(r"printf '\377\376abc'")
    assert output(msgs) == b"\xff\xfeabc", msgs
    assert any(m.get("encoding") == "base64" for m in msgs if m["type"] == "stdout")


async def t_utf8_split_stays_text():
    # 3-byte characters in big odd-sized writes: pipe reads split them
    msgs, _, _ = await run("i=0; while [ $i -lt 2000 ]; do printf '\u20ac\u20ac\u20aca'; i=$((i+1)); done")
    assert output(msgs) == ("\u20ac\u20ac\u20aca" * 2000).encode()
    assert all("encoding" not in m for m in msgs if m["type"] == "stdout"), "split char went base64"


async def t_order_per_stream():
    msgs, _, _ = await run("i=1; while [ $i -le 300 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done")
    want_o = "".join(f"out{i}\n" for i in range(1, 301)).encode()
    want_e = "".join(f"err{i}\n" for i in range(1, 301)).encode()
    assert output(msgs) == want_o and output(msgs, "stderr") == want_e
    assert msgs[0]["type"] == "started" and msgs[-1]["type"] == "exit"


async def t_signal():
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
        await ws.send(json.dumps({"type": "exec", "command": "echo ready; sleep 30"}))
        msgs = []
        async for m in ws:
            msgs.append(json.loads(m))
            if msgs[-1]["type"] == "stdout":
                await ws.send(json.dumps({"type": "signal", "signal": "SIGTERM"}))
    ex = exit_of(msgs)
    assert ex["signal"] == 15 and ex["exit_code"] == 143, ex


async def t_signal_number_out_of_range():
    # numbers no int holds are refused like unknown signals
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
        await ws.send(json.dumps({"type": "exec", "command": "sleep 30"}))
        assert json.loads(await ws.recv())["type"] == "started"
        for bad in ("1e300", "-1e300", "4294967311", "15.5"):
            await ws.send('{"type":"signal","signal":%s}' % bad)
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert m["type"] == "error" and "signal" in m["message"], (bad, m)
        await ws.send('{"type":"signal","signal":15}')
        ex = exit_of(await collect(ws))
    assert ex["signal"] == 15, ex


async def t_timeout():
    msgs, _, _ = await run("sleep 5", extra={"timeout": 0.5})
    ex = exit_of(msgs)
    assert ex["timed_out"] is True and ex["duration_ms"] < 4000, ex


async def t_tty_size_and_resize():
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
        await ws.send(json.dumps({"type": "exec", "command": "stty size; read x; stty size",
                                  "tty": True, "cols": 100, "rows": 40}))
        got, sent = "", False
        async for m in ws:
            m = json.loads(m)
            if m["type"] == "stdout":
                got += m["data"] if m.get("encoding") != "base64" else \
                    base64.b64decode(m["data"]).decode(errors="replace")
                if "40 100" in got and not sent:
                    sent = True
                    # in order on the one stream: the pty has its new size
                    # before the line that lets stty look
                    await ws.send(json.dumps({"type": "resize", "cols": 132, "rows": 50}))
                    await ws.send(json.dumps({"type": "stdin", "data": "\n"}))
    assert "40 100" in got and "50 132" in got, repr(got)


async def until_sleep(running, timeout=10):
    """Until a "sleep 3071" runs in the sandbox (running) or none does."""
    t0 = time.time()
    while True:
        msgs, _, _ = await run("pgrep -fx 'sleep 3071' >/dev/null")
        if (exit_of(msgs)["exit_code"] == 0) == running:
            return
        assert time.time() - t0 < timeout, "sleep 3071 " + ("never ran" if running else "still runs")
        await asyncio.sleep(0.05)


async def t_tty_ctrl_c_reaches_foreground():
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
        await ws.send(json.dumps({"type": "exec", "command": ["sh", "-i"], "tty": True}))
        await ws.send(json.dumps({"type": "stdin", "data": "sleep 3071; echo after\n"}))
        # the sleep is the foreground job when ^C comes, and gone before
        # the next line is typed
        await until_sleep(True)
        await ws.send(json.dumps({"type": "stdin", "data": "\x03"}))
        await until_sleep(False)
        await ws.send(json.dumps({"type": "stdin", "data": "echo alive-$((40+2))\nexit\n"}))
        got, t0 = "", time.time()
        async for m in ws:
            m = json.loads(m)
            if m["type"] == "stdout":
                got += m["data"] if m.get("encoding") != "base64" else \
                    base64.b64decode(m["data"]).decode(errors="replace")
        assert time.time() - t0 < 10
    assert "alive-42" in got and "after" not in got.replace("echo after", ""), repr(got)
    return None


async def t_channel_subprotocol():
    async with websockets.connect(stream_url(), extra_headers=AUTH,
                                  subprotocols=["sandpit.channel.v1"]) as ws:
        assert ws.subprotocol == "sandpit.channel.v1"
        await ws.send(b"\x03" + json.dumps({"type": "exec", "command": "cat; printf '\\377' >&2"}).encode())
        await ws.send(b"\x00" + b"raw\x00bytes")
        await ws.send(b"\x03" + b'{"type":"stdin_close"}')
        out, err, ctl = b"", b"", []
        async for m in ws:
            assert isinstance(m, bytes)
            if m[0] == 1:
                out += m[1:]
            elif m[0] == 2:
                err += m[1:]
            else:
                assert m[0] == 3
                ctl.append(json.loads(m[1:]))
    assert out == b"raw\x00bytes" and err == b"\xff", (out, err)
    assert ctl[0]["type"] == "started" and ctl[-1]["type"] == "exit", ctl


async def t_refusals_before_upgrade():
    assert await http_status(stream_url(), {}) == 401
    assert await http_status(stream_url(), {"Authorization": "Bearer sk-sandbox-nope"}) == 401
    assert await http_status(stream_url("sbx_doesnotexist"), AUTH) == 404
    if STOPPED:
        assert await http_status(stream_url(STOPPED), AUTH) == 409
    assert await http_status(f"{URL}/api/v1/sandbox/{SBX}/nope", AUTH) == 404


async def t_stream_token():
    org = None
    if os.environ.get("SANDPIT_SECRET_KEY"):
        # the org is inside any valid token: learn it from the API key's stream
        org = os.environ.get("SANDPIT_ORG_ID")
        if org is None:
            skip("no SANDPIT_ORG_ID")
    tok = mint_token(org=org)
    msgs, code, _ = await run("echo via-token", url=stream_url(token=tok), headers={})
    assert output(msgs) == b"via-token\n" and code == 1000
    # bound to its sandbox, and tampering is refused
    assert await http_status(stream_url("sbx_other", token=tok), {}) == 401
    assert await http_status(stream_url(token=tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB")), {}) == 401
    if org is not None:
        expired = mint_token(org=org, ttl=-5)
        assert await http_status(stream_url(token=expired), {}) == 401


async def t_bad_first_message():
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
        await ws.send('{"type":"stdin","data":"x"}')
        msgs = await collect(ws)
    assert msgs and msgs[0]["type"] == "error", msgs
    assert ws.close_code == 1008, ws.close_code


async def t_oversized_message_1009():
    async with websockets.connect(stream_url(), extra_headers=AUTH, max_size=None) as ws:
        await ws.send(json.dumps({"type": "exec", "command": "cat >/dev/null"}))
        try:
            await ws.send(b"x" * (17 * MB))
            async for _ in ws:
                pass
        except websockets.exceptions.ConnectionClosed:
            pass
    assert ws.close_code == 1009, ws.close_code


def raw_upgrade(url=URL, rcvbuf=None):
    """A hand-made client, for frames real libraries refuse to send (and
    for clients that misbehave: rcvbuf sets a small receive buffer)."""
    host, port = url.split("//")[1].split(":")
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, int(port)))
    s.sendall((f"GET /api/v1/sandbox/{SBX}/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {KEY}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head, head
    return s, head.split(b"\r\n\r\n", 1)[1]


def read_close(s, rest):
    data = rest
    s.settimeout(5)
    while True:
        while len(data) >= 2:
            op, ln = data[0] & 15, data[1] & 127
            off = 2
            if ln == 126:
                ln, off = int.from_bytes(data[2:4], "big"), 4
            if len(data) < off + ln:
                break
            if op == 8:
                return int.from_bytes(data[off:off + 2], "big")
            data = data[off + ln:]
        chunk = s.recv(65536)
        if not chunk:
            return None
        data += chunk


async def t_protocol_errors_close_codes():
    cases = [
        (b"\x81\x02hi", 1002),                                   # unmasked client frame
        (b"\x83\x80\x00\x00\x00\x00", 1002),                     # bad opcode
        (b"\xc1\x80\x00\x00\x00\x00", 1002),                     # RSV1
        (b"\x81\x82\x00\x00\x00\x00\xc0\xaf", 1007),             # bad UTF-8
        (b"\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00", 1009),     # 4 GiB length
    ]
    for frame, want in cases:
        s, rest = raw_upgrade()
        s.sendall(frame)
        got = await asyncio.get_running_loop().run_in_executor(None, read_close, s, rest)
        s.close()
        assert got == want, (frame, got, want)


async def alive(pid):
    msgs, _, _ = await run(f"kill -0 {pid} 2>/dev/null")
    return exit_of(msgs)["exit_code"] == 0


async def t_client_gone_kills_command():
    ws = await websockets.connect(stream_url(), extra_headers=AUTH)
    await ws.send(json.dumps({"type": "exec", "command": "trap '' HUP; sleep 60"}))
    pid = json.loads(await ws.recv())["pid"]
    assert await alive(pid)
    ws.transport.abort()  # vanish without a close frame
    t0 = time.time()
    while await alive(pid):
        assert time.time() - t0 < 8, "command still alive"
        await asyncio.sleep(0.2)
    return f"gone after {time.time() - t0:.1f}s (HUP ignored, so SIGKILL after the grace)"


# The agent test double (standalone.sh) runs one process per connection, so
# nothing it runs can outlive a connection: tests that need that are skipped.
FAKE_AGENT = os.environ.get("SANDPIT_FAKE_AGENT") == "1"
COUNTER = "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.1; done"


def ticks(msgs):
    """The counter values seen in stdout messages, in order."""
    return [int(t[4:]) for t in output(msgs).decode().split() if t.startswith("tick")]


async def read_until(ws, pred, timeout=10):
    """Messages until pred(messages) holds."""
    msgs = []
    while not pred(msgs):
        msgs.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    return msgs


async def detach_then_attach(cmd, vanish):
    """exec cmd with detach:true, read a few ticks, leave (abort or close),
    wait a second, attach: returns (pid, ticks before, ws attached, the
    messages read after attaching until ticks resumed)."""
    ws = await websockets.connect(stream_url(), extra_headers=AUTH)
    await ws.send(json.dumps({"type": "exec", "command": cmd, "detach": True}))
    before = await read_until(ws, lambda m: len(ticks(m)) >= 3)
    assert before[0]["type"] == "started", before
    pid = before[0]["pid"]
    if vanish:
        ws.transport.abort()  # no close frame
    else:
        await ws.close()
    await asyncio.sleep(1.0)
    assert await alive(pid), "detached command died with its stream"
    ws2 = await websockets.connect(stream_url(), extra_headers=AUTH)
    await ws2.send(json.dumps({"type": "attach", "pid": pid}))
    after = await read_until(ws2, lambda m: len(ticks(m)) >= 3)
    assert after[0] == {"type": "started", "pid": pid}, after[0]
    t0, t1 = ticks(before), ticks(after)
    # the counter went on while nobody watched (10 a second; output
    # produced while detached is dropped, not replayed)
    assert t1[0] >= t0[-1] + 5, (t0, t1)
    assert t1 == list(range(t1[0], t1[0] + len(t1))), t1
    return pid, ws2


async def t_detach_attach_signal():
    if FAKE_AGENT:
        skip("agent test double keeps no detached commands")
    pid, ws = await detach_then_attach(COUNTER, vanish=True)
    await ws.send(json.dumps({"type": "signal", "signal": "TERM"}))
    rest = await collect(ws)
    ex = exit_of(rest)
    assert ex["signal"] == 15 and ex["exit_code"] == 143, ex
    assert rest[-1]["type"] == "exit" and ws.close_code == 1000, (rest[-1], ws.close_code)
    assert not await alive(pid)


async def t_detach_attach_stdin():
    if FAKE_AGENT:
        skip("agent test double keeps no detached commands")
    cmd = "(" + COUNTER + ") & read line; kill $!; echo got:$line; exit 7"
    pid, ws = await detach_then_attach(cmd, vanish=False)
    await ws.send(json.dumps({"type": "stdin", "data": "hello\n"}))
    rest = await collect(ws)
    assert b"got:hello\n" in output(rest), rest
    assert exit_of(rest)["exit_code"] == 7 and ws.close_code == 1000, ws.close_code
    # a detached command that ended is forgotten: attaching again is refused
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws2:
        await ws2.send(json.dumps({"type": "attach", "pid": pid}))
        msgs = await collect(ws2)
    assert msgs[0]["type"] == "error" and ws2.close_code == 1008, (msgs, ws2.close_code)


async def t_detach_unattached_exit_is_reaped():
    if FAKE_AGENT:
        skip("agent test double keeps no detached commands")
    # a lot of output with nobody attached must not block the command
    ws = await websockets.connect(stream_url(), extra_headers=AUTH)
    await ws.send(json.dumps({"type": "exec", "detach": True,
                              "command": "sleep 0.5; head -c 20000000 /dev/zero; sleep 30"}))
    pid = json.loads(await ws.recv())["pid"]
    await ws.close()
    # the sleep 30 is reached only if the 20 MB were drained
    t0 = time.time()
    find = ("for f in /proc/[0-9]*/cmdline; do "
            "[ \"$(tr '\\000' ' ' < $f 2>/dev/null)\" = 'sleep 30 ' ] && echo found; done; true")
    while b"found" not in output((await run(find))[0]):
        assert time.time() - t0 < 10, "detached command blocked on its output"
        await asyncio.sleep(0.2)
    msgs, _, _ = await run(f"kill -TERM -{pid}")
    assert exit_of(msgs)["exit_code"] == 0
    t0 = time.time()
    while await alive(pid):
        assert time.time() - t0 < 5
        await asyncio.sleep(0.1)
    # it ended with nobody attached: reaped and forgotten
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws2:
        await ws2.send(json.dumps({"type": "attach", "pid": pid}))
        msgs = await collect(ws2)
    assert msgs[0]["type"] == "error" and ws2.close_code == 1008, (msgs, ws2.close_code)


async def counter_value(path):
    msgs, _, _ = await run(f"cat {path} 2>/dev/null || echo 0")
    return int(output(msgs).decode().strip() or 0)


async def t_detach_message_keeps_command():
    # Two commands that ignore SIGHUP, so only the SIGKILL at the end of the
    # proxy's kill grace can end them: one detached by a {"type":"detach"}
    # message, one not (the control). Both streams close; once the proxy has
    # killed the control, the grace is over for the detached one too (its
    # stream closed first), and it must still be running.
    if FAKE_AGENT:
        skip("agent test double keeps no detached commands")
    tag = os.urandom(6).hex()
    loop = "trap '' HUP; i=0; while :; do i=$((i+1)); echo $i > {f}; sleep 0.1; done"
    det_file, ctl_file = f"/tmp/.sp-detach-{tag}", f"/tmp/.sp-control-{tag}"
    det = await websockets.connect(stream_url(), extra_headers=AUTH)
    await det.send(json.dumps({"type": "exec", "command": loop.format(f=det_file)}))
    pid = json.loads(await det.recv())["pid"]
    await det.send('{"type":"detach"}')
    ctl = await websockets.connect(stream_url(), extra_headers=AUTH)
    await ctl.send(json.dumps({"type": "exec", "command": loop.format(f=ctl_file)}))
    ctl_pid = json.loads(await ctl.recv())["pid"]
    try:
        # both past their trap (a SIGHUP before it would end them): counting
        for f in (det_file, ctl_file):
            t0 = time.time()
            while await counter_value(f) < 1:
                assert time.time() - t0 < 10, "the command never started counting"
                await asyncio.sleep(0.05)
        await det.close()
        await ctl.close()
        t0 = time.time()
        while await alive(ctl_pid):
            assert time.time() - t0 < 30, "the control command was never killed"
            await asyncio.sleep(0.1)
        grace = time.time() - t0
        assert await alive(pid), f"detached command was killed (control killed after {grace:.1f}s)"
        # and it is still running, not just there: its counter goes on
        first = await counter_value(det_file)
        t1 = time.time()
        while await counter_value(det_file) < first + 3:
            assert time.time() - t1 < 10, "detached command stopped counting"
            await asyncio.sleep(0.1)
    finally:
        msgs, _, _ = await run(f"kill -9 -{pid} -{ctl_pid} 2>/dev/null; rm -f {det_file} {ctl_file}")
    return f"control killed {grace:.1f}s after its stream closed; detached one still counting"


async def t_attach_bogus_or_not_detached_pid():
    async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
        await ws.send('{"type":"attach","pid":999999}')
        msgs = await collect(ws)
    assert msgs and msgs[0]["type"] == "error" and msgs[0]["code"] == "not_found", msgs
    assert ws.close_code == 1008, ws.close_code
    # a running command that was not detached cannot be taken over
    async with websockets.connect(stream_url(), extra_headers=AUTH) as owner:
        await owner.send(json.dumps({"type": "exec", "command": "sleep 30"}))
        pid = json.loads(await owner.recv())["pid"]
        async with websockets.connect(stream_url(), extra_headers=AUTH) as ws:
            await ws.send(json.dumps({"type": "attach", "pid": pid}))
            msgs = await collect(ws)
        assert msgs and msgs[0]["type"] == "error", msgs
        assert ws.close_code == 1008, ws.close_code
        await owner.send(json.dumps({"type": "signal", "signal": "KILL"}))
        assert exit_of(await collect(owner))["signal"] == 9


BIG = "/tmp/.sandpit-stream-test-10mib"


# The agent serves up to 64 connections per sandbox: with a comma-separated
# SANDPIT_SANDBOX_IDS the 100 streams are spread over several sandboxes.
SBXS = [s for s in os.environ.get("SANDPIT_SANDBOX_IDS", SBX).split(",") if s]


async def one_big(i, size, sha):
    # argv, one process per stream: 100 of them fit a sandbox's pids limit
    h, n = hashlib.sha256(), 0
    async with websockets.connect(stream_url(SBXS[i % len(SBXS)]), extra_headers=AUTH, max_size=None,
                                  subprotocols=["sandpit.channel.v1"]) as ws:
        await ws.send(b"\x03" + json.dumps({"type": "exec", "command": ["cat", BIG]}).encode())
        last = None
        async for m in ws:
            if m[0] == 1:
                h.update(m[1:])
                n += len(m) - 1
            elif m[0] == 3:
                last = json.loads(m[1:])
    assert n == size and h.hexdigest() == sha, (i, n)
    assert last["type"] == "exit" and last["exit_code"] == 0, last


async def t_100_streams_10mib_byte_exact():
    size = 10 * MB
    line = b"sandpit stream test abcdefghijklmnopqrstuvwxyz 0123456789\n"
    sha = hashlib.sha256((line * (size // len(line) + 1))[:size]).hexdigest()
    for sbx in SBXS:
        msgs, _, _ = await run(f"yes '{line.decode().strip()}' | head -c {size} > {BIG}",
                               url=stream_url(sbx))
        assert exit_of(msgs)["exit_code"] == 0, msgs
    t0 = time.time()
    await asyncio.gather(*(one_big(i, size, sha) for i in range(100)))
    dt = time.time() - t0
    for sbx in SBXS:
        await run(f"rm -f {BIG}", url=stream_url(sbx))
    return f"{len(SBXS)} sandbox(es), 100 x 10 MiB in {dt:.1f}s ({100 * size / MB / dt:.0f} MiB/s total)"


async def t_json_mode_binary_exact():
    # random bytes through the JSON protocol: base64 chunks, byte-exact
    msgs, _, _ = await run("head -c 3000000 /dev/urandom | tee /tmp/.sp-rand-$$ | cat; "
                           "sha256sum /tmp/.sp-rand-$$ >&2; rm -f /tmp/.sp-rand-$$")
    assert hashlib.sha256(output(msgs)).hexdigest() == output(msgs, "stderr").split()[0].decode()


# ---- limits, timers and misbehaving clients ----------------------------------
# Raw clients (libraries answer pings and read eagerly; these do not), and,
# for settings the shared proxy cannot be given, a private proxy.

def ws_frame(op, payload=b""):
    """One final client frame, masked with key 0 (the payload goes as is)."""
    n, b0 = len(payload), 0x80 | op
    if n < 126:
        hdr = bytes([b0, 0x80 | n])
    elif n < 65536:
        hdr = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    return hdr + b"\0\0\0\0" + payload


def exec_frame(cmd):
    return ws_frame(1, json.dumps({"type": "exec", "command": cmd}).encode())


def take_frames(buf):
    """The complete server frames at the start of buf (a bytearray, which
    loses them): [(opcode, payload)]."""
    out = []
    while len(buf) >= 2:
        ln, off = buf[1] & 127, 2
        if ln == 126:
            ln, off = int.from_bytes(buf[2:4], "big"), 4
        elif ln == 127:
            ln, off = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < off + ln:
            break
        out.append((buf[0] & 15, bytes(buf[off:off + ln])))
        del buf[:off + ln]
    return out


def proxy_pid():
    """The suite's proxy (SANDPIT_STREAM_PID, or the stack's pid file)."""
    pid = os.environ.get("SANDPIT_STREAM_PID")
    if not pid and os.environ.get("SANDPIT_STATE_DIR"):
        try:
            pid = open(os.environ["SANDPIT_STATE_DIR"] + "/run/stream.pid").read().strip()
        except OSError:
            pid = None
    return int(pid) if pid else None


def proc_status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return line.split()[1:]
    raise KeyError(key)


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


class PrivateProxy:
    """A second sandpit-stream: the suite proxy's binary, user and
    environment (so the same database and agents), on its own loopback port
    with some SANDPIT_STREAM_* settings changed. Stopped (streams dropped) on
    leaving the with block."""

    def __init__(self, nofile=None, **settings):
        self.nofile, self.settings = nofile, settings

    async def __aenter__(self):
        pid = proxy_pid()
        env = dict(kv.split("=", 1) for kv in
                   open(f"/proc/{pid}/environ").read().split("\0") if "=" in kv)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env.update({"SANDPIT_STREAM_LISTEN": f"127.0.0.1:{self.port}",
                    "SANDPIT_STREAM_DRAIN_TIMEOUT": "0"})
        env.update({"SANDPIT_STREAM_" + k.upper(): str(v) for k, v in self.settings.items()})
        # with the stack's logs when there are some: make check looks there
        # for sanitizer reports
        logs = os.path.join(os.environ.get("SANDPIT_STATE_DIR", "/nonexistent"), "logs")
        self.logf = open(os.path.join(logs, f"stream-{self.port}.log"), "w+b") \
            if os.path.isdir(logs) else tempfile.TemporaryFile()
        argv = [os.readlink(f"/proc/{pid}/exe")]
        if self.nofile:  # soft and hard: the proxy cannot raise it again
            argv = ["/bin/sh", "-c", f'ulimit -n {self.nofile} && exec "$0"'] + argv
        self.proc = subprocess.Popen(argv, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     user=int(proc_status(pid, "Uid")[0]),
                                     group=int(proc_status(pid, "Gid")[0]), extra_groups=[])
        self.url = f"ws://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                await asyncio.sleep(0.1)  # the probe's connection is over
                return self
            except OSError:
                await asyncio.sleep(0.05)
        await self.__aexit__()
        raise AssertionError("private proxy did not start: " + self.log.decode()[-2000:])

    async def __aexit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.seek(0)
        self.log = self.logf.read()
        self.logf.close()


def need_private_proxy():
    """Skip unless a private proxy can be started (the suite proxy's pid, and
    root to read its environment)."""
    pid = proxy_pid()
    if pid is None or not os.access(f"/proc/{pid}/environ", os.R_OK):
        skip("needs the suite proxy's pid and root")


async def t_reply_flood_stays_bounded():
    # pings and bad messages, never reading the replies: the proxy stops
    # reading the client instead of queueing replies without bound
    pid = proxy_pid()
    if pid is None:
        skip("no SANDPIT_STREAM_PID")

    def flood():
        s, _ = raw_upgrade(rcvbuf=4096)
        s.sendall(exec_frame("sleep 30"))
        time.sleep(0.5)
        before = int(proc_status(pid, "VmRSS")[0])
        burst = memoryview((ws_frame(9, b"p" * 125) + ws_frame(1, b"{}")) * 512)
        s.setblocking(False)
        sent, off, t0 = 0, 0, time.time()
        while time.time() - t0 < 4:
            try:
                n = s.send(burst[off:])
                sent, off = sent + n, (off + n) % len(burst)
            except BlockingIOError:
                time.sleep(0.01)
        return s, sent, int(proc_status(pid, "VmRSS")[0]) - before

    s, sent, grown = await asyncio.get_running_loop().run_in_executor(None, flood)
    try:
        msgs, code, _ = await asyncio.wait_for(run("echo still-serving"), 10)
        assert output(msgs) == b"still-serving\n" and code == 1000, (msgs, code)
    finally:
        s.close()
    # (under ASan (make check) freed memory sits in its quarantine, 256 MiB)
    limit = 16 * 1024 + (256 * 1024 if "libasan" in open(f"/proc/{pid}/maps").read() else 0)
    assert grown < limit, f"proxy grew {grown} KiB while {sent} bytes were sent"
    return f"{sent / MB:.1f} MiB sent, proxy grew {grown} KiB"


async def t_slow_reader_gets_everything():
    # the close deadline runs from when the close frame can go out, not
    # from when it was queued behind a full queue. Straight to a proxy: one
    # behind a web server cannot see how far behind the client is.
    need_private_proxy()
    size, rate = 2 * MB, 128 * 1024

    def slow(url):
        s, rest = raw_upgrade(url, rcvbuf=16384)
        s.sendall(exec_frame(f"head -c {size} /dev/zero | tr '\\000' x"))
        buf, got, ex, code, nread = bytearray(rest), 0, None, None, 0
        t0 = next_ping = time.time()
        s.settimeout(30)
        while code is None:
            for op, p in take_frames(buf):
                if op == 1:
                    m = json.loads(p)
                    got += len(m["data"]) if m["type"] == "stdout" else 0
                    ex = m if m["type"] == "exit" else ex
                elif op == 9:
                    s.sendall(ws_frame(10, p))
                elif op == 8:
                    code = int.from_bytes(p[:2], "big")
            if code is not None:
                break
            now = time.time()
            if nread > (now - t0) * rate:
                time.sleep(nread / rate - (now - t0))
            if now >= next_ping:  # our own liveness, whatever the interval
                s.sendall(ws_frame(9, b"alive"))
                next_ping = now + 1
            chunk = s.recv(8192)
            if not chunk:
                break
            nread += len(chunk)
            buf += chunk
        if code is not None:
            s.sendall(ws_frame(8, code.to_bytes(2, "big")))
            while s.recv(65536):
                pass
        s.close()
        return got, ex, code, time.time() - t0

    async with PrivateProxy() as px:
        got, ex, code, dt = await asyncio.get_running_loop().run_in_executor(None, slow, px.url)
    assert got == size and code == 1000, (got, code)
    assert ex is not None and ex["exit_code"] == 0, ex
    return f"{size / MB:.0f} MiB in {dt:.1f}s"


async def t_exit_with_stdin_pending_closes_promptly():
    # stdin the command never reads fills the agent's queue, so the proxy
    # holds a message back and stops reading; when the command exits, the
    # client's close reply must still be read at once
    async with websockets.connect(stream_url(), extra_headers=AUTH, max_size=None) as ws:
        await ws.send(json.dumps({"type": "exec",
                                  "command": "sleep 10 <&0 >/dev/null 2>&1 & sleep 2"}))

        async def feed():
            try:
                for _ in range(64):
                    await ws.send(b"x" * (512 * 1024))
            except websockets.exceptions.ConnectionClosed:
                pass
        task = asyncio.create_task(feed())
        msgs, t_exit = [], None
        try:
            async for m in ws:
                msgs.append(json.loads(m))
                t_exit = time.time() if msgs[-1]["type"] == "exit" else t_exit
        except websockets.exceptions.ConnectionClosed:
            pass
        await ws.wait_closed()
        await task
    assert exit_of(msgs)["exit_code"] == 0 and ws.close_code == 1000, (msgs, ws.close_code)
    assert time.time() - t_exit < 2.5, f"closed {time.time() - t_exit:.1f}s after the exit"


async def t_hard_limit_on_stdin_ends_stream():
    # a message the agent's queue cannot take whole: the stream ends with
    # 1011 (part of it may be gone) instead of going on short of bytes
    need_private_proxy()
    async with PrivateProxy(max_message=16 * MB) as px:
        url = f"{px.url}/api/v1/sandbox/{SBX}/stream"
        async with websockets.connect(url, extra_headers=AUTH, max_size=None) as ws:
            await ws.send(json.dumps({"type": "exec", "command": "sleep 10"}))
            t0 = time.time()
            await ws.send(b"x" * (15 * MB))
            msgs = await asyncio.wait_for(collect(ws), 15)
    assert any(m["type"] == "error" for m in msgs), msgs
    assert ws.close_code == 1011 and time.time() - t0 < 5, (ws.close_code, msgs)


async def t_partial_frames_count_as_life():
    # a big message trickling in is a live client, whole frame or not
    need_private_proxy()
    async with PrivateProxy(ping_interval=1) as px:
        def trickle():
            s, rest = raw_upgrade(px.url)
            s.sendall(exec_frame("cat"))
            frame = ws_frame(2, b"0123456789abcdefghij")
            s.sendall(frame[:6])
            for b in frame[6:]:  # 5 s for 20 bytes: past 3 ping intervals
                time.sleep(0.25)
                s.sendall(bytes([b]))
            s.sendall(ws_frame(1, b'{"type":"stdin_close"}'))
            buf, out, ex, code = bytearray(rest), b"", None, None
            s.settimeout(10)
            while code is None:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                for op, p in take_frames(buf):
                    if op == 1:
                        m = json.loads(p)
                        out += m["data"].encode() if m["type"] == "stdout" else b""
                        ex = m if m["type"] == "exit" else ex
                    elif op == 8:
                        code = int.from_bytes(p[:2], "big")
            s.close()
            return out, ex, code
        out, ex, code = await asyncio.get_running_loop().run_in_executor(None, trickle)
    assert out == b"0123456789abcdefghij" and ex and code == 1000, (out, ex, code)


def unread_by_proxy(port, s):
    """Bytes the proxy's end of client socket s has received but not read."""
    me = "%04X" % s.getsockname()[1]
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        if f[1].endswith(":%04X" % port) and f[2].endswith(":" + me):
            return int(f[4].split(":")[1], 16)
    return 0


async def t_fin_while_stdin_pending_does_not_spin():
    # a client's FIN while the proxy is not reading it (stdin held back):
    # the proxy waits, it does not poll the half-closed socket in a loop
    need_private_proxy()
    async with PrivateProxy() as px:
        def fill_then_fin():
            s, _ = raw_upgrade(px.url)
            s.sendall(exec_frame("sleep 10"))
            frame = ws_frame(2, b"x" * 65536)
            # frame by frame until the proxy stops reading: everything sent
            # is then in its socket, and a FIN gets through
            for _ in range(1024):
                s.sendall(frame)
                t0 = time.time()
                while unread_by_proxy(px.port, s) > 0 and time.time() - t0 < 0.3:
                    time.sleep(0.01)
                if unread_by_proxy(px.port, s) > 0:
                    break
            else:
                raise AssertionError("the proxy never held stdin back")
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.3)
            c0 = cpu_seconds(px.proc.pid)
            time.sleep(2)
            used = cpu_seconds(px.proc.pid) - c0
            s.close()
            return used
        used = await asyncio.get_running_loop().run_in_executor(None, fill_then_fin)
    assert used < 0.5, f"proxy used {used:.2f}s of CPU in 2s while idle"


async def t_out_of_fds_does_not_spin():
    # accept failing for want of descriptors: the proxy waits for the next
    # tick instead of spinning on a listening socket that stays readable
    need_private_proxy()
    async with PrivateProxy(nofile=24) as px:
        def exhaust():
            held = [socket.create_connection(("127.0.0.1", px.port)) for _ in range(40)]
            time.sleep(0.3)
            c0 = cpu_seconds(px.proc.pid)
            time.sleep(2)
            used = cpu_seconds(px.proc.pid) - c0
            for h in held:
                h.close()
            time.sleep(0.2)
            s = socket.create_connection(("127.0.0.1", px.port))
            s.settimeout(5)
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            head = s.recv(4096)
            s.close()
            return used, head
        used, head = await asyncio.get_running_loop().run_in_executor(None, exhaust)
    lines = px.log.count(b"accept failed")
    assert used < 0.5, f"proxy used {used:.2f}s of CPU in 2s ({lines} accept failures logged)"
    assert lines < 20, lines
    assert head.startswith(b"HTTP/1.1 4"), head


async def t_too_many_streams_503():
    need_private_proxy()
    async with PrivateProxy(max_conns=1) as px:
        def busy():
            first = socket.create_connection(("127.0.0.1", px.port))  # holds the only slot
            first.settimeout(0.3)
            try:
                assert not first.recv(1), "the first connection was refused"
            except socket.timeout:
                pass
            s = socket.create_connection(("127.0.0.1", px.port))
            s.settimeout(5)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            first.close()
            return data
        data = await asyncio.get_running_loop().run_in_executor(None, busy)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503"), head
    length = [int(h.split(b":")[1]) for h in head.split(b"\r\n")
              if h.lower().startswith(b"content-length:")]
    assert length == [len(body)], (length, body)
    assert json.loads(body)["error"]["code"] == "unavailable", body


TESTS = [t_exec_shell_string, t_exec_argv_env_cwd, t_stdin_roundtrip, t_binary_output_is_base64,
         t_utf8_split_stays_text, t_order_per_stream, t_signal, t_signal_number_out_of_range,
         t_timeout, t_tty_size_and_resize, t_tty_ctrl_c_reaches_foreground, t_channel_subprotocol, t_refusals_before_upgrade,
         t_stream_token, t_bad_first_message, t_oversized_message_1009,
         t_protocol_errors_close_codes, t_client_gone_kills_command, t_detach_attach_signal,
         t_detach_attach_stdin, t_detach_unattached_exit_is_reaped, t_detach_message_keeps_command,
         t_attach_bogus_or_not_detached_pid, t_json_mode_binary_exact,
         t_reply_flood_stays_bounded, t_slow_reader_gets_everything,
         t_exit_with_stdin_pending_closes_promptly, t_hard_limit_on_stdin_ends_stream,
         t_partial_frames_count_as_life, t_fin_while_stdin_pending_does_not_spin,
         t_out_of_fds_does_not_spin, t_too_many_streams_503, t_100_streams_10mib_byte_exact]


async def main():
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        try:
            note = await asyncio.wait_for(t(), 120)
            passed += 1
            print(f"ok   {t.__name__}" + (f"  ({note})" if note else ""), flush=True)
        except Skip as e:
            skipped += 1
            print(f"skip {t.__name__}  ({e})", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__}\n" + traceback.format_exc(), flush=True)
    print(f"python: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


sys.exit(asyncio.run(main()))
