"""End to end: krakenwire's clients and `krakenwire token` against the real sandbox."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers import http_session
from krakenwire.auth import Credentials
from krakenwire.cli import main
from krakenwire.clock import ManualClock
from krakenwire.errors import InvalidKey, InvalidNonce, PermissionDenied, UnknownOrder
from krakenwire.nonce import NonceSource
from krakenwire.protocol.rest import build_private, parse_response
from krakenwire.rest import AsyncKrakenClient, KrakenClient
from krakenwire.sandbox import Sandbox, SandboxThread
from krakenwire.token import TokenProvider


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb


@pytest.fixture(scope="module")
def sandbox_thread() -> Iterator[SandboxThread]:
    with SandboxThread() as sb:
        yield sb


def client_for(sb: Any, credentials: Credentials | None = None, **kw: Any) -> AsyncKrakenClient:
    return AsyncKrakenClient(credentials or sb.credentials, base_url=sb.rest_url, environ={},
                             **kw)


async def test_token_and_balance(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        token = await client.get_websockets_token()
        assert len(token.token) == 43 and token.lifetime == 900
        provider = TokenProvider(client)
        assert (await provider.aget()).token != ""
        balance = await client.balance()
        assert all(isinstance(v, Decimal) for v in balance.values())
        assert balance["ZUSD"] > 0
        ex = await client.balance_ex()
        assert ex["ZUSD"].balance == balance["ZUSD"]
        assert (await client.server_time()).unixtime > 0
        assert (await client.system_status()).status == "online"


async def test_bad_secret_is_invalid_key(sandbox: Sandbox) -> None:
    wrong = Credentials(sandbox.credentials.api_key, base64.b64encode(os.urandom(64)).decode())
    async with client_for(sandbox, wrong) as client:
        with pytest.raises(InvalidKey):
            await client.balance()


async def test_replayed_nonce_is_invalid_nonce(sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    request = build_private(sandbox.rest_url, "Balance", {}, api_key=creds.api_key,
                            signer=creds.signer, nonce=NonceSource().next())
    answers = []
    async with http_session() as session:
        for _ in range(2):  # the very same signed bytes, twice
            async with session.post(request.url, data=request.body,
                                    headers=request.headers) as response:
                answers.append((response.status, await response.read()))
    assert "ZUSD" in parse_response(*answers[0]).result
    with pytest.raises(InvalidNonce):
        parse_response(*answers[1], method="Balance")
    # a client whose nonces are behind what the key has seen: retried once, then explained
    behind = NonceSource("ms", clock=ManualClock(1_000_000))
    async with client_for(sandbox, nonce_source=behind) as client:
        with pytest.raises(InvalidNonce, match="another process"):
            await client.balance()


async def test_missing_permissions(sandbox: Sandbox) -> None:
    limited = sandbox.create_key(sandbox.demo_account, permissions=["query_funds"])
    await sandbox.commit()
    async with client_for(sandbox, limited) as client:
        assert (await client.balance())["ZUSD"] > 0
        with pytest.raises(PermissionDenied):
            await client.get_websockets_token()
        with pytest.raises(PermissionDenied):
            await client.add_order("XBTUSD", "buy", "limit", "0.01", "1000")


async def test_add_lookup_and_cancel_order(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        ticker = next(iter((await client.ticker("XBTUSD")).values()))
        price = (ticker.bid / 2).quantize(Decimal("0.1"))
        placed = await client.add_order("XBTUSD", "buy", "limit", Decimal("0.01"), price)
        assert placed.txid and placed.cl_ord_id
        found = await client.order_by_cl_ord_id(placed.cl_ord_id)
        assert found is not None and found.txid == placed.txid and found.status == "open"
        assert found.price == price and found.volume == Decimal("0.01")
        assert placed.txid in await client.open_orders()
        assert await client.cancel_order(cl_ord_id=placed.cl_ord_id) == 1
        with pytest.raises(UnknownOrder):
            await client.cancel_order(placed.txid)
        gone = await client.order_by_cl_ord_id(placed.cl_ord_id)
        assert gone is not None and gone.status == "canceled"
        assert await client.order_by_cl_ord_id("no-such-order") is None
        second = await client.add_order("XBTUSD", "sell", "limit", Decimal("0.01"),
                                        (ticker.ask * 2).quantize(Decimal("0.1")))
        assert second.txid
        assert await client.cancel_all() >= 1
        switch = await client.cancel_all_orders_after(60)
        assert switch.trigger_time not in ("", "0")
        assert (await client.cancel_all_orders_after(0)).current_time


def test_sync_client_and_cli(sandbox_thread: SandboxThread, tmp_path: Path,
                             capsys: Any) -> None:
    creds = sandbox_thread.credentials
    with KrakenClient(creds, base_url=sandbox_thread.rest_url, environ={}) as client:
        provider = TokenProvider(client)
        token = provider.get()
        assert provider.get() is token and len(token.token) == 43
        assert client.balance()["ZUSD"] > 0
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"api_key": creds.api_key, "api_secret": creds.api_secret,
                                **sandbox_thread.urls()}))
    assert main(["token", "--credentials", str(path)]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip()) == 43 and err == ""
    assert creds.api_secret not in out
