"""Shutdown and cancellation paths: nothing hangs, everything closes what it opened.

* A sandbox stops promptly while WebSocket clients of every endpoint are still connected,
  and each client sees a close frame (1001, going away) — including clients that never read.
* A private session closed (or cancelled) at any point of its set-up ends at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType, web

from helpers import http_session, serving
from krakenwire.errors import TransportError
from krakenwire.sandbox import Sandbox, Settings
from krakenwire.token import TokenProvider, WebSocketToken
from krakenwire.ws.connection import ConnectionSettings
from krakenwire.ws.v2 import PrivateSocket

#: far below every timeout involved (aiohttp's 10 s close wait, the 10 s shutdown_timeout)
PROMPT = 3.0


async def _greeted(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    """Open ``url`` and wait for the endpoint's first frame (it is being served)."""
    ws = await http.ws_connect(url, autoclose=False, autoping=True)
    msg = await asyncio.wait_for(ws.receive(), PROMPT)
    assert msg.type is WSMsgType.TEXT, msg
    return ws


async def test_sandbox_stops_promptly_with_idle_clients_of_every_endpoint() -> None:
    sandbox = Sandbox(settings=Settings(market=False))
    await sandbox.start()
    stopped = False
    async with http_session() as http:
        try:
            urls = [sandbox.ws_auth_v2_url, sandbox.ws_public_v2_url,
                    sandbox.ws_auth_v1_url, sandbox.ws_public_v1_url]
            reading = [await _greeted(http, url) for url in urls]
            # clients that never read again (nor answer the close) must not hold the stop
            silent = [await _greeted(http, url) for url in urls]
            readers = [asyncio.create_task(ws.receive()) for ws in reading]
            began = time.monotonic()
            await asyncio.wait_for(sandbox.stop(), 2 * PROMPT)
            stopped = True
            took = time.monotonic() - began
            assert took < PROMPT, f"stop took {took:.2f}s"
            for url, task in zip(urls, readers, strict=True):
                msg = await asyncio.wait_for(task, PROMPT)
                assert msg.type is WSMsgType.CLOSE, (url, msg)
                assert msg.data == WSCloseCode.GOING_AWAY, (url, msg)
            for url, ws in zip(urls, silent, strict=True):
                msg = await asyncio.wait_for(ws.receive(), PROMPT)
                assert msg.type is WSMsgType.CLOSE, (url, msg)
            for ws in reading + silent:
                await ws.close()
        finally:
            if not stopped:
                await sandbox.stop()


# --- a private session closed while it is still setting up --------------------------------


def _ws_tasks() -> set[asyncio.Task[Any]]:
    """The session's own tasks still alive (connection loop, reader, watchdog)."""
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("krakenwire-ws")
            and not t.done()}


@pytest.fixture
async def mute_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A v2 endpoint that reads requests and never answers one; the event is set once a
    request arrived (the client is subscribing)."""
    asked = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for _ in ws:
            asked.set()
        return ws

    async with serving("/v2", handler, shutdown_timeout=1.0) as url:
        yield url, asked


class _Tokens:
    async def get_websockets_token(self) -> WebSocketToken:
        now = time.time()
        return WebSocketToken(token="T" * 43, expires_at=now + 900, issued_at=now)


@pytest.mark.parametrize("cancel_connect", [False, True])
async def test_closing_while_subscribing_ends_at_once(
        mute_server: tuple[str, asyncio.Event], cancel_connect: bool) -> None:
    url, asked = mute_server
    ws = PrivateSocket(token_provider=TokenProvider(_Tokens()), url=url,
                       settings=ConnectionSettings(open_timeout=60.0))
    connecting = asyncio.create_task(ws.connect(timeout=60.0))
    await asyncio.wait_for(asked.wait(), PROMPT)  # the subscribe is on the wire, unanswered
    if cancel_connect:  # Ctrl-C in `krakenwire watch`: the connect is cancelled first
        connecting.cancel()
    began = time.monotonic()
    await asyncio.wait_for(ws.close(), PROMPT)
    assert time.monotonic() - began < PROMPT
    with pytest.raises((asyncio.CancelledError, TransportError)):
        await asyncio.wait_for(connecting, PROMPT)
    assert not _ws_tasks()
    assert [e async for e in ws.events()]  # the event stream ended (Connecting ... Closed)


async def test_close_racing_the_end_of_the_handshake_stops_the_loop(
        mute_server: tuple[str, asyncio.Event], monkeypatch: pytest.MonkeyPatch) -> None:
    """close() issued while the WebSocket handshake completes (its cancellation used to be
    lost in Python 3.11's wait_for, leaving the loop running and close() waiting for good)."""
    url, _ = mute_server
    ws = PrivateSocket(token_provider=TokenProvider(_Tokens()), url=url,
                       settings=ConnectionSettings(open_timeout=60.0))
    real = aiohttp.ClientSession.ws_connect
    closing: list[asyncio.Task[None]] = []

    async def connect_then_close(self: aiohttp.ClientSession, *a: Any,
                                 **kw: Any) -> aiohttp.ClientWebSocketResponse:
        sock = await real(self, *a, **kw)
        closing.append(asyncio.create_task(ws.close()))  # runs as the handshake returns
        return sock

    monkeypatch.setattr(aiohttp.ClientSession, "ws_connect", connect_then_close)
    began = time.monotonic()
    with pytest.raises(TransportError, match="closed"):
        await ws.connect(timeout=2 * PROMPT)
    assert closing
    await asyncio.wait_for(closing[0], 2 * PROMPT)
    took = time.monotonic() - began
    assert took < PROMPT, f"close took {took:.2f}s"
    assert not _ws_tasks()
