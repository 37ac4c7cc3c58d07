"""Stream tokens for the tests: minted locally with SANDPIT_SECRET_KEY (a
second, independent implementation of lib/streamtoken's format), or fetched
from the API's POST /api/v1/sandbox/:id/stream-token (SANDPIT_URL)."""
import base64
import hashlib
import hmac
import json
import os
import time
import urllib.request

SBX = os.environ.get("SANDPIT_SANDBOX_ID")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_token(sbx=SBX, org=None, ttl=60, key_id=""):
    """A second, independent implementation of lib/streamtoken's format.
    key_id: the minting API key ("" as for a JWT: no key to outlive)."""
    secret = os.environ.get("SANDPIT_SECRET_KEY")
    if secret is None:
        api = os.environ["SANDPIT_URL"].rstrip("/")
        req = urllib.request.Request(f"{api}/api/v1/sandbox/{sbx}/stream-token", data=b"{}",
                                     headers={"Authorization": "Bearer " + os.environ["SANDPIT_API_KEY"],
                                              "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req))["token"]
    key = hmac.new(secret.encode(), b"sandpit stream token v1", hashlib.sha256).digest()
    payload = f"{org}\n{sbx}\n{int(time.time()) + ttl}\n{key_id}".encode()
    signed = "st2." + b64url(payload)
    return signed + "." + b64url(hmac.new(key, signed.encode(), hashlib.sha256).digest())
