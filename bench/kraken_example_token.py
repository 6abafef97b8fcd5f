"""Kraken's documented way to get a WebSocket token, as a plain standard-library script.

Written from Kraken's published algorithm (kraken-protocol.md §1.3), the way Kraken's own
Python example does it: form-encode ``nonce`` (milliseconds), sign
``urlpath + SHA256(nonce + postdata)`` with HMAC-SHA512 under the base64-decoded secret, POST
to ``/0/private/GetWebSocketsToken`` with ``API-Key`` / ``API-Sign`` headers via urllib, and
print the token. Reads ``KRAKEN_API_KEY``, ``KRAKEN_API_SECRET`` and ``KRAKEN_REST_URL``
(default https://api.kraken.com). The baseline for bench/bench_cli_startup.py.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse
import urllib.request

api_url = os.environ.get("KRAKEN_REST_URL", "https://api.kraken.com").rstrip("/")
api_key = os.environ["KRAKEN_API_KEY"]
api_secret = os.environ["KRAKEN_API_SECRET"]

path = "/0/private/GetWebSocketsToken"
nonce = str(int(time.time() * 1000))
postdata = urllib.parse.urlencode({"nonce": nonce})
digest = hashlib.sha256((nonce + postdata).encode()).digest()
mac = hmac.new(base64.b64decode(api_secret), path.encode() + digest, hashlib.sha512)
signature = base64.b64encode(mac.digest()).decode()

request = urllib.request.Request(api_url + path, data=postdata.encode(), headers={
    "API-Key": api_key, "API-Sign": signature,
    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
with urllib.request.urlopen(request, timeout=10) as response:
    answer = json.loads(response.read())
if answer.get("error"):
    raise SystemExit(f"Kraken refused: {answer['error']}")
print(answer["result"]["token"])
