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

from harness import (URL, STATE, check, delete, expect, get, main, new_key, post, psql,
                     request, test)

_key = None
_sbx = None


def key():
    global _key
    if _key is None:
        _key = new_key()
    return _key


def sandbox():
    """One running sandbox shared by the tests that do not break it."""
    global _sbx
    if _sbx is None:
        _sbx = create()
    return _sbx


def create(k=None, body=None):
    r = expect(post("/api/v1/sandbox/create", body or {}, key=k or key()), 201)
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
                           {"path": "data/blob.bin", "size": 2560},
                           {"path": "notes.txt", "size": 7}], out)
    f = read(sid, "/workspace/hello.py")
    check(base64.b64decode(f["content"]) == b'print("Hello!")' and f["size"] == 15, f)
    check(f["mode"] == 0o644 and f["modified_at"].endswith("Z"), f)
    f = read(sid, "/workspace/data/blob.bin")
    check(base64.b64decode(f["content"]) == blob and f["mode"] == 0o600, f)
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
    check(r.status == 200 and r.json() == {"path": "big/raw.bin", "size": len(data)}, r)
    got = read_raw(sid, "/workspace/big/raw.bin")
    check(got.status == 200 and got.body == data, "raw round trip differs")
    st = expect(get("/api/v1/sandbox/%s/files/stat?%s" % (sid, q("big/raw.bin")), key=key()), 200)
    check(st["type"] == "file" and st["size"] == len(data) and st["mode"] == 0o640, st)
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
          and link["path"] == "tree/link", link)
    deep = expect(get("/api/v1/sandbox/%s/files/list?%s" % (sid, q("tree", depth=3)),
                      key=key()), 200)
    f = [e for e in deep["entries"] if e["path"] == "tree/a/b/f.txt"]
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


if __name__ == "__main__":
    main("files")
