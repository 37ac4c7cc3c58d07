#!/usr/bin/python3
"""SIGTERM drain: a running stream gets close 1001 with a reason, and the
proxy exits. Needs SANDPIT_STREAM_PID (a proxy this test run started:
tests/stream/standalone.sh exports it); run it last, it stops the proxy."""
import asyncio
import json
import os
import signal
import sys
import time

import websockets

URL = os.environ["SANDPIT_STREAM_URL"].rstrip("/") + \
    f"/api/v1/sandbox/{os.environ['SANDPIT_SANDBOX_ID']}/stream"


async def main():
    pid = int(os.environ["SANDPIT_STREAM_PID"])
    async with websockets.connect(URL, extra_headers={
            "Authorization": "Bearer " + os.environ["SANDPIT_API_KEY"]}) as ws:
        await ws.send(json.dumps({"type": "exec", "command": "sleep 30"}))
        assert json.loads(await ws.recv())["type"] == "started"
        t0 = time.time()
        os.kill(pid, signal.SIGTERM)
        try:
            async for _ in ws:
                pass
        except websockets.exceptions.ConnectionClosed:
            pass
    ok = ws.close_code == 1001 and ws.close_reason == "server shutting down"
    for _ in range(50):  # the proxy exits once its streams are closed
        try:
            os.kill(pid, 0)
            if open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                break
        except (ProcessLookupError, FileNotFoundError):
            break
        await asyncio.sleep(0.1)
    else:
        ok = False
    print(("ok   " if ok else "FAIL ") +
          f"sigterm_drain close={ws.close_code} reason='{ws.close_reason}' in {time.time() - t0:.2f}s")
    print(f"drain: {1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1

sys.exit(asyncio.run(main()))
