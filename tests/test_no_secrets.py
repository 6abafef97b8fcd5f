"""No secret, signature or token in any log line, exception, traceback or repr.

A succeeding and a failing session (sync and async) run against a real local server with all
loggers at DEBUG (krakenwire, urllib3, aiohttp, asyncio); everything they print is searched for
the secrets the server saw.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from krakenwire.auth import Credentials
from krakenwire.errors import KrakenwireError
from krakenwire.rest import AsyncKrakenClient, KrakenClient
from krakenwire.token import TokenProvider
from rest_fault_server import FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def forbidden(server: FaultServer, *extra: str) -> list[str]:
    values = [server.credentials.api_secret, *extra]
    values += [c.api_sign for c in server.calls if c.api_sign]
    values += server.tokens
    # tokens and signatures may appear JSON-escaped ("\/") too
    values += [v.replace("/", "\\/") for v in values]
    return [v for v in values if v]


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


def run_sessions(server: FaultServer, wrong: Credentials) -> list[str]:
    """Run a succeeding and a failing session; return every exception's text."""
    texts: list[str] = []
    kw: dict[str, Any] = {"base_url": server.url, "environ": {}, "backoff_base": 0.001}

    # -- succeeding, sync
    with KrakenClient(server.credentials, **kw) as client:
        texts.append(repr(client))
        provider = TokenProvider(client)
        token = provider.get()
        texts += [repr(token), str(token), repr(provider)]
        client.balance()
        placed = client.add_order("XBTUSD", "buy", "limit", "1", "30000")
        texts.append(repr(placed))
        client.order_by_cl_ord_id(placed.cl_ord_id or "")
        client.cancel_all()

    # -- failing, sync
    server.fault("Balance", "502", "reset", "hang", "nonjson")
    server.fault("AddOrder", "reset")
    server.fault("GetWebSocketsToken", "EAPI:Invalid nonce", "EAPI:Invalid nonce")
    with KrakenClient(server.credentials, timeout=0.3, **kw) as client:
        for call in (client.balance, client.get_websockets_token,
                     lambda: client.add_order("XBTUSD", "buy", "limit", "1", "1")):
            try:
                call()
            except KrakenwireError as exc:
                texts.append(describe(exc))
    server.release()
    with KrakenClient(wrong, **kw) as client:
        try:
            client.get_websockets_token()
        except KrakenwireError as exc:
            texts.append(describe(exc))

    # -- both, async
    async def async_sessions() -> None:
        async with AsyncKrakenClient(server.credentials, timeout=0.3, **kw) as client:
            provider = TokenProvider(client)
            await provider.aget()
            provider.invalidate()
            await provider.aget()
            server.fault("AddOrder", "502")
            server.denied.add("GetWebSocketsToken")
            provider.invalidate()
            for coro in (client.add_order("XBTUSD", "sell", "limit", "1", "1"),
                         provider.aget()):
                try:
                    await coro
                except KrakenwireError as exc:
                    texts.append(describe(exc))

    asyncio.run(async_sessions())
    return texts


def test_nothing_secret_in_logs_errors_or_reprs(server: FaultServer, caplog: Any) -> None:
    wrong = Credentials(server.credentials.api_key, base64.b64encode(os.urandom(64)).decode())
    loggers = [logging.getLogger(n) for n in ("krakenwire", "urllib3", "aiohttp", "asyncio")]
    levels = [lg.level for lg in loggers]
    try:
        with caplog.at_level(logging.DEBUG):
            for lg in loggers:
                lg.setLevel(logging.DEBUG)
            texts = run_sessions(server, wrong)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    logged = caplog.text
    # the sessions really ran and really failed
    assert len(server.tokens) >= 3
    assert len(texts) >= 9
    assert "OrderOutcomeUnknown" in "".join(texts) and "InvalidKey" in "".join(texts)
    assert "Balance" in logged and "retry" in logged
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    secrets = forbidden(server, wrong.api_secret)
    assert len(secrets) > 20
    for secret in secrets:
        assert secret not in logged, "a secret, signature or token was logged"
        for text in texts:
            assert secret not in text, f"a secret, signature or token leaked into: {text[:80]}"
