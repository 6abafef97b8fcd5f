"""WebSocket tokens (kraken-protocol.md §4): the value and a caching provider.

:class:`WebSocketToken` is one answer of ``GetWebSocketsToken``; its ``repr`` hides the token.
:class:`TokenProvider` fetches tokens through a REST client, caches one, hands it to every
caller until half its lifetime has passed (so a caller always gets a token with at least half
its use-by window left), fetches once for many concurrent callers, and forgets it on
:meth:`TokenProvider.invalidate` (when a server says ``ESession:Invalid session``).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from krakenwire.clock import Clock, SystemClock

if TYPE_CHECKING:
    import asyncio  # imported where used: `krakenwire token` starts without it

__all__ = ["TokenProvider", "WebSocketToken"]

log = logging.getLogger("krakenwire.token")


@dataclass(frozen=True, slots=True)
class WebSocketToken:
    """A token for Kraken's authenticated WebSocket (``GetWebSocketsToken``).

    Attributes:
        token: the token string (43 base64 characters on Kraken); never shown in ``repr``.
        expires_at: Unix time by which it must first be used (issue time + ``expires``).
        issued_at: Unix time at which krakenwire received it.
    """

    token: str = field(repr=False)
    expires_at: float
    issued_at: float

    @property
    def lifetime(self) -> float:
        """Seconds between issue and expiry (Kraken: 900)."""
        return self.expires_at - self.issued_at

    def expired(self, now: float) -> bool:
        """True once ``now`` is at or past :attr:`expires_at`."""
        return now >= self.expires_at

    def fresh(self, now: float, fraction: float = 0.5) -> bool:
        """True while less than ``fraction`` of the lifetime has passed."""
        return now < self.issued_at + self.lifetime * fraction

    def __repr__(self) -> str:
        return (f"WebSocketToken(token=<hidden>, expires_at={self.expires_at!r}, "
                f"issued_at={self.issued_at!r})")

    __str__ = __repr__


class _TokenSource(Protocol):
    def get_websockets_token(self) -> WebSocketToken | Awaitable[WebSocketToken]: ...


class TokenProvider:
    """Caches WebSocket tokens fetched through ``client.get_websockets_token()``.

    ``TokenProvider(client, clock=None, refresh_fraction=0.5)``; ``client`` is a
    :class:`~krakenwire.rest.KrakenClient` or :class:`~krakenwire.rest.AsyncKrakenClient`;
    ``clock`` defaults to the client's clock (the one that stamps the tokens).

    * :meth:`get` (blocking; needs the sync client) and ``await`` :meth:`aget` (either client;
      a sync client is called in a worker thread) return the cached token while it is fresh
      (less than ``refresh_fraction`` of its lifetime passed), else fetch a new one.
    * Single flight: concurrent callers share one fetch (threads on :meth:`get`, tasks on
      :meth:`aget`); a failed fetch raises in every waiting caller and caches nothing.
    * :meth:`invalidate` forgets the token (optionally only if it is the given one).

    Errors of the fetch propagate unchanged (:class:`~krakenwire.errors.KrakenError`,
    :class:`~krakenwire.errors.TransportError`...).
    """

    def __init__(self, client: Any, *, clock: Clock | None = None,
                 refresh_fraction: float = 0.5) -> None:
        if not 0 < refresh_fraction <= 1:
            raise ValueError("refresh_fraction must be in (0, 1]")
        self.client = client
        self._clock: Clock = clock or getattr(client, "clock", None) or SystemClock()
        self._fraction = refresh_fraction
        self._token: WebSocketToken | None = None
        self._sync_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._inflight: dict[asyncio.AbstractEventLoop, asyncio.Future[WebSocketToken]] = {}
        self.fetches = 0

    def _fresh(self) -> WebSocketToken | None:
        token = self._token
        if token is not None and token.fresh(self._clock.now(), self._fraction):
            return token
        return None

    def _store(self, token: WebSocketToken) -> WebSocketToken:
        with self._state_lock:
            self._token = token
            self.fetches += 1
        log.debug("WebSocket token fetched (expires in %.0f s)", token.lifetime)
        return token

    @property
    def current(self) -> WebSocketToken | None:
        """The cached token if it is still fresh, else ``None`` (no fetch)."""
        return self._fresh()

    def get(self) -> WebSocketToken:
        """Return a fresh token, fetching one (blocking) if needed.

        Raises:
            TypeError: if the client is asynchronous (use :meth:`aget`).
            KrakenError, TransportError, ProtocolError: from the fetch.
        """
        token = self._fresh()
        if token is not None:
            return token
        with self._sync_lock:
            token = self._fresh()
            if token is not None:
                return token
            fetch = self.client.get_websockets_token
            if inspect.iscoroutinefunction(fetch):
                raise TypeError("TokenProvider.get() needs a sync client; use await aget()")
            return self._store(cast(WebSocketToken, fetch()))

    async def aget(self) -> WebSocketToken:
        """Return a fresh token, fetching one if needed; concurrent callers share one fetch.

        Raises:
            KrakenError, TransportError, ProtocolError: from the fetch.
        """
        token = self._fresh()
        if token is not None:
            return token
        import asyncio

        loop = asyncio.get_running_loop()
        future = self._inflight.get(loop)
        if future is None:
            future = loop.create_future()
            self._inflight[loop] = future
            try:
                token = await self._afetch()
            except BaseException as exc:
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                    future.exception()  # mark retrieved; waiters still receive it
                else:
                    future.cancel()  # the fetching task was cancelled: waiters retry
                raise
            else:
                future.set_result(token)
                return token
            finally:
                self._inflight.pop(loop, None)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return await self.aget()
            raise

    async def _afetch(self) -> WebSocketToken:
        token = self._fresh()
        if token is not None:
            return token
        fetch = self.client.get_websockets_token
        if not inspect.iscoroutinefunction(fetch):
            import asyncio

            # a sync client: share the blocking single flight of get() from a worker thread
            return await asyncio.to_thread(self.get)
        return self._store(cast(WebSocketToken, await fetch()))

    def invalidate(self, token: WebSocketToken | str | None = None) -> None:
        """Forget the cached token so the next call fetches a new one.

        With ``token`` (a :class:`WebSocketToken` or its string), forget only if it is the
        cached one — so several sessions reporting the same bad token cause one refetch.
        """
        with self._state_lock:
            current = self._token
            if current is None:
                return
            if token is not None:
                value = token.token if isinstance(token, WebSocketToken) else token
                if value != current.token:
                    return
            self._token = None
        log.debug("WebSocket token invalidated")

    def __repr__(self) -> str:
        return f"TokenProvider(client={self.client!r})"
