"""Durability: kill -9 the sandbox while a client places orders, restart it on the same
database, and check that every acknowledged order (and fill) is there and that used nonces
stay used.

The sandbox runs as ``krakenwire sandbox`` in a subprocess; the client is another subprocess
that prints one line per acknowledged order. The kill happens after a random number of acks
(seeded, printed on failure), while the client keeps requests in flight.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import WAIT, read_line
from krakenwire.auth import Signer
from krakenwire.sandbox import Sandbox

pytestmark = pytest.mark.timeout(90)

CLIENT = textwrap.dedent("""
    import json, sys, time, urllib.parse
    import urllib3
    from krakenwire.auth import Signer

    creds = json.loads(sys.argv[1])
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10))
    signer = Signer(creds["api_secret"])
    nonce = time.time_ns()
    pairs = ["XBTUSD", "ETHUSD", "SOLUSD"]
    prices = {"XBTUSD": "10000", "ETHUSD": "500", "SOLUSD": "20"}
    i = 0
    while True:
        i += 1
        nonce += 1
        pair = pairs[i % 3]
        if i % 4 == 0:
            params = {"ordertype": "market", "volume": "0.1" if pair != "XBTUSD" else "0.0001"}
        else:
            params = {"ordertype": "limit", "price": prices[pair],
                      "volume": "0.1" if pair != "XBTUSD" else "0.001"}
        params.update(pair=pair, type="buy", userref=i)
        body = urllib.parse.urlencode({"nonce": nonce, **params})
        try:
            r = http.request("POST", creds["rest_url"] + "/0/private/AddOrder", body=body,
                             headers={"API-Key": creds["api_key"],
                                      "API-Sign": signer.sign("/0/private/AddOrder", nonce, body),
                                      "Content-Type": "application/x-www-form-urlencoded"})
            reply = json.loads(r.data)
        except Exception:
            print("DOWN", flush=True)
            break
        if reply["error"]:
            print("ERROR", nonce, reply["error"][0], flush=True)
        else:
            print("ACK", nonce, reply["result"]["txid"][0], params["ordertype"], flush=True)
""")


def _start_sandbox(db: Path, creds_file: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenwire.cli", "sandbox", "--port", "0", "--db", str(db),
         "--credentials-file", str(creds_file), "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = read_line(proc.stdout)  # printed once the sandbox serves
    if not line:
        raise AssertionError(f"sandbox did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


def test_kill9_keeps_every_acknowledged_order(tmp_path: Path) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    kill_after = rng.randint(3, 40)
    db = tmp_path / "sandbox.db"
    creds_file = tmp_path / "creds.json"
    sandbox, creds = _start_sandbox(db, creds_file)
    assert creds_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(creds_file.read_text()) == creds
    client = subprocess.Popen([sys.executable, "-c", CLIENT, json.dumps(creds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acks: list[tuple[int, str, str]] = []
    last_nonce = 0
    try:
        assert client.stdout is not None
        for line in client.stdout:
            parts = line.split()
            if parts[0] == "ACK":
                acks.append((int(parts[1]), parts[2], parts[3]))
                last_nonce = int(parts[1])
                if len(acks) == kill_after:
                    os.kill(sandbox.pid, signal.SIGKILL)  # mid-stream: requests in flight
            elif parts[0] == "ERROR":
                raise AssertionError(f"unexpected refusal (seed {seed}): {line}")
            else:
                break
    finally:
        if sandbox.poll() is None:
            os.kill(sandbox.pid, signal.SIGKILL)
        sandbox.wait(10)
        try:
            client.wait(30)
        except subprocess.TimeoutExpired:
            client.kill()  # no stray client when the test fails
            client.wait(WAIT)
        for p in (sandbox, client):
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()
    assert len(acks) >= kill_after, f"seed {seed}"

    # restart on the same database
    sandbox2, creds2 = _start_sandbox(db, tmp_path / "creds2.json")
    try:
        assert creds2["api_key"] == creds["api_key"]  # the demo key survived too
        import urllib.parse

        import urllib3

        http = urllib3.PoolManager(retries=False, timeout=30.0)
        signer = Signer(creds["api_secret"])

        def call(method: str, nonce: int, **params: Any) -> dict[str, Any]:
            body = urllib.parse.urlencode({"nonce": nonce, **params})
            r = http.request("POST", creds2["rest_url"] + f"/0/private/{method}", body=body,
                             headers={"API-Key": creds["api_key"],
                                      "API-Sign": signer.sign(f"/0/private/{method}", nonce,
                                                              body),
                                      "Content-Type": "application/x-www-form-urlencoded"})
            out: dict[str, Any] = json.loads(r.data)
            return out

        # every nonce the client had acknowledged stays used
        assert call("Balance", last_nonce) == {"error": ["EAPI:Invalid nonce"]}, f"seed {seed}"
        nonce = max(last_nonce, acks[-1][0]) + 10**6
        found: dict[str, Any] = {}
        ids = [txid for _n, txid, _t in acks]
        for start in range(0, len(ids), 50):
            nonce += 1
            reply = call("QueryOrders", nonce, txid=",".join(ids[start:start + 50]))
            assert reply["error"] == [], f"seed {seed}: {reply}"
            found.update(reply["result"])
        assert set(found) == set(ids), f"seed {seed}"
        for _n, txid, kind in acks:
            if kind == "market":
                assert found[txid]["status"] == "closed", f"seed {seed}"
                assert found[txid]["vol_exec"] == found[txid]["vol"], f"seed {seed}"
            else:
                assert found[txid]["status"] in ("open", "closed"), f"seed {seed}"
    finally:
        sandbox2.terminate()
        try:
            sandbox2.wait(10)
        except subprocess.TimeoutExpired:
            sandbox2.kill()  # fails the returncode check below, leaves no stray process
            sandbox2.wait(WAIT)
        for stream in (sandbox2.stdout, sandbox2.stderr):
            if stream is not None:
                stream.close()
    assert sandbox2.returncode == 0  # SIGTERM is a clean shutdown


async def test_clean_restart_in_process_keeps_state(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    async with Sandbox(db_path=db, manual_clock=True) as sb:
        acct = sb.create_account({"USD": "10"})
        creds = sb.create_key(acct, permissions=["query_funds"])
        await sb.commit()
    async with Sandbox(db_path=db, manual_clock=True) as sb2:
        rec = sb2.core.gate.key(creds.api_key)
        assert rec is not None and rec.permissions == frozenset({"query_funds"})
        assert sb2.core.exchange.account(acct).balances == {"ZUSD": 10}
    assert Path(db).exists()  # a named database is kept
