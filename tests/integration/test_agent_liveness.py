#!/usr/bin/env python3
"""The agent (PID 1 of a sandbox) keeps accepting and serving connections
whatever the sandboxed code does to the processes it starts: a `kill -STOP -1`
loop that catches commands between fork and exec (and the file helpers),
output that a host never reads, a command whose background children keep its
pipes busy after it ended, a FIFO planted where a file is read.

Each test talks to the live stack's API and, for precise timing, straight to
the sandbox's agent socket ($STATE/box/run/<id>.sock, the wire format of
lib/agent/agentproto.h), so that what is measured is the agent and not the API's
worker pool. Bounds are ratios of a baseline measured in the same test, with
a floor that a loaded 2-core machine stays well under; the old agent missed
them by whole seconds (it waited up to 5 s per stopped command, in line)."""
import atexit
import concurrent.futures
import hashlib
import os
import socket
import struct
import subprocess
import time
import urllib.parse

from harness import STATE, check, expect, get, main, new_key, post, request, test

VERSION = 1
EXEC, STDIN_CLOSE, PS, PING = 1, 3, 7, 8
STARTED, OUTPUT, EXIT, PROCS, ERROR, PONG = 0x41, 0x42, 0x43, 0x44, 0x46, 0x47
T_FLAGS, T_TIMEOUT, T_ARG, T_ENV = 1, 2, 7, 8
T_PROC, T_PID, T_STATE, T_CMD, T_CODE, T_MSG = 10, 11, 14, 16, 17, 18
SHELL = 0x1
R_QUOTA, R_TIMEOUT = 7, 8
MAX_CONNS = 64  # tools/agent/conn.h
OUT_LIMIT = 8 << 20  # tools/agent/conn.h: a connection's send queue cap
EXEC_START_MS = 5000  # tools/agent/command.c: fork to exec
HOSTILE_TIMEOUT_MS = 8000  # past EXEC_START_MS: a start that never comes is reported as such


# ---- a minimal agent-protocol client -----------------------------------------


def tlv(tag, value):
    return struct.pack(">BI", tag, len(value)) + value


def tlvs(data):
    out, off = [], 0
    while off + 5 <= len(data):
        tag, n = struct.unpack_from(">BI", data, off)
        out.append((tag, data[off + 5:off + 5 + n]))
        off += 5 + n
    return out


class Agent:
    """One connection to a sandbox's agent."""

    def __init__(self, sid, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(os.path.join(STATE, "box", "run", sid + ".sock"))
        self.buf = b""

    def send(self, ftype, payload=b""):
        self.s.sendall(struct.pack(">BBHI", VERSION, ftype, 0, len(payload)) + payload)

    def frame(self):
        while True:
            if len(self.buf) >= 8:
                _, ftype, _, n = struct.unpack_from(">BBHI", self.buf)
                if len(self.buf) >= 8 + n:
                    payload = self.buf[8:8 + n]
                    self.buf = self.buf[8 + n:]
                    return ftype, payload
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise EOFError("the agent closed the connection")
            self.buf += chunk

    def exec(self, command, timeout_ms=0, env=None):
        """A shell string, or an argv list (run with the PATH search)."""
        argv = [command] if isinstance(command, str) else command
        flags = SHELL if isinstance(command, str) else 0
        self.send(EXEC, tlv(T_FLAGS, struct.pack(">I", flags)) +
                  tlv(T_TIMEOUT, struct.pack(">I", timeout_ms)) +
                  b"".join(tlv(T_ARG, a.encode()) for a in argv) +
                  b"".join(tlv(T_ENV, ("%s=%s" % kv).encode()) for kv in (env or {}).items()))

    def outcome(self):
        """Frames up to EXIT or ERROR: ("exit", stdout bytes, flags) or
        ("error", code, msg)."""
        out = b""
        while True:
            ftype, p = self.frame()
            if ftype == OUTPUT and p[:1] == b"\x01":
                out += p[1:]
            elif ftype == EXIT:
                return ("exit", out, struct.unpack_from(">iII", p)[2])
            elif ftype == ERROR:
                fields = dict(tlvs(p))
                return ("error", struct.unpack(">I", fields[T_CODE])[0],
                        fields.get(T_MSG, b"").decode(errors="replace"))

    def close(self):
        self.s.close()


def ping_ms(sid):
    """A fresh connection's PING round trip, in ms (connect included)."""
    t = time.perf_counter()
    a = Agent(sid)
    a.send(PING)
    check(a.frame()[0] == PONG, "no PONG")
    a.close()
    return (time.perf_counter() - t) * 1e3


def try_ping(sid):
    """True when a fresh connection is served; None when it is refused."""
    try:
        ping_ms(sid)
        return True
    except (EOFError, OSError, AssertionError):
        return None


def ps(sid):
    """[(pid, state, cmd)] of every process but the agent, from the agent."""
    a = Agent(sid)
    a.send(PS)
    ftype, p = a.frame()
    a.close()
    check(ftype == PROCS, "no PROCS")
    procs = []
    for tag, v in tlvs(p):
        if tag == T_PROC:
            f = dict(tlvs(v))
            procs.append((struct.unpack(">I", f[T_PID])[0], f[T_STATE].decode(),
                          f.get(T_CMD, b"").decode(errors="replace")))
    return procs


def wait_for(what, cond, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


# ---- through the API ---------------------------------------------------------


_created = []


def create(key, **body):
    sid = expect(post("/api/v1/sandbox/create", body, key=key), 201)["sandbox_id"]
    _created.append((key, sid))
    return sid


@atexit.register
def _stop_all():
    """A failed test leaves no sandbox (and no stop loop) running."""
    for key, sid in _created:
        try:
            post("/api/v1/sandbox/%s/stop" % sid, key=key, timeout=30)
        except Exception:
            pass


def execute(key, sid, command, timeout, env=None):
    body = {"command": command, "timeout": timeout}
    if env:
        body["env"] = env
    return post("/api/v1/sandbox/%s/execute" % sid, body, key=key, timeout=timeout + 60)


def list_ms(key, sid):
    t = time.perf_counter()
    expect(get("/api/v1/sandbox/%s/files/list?%s" % (sid, urllib.parse.urlencode(
        {"path": "/workspace"})), key=key, timeout=60), 200)
    return (time.perf_counter() - t) * 1e3


def stop(key, sid):
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)


def host_has(marker):
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return left.stdout.strip() != ""


def median(xs):
    return sorted(xs)[len(xs) // 2]


# The hostile loop: every builtin (no fork it would stop itself), a marker in
# its argv for ps/pgrep, and a flag file to end it.
STOPPER = ("setsid sh -c 'while [ ! -e /workspace/.enough ]; do kill -STOP -1 2>/dev/null; done' "
           "%s </dev/null >/dev/null 2>&1 &")


# A PATH the command's own search walks for a while between fork and exec, each
# failed execve a return to user space where a pending SIGSTOP lands: the stop
# loop then catches (nearly) every command before its exec, as a loop that
# watches for new pids would.
SLOW_PATH = {"PATH": ":".join(["/nonexistent/%d" % i for i in range(4000)] + ["/usr/bin", "/bin"])}


def start_stopper(key, sid, marker):
    # The loop stops this very shell too, so the execute may end by its
    # timeout; the loop has its own session and survives that.
    r = execute(key, sid, STOPPER % marker, 2)
    check(r.status == 200, r)
    wait_for("the stop loop", lambda: [p for p in ps(sid) if marker in p[2]])


def end_stopper(key, sid, marker):
    expect(post("/api/v1/sandbox/%s/files" % sid,
                {"path": "/workspace/.enough", "content": ""}, key=key, timeout=60), 200)
    wait_for("the stop loop to end", lambda: not [p for p in ps(sid) if marker in p[2]])


@test
def stop_all_loop_leaves_the_agent_serving():
    key = new_key()
    sid = create(key, cpus="2")
    marker = "liveness-stopper-%d" % os.getpid()
    base_ping = median([ping_ms(sid) for _ in range(9)])
    base_list = median([list_ms(key, sid) for _ in range(5)])
    start_stopper(key, sid, marker)

    # Commands fired at the agent while everything of the user gets stopped:
    # most are caught between fork and exec.
    hostile = []
    for _ in range(8):
        a = Agent(sid, timeout=EXEC_START_MS / 1e3 + 30)
        a.exec(["true"], timeout_ms=HOSTILE_TIMEOUT_MS, env=SLOW_PATH)
        hostile.append(a)
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        t0 = time.monotonic()
        outcomes = [pool.submit(a.outcome) for a in hostile]
        api = [pool.submit(execute, key, sid, ["true"], 3, SLOW_PATH) for _ in range(2)]
        # meanwhile the agent answers a fresh connection, and a file
        # request (a helper the stop loop must not be able to stop)
        pings = [ping_ms(sid) for _ in range(5)]
        lists = [list_ms(key, sid) for _ in range(3)]
        results = [f.result() for f in outcomes]
        hostile_s = time.monotonic() - t0
        api_results = [f.result() for f in api]
    for a in hostile:
        a.close()
    print("     ping %.1f -> max %.1f ms; list %.1f -> max %.1f ms; hostile done in %.1f s"
          % (base_ping, max(pings), base_list, max(lists), hostile_s), flush=True)
    # The agent never waits on a stopped command: each answer is a normal
    # round trip (the old agent made them wait 5 s per stopped command).
    check(max(pings) < max(20 * base_ping, 1500), ("ping", base_ping, pings))
    check(max(lists) < max(20 * base_list, 2500), ("list", base_list, lists))
    # Each hostile command ended cleanly: it either did not start (a timeout
    # saying so) or ran and ended (killed by its own timeout if stopped).
    for r in results:
        check(r[0] == "exit" or (r[1] == R_TIMEOUT and "did not start" in r[2]), r)
    check([r for r in results if r[0] == "error"],
          ("the loop caught no command before its exec: nothing was tested", results))
    check(hostile_s < (EXEC_START_MS + HOSTILE_TIMEOUT_MS) / 1e3 + 15, hostile_s)
    for r in api_results:
        check(r.status in (200, 504), r)
        if r.status == 504:
            check(r.json()["error"]["code"] == "timeout", r)

    end_stopper(key, sid, marker)
    # Nothing left: every command was killed and reaped (no stopped process,
    # no zombie), and the sandbox works and stops.
    wait_for("every command gone", lambda: ps(sid) == [] or None, 15)
    r = expect(execute(key, sid, "echo up", 30), 200)
    check(r["stdout"] == "up\n", r)
    stop(key, sid)


def read_ms(key, sid, path, status):
    t = time.perf_counter()
    r = request("GET", "/api/v1/sandbox/%s/files?%s" % (sid, urllib.parse.urlencode(
        {"path": path, "encoding": "raw"})), key=key, timeout=60)
    check(r.status == status, (path, r))
    return (time.perf_counter() - t) * 1e3, r.body


@test
def file_requests_under_stop_loop_are_served():
    # A file request runs in a helper with the sandbox user's rights; the
    # stop loop (the user's code) must not be able to stop it mid-request,
    # and a FIFO planted at the path must not hang it.
    key = new_key()
    sid = create(key)
    marker = "liveness-files-%d" % os.getpid()
    r = expect(execute(key, sid, "mkfifo /workspace/fifo && ln -s fifo /workspace/link && "
                       "head -c 16M /dev/urandom > /workspace/big && md5sum < /workspace/big",
                       30), 200)
    check(r["exit_code"] == 0, r)
    digest = r["stdout"].split()[0]
    base = median([read_ms(key, sid, "/workspace/big", 200)[0] for _ in range(3)])
    base_ping = median([ping_ms(sid) for _ in range(9)])
    start_stopper(key, sid, marker)
    took = []
    for _ in range(3):
        ms, body = read_ms(key, sid, "/workspace/big", 200)
        check(hashlib.md5(body).hexdigest() == digest, "a short or wrong read")
        took.append(ms)
        took.append(read_ms(key, sid, "/workspace/fifo", 403)[0])
        took.append(read_ms(key, sid, "/workspace/link", 403)[0])
        took.append(list_ms(key, sid))
    pings = [ping_ms(sid) for _ in range(5)]
    print("     read %.0f -> max %.0f ms; ping %.1f -> max %.1f ms"
          % (base, max(took), base_ping, max(pings)), flush=True)
    check(max(took) < max(10 * base, 5000), ("files", base, took))
    check(max(pings) < max(20 * base_ping, 1500), ("ping", base_ping, pings))
    # a sandbox whose code stops everything still stops, loop and all
    check(host_has(marker), "the loop is not running")
    stop(key, sid)
    wait_for("no process of the sandbox on the host", lambda: not host_has(marker), 15)


@test
def unread_output_does_not_stop_the_agent():
    key = new_key()
    sid = create(key)
    base_ping = median([ping_ms(sid) for _ in range(9)])
    # A host that starts a flood and never reads: its queue fills, the agent
    # stops reading that command (which then blocks in write) and serves the
    # others.
    flood = Agent(sid)
    flood.exec("yes liveness-flood")
    flood.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    wait_for("the flood", lambda: [p for p in ps(sid) if "liveness-flood" in p[2]])
    # until the agent's queue for it is full, its reads of the pipe stall
    wait_for("the flood to block", lambda: [p for p in ps(sid)
                                            if "liveness-flood" in p[2] and p[1] == "S"])
    pings = [ping_ms(sid) for _ in range(5)]
    check(max(pings) < max(20 * base_ping, 1500), ("ping", base_ping, pings))
    other = Agent(sid)
    other.exec("echo other")
    check(other.outcome()[:2] == ("exit", b"other\n"))
    other.close()
    # the host hanging up ends its command
    flood.close()
    wait_for("the flood to end", lambda: not [p for p in ps(sid) if "liveness-flood" in p[2]])
    stop(key, sid)


@test
def host_that_never_reads_is_dropped_at_the_queue_cap():
    key = new_key()
    sid = create(key)
    # A host that sends PINGs and never reads a PONG: the agent's send queue
    # for it is bounded (OUT_LIMIT, tools/agent/conn.h: 8 MiB, a million
    # PONGs); once a frame no longer fits, the agent drops the queue and
    # closes the connection (it neither grows without bound nor loses a frame
    # and carries on).
    hog = Agent(sid)
    hog.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    batch = struct.pack(">BBHI", VERSION, PING, 0, 0) * 8192
    sent, closed = 0, False
    while sent < 8 * OUT_LIMIT and not closed:
        try:
            hog.s.sendall(batch)
            sent += len(batch)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    check(closed, ("still open after %d MiB of unread PINGs" % (sent >> 20)))
    check(sent >= OUT_LIMIT, ("closed early", sent))
    hog.close()
    # the agent still serves everyone else
    check(try_ping(sid), "no PONG after the hog")
    stop(key, sid)


@test
def background_writers_do_not_hold_the_exit():
    key = new_key()
    sid = create(key, cpus="2")
    base_ping = median([ping_ms(sid) for _ in range(9)])
    # The command ends at once, leaving writers on its stdout: the EXIT comes
    # after a bounded drain, not when the writers stop (they never do).
    a = Agent(sid, timeout=60)
    t = time.perf_counter()
    a.exec("for i in 1 2 3 4; do yes liveness-writer & done; exit 3")
    out = a.outcome()
    took = time.perf_counter() - t
    check(out[0] == "exit", out)
    pings = [ping_ms(sid) for _ in range(5)]
    print("     exit after %.0f ms; ping %.1f -> max %.1f ms" % (took * 1e3, base_ping, max(pings)),
          flush=True)
    check(took < 10, took)
    check(max(pings) < max(20 * base_ping, 1500), ("ping", base_ping, pings))
    a.close()
    stop(key, sid)


@test
def full_agent_refuses_with_a_reason():
    key = new_key()
    sid = create(key)
    held = []
    for _ in range(MAX_CONNS):
        held.append(Agent(sid))
        held[-1].send(PING)
        check(held[-1].frame()[0] == PONG, "no PONG")
    # one too many hears why instead of a bare EOF
    extra = Agent(sid)
    ftype, p = extra.frame()
    check(ftype == ERROR and struct.unpack(">I", dict(tlvs(p))[T_CODE])[0] == R_QUOTA,
          (ftype, p))
    extra.close()
    held.pop().close()
    wait_for("a free connection slot", lambda: try_ping(sid), 10)
    for a in held:
        a.close()
    stop(key, sid)


if __name__ == "__main__":
    main("agent_liveness")
