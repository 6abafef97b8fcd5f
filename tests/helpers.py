"""Helpers shared by the test modules: bounded I/O, signed REST calls, waiters, fixtures.

Every wait a test makes goes through something bounded here, so a server that never answers
turns into a failure with a traceback instead of a hang: :func:`http_session` (an aiohttp
session whose requests and WebSocket handshakes give up after :data:`HTTP_TIMEOUT`),
:func:`ws_open` (a ``websockets`` connection with open/close timeouts), :func:`bounded` (any
awaitable under :data:`WAIT` seconds) and :data:`SUBPROCESS_TIMEOUT` for child processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import queue
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import IO, Any, TypeVar

import aiohttp
import pytest
import websockets
from aiohttp import web

from krakenwire.auth import Credentials, Signer
from krakenwire.orders import OrdersResync
from krakenwire.rest import AsyncKrakenClient
from krakenwire.sandbox import Sandbox, Settings
from krakenwire.token import TokenProvider, WebSocketToken
from krakenwire.ws.connection import ConnectionSettings
from krakenwire.ws.events import (
    OrderOutcomeUnknownEvent,
    Reconnecting,
    Subscribed,
    TokenRefreshed,
)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the longest any single test wait may take before it is a failure (seconds)
WAIT = 30.0
#: the bound on every raw aiohttp request and WebSocket handshake made by tests
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=WAIT)
#: the bound on every child process a test runs (seconds)
SUBPROCESS_TIMEOUT = 120.0
#: reconnect quickly: the client sessions' settings for tests against the sandbox
FAST = ConnectionSettings(backoff_initial=0.05, backoff_max=0.2, open_timeout=5.0,
                          connect_timeout=5.0)

#: nonces for signed calls: increasing across every helper in the test process
_nonces = itertools.count(int(time.time() * 1000) * 1000)


def next_nonce() -> int:
    """A nonce larger than every nonce this test process handed out before."""
    return next(_nonces)


# --------------------------------------------------------------------------------------------
# bounded I/O
# --------------------------------------------------------------------------------------------


def http_session(**kw: Any) -> aiohttp.ClientSession:
    """An aiohttp session whose requests time out after :data:`HTTP_TIMEOUT` (unless a
    ``timeout`` is given)."""
    kw.setdefault("timeout", HTTP_TIMEOUT)
    return aiohttp.ClientSession(**kw)


def ws_open(url: str, **kw: Any) -> Any:
    """``websockets.connect(url)`` whose handshake and closing handshake are bounded."""
    kw.setdefault("open_timeout", WAIT)
    kw.setdefault("close_timeout", 10.0)
    return websockets.connect(url, **kw)


async def bounded(awaitable: Awaitable[T], timeout: float = WAIT) -> T:
    """``await awaitable``, failing with TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        return await awaitable


def join_all(threads: Iterable[threading.Thread], timeout: float = WAIT) -> None:
    """Join every thread, failing if any is still running ``timeout`` seconds from now."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        assert not thread.is_alive(), f"thread {thread.name} still running after {timeout} s"


def run_threads(work: Callable[[int], object], count: int, timeout: float = WAIT) -> None:
    """Run ``work(0)`` … ``work(count - 1)`` on as many threads at once; return when all are
    done, failing if any still runs after ``timeout`` seconds."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    join_all(threads, timeout)


def read_line(stream: IO[str], timeout: float = WAIT) -> str:
    """The next line of a child process's text ``stream`` ("" at its end), failing after
    ``timeout`` seconds (the read goes on in a daemon thread, which ends with the stream)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout} s") from None


async def run_python(*args: str, env: dict[str, str] | None = None,
                     timeout: float = SUBPROCESS_TIMEOUT) -> tuple[int, str, str]:
    """Run ``python *args`` without blocking the event loop (an in-process sandbox keeps
    serving); its exit code, stdout and stderr. Killed, and a failure, after ``timeout``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:  # timed out (or the test was interrupted): no stray child
            proc.kill()
            await asyncio.wait_for(proc.wait(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def serving(path: str, handler: Handler, **runner_kw: Any) -> AsyncIterator[str]:
    """Serve ``handler`` for GET ``path`` on 127.0.0.1 (a free port) while the block runs;
    yields the ``ws://`` URL. ``runner_kw`` go to :class:`aiohttp.web.AppRunner`."""
    app = web.Application()
    app.router.add_get(path, handler)
    runner = web.AppRunner(app, **runner_kw)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"ws://{host}:{port}{path}"
    finally:
        await runner.cleanup()


async def until(stream: AsyncIterator[Any], predicate: Callable[[Any], bool],
                timeout: float = 5.0) -> Any:
    """The first item of ``stream`` matching ``predicate`` (fails after ``timeout``)."""
    async with asyncio.timeout(timeout):
        async for item in stream:
            if predicate(item):
                return item
    raise AssertionError("stream ended")


async def until_true(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (re-checked as the loop runs)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# --------------------------------------------------------------------------------------------
# signed REST calls
# --------------------------------------------------------------------------------------------


class SignedRest:
    """Signed private REST calls (form or JSON bodies) over an aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, sb: Sandbox,
                 creds: Credentials | None = None) -> None:
        self.session, self.sb = session, sb
        self.creds = sb.credentials if creds is None else creds

    async def post(self, method: str, params: dict[str, Any] | None = None, *,
                   as_json: bool = False, nonce: int | None = None,
                   secret: str | None = None) -> dict[str, Any]:
        """The reply envelope; asserts it came back as HTTP 200 JSON."""
        data = {"nonce": next_nonce() if nonce is None else nonce, **(params or {})}
        if as_json:
            body = json.dumps(data)
            ctype = "application/json"
        else:
            body = urllib.parse.urlencode(data)
            ctype = "application/x-www-form-urlencoded"
        path = f"/0/private/{method}"
        signer = self.creds.signer if secret is None else Signer(secret)
        sig = signer.sign(path, data["nonce"], body)
        async with self.session.post(
                self.sb.rest_url + path, data=body.encode(),
                headers={"API-Key": self.creds.api_key, "API-Sign": sig,
                         "Content-Type": ctype}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("application/json")
            out: dict[str, Any] = await resp.json()
            return out

    call = post

    async def ok(self, method: str, params: dict[str, Any] | None = None,
                 **kw: Any) -> Any:
        """The ``result`` of a call that must succeed."""
        reply = await self.post(method, params, **kw)
        assert reply["error"] == [], reply
        return reply["result"]

    async def token(self) -> str:
        """A fresh WebSocket token (43 characters, checked)."""
        token = (await self.ok("GetWebSocketsToken"))["token"]
        assert isinstance(token, str) and len(token) == 43
        return token


@pytest.fixture
async def signed_rest(sb: Sandbox) -> AsyncIterator[SignedRest]:
    """Signed REST calls with the module's ``sb`` sandbox's credentials."""
    async with http_session() as session:
        yield SignedRest(session, sb)


async def rest_private(http: aiohttp.ClientSession, sb: Sandbox, method: str,
                       **params: Any) -> Any:
    """A signed private REST call (form body) against the sandbox; returns the envelope."""
    return await SignedRest(http, sb).post(method, params)


async def get_token(http: aiohttp.ClientSession, sb: Sandbox) -> str:
    """A fresh WebSocket token for the sandbox's credentials."""
    return await SignedRest(http, sb).token()


# --------------------------------------------------------------------------------------------
# the client sessions against a quiet sandbox
# --------------------------------------------------------------------------------------------


class StaticTokens:
    """A token source for fake servers that accept any token: ``00QQ…``, ``01QQ…``, …"""

    def __init__(self) -> None:
        self.issued: list[str] = []

    async def get_websockets_token(self) -> WebSocketToken:
        token = f"{len(self.issued):02d}" + "Q" * 41
        self.issued.append(token)
        now = time.time()
        return WebSocketToken(token=token, expires_at=now + 900, issued_at=now)


class RecordingProvider(TokenProvider):
    """A TokenProvider that remembers every token it handed out (to look for leaks)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.seen: list[str] = []

    async def aget(self) -> WebSocketToken:
        token = await super().aget()
        self.seen.append(token.token)
        return token


@pytest.fixture
async def quiet_sandbox() -> AsyncIterator[Sandbox]:
    """A sandbox with no simulated market: nothing trades unless a test makes it."""
    async with Sandbox(settings=Settings(market=False)) as sandbox:
        yield sandbox


@pytest.fixture
async def sandbox_client(sb: Sandbox) -> AsyncIterator[AsyncKrakenClient]:
    """A REST client for the module's ``sb`` sandbox, without client-side rate limiting."""
    async with AsyncKrakenClient(sb.credentials, base_url=sb.rest_url,
                                 rate_limit=None) as client:
        yield client


async def assert_view_matches_rest(ws: Any, rest: AsyncKrakenClient) -> None:
    """The socket's OpenOrders view holds exactly REST ``OpenOrders``, field for field."""
    remote = await rest.open_orders()
    assert ws.open_orders.ids() == set(remote)
    for txid, info in remote.items():
        mine = ws.open_orders[txid]
        assert mine.cl_ord_id == info.cl_ord_id
        assert mine.order_qty == info.volume
        assert mine.cum_qty == info.volume_executed
        assert info.price is None or mine.limit_price == info.price


async def assert_resynced_after_a_drop(ws: Any, rest: AsyncKrakenClient,
                                       feed: AsyncIterator[Any], cl_ord_id: str) -> None:
    """After the socket dropped while order ``cl_ord_id`` was placed elsewhere: one prompt
    reconnect, the channels resubscribed, a resync on ``feed`` naming just that order, and
    the view equal to REST on the second connection."""
    rec = await until(ws.events(), lambda e: isinstance(e, Reconnecting))
    assert rec.attempt == 1 and rec.delay <= 0.2
    await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed)
    resync = await until(feed, lambda f: isinstance(f, OrdersResync))
    assert [o.cl_ord_id for o in resync.appeared] == [cl_ord_id]
    assert ws.connections == 2
    await assert_view_matches_rest(ws, rest)


async def assert_lost_reply_reconciled(ws: Any, rest: AsyncKrakenClient,
                                       cl_ord_id: str) -> None:
    """After an order ``cl_ord_id`` whose reply was lost with the socket: the event names it,
    reconcile finds it open from the second connection, REST holds it once (not placed
    twice), the view equals REST, and an order never sent is reported not found."""
    event = await until(ws.events(), lambda e: isinstance(e, OrderOutcomeUnknownEvent))
    assert event.cl_ord_id == cl_ord_id
    found = await ws.reconcile(cl_ord_id)
    assert found.status == "open" and found.order is not None
    assert found.order.order_qty == Decimal("0.01")
    assert ws.connections == 2
    remote = await rest.open_orders()
    assert [o.cl_ord_id for o in remote.values()] == [cl_ord_id]  # placed once, not twice
    await assert_view_matches_rest(ws, rest)
    assert (await ws.reconcile("never-sent")).status == "not_found"


async def assert_token_refreshed_in_place(ws: Any, provider: TokenProvider,
                                          first: WebSocketToken) -> None:
    """After the sandbox invalidated the tokens: the session took a new token and
    resubscribed both channels on the same socket."""
    refreshed = await until(ws.events(), lambda e: isinstance(e, TokenRefreshed))
    assert "invalid session" in refreshed.reason
    await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed)
    await until_true(lambda: ws.ready and len(ws._subscribed) == 2)
    assert ws.connections == 1  # same socket
    assert provider.current is not None and provider.current.token != first.token


def assert_no_secret_in(text: str, provider: RecordingProvider, sb: Sandbox) -> None:
    """More than one token was used (the first and its replacement), and neither any token
    nor the API secret appears in ``text``."""
    assert len(set(provider.seen)) >= 2
    for secret in [*provider.seen, sb.credentials.api_secret]:
        assert secret not in text
