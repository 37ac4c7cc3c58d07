#!/usr/bin/env python3
"""Files in sandboxes: every endpoint and failure, and hostile cases against
real sandboxes (symlinks to host data, .. paths, a symlink swapped in a race,
a full /workspace, an oversized upload)."""
import base64
import glob
import http.client
import json
import os
import random
import socket
import time
import urllib.parse

from harness import (URL, STATE, check, cleanup, delete, expect, get, main, new_key, post,
                     psql, request, test)

_keys = []
_turn = [0]
_created = []
_shared = []
KEYRING = 30


def key():
    """A key of the suite's org. The suite makes a few thousand requests and
    the stack rate-limits per key, so they take turns over a ring of keys."""
    if not _keys:
        admin = new_key()
        _keys.append(admin)
        for i in range(KEYRING - 1):
            _keys.append(expect(post("/api/v1/api-keys", {"name": "files%d" % i}, key=admin),
                                201)["key"])
    _turn[0] += 1
    return _keys[_turn[0] % len(_keys)]


def sandbox():
    """One running sandbox shared by the tests that do not break it."""
    if not _shared:
        _shared.append(create())
    return _shared[0]


def create(k=None, body=None):
    r = expect(post("/api/v1/sandbox/create", body or {}, key=k or key()), 201)
    _created.append(r["sandbox_id"])
    return r["sandbox_id"]


def sh(sid, cmd, k=None, timeout=120):
    return expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": cmd, "timeout": timeout},
                       key=k or key(), timeout=timeout + 30), 200)


def q(path, **extra):
    d = {"path": path}
    d.update(extra)
    return urllib.parse.urlencode(d)


def write(sid, files, status=200, code=None, k=None):
    return expect(post("/api/v1/sandbox/%s/files" % sid, {"files": files}, key=k or key(),
                       timeout=120), status, code)


def read(sid, path, status=200, code=None, k=None):
    return expect(get("/api/v1/sandbox/%s/files?%s" % (sid, q(path)), key=k or key()),
                  status, code)


def read_raw(sid, path, k=None):
    return request("GET", "/api/v1/sandbox/%s/files?%s" % (sid, q(path, encoding="raw")),
                   key=k or key(), timeout=120)


def put_raw(sid, path, data, k=None, extra=""):
    return request("PUT", "/api/v1/sandbox/%s/files?%s%s" % (sid, q(path), extra), raw=data,
                   key=k or key(), headers={"Content-Type": "application/octet-stream"},
                   timeout=300)


def b64(b):
    return base64.b64encode(b).decode()


def agent_socket(sid):
    return os.path.join(STATE, "box", "run", sid + ".sock")


# ---- endpoints -------------------------------------------------------------------


@test
def write_and_read_text_and_binary():
    sid = sandbox()
    blob = bytes(range(256)) * 10
    out = write(sid, [{"path": "/workspace/hello.py", "content": b64(b'print("Hello!")')},
                      {"path": "data/blob.bin", "content": b64(blob), "mode": "0600"},
                      {"path": "notes.txt", "content": "héllo\n", "encoding": "utf8"}])
    check(out["files"] == [{"path": "/workspace/hello.py", "size": 15},
                           {"path": "/workspace/data/blob.bin", "size": 2560},
                           {"path": "/workspace/notes.txt", "size": 7}], out)
    f = read(sid, "/workspace/hello.py")
    check(base64.b64decode(f["content"]) == b'print("Hello!")' and f["size"] == 15, f)
    check(f["mode"] == "0644" and f["modified_at"].endswith("Z"), f)
    f = read(sid, "/workspace/data/blob.bin")
    check(base64.b64decode(f["content"]) == blob and f["mode"] == "0600", f)
    check(read(sid, "notes.txt")["content"] == b64("héllo\n".encode()))
    r = sh(sid, "cat /workspace/hello.py; stat -c '%U %a' /workspace/data/blob.bin")
    check(r["stdout"] == 'print("Hello!")sandbox 600\n' or r["stdout"].startswith('print("Hello!")'), r)
    raw = read_raw(sid, "data/blob.bin")
    check(raw.status == 200 and raw.body == blob, raw)
    check(raw.headers["Content-Type"] == "application/octet-stream", raw.headers)
    acc = request("GET", "/api/v1/sandbox/%s/files?%s" % (sid, q("data/blob.bin")), key=key(),
                  headers={"Accept": "application/octet-stream"})
    check(acc.status == 200 and acc.body == blob, acc)


@test
def single_file_body_and_overwrite_and_event():
    sid = sandbox()
    expect(post("/api/v1/sandbox/%s/files" % sid, {"path": "one.txt", "content": "first",
                                                   "encoding": "utf8"}, key=key()), 200)
    expect(post("/api/v1/sandbox/%s/files" % sid, {"path": "one.txt", "content": b64(b"2nd")},
                key=key()), 200)
    check(base64.b64decode(read(sid, "one.txt")["content"]) == b"2nd")
    rows = psql("SELECT payload::text FROM events WHERE sandbox_id = '%s' AND type = 'file.written'"
                % sid)
    check(any("one.txt" in r[0] for r in rows), rows)


@test
def all_or_nothing():
    sid = sandbox()
    sh(sid, "mkdir -p /workspace/aon/dir")
    # the second target is a directory: neither file may appear
    write(sid, [{"path": "aon/a.txt", "content": b64(b"a")},
                {"path": "aon/dir", "content": b64(b"b")}], 400)
    read(sid, "aon/a.txt", 404)
    ls = sh(sid, "ls -A /workspace/aon")
    check(ls["stdout"] == "dir\n", ls)
    # bad base64 in the last file: nothing is written either
    write(sid, [{"path": "aon/b.txt", "content": b64(b"b")},
                {"path": "aon/c.txt", "content": "@@@"}], 400)
    read(sid, "aon/b.txt", 404)


@test
def raw_put_streams_and_get():
    sid = sandbox()
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = put_raw(sid, "big/raw.bin", data, extra="&mode=0640")
    check(r.status == 200 and r.json() == {"path": "/workspace/big/raw.bin", "size": len(data)}, r)
    got = read_raw(sid, "/workspace/big/raw.bin")
    check(got.status == 200 and got.body == data, "raw round trip differs")
    st = expect(get("/api/v1/sandbox/%s/files/stat?%s" % (sid, q("big/raw.bin")), key=key()), 200)
    check(st["type"] == "file" and st["size"] == len(data) and st["mode"] == "0640", st)
    empty = put_raw(sid, "empty.bin", b"")
    check(empty.status == 200 and read_raw(sid, "empty.bin").body == b"", empty)


@test
def list_stat_mkdir_move_delete():
    sid = sandbox()
    expect(post("/api/v1/sandbox/%s/files/mkdir" % sid, {"path": "tree/a/b"}, key=key()), 200)
    expect(post("/api/v1/sandbox/%s/files/mkdir" % sid, {"path": "tree/a/b"}, key=key()), 200)
    write(sid, [{"path": "tree/a/b/f.txt", "content": b64(b"xyz")},
                {"path": "tree/top.txt", "content": b64(b"t")}])
    sh(sid, "ln -s top.txt /workspace/tree/link")
    ls = expect(get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("tree")), key=key()), 200)
    names = sorted(e["name"] for e in ls["entries"])
    check(names == ["a", "link", "top.txt"], ls)
    link = [e for e in ls["entries"] if e["name"] == "link"][0]
    check(link["type"] == "symlink" and link["symlink_target"] == "top.txt"
          and link["path"] == "/workspace/tree/link", link)
    deep = expect(get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("tree", depth=3)),
                      key=key()), 200)
    f = [e for e in deep["entries"] if e["path"] == "/workspace/tree/a/b/f.txt"]
    check(len(f) == 1 and f[0]["size"] == 3 and f[0]["type"] == "file", deep)
    st = expect(get("/api/v1/sandbox/%s/files/stat?%s" % (sid, q("/workspace/tree/a")),
                    key=key()), 200)
    check(st["type"] == "dir" and st["name"] == "a", st)
    expect(post("/api/v1/sandbox/%s/files/move" % sid, {"from": "tree/top.txt",
                                                        "to": "tree/moved/top2.txt"},
                key=key()), 200)
    read(sid, "tree/top.txt", 404)
    check(base64.b64decode(read(sid, "tree/moved/top2.txt")["content"]) == b"t")
    expect(delete("/api/v1/sandbox/%s/files?%s" % (sid, q("tree/a")), key=key()), 409)
    expect(delete("/api/v1/sandbox/%s/files?%s" % (sid, q("tree/moved/top2.txt")), key=key()),
           200)
    expect(delete("/api/v1/sandbox/%s/files?%s" % (sid, q("tree", recursive="true")),
                  key=key()), 200)
    expect(get("/api/v1/sandbox/%s/files/stat?%s" % (sid, q("tree")), key=key()), 404)
    expect(delete("/api/v1/sandbox/%s/files?%s" % (sid, q("tree")), key=key()), 404)


@test
def bad_paths_and_errors():
    sid = sandbox()
    base = "/api/v1/sandbox/%s/files" % sid
    expect(get(base + "?path=", key=key()), 400)
    expect(get(base, key=key()), 400)
    expect(get(base + "?path=a%00b", key=key()), 400)
    expect(get(base + "?" + q("a" * 4096), key=key()), 400)
    write(sid, [{"path": "", "content": ""}], 400)
    write(sid, [{"path": "x\u0000y", "content": ""}], 400)
    write(sid, [{"path": "x" * 4096, "content": ""}], 400)
    write(sid, [{"path": "ok.txt", "content": "", "encoding": "rot13"}], 400)
    write(sid, [{"path": "ok.txt", "content": "", "mode": 99999}], 400)
    read(sid, "no/such/file", 404, "not_found")
    read(sid, "/workspace", 400)
    read(sid, ".", 400)
    # permission: a root-owned read-only file and a directory of the image
    shadow = get(base + "?" + q("/etc/shadow"), key=key())
    check(shadow.status in (403, 404) and b"root:" not in shadow.body, shadow)
    write(sid, [{"path": "/etc/evil", "content": b64(b"x")}], 403)
    write(sid, [{"path": "/usr/bin/evil", "content": b64(b"x")}], 403)
    sh(sid, "mkdir -p /workspace/locked && echo s > /workspace/locked/s && chmod 000 "
            "/workspace/locked/s")
    read(sid, "locked/s", 403, "forbidden")
    # another org's sandbox is a 404, a stopped one 409
    other = new_key()
    read(sid, "hello.py", 404, k=other)
    sid2 = create()
    expect(post("/api/v1/sandbox/%s/stop" % sid2, key=key()), 200)
    read(sid2, "x", 409)
    write(sid2, [{"path": "x", "content": ""}], 409)
    check(put_raw(sid2, "x", b"abc").status == 409)


def strict_json(resp):
    """The body decoded as UTF-8 with no replacement, then parsed."""
    return json.loads(resp.body.decode("utf-8", errors="strict"))


@test
def paths_are_absolute_and_modes_octal_strings_everywhere():
    sid = sandbox()
    base = "/api/v1/sandbox/%s/files" % sid
    k = key()
    mk = expect(post(base + "/mkdir", {"path": "abs/x/y"}, key=k), 200)
    check(mk["path"] == "/workspace/abs/x/y", mk)
    w = write(sid, [{"path": "abs/x/y/../z.txt", "content": b64(b"z"), "mode": "0640"},
                    {"path": "/workspace//abs/./top.txt", "content": b64(b"t")}], k=k)
    check([f["path"] for f in w["files"]] == ["/workspace/abs/x/z.txt", "/workspace/abs/top.txt"],
          w)
    p = put_raw(sid, "abs/raw.bin", b"raw", k=k)
    check(p.status == 200 and p.json()["path"] == "/workspace/abs/raw.bin", p)
    f = read(sid, "abs/x/z.txt", k=k)
    check(f["path"] == "/workspace/abs/x/z.txt" and f["mode"] == "0640", f)
    st = expect(get(base + "/stat?" + q("abs/top.txt"), key=k), 200)
    check(st["path"] == "/workspace/abs/top.txt" and st["mode"] == "0644", st)
    ls = expect(get(base + "/list?" + q("abs", depth=3), key=k), 200)
    check(ls["path"] == "/workspace/abs", ls)
    check(all(e["path"].startswith("/workspace/abs/") for e in ls["entries"]), ls)
    check(all(isinstance(e["mode"], str) and len(e["mode"]) == 4 and e["mode"][0] == "0"
              and int(e["mode"], 8) <= 0o7777 for e in ls["entries"]), ls)
    mv = expect(post(base + "/move", {"from": "abs/raw.bin", "to": "abs/x/raw2.bin"}, key=k), 200)
    check(mv == {"from": "/workspace/abs/raw.bin", "to": "/workspace/abs/x/raw2.bin"}, mv)
    rm = expect(delete(base + "?" + q("abs/x/raw2.bin"), key=k), 200)
    check(rm["path"] == "/workspace/abs/x/raw2.bin", rm)
    ev = psql("SELECT payload->'data'->'paths' FROM events WHERE sandbox_id = '%s' AND type = "
              "'file.written' AND payload::text LIKE '%%abs/%%' ORDER BY created_at" % sid)
    check([json.loads(r[0]) for r in ev] == [["/workspace/abs/x/z.txt", "/workspace/abs/top.txt"],
                                             ["/workspace/abs/raw.bin"]], ev)
    expect(delete(base + "?" + q("abs", recursive="true"), key=k), 200)


def written_events(sid):
    return int(psql("SELECT count(*) FROM events WHERE sandbox_id = '%s' AND type = "
                    "'file.written'" % sid)[0][0])


@test
def a_path_that_is_not_utf8_is_refused_before_anything_is_written():
    sid = sandbox()
    k = key()
    before = written_events(sid)
    r = request("PUT", "/api/v1/sandbox/%s/files?path=bad%%ff%%fe" % sid, raw=b"hello", key=k,
                headers={"Content-Type": "application/octet-stream"})
    expect(r, 400, "invalid_request")
    check("UTF-8" in strict_json(r)["error"]["message"], r)
    raw = b'{"path": "bad\xff.txt", "content": ""}'
    r = request("POST", "/api/v1/sandbox/%s/files" % sid, raw=raw, key=k,
                headers={"Content-Type": "application/json"})
    expect(r, 400, "invalid_request")
    strict_json(r)
    ls = sh(sid, "ls /workspace | od -c | grep -c 377 || true", k=k)
    check(ls["stdout"].strip() == "0", ls)
    check(written_events(sid) == before, "an event for a refused write")
    # A name that is not UTF-8 made inside the sandbox still lists as valid
    # JSON (U+FFFD in the name).
    sh(sid, "mkdir -p /workspace/u8 && touch \"/workspace/u8/$(printf 'n\\377')\"", k=k)
    ls = get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("u8")), key=k)
    check(ls.status == 200 and strict_json(ls)["entries"][0]["name"] == "n\ufffd", ls)


@test
def a_write_whose_event_cannot_be_recorded_fails_and_writes_nothing():
    sid = create()
    k = key()
    # Make the outbox refuse this sandbox's file.written, as a full disk or a
    # dropped connection would.
    fn = "sp_test_refuse_" + sid
    psql("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.sandbox_id = "
         "'%s' AND NEW.type = 'file.written' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
         "RETURN NEW; END $$; CREATE TRIGGER %s BEFORE INSERT ON events FOR EACH ROW EXECUTE "
         "FUNCTION %s()" % (fn, sid, fn, fn))
    try:
        r = put_raw(sid, "ev/put.txt", b"data", k=k)
        check(r.status >= 500 and "file.written" in r.json()["error"]["message"], r)
        w = request("POST", "/api/v1/sandbox/%s/files" % sid, key=k,
                    body={"files": [{"path": "post.txt", "content": b64(b"p")}]})
        check(w.status >= 500, w)
        read(sid, "ev/put.txt", 404, k=k)
        read(sid, "post.txt", 404, k=k)
    finally:
        psql("DROP TRIGGER %s ON events; DROP FUNCTION %s()" % (fn, fn))
    # and with the outbox back, the same write succeeds with its event
    check(put_raw(sid, "post.txt", b"ok", k=k).status == 200)
    check(written_events(sid) == 1, written_events(sid))


# ---- hostile cases ----------------------------------------------------------------


def host_shadow():
    try:
        with open("/etc/shadow", "rb") as f:
            return f.read()
    except OSError:
        return b"root:"


def never_host_data(resp, *needles):
    body = resp.body or b""
    for n in needles:
        check(not n or n not in body, "host data leaked through %r" % resp)


@test
def symlinks_to_host_data_yield_nothing():
    sid = sandbox()
    shadow = host_shadow()[:40]
    other = create()
    secret = "secret-%d" % random.randrange(1 << 60)
    write(other, [{"path": "secret.txt", "content": secret, "encoding": "utf8"}])
    pid = sh(other, "echo $$")["stdout"].strip()
    state = STATE or "/nonexistent-state"
    targets = {
        "shadow": "/etc/shadow",
        "environ": "/proc/1/environ",
        "selfenv": "/proc/self/environ",
        "selfmem": "/proc/self/mem",
        "state": state + "/keys/bootstrap.key",
        "statedir": state,
        "other": "/proc/%s/root/workspace/secret.txt" % pid,
        "dotdot": "../../../../../../etc/shadow",
    }
    script = "mkdir -p /workspace/ln && cd /workspace/ln && " + " && ".join(
        "ln -sfn '%s' %s && ln -sfn '%s' /tmp/%s" % (t, n, t, n) for n, t in targets.items())
    r = sh(sid, script)
    check(r["exit_code"] == 0, r)
    key_bytes = open(os.path.join(state, "keys/bootstrap.key"), "rb").read() \
        if os.path.exists(os.path.join(state, "keys/bootstrap.key")) else b""
    for name in targets:
        for path in ("ln/" + name, "/workspace/ln/" + name, "/tmp/" + name):
            for raw in (False, True):
                resp = (read_raw(sid, path) if raw else
                        get("/api/v1/sandbox/%s/files?%s" % (sid, q(path)), key=key()))
                check(resp.status in (400, 403, 404), "%s: %r" % (path, resp))
                never_host_data(resp, shadow, secret.encode(), key_bytes[:20])
        lst = get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("/tmp/" + name)), key=key())
        never_host_data(lst, shadow, secret.encode())
    # writing through them replaces the link inside the sandbox, or stays inside it
    marker = "pwned-%d" % random.randrange(1 << 60)
    for name in targets:
        for path in ("ln/" + name, "ln/%s/pwned" % name, "/tmp/%s/pwned" % name):
            resp = post("/api/v1/sandbox/%s/files" % sid,
                        {"path": path, "content": marker, "encoding": "utf8"}, key=key())
            check(resp.status in (200, 400, 403, 404, 409), "%s: %r" % (path, resp))
    check(not os.path.exists(os.path.join(state, "pwned")), "wrote into the host state dir")
    check(marker.encode() not in open("/etc/shadow", "rb").read() if os.path.exists("/etc/shadow")
          else True)
    again = read(other, "secret.txt")
    check(base64.b64decode(again["content"]).decode() == secret, again)
    expect(post("/api/v1/sandbox/%s/stop" % other, key=key()), 200)


@test
def dotdot_and_pseudo_filesystems_are_confined():
    sid = sandbox()
    r = get("/api/v1/sandbox/%s/files?%s" % (sid, q("../../../etc/shadow")), key=key())
    check(r.status == 404, r)
    name = "escape-%d" % random.randrange(1 << 60)
    out = write(sid, [{"path": "../../../../tmp/" + name, "content": b64(b"x")}])
    check(out["files"][0]["size"] == 1, out)
    check(not os.path.exists("/tmp/" + name), "a .. path wrote on the host")
    # confined: the file is inside /workspace
    found = sh(sid, "ls /workspace/tmp/%s && ! ls /tmp/%s 2>/dev/null" % (name, name))
    check(found["exit_code"] == 0, found)
    for path in ("/proc/self/environ", "/proc/1/environ", "/proc/1/mem", "/sys/kernel/notes",
                 "/dev/null", "/dev/zero", "/tmp/../proc/self/environ", "//proc/self/status"):
        r = get("/api/v1/sandbox/%s/files?%s" % (sid, q(path)), key=key())
        check(r.status in (403, 404), "%s: %r" % (path, r))
        r = post("/api/v1/sandbox/%s/files" % sid, {"path": path, "content": ""}, key=key())
        check(r.status in (403, 404), "%s: %r" % (path, r))
    lst = get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("/proc")), key=key())
    check(lst.status == 403, lst)
    # a FIFO planted at the path neither hangs the read nor is read
    sh(sid, "mkfifo /workspace/fifo")
    t0 = time.monotonic()
    r = get("/api/v1/sandbox/%s/files?%s" % (sid, q("fifo")), key=key())
    check(r.status == 403 and time.monotonic() - t0 < 5, r)


@test
def symlink_swapped_in_a_race_never_writes_outside():
    sid = create()
    outside = os.path.join(STATE or "/tmp", "race-target")
    os.makedirs(outside, exist_ok=True)
    os.chmod(outside, 0o777)
    # inside: d flips between a directory and symlinks to the host path, /etc and /
    loop = ("mkdir -p /workspace/race && cd /workspace/race && "
            "(while :; do rm -rf d; ln -s '%s' d; rm -f d; ln -s /etc d; rm -f d; "
            "ln -s / d; rm -f d; mkdir d; done) >/dev/null 2>&1 &" % outside)
    check(sh(sid, loop)["exit_code"] == 0)
    statuses = {}
    for i in range(1000):
        r = post("/api/v1/sandbox/%s/files" % sid,
                 {"path": "race/d/f%d" % i, "content": b64(b"r%d" % i)}, key=key())
        statuses[r.status] = statuses.get(r.status, 0) + 1
        check(r.status in (200, 400, 403, 404, 409), r)
    check(statuses.get(200, 0) > 0, statuses)
    check(os.listdir(outside) == [], "writes landed outside: %r" % os.listdir(outside)[:5])
    leaked = [p for p in glob.glob("/etc/f[0-9]*") + glob.glob("/f[0-9]*")]
    check(leaked == [], leaked)
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key()), 200)


@test
def full_workspace_is_507_and_the_sandbox_keeps_working():
    sid = create()
    r = sh(sid, "dd if=/dev/zero of=/workspace/fill bs=1M 2>/dev/null; df -k /workspace | tail -1")
    resp = post("/api/v1/sandbox/%s/files" % sid,
                {"path": "more.bin", "content": b64(os.urandom(2 * 1024 * 1024))}, key=key())
    expect(resp, 507)
    raw = put_raw(sid, "more2.bin", os.urandom(4 * 1024 * 1024))
    expect(raw, 507)
    ls = sh(sid, "ls -A /workspace")
    check(ls["stdout"] == "fill\n", ls)  # no temporaries left behind
    check(sh(sid, "rm /workspace/fill && echo ok")["stdout"] == "ok\n")
    write(sid, [{"path": "after.txt", "content": b64(b"fine")}])
    check(base64.b64decode(read(sid, "after.txt")["content"]) == b"fine")
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key()), 200)


def api_worker_rss_kb():
    total = 0
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                cmd = f.read()
            if b"sandpit-api" not in cmd.split(b"\0")[0]:
                continue
            with open(d + "/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def raw_upload(sid, total, chunked=False, chunk=1 << 20):
    """Send a PUT of total bytes over a plain socket, stop when the server
    answers; returns (status, seconds, bytes sent)."""
    u = urllib.parse.urlparse(URL)
    s = socket.create_connection((u.hostname, u.port), timeout=60)
    path = "/api/v1/sandbox/%s/files?%s" % (sid, q("huge.bin"))
    head = ("PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: ApiKey %s\r\n"
            "Content-Type: application/octet-stream\r\n" % (path, u.netloc, key()))
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "Content-Length: %d\r\n\r\n" % total
    t0 = time.monotonic()
    s.sendall(head.encode())
    block = b"\0" * chunk
    sent = 0
    s.setblocking(False)
    resp = b""
    while sent < total:
        try:
            resp += s.recv(65536)
            if b"\r\n\r\n" in resp:
                break
        except BlockingIOError:
            pass
        except OSError:
            break
        data = (b"%x\r\n" % len(block) + block + b"\r\n") if chunked else block
        try:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(data)
            sent += len(block)
            s.setblocking(False)
        except OSError:
            break
    s.setblocking(True)
    s.settimeout(30)
    try:
        while b"\r\n\r\n" not in resp:
            more = s.recv(65536)
            if not more:
                break
            resp += more
    except OSError:
        pass
    s.close()
    status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/") else 0
    return status, time.monotonic() - t0, sent


@test
def oversized_upload_is_413_quickly_with_flat_memory():
    sid = sandbox()
    before = api_worker_rss_kb()
    status, secs, sent = raw_upload(sid, 1 << 30)
    check(status == 413 and secs < 5, "status %d after %.1f s, %d bytes" % (status, secs, sent))
    # (a chunked body is not tested here: Caddy buffers chunked request bodies
    # before FastCGI sees them; files_put caps them by counting all the same)
    after = api_worker_rss_kb()
    check(after - before < 64 * 1024, "worker RSS grew %d kB" % (after - before))
    ls = sh(sid, "ls -A /workspace | grep -c sandpit-put || true")
    check(ls["stdout"].strip() == "0", ls)
    read(sid, "huge.bin", 404)


@test
def thousand_random_binary_files_round_trip():
    sid = create()
    rnd = random.Random(4)
    files = {"rt/%d/%d.bin" % (i % 10, i): os.urandom(rnd.randrange(0, 16384)) for i in range(1000)}
    items = list(files.items())
    for i in range(0, 1000, 100):
        write(sid, [{"path": p, "content": b64(b)} for p, b in items[i:i + 100]])
    for p, b in items:
        r = read_raw(sid, p)
        check(r.status == 200 and r.body == b, "%s differs (status %d)" % (p, r.status))
    lst = expect(get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("rt", depth=2)), key=key()),
                 200)
    check(len([e for e in lst["entries"] if e["type"] == "file"]) == 1000, len(lst["entries"]))
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key()), 200)


@test
def recursive_list_of_root_stays_out_of_proc_and_sys():
    sid = sandbox()
    for depth in (2, 3):
        ls = expect(get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("/", depth=depth)),
                        key=key()), 200)
        paths = [e["path"] for e in ls["entries"]]
        inside = [p for p in paths if p.startswith(("/proc/", "/sys/"))]
        check(inside == [], "depth %d listed %r" % (depth, inside[:5]))
        # depth 2 cannot hit the entry cap: the walk did reach the top level
        check(depth != 2 or ("/proc" in paths and "/workspace" in paths), paths[:20])


@test
def large_get_after_stat_is_byte_exact():
    # (the helper used to keep the idle alarm of its wait for the request
    # across a long transfer; the API opens one connection per request, so
    # through it this checks the transfer, not that stale alarm)
    sid = sandbox()
    data = os.urandom(64 * 1024 * 1024)
    check(put_raw(sid, "big64.bin", data).status == 200)
    st = expect(get("/api/v1/sandbox/%s/files/stat?%s" % (sid, q("big64.bin")), key=key()), 200)
    check(st["size"] == len(data), st)
    got = read_raw(sid, "big64.bin")
    check(got.status == 200 and len(got.body) == len(data) and got.body == data,
          "64 MiB read back differs (%d bytes)" % len(got.body or b""))
    expect(delete("/api/v1/sandbox/%s/files?%s" % (sid, q("big64.bin")), key=key()), 200)


IDLE_SECONDS = 120  # tools/agent/fio.c


def stalled(method, sid, path, length=None, rcvbuf=None):
    """An HTTP request sent over a plain socket; the caller then sends part of
    the body, or reads a little of the answer, and goes quiet."""
    u = urllib.parse.urlparse(URL)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect((u.hostname, u.port))
    head = "%s /api/v1/sandbox/%s/files?%s HTTP/1.1\r\nHost: %s\r\nAuthorization: ApiKey %s\r\n" \
        % (method, sid, path, u.netloc, key())
    if length is not None:
        head += "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % length
    s.sendall((head + "\r\n").encode())
    return s


def helpers(marker):
    """File helpers alive in the sandbox that holds the file marker: children
    of its agent that never exec, so they keep its name. Counted from the host:
    code in the sandbox runs in a PID namespace of its own."""
    procs = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(d + "/comm") as f:
                procs[int(d[6:])] = (f.read().strip(), ppid)
        except (OSError, ValueError, IndexError):
            pass
    agents = [p for p, (comm, ppid) in procs.items()
              if comm == "sandpit-agent" and procs.get(ppid, ("",))[0] != "sandpit-agent"
              and os.path.exists("/proc/%d/root%s" % (p, marker))]
    check(len(agents) == 1, "cannot find the sandbox's agent: %r" % agents)
    return sum(1 for comm, ppid in procs.values()
               if comm == "sandpit-agent" and ppid == agents[0])


def temporaries(sid):
    out = sh(sid, "ls -A /workspace/stall | grep -c '^\\.sandpit-put-.*\\.tmp$' || true")
    return int(out["stdout"].strip())


@test
def stalled_transfers_end_after_the_idle_window_leaving_nothing():
    # a host that goes quiet mid-put, and one that stops reading mid-get:
    # the helper of each must end within its idle window, and the put's
    # temporary must go with it (takes IDLE_SECONDS)
    sid = create()
    marker = "/workspace/stall/big-%d.bin" % random.randrange(1 << 60)
    sh(sid, "mkdir -p /workspace/stall && head -c 67108864 /dev/zero > " + marker)
    before = helpers(marker)
    put = stalled("PUT", sid, q("stall/new.bin"), length=8 << 20)
    put.sendall(b"\0" * (1 << 20))
    got = stalled("GET", sid, q(marker, encoding="raw"), rcvbuf=4096)
    check(got.recv(1024).startswith(b"HTTP/1.1 200"))
    try:
        deadline = time.monotonic() + 15
        while temporaries(sid) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        check(temporaries(sid) == 1, "the stalled put made no temporary")
        check(helpers(marker) == before + 2, "expected two busy helpers")
        time.sleep(IDLE_SECONDS + 10)
        left, alive = temporaries(sid), helpers(marker) - before
        check(left == 0 and alive == 0, "after the idle window: %d temporaries, %d helpers"
              % (left, alive))
    finally:
        put.close()
        got.close()
    read(sid, "stall/new.bin", 404)
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key()), 200)


@cleanup
def stop_what_the_suite_started():
    for sid in _created:
        expect(post("/api/v1/sandbox/%s/stop" % sid, key=key()), 200)


if __name__ == "__main__":
    main("files")
