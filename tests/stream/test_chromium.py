#!/usr/bin/python3
"""Headless Chromium opens a stream from a page, authenticated by a stream
token in the query string (browsers cannot set headers on a WebSocket).

Env as test_python.py. Serves the page and collects the page's verdict on a
loopback HTTP server of its own; Chromium runs with a fresh profile."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_python_token import mint_token  # noqa: E402

PAGE = """<!doctype html><meta charset=utf-8><title>sandpit stream</title>
<pre id=log></pre><script>
const q = new URLSearchParams(location.search);
const ws = new WebSocket(q.get('ws') + '?token=' + encodeURIComponent(q.get('token')));
const got = {stdout: '', types: [], close: null};
const report = () => fetch('/result', {method: 'POST', body: JSON.stringify(got)});
ws.onopen = () => {
  ws.send(JSON.stringify({type: 'exec', command: 'read x; echo "hello $x from chromium"; echo é€😀'}));
  ws.send(JSON.stringify({type: 'stdin', data: 'page\\n'}));
};
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  got.types.push(m.type);
  if (m.type === 'stdout') got.stdout += m.encoding === 'base64' ? atob(m.data) : m.data;
  if (m.type === 'exit') got.exit_code = m.exit_code;
};
ws.onclose = (e) => { got.close = e.code; report(); };
ws.onerror = () => { got.error = true; };
setTimeout(() => { got.timeout = true; report(); }, 15000);
</script>"""

result = {}
done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        result.update(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()
        done.set()


def main():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium: not installed (apt-get install -y chromium)")
        print("chromium: 0 passed, 1 failed")
        return 1
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sbx = os.environ["SANDPIT_SANDBOX_ID"]
    wsurl = os.environ["SANDPIT_STREAM_URL"].rstrip("/") + f"/api/v1/sandbox/{sbx}/stream"
    page = f"http://127.0.0.1:{srv.server_port}/?" + urllib.parse.urlencode(
        {"ws": wsurl, "token": mint_token(sbx, os.environ.get("SANDPIT_ORG_ID"))})
    profile = tempfile.mkdtemp(prefix="sandpit-chromium-")
    proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", f"--user-data-dir={profile}", page],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done.wait(40)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
        srv.shutdown()
    want = "hello page from chromium\n"
    ok = (result.get("stdout", "").startswith(want) and result.get("exit_code") == 0
          and result.get("close") == 1000 and result.get("types", [None])[0] == "started"
          and "\u00e9\u20ac\U0001F600" in result.get("stdout", ""))
    print(("ok   " if ok else "FAIL ") + "chromium_stream_with_token " + json.dumps(result))
    print(f"chromium: {1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


sys.exit(main())
