"""TokenProvider: cache, refresh at half lifetime, single flight, invalidate — real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from helpers import join_all
from krakenwire.clock import ManualClock
from krakenwire.errors import PermissionDenied
from krakenwire.rest import AsyncKrakenClient, KrakenClient
from krakenwire.token import TokenProvider, WebSocketToken
from rest_fault_server import FaultServer

METHOD = "GetWebSocketsToken"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def sync_client(server: FaultServer, clock: ManualClock) -> KrakenClient:
    return KrakenClient(server.credentials, base_url=server.url, environ={}, rate_limit=None,
                        clock=clock)


def async_client(server: FaultServer, clock: ManualClock) -> AsyncKrakenClient:
    return AsyncKrakenClient(server.credentials, base_url=server.url, environ={},
                             rate_limit=None, clock=clock)


def test_token_repr_hides_the_token() -> None:
    token = WebSocketToken("xeAQ/RCChBYNVh53sTv1yZ5H4wIbwDF20PiHtTF+4UI", 1900.0, 1000.0)
    assert "xeAQ" not in repr(token) and "xeAQ" not in str(token)
    assert token.lifetime == 900 and not token.expired(1899) and token.expired(1900)
    assert token.fresh(1449) and not token.fresh(1450)


def test_cache_and_refresh_at_half_lifetime(server: FaultServer) -> None:
    clock = ManualClock(1_000_000)
    provider = TokenProvider(sync_client(server, clock), clock=clock)
    first = provider.get()
    assert first.token == server.tokens[0]
    assert first.expires_at == 1_000_000 + 900
    clock.advance(449)
    assert provider.get() is first
    assert len(server.calls_of(METHOD)) == 1
    clock.advance(1)  # half of 900 s has passed
    second = provider.get()
    assert second.token != first.token and second.token == server.tokens[1]
    assert len(server.calls_of(METHOD)) == 2


def test_invalidate(server: FaultServer) -> None:
    clock = ManualClock(1_000_000)
    provider = TokenProvider(sync_client(server, clock), clock=clock)
    first = provider.get()
    provider.invalidate()
    second = provider.get()
    assert second.token != first.token
    provider.invalidate(first)  # a stale report about an old token changes nothing
    assert provider.get() is second
    provider.invalidate(second.token)
    assert provider.current is None
    assert provider.get().token == server.tokens[2]


def test_single_flight_threads(server: FaultServer) -> None:
    clock = ManualClock(1_000_000)
    provider = TokenProvider(sync_client(server, clock), clock=clock)
    server.fault(METHOD, "hold")
    results: list[WebSocketToken] = []
    threads = [threading.Thread(target=lambda: results.append(provider.get()))
               for _ in range(8)]
    for t in threads:
        t.start()
    server.wait_calls(METHOD, 1)
    server.release()
    join_all(threads)
    assert len(results) == 8 and len({r.token for r in results}) == 1
    assert len(server.calls_of(METHOD)) == 1


async def test_single_flight_tasks(server: FaultServer) -> None:
    clock = ManualClock(1_000_000)
    async with async_client(server, clock) as client:
        provider = TokenProvider(client, clock=clock)
        server.fault(METHOD, "hold")
        tasks = [asyncio.create_task(provider.aget()) for _ in range(20)]
        await asyncio.to_thread(server.wait_calls, METHOD, 1)
        server.release()
        tokens = await asyncio.gather(*tasks)
    assert len({t.token for t in tokens}) == 1
    assert len(server.calls_of(METHOD)) == 1
    assert provider.fetches == 1


async def test_failure_reaches_every_waiter_and_is_not_cached(server: FaultServer) -> None:
    clock = ManualClock(1_000_000)
    server.denied.add(METHOD)
    async with async_client(server, clock) as client:
        provider = TokenProvider(client, clock=clock)
        results = await asyncio.gather(*(provider.aget() for _ in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, PermissionDenied) for r in results)
        server.denied.clear()
        token = await provider.aget()
    assert token.token == server.tokens[-1]


async def test_aget_with_a_sync_client_and_get_with_an_async_one(server: FaultServer) -> None:
    clock = ManualClock(1_000_000)
    provider = TokenProvider(sync_client(server, clock), clock=clock)
    token = await provider.aget()
    assert token.token == server.tokens[-1]
    assert await provider.aget() is token
    async with async_client(server, clock) as client:
        with pytest.raises(TypeError, match="aget"):
            TokenProvider(client, clock=clock).get()
