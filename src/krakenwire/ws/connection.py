"""The I/O shell shared by the private WebSocket sessions (v2 now, v1 later).

:class:`ReconnectingSocket` keeps one aiohttp WebSocket to ``url`` open for as long as the
session lives: it connects, starts a reader task and a watchdog task, lets the session
protocol (a :class:`SessionProtocol`) authenticate and subscribe, and when the socket drops or
goes silent it reconnects after an exponential, jittered backoff (unlimited by default), then
lets the protocol subscribe again. Every step is reported as a lifecycle event
(:mod:`krakenwire.ws.events`) through the ``emit`` callback and as a log line with no secret.

The reader hands each text frame to :meth:`SessionProtocol.on_text`, which must not block and
must not call user code (it resolves futures and pushes onto bounded streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from krakenwire.ws.events import (
    Connecting,
    Disconnected,
    LifecycleEvent,
    Reconnecting,
)
from krakenwire.ws.timing import Backoff, Watchdog

__all__ = [
    "ConnectionSettings",
    "FatalSessionError",
    "Link",
    "NotConnectedError",
    "ReconnectingSocket",
    "SessionProtocol",
]

log = logging.getLogger("krakenwire.ws")

#: longest wait for any one step of closing (the peer's close frame, a task winding down)
CLOSE_BOUND = 5.0


class NotConnectedError(ConnectionError):
    """The session has no open, authenticated socket right now (it may be reconnecting)."""


class FatalSessionError(Exception):
    """Raised by a :class:`SessionProtocol` when retrying cannot help (bad API key, missing
    permission): the reconnect loop stops and the error is handed to whoever waits.
    ``cause`` is the underlying exception."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(slots=True)
class ConnectionSettings:
    """Timing of a session (seconds).

    * ``connect_timeout`` — TCP + TLS + WebSocket handshake.
    * ``open_timeout`` — the protocol's ``on_open`` (token, subscriptions) on a fresh socket.
    * ``ping_after`` / ``stale_after`` — the watchdog: ping after this much silence, reconnect
      after this much.
    * ``backoff_initial`` / ``backoff_max`` / ``backoff_jitter`` / ``max_attempts`` — reconnect
      delays; ``max_attempts=None`` retries forever.
    * ``healthy_after`` — a connection that stayed up this long resets the backoff; one that
      drops sooner keeps the delays growing (Kraken's proxy bans an IP that reconnects more
      than about 150 times in 10 minutes).
    """

    connect_timeout: float = 10.0
    open_timeout: float = 15.0
    ping_after: float = 5.0
    stale_after: float = 12.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5
    max_attempts: int | None = None
    healthy_after: float = 10.0
    max_msg_size: int = 32 * 1024 * 1024

    def backoff(self) -> Backoff:
        """A fresh :class:`Backoff` with these settings."""
        return Backoff(initial=self.backoff_initial, maximum=max(self.backoff_max,
                       self.backoff_initial), jitter=self.backoff_jitter,
                       max_attempts=self.max_attempts)


class Link:
    """One open WebSocket (one connection of the session); sends text frames."""

    __slots__ = ("_ws", "number")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[bool], number: int) -> None:
        self._ws = ws
        self.number = number

    @property
    def closed(self) -> bool:
        """True once the socket is closing or closed."""
        return self._ws.closed

    async def send(self, data: bytes) -> None:
        """Send ``data`` (UTF-8 JSON) as one text frame.

        Raises:
            NotConnectedError: if the socket is closed or the send fails.
        """
        if self._ws.closed:
            raise NotConnectedError("the WebSocket is closed")
        try:
            await self._ws.send_frame(data, aiohttp.WSMsgType.TEXT)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise NotConnectedError(f"send failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        """Close the socket (normal closure); gives up waiting for the peer's close frame
        after :data:`CLOSE_BOUND` seconds. Never raises (but for cancellation)."""
        with contextlib.suppress(Exception):  # TimeoutError included
            async with asyncio.timeout(CLOSE_BOUND):
                await self._ws.close()

    def __repr__(self) -> str:
        return f"Link(#{self.number}, closed={self.closed})"


class SessionProtocol(Protocol):
    """What a session (v2, v1) plugs into :class:`ReconnectingSocket`."""

    async def on_open(self, link: Link, reconnect: bool) -> None:
        """Authenticate and (re)subscribe on a fresh socket; may await replies (the reader is
        running). Raise :class:`FatalSessionError` to stop for good, anything else to drop
        this socket and reconnect."""
        ...

    def on_text(self, data: bytes | str) -> bool:
        """One frame from the reader. Must not block, must not run user code. Return True
        when it completed a reply: the reader then lets the waiter run before it reads on."""
        ...

    def on_lost(self, reason: str) -> None:
        """The socket of the current connection is gone: fail what waited on it."""
        ...

    def ping_frame(self) -> bytes:
        """An application-level ping to send when the connection goes quiet."""
        ...

    def on_stopped(self, error: BaseException) -> None:
        """The loop stopped for good on ``error`` (fatal refusal, attempts used up); the
        program did not close the session."""
        ...


class ReconnectingSocket:
    """Keeps a session's socket open until :meth:`close`.

    ``ReconnectingSocket(url, protocol, emit, settings=None, session=None)``. Construction does
    no I/O; :meth:`start` begins connecting. ``emit`` receives every lifecycle event (it must
    not block). ``session`` is an ``aiohttp.ClientSession`` to use (one is created and owned
    otherwise).
    """

    def __init__(self, url: str, protocol: SessionProtocol,
                 emit: Callable[[LifecycleEvent], None],
                 settings: ConnectionSettings | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.url = url
        self.settings = settings or ConnectionSettings()
        self._protocol = protocol
        self._emit = emit
        self._session = session
        self._own_session = session is None
        self._task: asyncio.Task[None] | None = None
        self._link: Link | None = None
        self._ready = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._closing = False
        self._fatal: BaseException | None = None
        self._links = 0
        self._stop_reason = ""
        self._background: set[asyncio.Task[None]] = set()
        #: why the last connection (or attempt) ended, "" before the first
        self.last_reason = ""
        #: how many sockets were fully set up (authenticated and subscribed) so far
        self.setups = 0
        self._backoff = self.settings.backoff()

    # -- state ------------------------------------------------------------------------------
    @property
    def link(self) -> Link | None:
        """The current connection when it is open and set up, else None."""
        return self._link if self._ready.is_set() else None

    @property
    def ready(self) -> bool:
        """True while a socket is open and the protocol finished setting it up."""
        return self._ready.is_set()

    @property
    def started(self) -> bool:
        """True once :meth:`start` was called."""
        return self._task is not None

    @property
    def connections(self) -> int:
        """How many sockets were opened so far (1 after the first connect)."""
        return self._links

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped the loop for good, if any."""
        return self._fatal

    # -- control ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the connect/reconnect loop (idempotent). Needs a running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="krakenwire-ws")

    async def wait_ready(self, timeout: float | None) -> Link:
        """Wait until a socket is open and set up; return it.

        Raises:
            FatalSessionError: if the loop stopped on a fatal error.
            NotConnectedError: if the session is closed, or on ``timeout``.
        """
        link = await self._wait(timeout, once=False)
        assert link is not None
        return link

    async def wait_first_setup(self, timeout: float | None) -> None:
        """Wait until some socket has been set up since :meth:`start` (it may be gone again:
        a connection that drops at once still proves the URL and credentials work).

        Raises:
            FatalSessionError: if the loop stopped on a fatal error.
            NotConnectedError: if the session is closed, or on ``timeout``.
        """
        await self._wait(timeout, once=True)

    async def _wait(self, timeout: float | None, *, once: bool) -> Link | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            link = self.link
            if link is not None or (once and self.setups > 0):
                return link
            if self._fatal is not None:
                raise FatalSessionError(self._fatal)
            if self._closing or (self._task is not None and self._task.done()):
                raise NotConnectedError("the session is closed")
            if remaining_is_over(deadline, loop.time()):
                why = f" (last attempt: {self.last_reason})" if self.last_reason else ""
                raise NotConnectedError(f"not connected within the time allowed{why}")
            self._state_changed.clear()
            remaining = None if deadline is None else deadline - loop.time()
            # asyncio.timeout, not wait_for (3.11's wait_for can lose a cancellation)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._state_changed.wait()

    def drop(self, reason: str) -> None:
        """Close the current socket now (the loop reconnects); for watchdogs and tests."""
        link = self._link
        if link is not None:
            self._stop_reason = reason
            task = asyncio.get_running_loop().create_task(link.close())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Stop for good: close the socket, end the loop, close an owned HTTP session."""
        self._closing = True
        self._stop_reason = "closed by the program"
        self._notify()
        link = self._link
        if link is not None:
            await link.close()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_BOUND)
            if not task.done():
                log.error("the connection loop of %s did not stop in time", self.url)
            elif not task.cancelled() and task.exception() is not None:
                log.error("the connection loop of %s failed: %s", self.url,
                          _describe(task.exception()))  # type: ignore[arg-type]
        leftovers = set(self._background)  # reader, watchdog, set-up of the last socket
        if leftovers:
            await asyncio.wait(leftovers, timeout=CLOSE_BOUND)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- the loop ---------------------------------------------------------------------------
    def _notify(self) -> None:
        self._state_changed.set()

    async def _run(self) -> None:
        try:
            while not self._closing:
                try:
                    reason = await self._one_connection()
                except Exception as exc:  # a bug must not end the session silently
                    log.error("connection attempt failed unexpectedly: %s", _describe(exc))
                    reason = f"internal error: {type(exc).__name__}"
                if self._closing or self._fatal is not None:
                    break
                if self._backoff.exhausted:
                    self._fatal = NotConnectedError(
                        f"gave up after {self._backoff.attempt} reconnect attempts")
                    break
                delay = self._backoff.next_delay()
                log.info("reconnecting to %s in %.2fs (attempt %d): %s", self.url, delay,
                         self._backoff.attempt, reason)
                self._emit(Reconnecting(self._backoff.attempt, delay, reason))
                await asyncio.sleep(delay)
        finally:
            self._ready.clear()
            self._notify()
        if self._fatal is not None and not self._closing:
            log.error("giving up on %s: %s", self.url, _describe(self._fatal))
            self._protocol.on_stopped(self._fatal)

    async def _one_connection(self) -> str:
        """Open, set up and serve one socket; return why it ended."""
        self._emit(Connecting(self.url, self._backoff.attempt + 1))
        log.info("connecting to %s", self.url)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            # the bound covers DNS + TCP + TLS + the upgrade (asyncio.timeout, not wait_for:
            # Python 3.11's wait_for drops a cancellation that races with the connect finishing,
            # and close() would then wait on a socket it never saw)
            async with asyncio.timeout(self.settings.connect_timeout):
                ws = await self._session.ws_connect(
                    self.url, autoping=True, heartbeat=None, compress=0,
                    max_msg_size=self.settings.max_msg_size, decode_text=False,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_BOUND))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = f"connect failed: {type(exc).__name__}"
            log.warning("connection to %s failed: %s", self.url, type(exc).__name__)
            self._emit(Disconnected(reason))
            self.last_reason = reason
            return reason
        if self._closing:  # close() ran while the handshake finished
            await Link(ws, 0).close()
            return "closed by the program"
        self._links += 1
        link = Link(ws, self._links)
        self._link = link
        self._stop_reason = ""
        loop = asyncio.get_running_loop()
        dog = Watchdog(self.settings.ping_after, self.settings.stale_after, loop.time())
        reader = loop.create_task(self._read(ws, dog), name="krakenwire-ws-reader")
        watcher = loop.create_task(self._watch(link, dog), name="krakenwire-ws-watchdog")
        reason = "connection closed"
        opener = loop.create_task(self._protocol.on_open(link, self._links > 1))
        helpers = (watcher, reader, opener)
        for helper in helpers:  # close() waits for them even if this task is cancelled
            self._background.add(helper)  # type: ignore[arg-type]
            helper.add_done_callback(self._helper_done)
        try:
            done, _ = await asyncio.wait({opener, reader}, timeout=self.settings.open_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if opener not in done:
                opener.cancel()
                await asyncio.wait({opener}, timeout=CLOSE_BOUND)
                reason = (self._stop_reason or "connection closed while setting up"
                          if reader in done else "setting up the connection timed out")
                return reason
            failure = opener.exception()
            if isinstance(failure, FatalSessionError):
                self._fatal = failure.cause
                reason = f"stopped: {type(failure.cause).__name__}"
                return reason
            if failure is not None:
                reason = f"setup failed: {_describe(failure)}"
                return reason
            self._ready.set()
            self.setups += 1
            self._notify()
            ready_at = loop.time()
            await reader
            if loop.time() - ready_at >= self.settings.healthy_after:
                self._backoff.reset()  # it worked for a while: start again from short delays
            reason = self._stop_reason or reader.result()
            return reason
        finally:
            # the bookkeeping first, without awaiting: a cancellation (close()) that lands in
            # the awaits below must not skip it
            self._ready.clear()
            self._link = None
            self._notify()
            for helper in helpers:
                helper.cancel()
            self.last_reason = reason
            if not self._closing:
                log.warning("connection to %s lost: %s", self.url, reason)
                self._emit(Disconnected(reason))
            self._protocol.on_lost(self._stop_reason or reason)
            await link.close()
            await asyncio.wait(helpers, timeout=CLOSE_BOUND)

    def _helper_done(self, task: asyncio.Task[object]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here: a set-up failure was reported already

    async def _read(self, ws: aiohttp.ClientWebSocketResponse[bool], dog: Watchdog) -> str:
        loop = asyncio.get_running_loop()
        on_text = self._protocol.on_text
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                dog.feed(loop.time())
                try:
                    woke = on_text(msg.data)
                except Exception as exc:  # a bad frame must not kill the reader
                    log.warning("could not handle a frame: %s", _describe(exc))
                    woke = False
                if woke:
                    # a reply completed: let its waiter go before the frames queued behind
                    # it (e.g. the order's execution reports) are handled
                    await asyncio.sleep(0)
            elif kind in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                dog.feed(loop.time())
            elif kind is aiohttp.WSMsgType.ERROR:
                return f"socket error: {type(msg.data).__name__}"
            else:  # CLOSE, CLOSING, CLOSED
                code = ws.close_code
                return f"closed by peer (code {code})" if code is not None else "closed"

    async def _watch(self, link: Link, dog: Watchdog) -> None:
        loop = asyncio.get_running_loop()
        while not link.closed:
            # re-check at least every ping_after: a pong arriving after our ping restarts
            # the silence clock, and the next ping is due ping_after after it
            wait = min(dog.next_check(loop.time()), self.settings.ping_after)
            await asyncio.sleep(wait + 0.001)
            action = dog.check(loop.time())
            if action == "ping":
                with contextlib.suppress(NotConnectedError):
                    await link.send(self._protocol.ping_frame())
            elif action == "stale":
                self._stop_reason = (f"no data, heartbeat or pong for "
                                     f"{self.settings.stale_after:g}s")
                log.warning("connection to %s is silent; dropping it", self.url)
                await link.close()
                return

    def __repr__(self) -> str:
        return (f"ReconnectingSocket({self.url!r}, ready={self.ready}, "
                f"connections={self._links})")


def remaining_is_over(deadline: float | None, now: float) -> bool:
    """True when ``deadline`` (None: none) has passed at ``now``."""
    return deadline is not None and now >= deadline


def _describe(exc: BaseException) -> str:
    """A one-line description of ``exc`` that is safe to log (our exceptions never carry
    secrets; foreign ones are reduced to their type name)."""
    if type(exc).__module__.startswith("krakenwire"):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__
