"""harness.py: a tiny test runner and HTTP client for the integration suites.

Tests talk to the running stack exactly as a client would: HTTP through the
web server at SANDPIT_URL. Each test is a function decorated with @test; the
runner prints one line per test and ends with "<suite>: N passed, N failed".
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("SANDPIT_URL", "http://127.0.0.1:8080")
STATE = os.environ.get("SANDPIT_STATE_DIR", "")
_tests = []


def test(fn):
    _tests.append(fn)
    return fn


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def request(method, path, body=None, key=None, headers=None, raw=None, timeout=60):
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if key is not None:
        hdrs.setdefault("Authorization", "ApiKey " + key)
    req = urllib.request.Request(URL + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


def get(path, **kw):
    return request("GET", path, **kw)


def post(path, body=None, **kw):
    return request("POST", path, body=body, **kw)


def delete(path, **kw):
    return request("DELETE", path, **kw)


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def expect(resp, status, code=None):
    """The response has this status, and for errors the JSON error shape."""
    check(resp.status == status, "expected %d, got %r" % (status, resp))
    if status >= 400:
        err = resp.json().get("error")
        check(isinstance(err, dict) and isinstance(err.get("code"), str)
              and isinstance(err.get("message"), str), "bad error body %r" % resp)
        if code is not None:
            check(err["code"] == code, "expected code %s, got %r" % (code, resp))
    check(resp.headers.get("X-Request-Id"), "no X-Request-Id")
    return resp.json() if resp.body else None


def register(org="Test Org", email=None):
    """A fresh org with an all-scopes key: returns the register response."""
    email = email or "u%s@example.com" % uuid.uuid4().hex[:12]
    r = post("/api/v1/register", {"first_name": "T", "last_name": "User", "email": email,
                                  "organization_name": org})
    return expect(r, 201)


def new_key():
    return register()["api_key"]["key"]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims, secret=None, header=None):
    secret = secret if secret is not None else os.environ["SANDPIT_JWT_SECRET"]
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


def psql(sql):
    """Run SQL against the instance's private cluster; rows as lists."""
    out = subprocess.run(
        ["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
         "psql", "-h", os.path.join(STATE, "pg/run"), "-U", "sandpit", "-d", "sandpit",
         "-tA", "-F", "\t", "-c", sql],
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def main(suite):
    only = sys.argv[1:]
    passed = failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok   %-60s %6.0f ms" % (fn.__name__, (time.monotonic() - t0) * 1e3), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__, flush=True)
            traceback.print_exc()
    print("%s: %d passed, %d failed" % (suite, passed, failed), flush=True)
    sys.exit(1 if failed else 0)
