#!/usr/bin/python3
"""smoke_apache.py: one stream through Apache's mod_proxy_wstunnel (the
documented alternative to Caddy): upgrade, exec, stdin, output, exit, close.
Env: SANDPIT_URL, SANDPIT_API_KEY. Prints "apache-stream: N passed, N failed"."""
import asyncio
import json
import os
import urllib.request

import websockets

URL = os.environ["SANDPIT_URL"]
KEY = os.environ["SANDPIT_API_KEY"]
HDRS = {"Authorization": "ApiKey " + KEY}


def api(method, path):
    req = urllib.request.Request(URL + path, data=b"{}" if method == "POST" else None,
                                 method=method,
                                 headers=dict(HDRS, **{"Content-Type": "application/json"}))
    with urllib.request.urlopen(req) as r:
        return json.load(r)


async def stream(sid):
    ws_url = URL.replace("http://", "ws://") + "/api/v1/sandbox/%s/stream" % sid
    out, code = b"", None
    async with websockets.connect(ws_url, extra_headers=HDRS) as ws:
        await ws.send(json.dumps({"type": "exec", "command": "read x; echo got-$x"}))
        await ws.send(json.dumps({"type": "stdin", "data": "apache\n"}))
        async for raw in ws:
            m = json.loads(raw)
            if m["type"] == "stdout":
                out += m["data"].encode()
            elif m["type"] == "exit":
                code = m["exit_code"]
        close = ws.close_code
    return out, code, close


def main():
    sid = api("POST", "/api/v1/sandbox/create")["sandbox_id"]
    try:
        out, code, close = asyncio.run(asyncio.wait_for(stream(sid), 30))
        ok = out == b"got-apache\n" and code == 0 and close == 1000
        print("%s stream through apache (out=%r exit=%r close=%r)" % ("ok  " if ok else "FAIL",
                                                                      out, code, close))
    finally:
        api("POST", "/api/v1/sandbox/%s/stop" % sid)
    print("apache-stream: %d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    raise SystemExit(0 if ok else 1)


main()
