"""GetWebSocketsToken with a JSON request body, signed by Kraken's documented algorithm.

The JSON variant of bench/kraken_example_token.py, written for the tests from the published
signing rule (kraken-protocol.md §1.3-1.4): the body is a JSON object holding the nonce, sent
as ``Content-Type: application/json``, and what is signed is
``urlpath + SHA256(nonce + <the JSON text exactly as sent>)`` under HMAC-SHA512 with the
base64-decoded secret. The nonce goes in as a JSON number, as the documentation's curl examples
send it, or with ``--nonce-as-string`` as a JSON string. Standard library only; reads
``KRAKEN_API_KEY``, ``KRAKEN_API_SECRET`` and ``KRAKEN_REST_URL``; prints the token.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request

base_url = os.environ.get("KRAKEN_REST_URL", "https://api.kraken.com").rstrip("/")
key = os.environ["KRAKEN_API_KEY"]
secret = base64.b64decode(os.environ["KRAKEN_API_SECRET"])

urlpath = "/0/private/GetWebSocketsToken"
nonce_value = int(time.time() * 1000)
nonce = str(nonce_value) if "--nonce-as-string" in sys.argv[1:] else nonce_value
body = json.dumps({"nonce": nonce})
inner = hashlib.sha256(str(json.loads(body)["nonce"]).encode() + body.encode()).digest()
api_sign = base64.b64encode(hmac.new(secret, urlpath.encode() + inner, hashlib.sha512).digest())

req = urllib.request.Request(base_url + urlpath, data=body.encode(), method="POST", headers={
    "API-Key": key, "API-Sign": api_sign.decode(), "Content-Type": "application/json",
    "Accept": "application/json"})
with urllib.request.urlopen(req, timeout=10) as reply:
    envelope = json.loads(reply.read())
if envelope.get("error"):
    raise SystemExit(f"Kraken refused: {envelope['error']}")
print(envelope["result"]["token"])
