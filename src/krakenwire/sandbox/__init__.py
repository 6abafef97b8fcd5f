"""The sandbox: a local Kraken-compatible exchange (REST, WS v1, WS v2) for tests and demos.

``async with Sandbox() as sb:`` serves on 127.0.0.1 (a free port by default) and exposes its
URLs (``sb.rest_url``, ``sb.ws_auth_v2_url``, ...), the demo account's credentials
(``sb.credentials``), the core (``sb.core``) and clock (``sb.clock``). :class:`SandboxThread`
does the same from synchronous code, running the event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from krakenwire.auth import Credentials
from krakenwire.clock import Clock
from krakenwire.protocol.limits import Tier
from krakenwire.sandbox.core import Faults, SandboxCore, Settings
from krakenwire.sandbox.gate import ALL_PERMISSIONS
from krakenwire.sandbox.market import MarketSettings

__all__ = ["Faults", "MarketSettings", "Sandbox", "SandboxThread", "Settings"]

T = TypeVar("T")


class Sandbox:
    """A running sandbox, as an async context manager.

    ``Sandbox(port=0, db_path=None, seed=0, manual_clock=False, host="127.0.0.1",
    settings=None, market_settings=None)``: ``db_path=None`` uses a temporary database removed
    on exit; with a path, the state survives restarts. On an empty database a funded demo
    account and an all-permission key are created (``credentials``). ``market_settings``
    (:class:`MarketSettings`: volatility, trades per second, ladder depth) tunes the simulated
    market; given with ``settings`` it replaces ``settings.market_settings``.

    Raises (on enter):
        StoreError: if the database cannot be opened.
        OSError: if the port cannot be bound.
    """

    def __init__(self, *, port: int = 0, db_path: str | None = None, seed: int = 0,
                 manual_clock: bool = False, host: str = "127.0.0.1",
                 settings: Settings | None = None,
                 market_settings: MarketSettings | None = None) -> None:
        if settings is None:
            settings = Settings(host=host, port=port, db_path=db_path, seed=seed,
                                manual_clock=manual_clock)
        if market_settings is not None:
            settings.market_settings = market_settings
        self.settings = settings
        self._core: SandboxCore | None = None
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    # --- attributes --------------------------------------------------------------------------
    @property
    def core(self) -> SandboxCore:
        """The running core (exchange, gate, store)."""
        if self._core is None:
            raise RuntimeError("the sandbox is not running")
        return self._core

    @property
    def clock(self) -> Clock:
        """The sandbox's clock (a ManualClock with ``manual_clock=True``)."""
        return self.core.clock

    @property
    def _base(self) -> str:
        host = self.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """``http://HOST:PORT`` (REST paths ``/0/public/...`` and ``/0/private/...``)."""
        return f"http://{self._base}"

    @property
    def ws_auth_v2_url(self) -> str:
        """Private WebSocket v2 URL."""
        return f"ws://{self._base}/ws-auth/v2"

    @property
    def ws_public_v2_url(self) -> str:
        """Public WebSocket v2 URL."""
        return f"ws://{self._base}/ws/v2"

    @property
    def ws_auth_v1_url(self) -> str:
        """Private WebSocket v1 URL."""
        return f"ws://{self._base}/ws-auth"

    @property
    def ws_public_v1_url(self) -> str:
        """Public WebSocket v1 URL."""
        return f"ws://{self._base}/ws"

    @property
    def credentials(self) -> Credentials:
        """The demo account's all-permission key.

        Raises:
            RuntimeError: if the database has no demo key (created with ``demo=False``).
        """
        key = self.core.demo_key
        if key is None:
            raise RuntimeError("this sandbox has no demo key")
        return Credentials(key.key, key.secret)

    @property
    def demo_account(self) -> str:
        """The demo account's id."""
        if self.core.demo_account is None:
            raise RuntimeError("this sandbox has no demo account")
        return self.core.demo_account

    def urls(self) -> dict[str, str]:
        """Every URL by name (the keys of the credentials file)."""
        return {"rest_url": self.rest_url, "ws_auth_v2_url": self.ws_auth_v2_url,
                "ws_public_v2_url": self.ws_public_v2_url,
                "ws_auth_v1_url": self.ws_auth_v1_url,
                "ws_public_v1_url": self.ws_public_v1_url}

    # --- operations --------------------------------------------------------------------------
    async def advance(self, seconds: float) -> float:
        """Move the manual clock forward and tick; return the new time.

        Raises:
            TypeError: if the sandbox runs on the real clock.
        """
        return await self.core.advance(seconds)

    def create_account(self, balances: Mapping[str, Decimal | str | int]) -> str:
        """Create a funded account; return its id. Durable at the next commit (any request).

        Raises:
            ValueError: for an unknown asset or a bad amount.
        """
        return self.core.create_account(balances).id

    def create_key(self, account_id: str, *, permissions: Iterable[str] = ALL_PERMISSIONS,
                   tier: Tier = "starter", nonce_window: int = 0) -> Credentials:
        """Create an API key for ``account_id``; return its credentials.

        Raises:
            ExchangeError: if the account does not exist.
            ValueError: for an unknown permission or tier.
        """
        rec = self.core.create_key(account_id, permissions=permissions, tier=tier,
                                   nonce_window=nonce_window)
        return Credentials(rec.key, rec.secret)

    async def commit(self) -> None:
        """Make everything changed so far durable."""
        await self.core.commit()

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the database, bind the port and start serving."""
        from krakenwire.sandbox.server import make_app

        core = SandboxCore.open(self.settings)
        runner: web.AppRunner | None = None
        try:
            # lingering: how long an unread request body is drained after a reply (aiohttp's
            # 10 s default would hold a shutdown racing with a half-sent request that long)
            runner = web.AppRunner(make_app(core), access_log=None, handle_signals=False,
                                   shutdown_timeout=self.settings.shutdown_timeout,
                                   lingering_time=1.0)
            await runner.setup()
            site = web.TCPSite(runner, self.settings.host, self.settings.port,
                               reuse_address=True)
            await site.start()
        except BaseException:
            try:
                if runner is not None:
                    await runner.cleanup()
            finally:
                await core.stop()
            raise
        self._core = core
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        core.start()

    async def stop(self) -> None:
        """Stop serving (in-flight requests get ``settings.shutdown_timeout`` s to finish),
        commit what is pending and close the database. Never hangs on a stuck client or
        writer; the database is closed even if the server's cleanup failed."""
        try:
            if self._runner is not None:
                runner, self._runner = self._runner, None
                await runner.cleanup()
        finally:
            if self._core is not None:
                await self._core.stop()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"Sandbox(rest_url={self.rest_url!r})"


class SandboxThread:
    """A :class:`Sandbox` served from a background thread, for synchronous code.

    ``with SandboxThread(...) as sb:`` gives the same attributes as :class:`Sandbox`;
    ``sb.advance(seconds)`` and ``sb.call(coro)`` run on the sandbox's loop and block.
    """

    def __init__(self, *, port: int = 0, db_path: str | None = None, seed: int = 0,
                 manual_clock: bool = False, host: str = "127.0.0.1",
                 settings: Settings | None = None,
                 market_settings: MarketSettings | None = None) -> None:
        self.sandbox = Sandbox(port=port, db_path=db_path, seed=seed,
                               manual_clock=manual_clock, host=host, settings=settings,
                               market_settings=market_settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "sandbox":
            raise AttributeError(name)
        return getattr(self.sandbox, name)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run ``coro`` on the sandbox's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the sandbox thread is not running")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    def advance(self, seconds: float) -> float:
        """Move the manual clock forward and tick (blocking)."""
        return self.call(self.sandbox.advance(seconds))

    def create_account(self, balances: Mapping[str, Decimal | str | int]) -> str:
        """Create a funded account (durable before returning)."""

        async def go() -> str:
            account_id = self.sandbox.create_account(balances)
            await self.sandbox.commit()
            return account_id

        return self.call(go())

    def create_key(self, account_id: str, *, permissions: Iterable[str] = ALL_PERMISSIONS,
                   tier: Tier = "starter", nonce_window: int = 0) -> Credentials:
        """Create an API key (durable before returning)."""

        async def go() -> Credentials:
            creds = self.sandbox.create_key(account_id, permissions=permissions, tier=tier,
                                            nonce_window=nonce_window)
            await self.sandbox.commit()
            return creds

        return self.call(go())

    def start(self) -> None:
        """Start the loop thread and the sandbox; return once it serves.

        Raises:
            Whatever :meth:`Sandbox.start` raised.
        """
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                self._stop = asyncio.Event()
                try:
                    await self.sandbox.start()
                except BaseException as exc:
                    ready.set_exception(exc)
                    return
                ready.set_result(None)
                try:
                    await self._stop.wait()
                finally:
                    await self.sandbox.stop()

            try:
                loop.run_until_complete(serve())
            finally:
                loop.close()
                if not ready.done():  # never leave start() waiting
                    ready.set_exception(RuntimeError("the sandbox thread ended early"))

        self._thread = threading.Thread(target=main, name="krakenwire-sandbox", daemon=True)
        self._thread.start()
        ready.result()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the sandbox and join its thread (by default waiting at most twice
        ``settings.shutdown_timeout`` plus a little: the server's and the store's shutdown).

        Raises:
            TimeoutError: if the thread did not finish in time (it is a daemon thread).
        """
        thread = self._thread
        if thread is None:
            return
        if timeout is None:
            timeout = 2 * self.sandbox.settings.shutdown_timeout + 5
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the sandbox thread did not stop within {timeout:g} s")
        self._thread = None

    def __enter__(self) -> SandboxThread:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxThread(rest_url={self.sandbox.rest_url!r})"
