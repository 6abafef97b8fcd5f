"""Kraken REST clients: :class:`KrakenClient` (sync, urllib3) and :class:`AsyncKrakenClient`
(asyncio, aiohttp), thin I/O shells around one sans-I/O core (:mod:`krakenwire.protocol.rest`).

Both promise:

* Settings resolve as argument > environment (``KRAKEN_REST_URL``, ``KRAKEN_API_KEY``,
  ``KRAKEN_API_SECRET``) > default (``https://api.kraken.com``). ``http://`` is accepted only
  for loopback hosts unless ``allow_insecure=True``.
* Constructing a client does no I/O; a keep-alive connection pool opens on first use.
* Every call has a timeout (default 10 s: ``timeout=`` on the client, ``request_timeout=``
  on ``public``/``private``).
* Signed calls of one API key are serialised (take a nonce, sign, send, read the answer) across
  all sync clients of the process, and across all async clients on one event loop, so the
  nonces reach the server in order. Clients without an explicit ``nonce_source`` share one
  :class:`~krakenwire.nonce.NonceSource` per API key per process.
* The modelled REST call counter (:class:`~krakenwire.ratelimit.RestRateLimiter`) makes a call
  wait (or raise :class:`~krakenwire.errors.ClientRateLimited`) instead of tripping Kraken's.
* Transient failures (transport errors, HTTP 5xx, ``EService:Unavailable``/``Busy``, rate
  limits, HTTP 429 without a Kraken body) are retried with exponential backoff;
  ``EAPI:Invalid nonce`` once with a fresh nonce.
* Order placement (``AddOrder``, ``AddOrderBatch``, ``EditOrder``, ``AmendOrder``) is never
  retried (an HTTP 429 there raises :class:`~krakenwire.errors.HTTPRateLimited`: refused, not
  placed). ``AddOrder`` always carries a ``cl_ord_id`` (generated if absent); when its outcome is
  unknown the client raises :class:`~krakenwire.errors.OrderOutcomeUnknown` with that id, and
  :meth:`KrakenClient.order_by_cl_ord_id` looks the order up.
* Logs (logger ``krakenwire.rest``) and exceptions never contain the secret, a signature or a
  token.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from krakenwire.auth import Credentials, CredentialsError
from krakenwire.clock import Clock, SystemClock
from krakenwire.errors import (
    ClientRateLimited,
    InvalidNonce,
    KrakenwireError,
    OrderOutcomeUnknown,
    ProtocolError,
    RateLimitExceeded,
    ServiceUnavailable,
    TransportError,
)
from krakenwire.nonce import NonceSource
from krakenwire.protocol.errors import RATE_LIMIT
from krakenwire.protocol.rest import (
    DEFAULT_REST_URL,
    USER_AGENT,
    Encoding,
    PreparedRequest,
    build_private,
    build_public,
    check_url,
    parse_response,
)
from krakenwire.ratelimit import RestRateLimiter
from krakenwire.token import WebSocketToken

if TYPE_CHECKING:
    import asyncio  # imported where used: `krakenwire token` starts without it

    import aiohttp
    import urllib3

    # the typed results are imported where used: `krakenwire token` starts without them
    from krakenwire.protocol.rest_types import (
        AddOrderResult,
        BalanceEx,
        CancelAllAfterResult,
        OrderInfo,
        ServerTime,
        SystemStatus,
        Ticker,
    )

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_REST_URL",
    "AsyncKrakenClient",
    "KrakenClient",
]

_LAZY_TYPES: Final = frozenset({"AddOrderResult", "BalanceEx", "CancelAllAfterResult",
                                "OrderInfo", "ServerTime", "SystemStatus", "Ticker",
                                "to_decimal"})


def __getattr__(name: str) -> Any:
    """Names this module used to import eagerly from :mod:`krakenwire.protocol.rest_types`
    (still reachable here; loaded on first use)."""
    if name in _LAZY_TYPES:
        from krakenwire.protocol import rest_types

        return getattr(rest_types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

log = logging.getLogger("krakenwire.rest")

ENV_REST_URL: Final = "KRAKEN_REST_URL"
DEFAULT_TIMEOUT: Final = 10.0

#: Methods that are never retried automatically (they may have taken effect).
NEVER_RETRIED: Final = frozenset(
    {"AddOrder", "AddOrderBatch", "EditOrder", "AmendOrder", "Withdraw", "WalletTransfer"})


_sync_key_locks: dict[str, threading.Lock] = {}
_async_key_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def _sync_key_lock(api_key: str) -> threading.Lock:
    """The process-wide lock that serialises signed calls of one key (sync clients)."""
    with _registry_lock:
        lock = _sync_key_locks.get(api_key)
        if lock is None:
            lock = _sync_key_locks[api_key] = threading.Lock()
        return lock


def _async_key_lock(api_key: str) -> asyncio.Lock:
    """The lock that serialises signed calls of one key on the running loop (async clients)."""
    import asyncio

    loop = asyncio.get_running_loop()
    with _registry_lock:
        locks = _async_key_locks.get(loop)
        if locks is None:
            locks = _async_key_locks[loop] = {}
        lock = locks.get(api_key)
        if lock is None:
            lock = locks[api_key] = asyncio.Lock()
        return lock


def new_cl_ord_id() -> str:
    """A fresh client order id (a UUID4 string, which Kraken accepts as ``cl_ord_id``)."""
    return str(uuid.uuid4())


# --------------------------------------------------------------------------------------------
# the shared core: settings, request preparation, retry decisions
# --------------------------------------------------------------------------------------------


class _Attempt:
    """Mutable state of one logical call across its retries."""

    __slots__ = ("attempt", "cl_ord_id", "method", "nonce_retried", "private")

    def __init__(self, method: str, private: bool, cl_ord_id: str | None) -> None:
        self.method = method
        self.private = private
        self.cl_ord_id = cl_ord_id
        self.attempt = 0
        self.nonce_retried = False


class _Core:
    """Settings and the pure decisions shared by the sync and async clients."""

    def __init__(
        self,
        *,
        base_url: str | None,
        credentials: Credentials | None,
        api_key: str | None,
        api_secret: str | None,
        timeout: float,
        allow_insecure: bool,
        nonce_source: NonceSource | None,
        rate_limit: str | RestRateLimiter | None,
        rate_limit_mode: Literal["wait", "raise"],
        clock: Clock | None,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        encoding: Encoding,
        user_agent: str,
        environ: Mapping[str, str] | None,
    ) -> None:
        env = os.environ if environ is None else environ
        url = base_url or env.get(ENV_REST_URL, "").strip() or DEFAULT_REST_URL
        self.base_url = check_url(url, allow_insecure=allow_insecure, websocket=False)
        if credentials is None and (api_key or api_secret):
            if not (api_key and api_secret):
                raise CredentialsError("pass both api_key and api_secret (or credentials=)")
            credentials = Credentials(api_key, api_secret)
        if credentials is None:
            credentials = Credentials.maybe_from_env(env)
        self.credentials = credentials
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = float(timeout)
        self.clock: Clock = clock or SystemClock()
        self.nonce_source = nonce_source
        if isinstance(rate_limit, RestRateLimiter) or rate_limit is None:
            self.limiter = rate_limit
        else:
            # the shells sleep in real time, so a limiter built here runs on the real clock
            self.limiter = RestRateLimiter(rate_limit, mode=rate_limit_mode)
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        if encoding not in ("form", "json"):
            raise ValueError("encoding must be 'form' or 'json'")
        self.encoding: Encoding = encoding
        self.user_agent = user_agent

    # -- preparation ---------------------------------------------------------------------

    def require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise CredentialsError(
                "no API credentials: pass credentials= (or api_key= and api_secret=), or set "
                "KRAKEN_API_KEY and KRAKEN_API_SECRET")
        return self.credentials

    def nonces(self) -> NonceSource:
        if self.nonce_source is None:
            self.nonce_source = NonceSource.shared(self.require_credentials().api_key)
        return self.nonce_source

    def prepare_public(self, method: str, params: Mapping[str, Any]) -> PreparedRequest:
        return build_public(self.base_url, method, params, user_agent=self.user_agent)

    def prepare_private(self, method: str, params: Mapping[str, Any]) -> PreparedRequest:
        credentials = self.require_credentials()
        return build_private(self.base_url, method, params, api_key=credentials.api_key,
                             signer=credentials.signer, nonce=self.nonces().next(),
                             encoding=self.encoding, user_agent=self.user_agent)

    @staticmethod
    def order_params(method: str, params: dict[str, Any]) -> str | None:
        """Give an ``AddOrder`` a ``cl_ord_id`` unless it has one or a ``userref``."""
        if method != "AddOrder":
            return None
        if params.get("cl_ord_id") is None and params.get("userref") is None:
            params["cl_ord_id"] = new_cl_ord_id()
        cl_ord_id = params.get("cl_ord_id")
        return None if cl_ord_id is None else str(cl_ord_id)

    # -- decisions -----------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return delay * random.uniform(0.5, 1.0)

    def on_failure(self, exc: KrakenwireError, state: _Attempt) -> float:
        """Decide what to do after a failed attempt: return a delay before retrying, or raise
        the exception the caller should see."""
        method = state.method
        if isinstance(exc, ClientRateLimited):
            raise exc
        placing = method in NEVER_RETRIED
        if placing:
            unknown = (
                (isinstance(exc, TransportError) and exc.maybe_sent)
                or (isinstance(exc, ProtocolError) and exc.status in (None, 200))
            )
            if unknown and state.cl_ord_id is not None:
                log.warning("%s outcome unknown (cl_ord_id=%s): %s", method, state.cl_ord_id,
                            type(exc).__name__)
                raise OrderOutcomeUnknown(state.cl_ord_id, method=method, cause=exc) from exc
            raise exc
        if isinstance(exc, InvalidNonce):
            if state.nonce_retried:
                raise exc
            state.nonce_retried = True
            log.info("%s: Kraken refused the nonce; retrying once with a fresh nonce", method)
            return 0.0
        if isinstance(exc, RateLimitExceeded) and self.limiter is not None \
                and RATE_LIMIT in exc.errors:
            self.limiter.penalize()  # the server's REST counter is full: let ours say so
            if self.limiter.mode == "raise":
                raise exc
        retryable = isinstance(exc, TransportError | ServiceUnavailable | RateLimitExceeded)
        if not retryable or state.attempt > self.max_retries:
            raise exc
        delay = self.backoff(state.attempt)
        if isinstance(exc, RateLimitExceeded) and self.limiter is not None:
            delay = max(delay, 1.0 / max(self.limiter.decay_per_s, 1e-3))
        log.info("%s failed (%s); retry %d/%d in %.2f s", method, type(exc).__name__,
                 state.attempt, self.max_retries, delay)
        return delay

    def result(self, request: PreparedRequest, status: int, body: bytes,
               content_type: str | None, started: float) -> Any:
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> HTTP %d (%d bytes) in %.1f ms", request.http_method, request.path,
                  status, len(body), elapsed_ms)
        envelope = parse_response(status, body, content_type, method=request.kraken_method)
        for warning in envelope.warnings:
            log.warning("%s: Kraken warning %s", request.kraken_method, warning)
        return envelope.result

    def describe(self, cls_name: str) -> str:
        key = self.credentials.redacted_key if self.credentials else None
        return f"{cls_name}(base_url={self.base_url!r}, api_key={key!r})"


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason for a low-level network error."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 8:
        inner = todo.pop(0)
        seen.append(inner)
        if isinstance(inner, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        if type(inner).__name__ in ("RemoteDisconnected", "ServerDisconnectedError"):
            return "server closed the connection without answering"
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
        todo.extend(a for a in inner.args if isinstance(a, BaseException))
        todo.extend(e for e in (inner.__cause__, inner.__context__) if e is not None)
    return type(exc).__name__


# --------------------------------------------------------------------------------------------
# the sync client
# --------------------------------------------------------------------------------------------


class _Helpers:
    """Typed helpers shared by both clients (they only build params and parse results)."""

    _core: _Core

    @staticmethod
    def _tickers(result: Any) -> dict[str, Ticker]:
        from krakenwire.protocol.rest_types import Ticker

        return {pair: Ticker.from_raw(pair, raw) for pair, raw in dict(result).items()}

    @staticmethod
    def _balances(result: Any) -> dict[str, Decimal]:
        from krakenwire.protocol.rest_types import to_decimal

        return {asset: to_decimal(value, asset) for asset, value in dict(result).items()}

    @staticmethod
    def _balances_ex(result: Any) -> dict[str, BalanceEx]:
        from krakenwire.protocol.rest_types import BalanceEx

        return {asset: BalanceEx.from_raw(value) for asset, value in dict(result).items()}

    @staticmethod
    def _orders(result: Any, key: str | None) -> dict[str, OrderInfo]:
        data = dict(result)
        if key is not None:
            data = dict(data.get(key) or {})
        from krakenwire.protocol.rest_types import OrderInfo

        return {txid: OrderInfo.from_raw(txid, raw) for txid, raw in data.items()}

    def _token(self, result: Any) -> WebSocketToken:
        try:
            value = str(result["token"])
            expires = float(result.get("expires", 900))
        except (KeyError, TypeError, AttributeError):
            raise ProtocolError("GetWebSocketsToken result has no token",
                                method="GetWebSocketsToken") from None
        now = self._core.clock.now()
        return WebSocketToken(value, now + expires, now)

    @staticmethod
    def _order_args(pair: str, side: str, ordertype: str, volume: Decimal | str | int,
                    price: Decimal | str | int | None, cl_ord_id: str | None,
                    extra: dict[str, Any]) -> dict[str, Any]:
        if extra.get("userref") is not None:
            raise ValueError("add_order always sends a cl_ord_id, and Kraken accepts userref "
                             "or cl_ord_id, not both; use private('AddOrder', ...) for userref")
        params: dict[str, Any] = {"ordertype": ordertype, "type": side, "volume": volume,
                                  "pair": pair}
        if price is not None:
            params["price"] = price
        params["cl_ord_id"] = cl_ord_id or new_cl_ord_id()
        params.update(extra)
        return params

    @staticmethod
    def _cancel_args(txid: str | None, cl_ord_id: str | None) -> dict[str, Any]:
        if (txid is None) == (cl_ord_id is None):
            raise ValueError("pass exactly one of txid or cl_ord_id")
        return {"txid": txid} if txid is not None else {"cl_ord_id": cl_ord_id}

    @staticmethod
    def _pick(orders: dict[str, OrderInfo], cl_ord_id: str) -> OrderInfo | None:
        for order in orders.values():
            if order.cl_ord_id == cl_ord_id:
                return order
        return None


class KrakenClient(_Helpers):
    """Synchronous Kraken REST client (urllib3 keep-alive pool).

    ``KrakenClient(credentials=None, *, base_url=None, api_key=None, api_secret=None,
    timeout=10.0, allow_insecure=False, nonce_source=None, rate_limit="starter",
    rate_limit_mode="wait", clock=None, max_retries=3, backoff_base=0.25, backoff_max=4.0,
    encoding="form", user_agent=..., pool_maxsize=4, environ=None)``.

    ``rate_limit`` is a tier name (``starter``, ``intermediate``, ``pro``, ``unlimited``), a
    :class:`~krakenwire.ratelimit.RestRateLimiter`, or ``None`` for no client-side limiting.
    Use it as a context manager or call :meth:`close`.

    Raises (constructor): :class:`~krakenwire.errors.InsecureURLError` for a refused URL,
    :class:`~krakenwire.auth.CredentialsError` for malformed credentials, ``ValueError`` for bad
    settings. Calls raise :class:`~krakenwire.errors.KrakenError` subclasses,
    :class:`~krakenwire.errors.TransportError`, :class:`~krakenwire.errors.ProtocolError`,
    :class:`~krakenwire.errors.OrderOutcomeUnknown`, or ``CredentialsError`` for a private call
    without credentials.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_insecure: bool = False,
        nonce_source: NonceSource | None = None,
        rate_limit: str | RestRateLimiter | None = "starter",
        rate_limit_mode: Literal["wait", "raise"] = "wait",
        clock: Clock | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.25,
        backoff_max: float = 4.0,
        encoding: Encoding = "form",
        user_agent: str = USER_AGENT,
        pool_maxsize: int = 4,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._core = _Core(
            base_url=base_url, credentials=credentials, api_key=api_key, api_secret=api_secret,
            timeout=timeout, allow_insecure=allow_insecure, nonce_source=nonce_source,
            rate_limit=rate_limit, rate_limit_mode=rate_limit_mode, clock=clock,
            max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max,
            encoding=encoding, user_agent=user_agent, environ=environ)
        self._pool_maxsize = pool_maxsize
        self._pool: urllib3.PoolManager | None = None
        self._pool_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The REST base URL in use."""
        return self._core.base_url

    @property
    def credentials(self) -> Credentials | None:
        """The credentials in use (``None``: public calls only)."""
        return self._core.credentials

    @property
    def nonce_source(self) -> NonceSource:
        """The nonce source of this client's key."""
        return self._core.nonces()

    @property
    def rate_limiter(self) -> RestRateLimiter | None:
        """The client-side REST call counter, if any."""
        return self._core.limiter

    @property
    def clock(self) -> Clock:
        """The clock that stamps tokens (``issued_at`` / ``expires_at``)."""
        return self._core.clock

    def _get_pool(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is None:
            import urllib3

            with self._pool_lock:
                if self._pool is None:
                    self._pool = urllib3.PoolManager(num_pools=4, maxsize=self._pool_maxsize,
                                                     block=False, retries=False)
                pool = self._pool
        return pool

    def _send(self, request: PreparedRequest, timeout: float) -> tuple[int, bytes, str | None]:
        import urllib3
        from urllib3 import exceptions as u3

        try:
            response = self._get_pool().request(
                request.http_method, request.url, body=request.body, headers=request.headers,
                timeout=urllib3.Timeout(total=timeout), retries=False, redirect=False,
                preload_content=True)
        except (u3.NewConnectionError, u3.ConnectTimeoutError) as exc:
            raise TransportError(f"cannot connect to {self._core.base_url}: {_reason(exc)}",
                                 maybe_sent=False, method=request.kraken_method) from None
        except u3.SSLError:
            raise TransportError(f"TLS failure talking to {self._core.base_url}",
                                 maybe_sent=False, method=request.kraken_method) from None
        except u3.ReadTimeoutError:
            raise TransportError(f"no answer within {timeout:g} s", maybe_sent=True,
                                 method=request.kraken_method) from None
        except (u3.HTTPError, OSError) as exc:
            raise TransportError(f"connection failed after sending: {_reason(exc)}",
                                 maybe_sent=True, method=request.kraken_method) from None
        return response.status, response.data, response.headers.get("Content-Type")

    def _wait_rate_limit(self, method: str) -> None:
        limiter = self._core.limiter
        if limiter is None:
            return
        while (delay := limiter.acquire(method)) > 0:
            log.info("%s: waiting %.2f s for the REST call counter", method, delay)
            time.sleep(delay)

    def _call(self, private: bool, method: str, params: dict[str, Any],
              timeout: float | None) -> Any:
        core = self._core
        call_timeout = core.timeout if timeout is None else timeout
        state = _Attempt(method, private, core.order_params(method, params) if private else None)
        while True:
            state.attempt += 1
            try:
                if private:
                    core.require_credentials()
                    self._wait_rate_limit(method)
                    with _sync_key_lock(core.require_credentials().api_key):
                        request = core.prepare_private(method, params)
                        started = time.perf_counter()
                        status, body, ctype = self._send(request, call_timeout)
                else:
                    request = core.prepare_public(method, params)
                    started = time.perf_counter()
                    status, body, ctype = self._send(request, call_timeout)
                return core.result(request, status, body, ctype, started)
            except (TransportError, ProtocolError) as exc:
                delay = core.on_failure(exc, state)
            except (InvalidNonce, RateLimitExceeded, ServiceUnavailable) as exc:
                delay = core.on_failure(exc, state)
            if delay > 0:
                time.sleep(delay)

    def close(self) -> None:
        """Close pooled connections (the client can still be used; it reconnects)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.clear()

    def __enter__(self) -> KrakenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return self._core.describe("KrakenClient")

    # -- generic calls -------------------------------------------------------------------

    def public(self, method: str, *, request_timeout: float | None = None,
               **params: Any) -> Any:
        """Call a public method (``GET /0/public/<method>``) and return its raw result.

        ``params`` are Kraken's parameters; ``request_timeout`` overrides the client's timeout.

        Retried on transient failures. Raises as described on the class.
        """
        return self._call(False, method, params, request_timeout)

    def private(self, method: str, *, request_timeout: float | None = None,
                **params: Any) -> Any:
        """Call a private method (signed ``POST /0/private/<method>``) and return its raw result.

        ``AddOrder`` gets a ``cl_ord_id`` if it has neither that nor a ``userref``, and is never
        retried. Raises as described on the class.
        """
        return self._call(True, method, params, request_timeout)

    # -- typed helpers -------------------------------------------------------------------

    def server_time(self) -> ServerTime:
        """``Time``."""
        from krakenwire.protocol.rest_types import ServerTime

        return ServerTime.from_raw(self.public("Time"))

    def system_status(self) -> SystemStatus:
        """``SystemStatus``."""
        from krakenwire.protocol.rest_types import SystemStatus

        return SystemStatus.from_raw(self.public("SystemStatus"))

    def assets(self, *assets: str) -> dict[str, Any]:
        """``Assets`` (raw), optionally restricted to ``assets``."""
        return dict(self.public("Assets", asset=list(assets) or None))

    def asset_pairs(self, *pairs: str, info: str | None = None) -> dict[str, Any]:
        """``AssetPairs`` (raw), optionally restricted to ``pairs``."""
        return dict(self.public("AssetPairs", pair=list(pairs) or None, info=info))

    def ticker(self, *pairs: str) -> dict[str, Ticker]:
        """``Ticker`` for ``pairs`` (keyed as Kraken keys them, e.g. ``XXBTZUSD``)."""
        return self._tickers(self.public("Ticker", pair=list(pairs) or None))

    def get_websockets_token(self) -> WebSocketToken:
        """``GetWebSocketsToken``: a token for the authenticated WebSocket (needs the key's
        WebSocket permission, else :class:`~krakenwire.errors.PermissionDenied`)."""
        return self._token(self.private("GetWebSocketsToken"))

    def balance(self) -> dict[str, Decimal]:
        """``Balance``: asset -> balance."""
        return self._balances(self.private("Balance"))

    def balance_ex(self) -> dict[str, BalanceEx]:
        """``BalanceEx``: asset -> balance and amount held by orders."""
        return self._balances_ex(self.private("BalanceEx"))

    def open_orders(self, **params: Any) -> dict[str, OrderInfo]:
        """``OpenOrders`` (params: ``trades``, ``userref``, ``cl_ord_id``): txid -> order."""
        return self._orders(self.private("OpenOrders", **params), "open")

    def closed_orders(self, **params: Any) -> dict[str, OrderInfo]:
        """``ClosedOrders`` (params: ``start``, ``end``, ``ofs``, ``closetime``, ``userref``,
        ``cl_ord_id``...): txid -> order (the raw call also gives ``count``)."""
        return self._orders(self.private("ClosedOrders", **params), "closed")

    def query_orders(self, *txids: str, **params: Any) -> dict[str, OrderInfo]:
        """``QueryOrders`` for ``txids``: txid -> order."""
        return self._orders(self.private("QueryOrders", txid=list(txids), **params), None)

    def add_order(self, pair: str, side: str, ordertype: str, volume: Decimal | str | int,
                  price: Decimal | str | int | None = None, *, cl_ord_id: str | None = None,
                  **params: Any) -> AddOrderResult:
        """``AddOrder`` with a ``cl_ord_id`` (generated if absent). Never retried.

        Raises:
            OrderOutcomeUnknown: the request may have reached Kraken but no answer came back;
                look the order up with :meth:`order_by_cl_ord_id` (``err.cl_ord_id``).
            ValueError: if ``userref`` is passed (Kraken takes userref or cl_ord_id, not both).
        """
        args = self._order_args(pair, side, ordertype, volume, price, cl_ord_id, params)
        from krakenwire.protocol.rest_types import AddOrderResult

        return AddOrderResult.from_raw(self.private("AddOrder", **args), args["cl_ord_id"])

    def cancel_order(self, txid: str | None = None, *, cl_ord_id: str | None = None) -> int:
        """``CancelOrder`` by order id (or userref) or by ``cl_ord_id``; returns the count.

        Raises:
            UnknownOrder: if no open order matches.
        """
        return int(self.private("CancelOrder", **self._cancel_args(txid, cl_ord_id))["count"])

    def cancel_all(self) -> int:
        """``CancelAll``: cancel every open order; returns the count."""
        return int(self.private("CancelAll")["count"])

    def cancel_all_orders_after(self, timeout: int) -> CancelAllAfterResult:
        """``CancelAllOrdersAfter``: the dead-man switch (``timeout`` seconds, 0 disables)."""
        from krakenwire.protocol.rest_types import CancelAllAfterResult

        return CancelAllAfterResult.from_raw(self.private("CancelAllOrdersAfter",
                                                          timeout=int(timeout)))

    def order_by_cl_ord_id(self, cl_ord_id: str) -> OrderInfo | None:
        """Find an order by ``cl_ord_id``: open orders first, then closed ones; ``None`` if
        Kraken knows no such order (e.g. after :class:`~krakenwire.errors.OrderOutcomeUnknown`,
        it was never placed)."""
        found = self._pick(self.open_orders(cl_ord_id=cl_ord_id), cl_ord_id)
        if found is None:
            found = self._pick(self.closed_orders(cl_ord_id=cl_ord_id), cl_ord_id)
        return found


# --------------------------------------------------------------------------------------------
# the async client
# --------------------------------------------------------------------------------------------


class AsyncKrakenClient(_Helpers):
    """Asynchronous Kraken REST client (aiohttp keep-alive session).

    Same settings, guarantees and errors as :class:`KrakenClient`; every call is a coroutine.
    The aiohttp session is created on first use, inside the running loop; use
    ``async with AsyncKrakenClient(...) as client:`` or ``await client.close()``.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_insecure: bool = False,
        nonce_source: NonceSource | None = None,
        rate_limit: str | RestRateLimiter | None = "starter",
        rate_limit_mode: Literal["wait", "raise"] = "wait",
        clock: Clock | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.25,
        backoff_max: float = 4.0,
        encoding: Encoding = "form",
        user_agent: str = USER_AGENT,
        pool_maxsize: int = 4,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._core = _Core(
            base_url=base_url, credentials=credentials, api_key=api_key, api_secret=api_secret,
            timeout=timeout, allow_insecure=allow_insecure, nonce_source=nonce_source,
            rate_limit=rate_limit, rate_limit_mode=rate_limit_mode, clock=clock,
            max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max,
            encoding=encoding, user_agent=user_agent, environ=environ)
        self._pool_maxsize = pool_maxsize
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    base_url = KrakenClient.base_url
    credentials = KrakenClient.credentials
    nonce_source = KrakenClient.nonce_source
    rate_limiter = KrakenClient.rate_limiter
    clock = KrakenClient.clock

    def _get_session(self) -> aiohttp.ClientSession:
        import asyncio

        session = self._session
        loop = asyncio.get_running_loop()
        if session is None or session.closed or self._session_loop is not loop:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self._pool_maxsize)
            session = self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, raise_for_status=False)
            self._session_loop = loop
        return session

    async def _send(self, request: PreparedRequest,
                    timeout: float) -> tuple[int, bytes, str | None]:
        import aiohttp

        session = self._get_session()
        try:
            async with session.request(
                request.http_method, request.url, data=request.body, headers=request.headers,
                timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False,
            ) as response:
                body = await response.read()
                return response.status, body, response.headers.get("Content-Type")
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(f"cannot connect to {self._core.base_url}: {_reason(exc)}",
                                 maybe_sent=False, method=request.kraken_method) from None
        except TimeoutError:
            raise TransportError(f"no answer within {timeout:g} s", maybe_sent=True,
                                 method=request.kraken_method) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"connection failed after sending: {_reason(exc)}",
                                 maybe_sent=True, method=request.kraken_method) from None

    async def _wait_rate_limit(self, method: str) -> None:
        import asyncio

        limiter = self._core.limiter
        if limiter is None:
            return
        while (delay := limiter.acquire(method)) > 0:
            log.info("%s: waiting %.2f s for the REST call counter", method, delay)
            await asyncio.sleep(delay)

    async def _call(self, private: bool, method: str, params: dict[str, Any],
                    timeout: float | None) -> Any:
        import asyncio

        core = self._core
        call_timeout = core.timeout if timeout is None else timeout
        state = _Attempt(method, private, core.order_params(method, params) if private else None)
        while True:
            state.attempt += 1
            try:
                if private:
                    core.require_credentials()
                    await self._wait_rate_limit(method)
                    async with _async_key_lock(core.require_credentials().api_key):
                        request = core.prepare_private(method, params)
                        started = time.perf_counter()
                        status, body, ctype = await self._send(request, call_timeout)
                else:
                    request = core.prepare_public(method, params)
                    started = time.perf_counter()
                    status, body, ctype = await self._send(request, call_timeout)
                return core.result(request, status, body, ctype, started)
            except (TransportError, ProtocolError) as exc:
                delay = core.on_failure(exc, state)
            except (InvalidNonce, RateLimitExceeded, ServiceUnavailable) as exc:
                delay = core.on_failure(exc, state)
            if delay > 0:
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Close the aiohttp session (a later call opens a new one)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> AsyncKrakenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return self._core.describe("AsyncKrakenClient")

    # -- generic calls -------------------------------------------------------------------

    async def public(self, method: str, *, request_timeout: float | None = None,
               **params: Any) -> Any:
        """Call a public method and return its raw result (see :meth:`KrakenClient.public`)."""
        return await self._call(False, method, params, request_timeout)

    async def private(self, method: str, *, request_timeout: float | None = None,
                **params: Any) -> Any:
        """Call a private method and return its raw result (see :meth:`KrakenClient.private`)."""
        return await self._call(True, method, params, request_timeout)

    # -- typed helpers -------------------------------------------------------------------

    async def server_time(self) -> ServerTime:
        """``Time``."""
        from krakenwire.protocol.rest_types import ServerTime

        return ServerTime.from_raw(await self.public("Time"))

    async def system_status(self) -> SystemStatus:
        """``SystemStatus``."""
        from krakenwire.protocol.rest_types import SystemStatus

        return SystemStatus.from_raw(await self.public("SystemStatus"))

    async def assets(self, *assets: str) -> dict[str, Any]:
        """``Assets`` (raw)."""
        return dict(await self.public("Assets", asset=list(assets) or None))

    async def asset_pairs(self, *pairs: str, info: str | None = None) -> dict[str, Any]:
        """``AssetPairs`` (raw)."""
        return dict(await self.public("AssetPairs", pair=list(pairs) or None, info=info))

    async def ticker(self, *pairs: str) -> dict[str, Ticker]:
        """``Ticker`` for ``pairs``."""
        return self._tickers(await self.public("Ticker", pair=list(pairs) or None))

    async def get_websockets_token(self) -> WebSocketToken:
        """``GetWebSocketsToken`` (see :meth:`KrakenClient.get_websockets_token`)."""
        return self._token(await self.private("GetWebSocketsToken"))

    async def balance(self) -> dict[str, Decimal]:
        """``Balance``: asset -> balance."""
        return self._balances(await self.private("Balance"))

    async def balance_ex(self) -> dict[str, BalanceEx]:
        """``BalanceEx``."""
        return self._balances_ex(await self.private("BalanceEx"))

    async def open_orders(self, **params: Any) -> dict[str, OrderInfo]:
        """``OpenOrders``: txid -> order."""
        return self._orders(await self.private("OpenOrders", **params), "open")

    async def closed_orders(self, **params: Any) -> dict[str, OrderInfo]:
        """``ClosedOrders``: txid -> order."""
        return self._orders(await self.private("ClosedOrders", **params), "closed")

    async def query_orders(self, *txids: str, **params: Any) -> dict[str, OrderInfo]:
        """``QueryOrders`` for ``txids``."""
        return self._orders(await self.private("QueryOrders", txid=list(txids), **params), None)

    async def add_order(self, pair: str, side: str, ordertype: str,
                        volume: Decimal | str | int, price: Decimal | str | int | None = None,
                        *, cl_ord_id: str | None = None, **params: Any) -> AddOrderResult:
        """``AddOrder`` (see :meth:`KrakenClient.add_order`). Never retried.

        Raises:
            OrderOutcomeUnknown: outcome unknown; look up ``err.cl_ord_id``.
        """
        args = self._order_args(pair, side, ordertype, volume, price, cl_ord_id, params)
        from krakenwire.protocol.rest_types import AddOrderResult

        return AddOrderResult.from_raw(await self.private("AddOrder", **args), args["cl_ord_id"])

    async def cancel_order(self, txid: str | None = None, *,
                           cl_ord_id: str | None = None) -> int:
        """``CancelOrder`` by id or ``cl_ord_id``; returns the count."""
        result = await self.private("CancelOrder", **self._cancel_args(txid, cl_ord_id))
        return int(result["count"])

    async def cancel_all(self) -> int:
        """``CancelAll``; returns the count."""
        return int((await self.private("CancelAll"))["count"])

    async def cancel_all_orders_after(self, timeout: int) -> CancelAllAfterResult:
        """``CancelAllOrdersAfter`` (``timeout`` seconds, 0 disables)."""
        from krakenwire.protocol.rest_types import CancelAllAfterResult

        return CancelAllAfterResult.from_raw(
            await self.private("CancelAllOrdersAfter", timeout=int(timeout)))

    async def order_by_cl_ord_id(self, cl_ord_id: str) -> OrderInfo | None:
        """Find an order by ``cl_ord_id`` (open first, then closed); ``None`` if unknown."""
        found = self._pick(await self.open_orders(cl_ord_id=cl_ord_id), cl_ord_id)
        if found is None:
            found = self._pick(await self.closed_orders(cl_ord_id=cl_ord_id), cl_ord_id)
        return found
