"""krakenwire's exceptions, built from Kraken's error strings (kraken-protocol.md §2).

Three families, all under :class:`KrakenwireError`:

* :class:`KrakenError` — Kraken answered and refused. It carries the raw error strings
  (``errors``) and a ``retryable`` flag; the subclass says what kind of refusal it was
  (:func:`error_from_kraken` picks it from the strings of a REST ``error`` array, a WS v2
  ``error`` string or a WS v1 ``errorMessage``).
* :class:`TransportError` (connection refused, timeout, TLS, reset, HTTP 5xx) and
  :class:`ProtocolError` (an answer that is not Kraken's JSON envelope) — no usable answer.
* :class:`OrderOutcomeUnknown` — an order request may or may not have reached the matching
  engine; it carries the ``cl_ord_id`` to look the order up with.

No message, ``repr`` or traceback of any of them contains an API secret, a signature or a
WebSocket token: they are built only from Kraken's error strings, method names and
krakenwire's own wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from krakenwire.protocol import errors as E

__all__ = [
    "ClientRateLimited",
    "DeadlineElapsed",
    "HTTPRateLimited",
    "InsecureURLError",
    "InsufficientFunds",
    "InvalidArguments",
    "InvalidKey",
    "InvalidNonce",
    "InvalidSession",
    "InvalidSignature",
    "KrakenError",
    "KrakenwireError",
    "MarketRestricted",
    "OrderOutcomeUnknown",
    "OrderRateLimitExceeded",
    "OrderRejected",
    "OrdersLimitExceeded",
    "PermissionDenied",
    "ProtocolError",
    "RateLimitExceeded",
    "ServerError",
    "ServiceUnavailable",
    "SubscriptionError",
    "TemporaryLockout",
    "TransportError",
    "UnknownAssetPair",
    "UnknownMethod",
    "UnknownOrder",
    "WrongEndpoint",
    "error_from_kraken",
]


class KrakenwireError(Exception):
    """Base of every exception krakenwire raises on purpose."""

    retryable: bool = False


# --------------------------------------------------------------------------------------------
# Kraken refused
# --------------------------------------------------------------------------------------------


class KrakenError(KrakenwireError):
    """Kraken answered with one or more error strings.

    Attributes:
        errors: the raw error strings, exactly as Kraken sent them (``E...`` entries only;
            ``W...`` warnings are not errors).
        method: the REST or WebSocket method that was refused, when known.
        retryable: True if the same request may succeed if sent again later (with a fresh
            nonce); False if it needs a change first.
    """

    default_retryable: ClassVar[bool] = False
    hint: ClassVar[str] = ""

    def __init__(self, errors: Sequence[str] | str, *, method: str | None = None,
                 retryable: bool | None = None) -> None:
        self.errors: tuple[str, ...] = (errors,) if isinstance(errors, str) else tuple(errors)
        self.method = method
        self.retryable = self.default_retryable if retryable is None else retryable
        super().__init__(self._message())

    def _message(self) -> str:
        text = "; ".join(self.errors) or "Kraken returned an error"
        prefix = f"{self.method}: " if self.method else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{prefix}{text}{hint}"

    @property
    def error(self) -> str:
        """The first raw error string ('' if none)."""
        return self.errors[0] if self.errors else ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.errors, self.method, self.retryable))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.errors)!r}, method={self.method!r})"


def _rebuild(cls: type[KrakenError], errors: tuple[str, ...], method: str | None,
             retryable: bool) -> KrakenError:
    return cls(errors, method=method, retryable=retryable)


class AuthenticationError(KrakenError):
    """Kraken did not accept the request's authentication (key, signature or nonce)."""


class InvalidKey(AuthenticationError):
    """``EAPI:Invalid key``: the API key is unknown, disabled, or the signature does not match
    (wrong secret). Repeats lead to a temporary lockout, so it is never retried."""

    hint = "check the API key and secret; repeated attempts lead to a temporary lockout"


class InvalidSignature(AuthenticationError):
    """``EAPI:Invalid signature``: the ``API-Sign`` value does not match the request."""

    hint = "the secret does not belong to this key, or the body sent differs from the body signed"


class InvalidNonce(AuthenticationError):
    """``EAPI:Invalid nonce``: the nonce was not larger than the last one Kraken accepted for
    this key. Retried once with a fresh nonce by the clients; if it persists, see the hint."""

    default_retryable = True
    hint = (
        "the nonce was not larger than the last one accepted for this key. Likely causes: "
        "another process or tool is using the same API key at the same time (share one nonce "
        "store, e.g. krakenwire.FileNonceStore, or give each its own key), or a tool used this "
        "key before with a larger nonce scale (krakenwire's default is nanoseconds, the largest "
        "in common use); a nonce window on the key tolerates small reorderings"
    )


class PermissionDenied(KrakenError):
    """``EGeneral:Permission denied``: the key lacks the permission this method needs (e.g.
    "WebSocket interface" for ``GetWebSocketsToken``, trading for ``AddOrder``)."""

    hint = "the API key lacks the permission this method needs"


class TemporaryLockout(KrakenError):
    """``EGeneral:Temporary lockout``: too many failed calls; Kraken blocks the key for a while
    (typically about 15 minutes; calling again extends it)."""

    hint = "too many failed calls in a short time; wait before calling again"


class RateLimitExceeded(KrakenError):
    """The REST call counter (``EAPI:Rate limit exceeded``) or a general throttle
    (``EGeneral:Too many requests``, ``EService: Throttled``) refused the call; retryable
    after a pause."""

    default_retryable = True


class ClientRateLimited(RateLimitExceeded):
    """Raised by krakenwire itself, before sending, when a call would exceed the modelled REST
    call counter and the limiter is configured to raise instead of wait.

    Attributes:
        retry_after: seconds until the call would fit.
    """

    def __init__(self, method: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__((), method=method)

    def _message(self) -> str:
        return (f"{self.method}: would exceed the REST call counter; "
                f"fits again in {self.retry_after:.2f} s (not sent)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ClientRateLimited, (self.method or "", self.retry_after))


class HTTPRateLimited(RateLimitExceeded):
    """The server answered HTTP 429 (Too Many Requests) without a Kraken error string (e.g. a
    proxy or Cloudflare throttle page). The request was refused before processing: retryable
    after a pause, and for an order it means the order was not placed.

    Attributes:
        status: the HTTP status (429).
        errors: empty — there was no Kraken error string.
    """

    def __init__(self, errors: Sequence[str] | str = (), *, method: str | None = None,
                 retryable: bool | None = None, status: int = 429) -> None:
        self.status = status
        super().__init__(errors, method=method, retryable=retryable)

    def _message(self) -> str:
        prefix = f"{self.method}: " if self.method else ""
        return f"{prefix}HTTP {self.status} Too Many Requests (throttled; retry after a pause)"


class OrderRateLimitExceeded(RateLimitExceeded):
    """``EOrder:Rate limit exceeded``: the per-pair trading counter is over its threshold."""


class InvalidArguments(KrakenError):
    """``EGeneral:Invalid arguments[:detail]``, ``EAPI:Bad request`` or a WS refusal of a
    malformed request: the request needs fixing."""


class UnknownMethod(KrakenError):
    """``EGeneral:Unknown method`` (or WS ``Unsupported event``)."""


class UnknownAssetPair(KrakenError):
    """``EQuery:Unknown asset pair`` / ``EQuery:Unknown asset`` / WS ``Currency pair not
    supported``."""


class OrderRejected(KrakenError):
    """An ``EOrder:`` refusal of an order (minimums, tick size, price, margin rules...)."""


class InsufficientFunds(OrderRejected):
    """``EOrder:Insufficient funds``."""


class OrdersLimitExceeded(OrderRejected):
    """``EOrder:Orders limit exceeded``: too many open orders on this pair for the tier."""


class UnknownOrder(KrakenError):
    """``EOrder:Unknown order``: no open order matches the given id."""


class ServiceUnavailable(KrakenError):
    """``EService:Unavailable``, ``EService:Busy`` or ``EGeneral:Internal error``: Kraken is
    temporarily unable to serve; retryable."""

    default_retryable = True


class MarketRestricted(KrakenError):
    """``EService:Market in cancel_only|post_only|limit_only mode``: the market accepts only
    some kinds of request right now."""


class DeadlineElapsed(KrakenError):
    """``EService:Deadline elapsed``: the request was not processed before its ``deadline``."""


class InvalidSession(KrakenError):
    """``ESession:Invalid session`` or ``Token(s) not found``: the WebSocket token is missing,
    invalid or expired. Invalidate it and fetch a new one."""

    default_retryable = True
    hint = "the WebSocket token is missing, invalid or expired; fetch a new one"


class WrongEndpoint(KrakenError):
    """A private request on the public WebSocket host, or the reverse."""


class SubscriptionError(KrakenError):
    """A WebSocket subscription refusal (``Subscription Not Found``, ``Already subscribed``,
    ``Subscription name invalid``...)."""


# --------------------------------------------------------------------------------------------
# no usable answer
# --------------------------------------------------------------------------------------------


class TransportError(KrakenwireError):
    """The request got no usable answer: connection refused or reset, timeout, TLS failure, or
    an HTTP 5xx from Kraken or its proxy.

    Attributes:
        maybe_sent: False only when the request certainly did not reach the server (e.g.
            connection refused); True when it may have been processed.
        method: the Kraken method, when known.
    """

    retryable = True

    def __init__(self, message: str, *, maybe_sent: bool = True,
                 method: str | None = None) -> None:
        self.maybe_sent = maybe_sent
        self.method = method
        super().__init__(f"{method}: {message}" if method else message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_transport_error, (type(self), self._bare(), self.maybe_sent,
                                           self.method))

    def _bare(self) -> str:
        text = str(self)
        prefix = f"{self.method}: " if self.method else ""
        return text[len(prefix):] if prefix and text.startswith(prefix) else text


def _rebuild_transport_error(cls: type[TransportError], message: str, maybe_sent: bool,
                             method: str | None) -> TransportError:
    return cls(message, maybe_sent=maybe_sent, method=method)


class ServerError(TransportError):
    """HTTP 5xx (or a proxy's HTML error page) instead of Kraken's JSON envelope.

    Attributes:
        status: the HTTP status code.
    """

    def __init__(self, message: str, *, status: int, method: str | None = None) -> None:
        self.status = status
        super().__init__(message, maybe_sent=True, method=method)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_server_error, (self._bare(), self.status, self.method))


def _rebuild_server_error(message: str, status: int, method: str | None) -> ServerError:
    return ServerError(message, status=status, method=method)


class ProtocolError(KrakenwireError):
    """The server answered, but not with Kraken's JSON envelope (non-JSON or HTML body, a 4xx
    such as 405 for POST to a public method, an envelope without ``error`` or ``result``).

    Attributes:
        status: the HTTP status code, when known.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 method: str | None = None) -> None:
        self.status = status
        self.method = method
        super().__init__(f"{method}: {message}" if method else message)


class OrderOutcomeUnknown(KrakenwireError):
    """An order request was sent but its outcome is unknown (timeout, reset after sending,
    HTTP 5xx, garbled answer). The order may or may not exist; it is **not** retried.

    Look it up with ``client.order_by_cl_ord_id(err.cl_ord_id)`` before placing it again.

    Attributes:
        cl_ord_id: the client order id the request carried.
        method: the Kraken method (``AddOrder``...).
        cause: the underlying :class:`TransportError` or :class:`ProtocolError`.
    """

    def __init__(self, cl_ord_id: str, *, method: str = "AddOrder",
                 cause: KrakenwireError | None = None) -> None:
        self.cl_ord_id = cl_ord_id
        self.method = method
        self.cause = cause
        reason = f" ({cause})" if cause is not None else ""
        super().__init__(
            f"{method}: outcome unknown for cl_ord_id={cl_ord_id}{reason}; the order may exist — "
            "look it up by cl_ord_id before placing it again"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_outcome, (self.cl_ord_id, self.method, self.cause))


def _rebuild_outcome(cl_ord_id: str, method: str,
                     cause: KrakenwireError | None) -> OrderOutcomeUnknown:
    return OrderOutcomeUnknown(cl_ord_id, method=method, cause=cause)


class InsecureURLError(KrakenwireError, ValueError):
    """A plain ``http://`` / ``ws://`` URL for a host that is not loopback, without
    ``allow_insecure=True``; or a URL krakenwire cannot use."""


# --------------------------------------------------------------------------------------------
# mapping Kraken's strings to classes
# --------------------------------------------------------------------------------------------

_EXACT: dict[str, type[KrakenError]] = {
    E.INVALID_KEY: InvalidKey,
    E.INVALID_SIGNATURE: InvalidSignature,
    E.INVALID_NONCE: InvalidNonce,
    E.RATE_LIMIT: RateLimitExceeded,
    E.BAD_REQUEST: InvalidArguments,
    E.PERMISSION_DENIED: PermissionDenied,
    "EAccount:Invalid permissions": PermissionDenied,
    E.UNKNOWN_METHOD: UnknownMethod,
    "EGeneral:Unknown Method": UnknownMethod,
    E.TEMPORARY_LOCKOUT: TemporaryLockout,
    E.TOO_MANY_REQUESTS: RateLimitExceeded,
    "EAuth:Rate limit exceeded": RateLimitExceeded,
    "EAuth:Too many requests": RateLimitExceeded,
    E.ORDER_RATE_LIMIT: OrderRateLimitExceeded,
    "EOrder:Domain rate limit exceeded": OrderRateLimitExceeded,
    E.ORDERS_LIMIT: OrdersLimitExceeded,
    E.INSUFFICIENT_FUNDS: InsufficientFunds,
    "EOrder:Insufficient margin": InsufficientFunds,
    E.UNKNOWN_ORDER: UnknownOrder,
    E.UNAVAILABLE: ServiceUnavailable,
    E.BUSY: ServiceUnavailable,
    E.DEADLINE_ELAPSED: DeadlineElapsed,
    E.UNKNOWN_PAIR: UnknownAssetPair,
    E.UNKNOWN_ASSET: UnknownAssetPair,
    E.INVALID_SESSION: InvalidSession,
    E.TOKEN_NOT_FOUND: InvalidSession,
    E.PRIVATE_ON_PUBLIC: WrongEndpoint,
    E.PUBLIC_ON_PRIVATE_V2: WrongEndpoint,
    "Public channels not available in this endpoint": WrongEndpoint,
    E.SUBSCRIPTION_NOT_FOUND: SubscriptionError,
    E.ALREADY_SUBSCRIBED: SubscriptionError,
    E.SUBSCRIPTION_NAME_INVALID: SubscriptionError,
    "Subscription depth not supported": SubscriptionError,
    "Event(s) not found": SubscriptionError,
    "Pair(s) not found": UnknownAssetPair,
    E.UNSUPPORTED_EVENT: UnknownMethod,
    E.MALFORMED_REQUEST: InvalidArguments,
}

# checked in order; first match wins
_PREFIXES: tuple[tuple[str, type[KrakenError]], ...] = (
    (E.INVALID_ARGUMENTS, InvalidArguments),
    (E.INTERNAL_ERROR, ServiceUnavailable),
    ("EService: Throttled", RateLimitExceeded),
    ("EService:Throttled", RateLimitExceeded),
    ("EService:Market in ", MarketRestricted),
    ("EService:", ServiceUnavailable),
    ("EQuery:Unknown asset", UnknownAssetPair),
    ("EOrder:", OrderRejected),
    ("ESession:", InvalidSession),
    ("EAPI:Invalid key", InvalidKey),
    ("Currency pair not supported", UnknownAssetPair),
    ("Currency pair not in ISO 4217-A3 format", UnknownAssetPair),
    ("Unsupported field:", InvalidArguments),
)

_SUFFIXES: tuple[tuple[str, type[KrakenError]], ...] = (
    ("field must be a number_float", InvalidArguments),
)


def error_class(message: str) -> type[KrakenError]:
    """The :class:`KrakenError` subclass for one Kraken error string (``KrakenError`` itself if
    the string is not recognised)."""
    text = message.strip()
    exact = _EXACT.get(text)
    if exact is not None:
        return exact
    for prefix, cls in _PREFIXES:
        if text.startswith(prefix):
            return cls
    for suffix, cls in _SUFFIXES:
        if text.endswith(suffix):
            return cls
    return KrakenError


def error_from_kraken(messages: Iterable[str] | str, *, method: str | None = None) -> KrakenError:
    """Build the exception for Kraken's error string(s).

    ``messages`` is a REST ``error`` array, a WS v2 ``error`` string or a WS v1 ``errorMessage``
    string. ``W...`` warnings in an array are ignored when an error is present. The class is
    chosen by the first recognised error string; all strings are kept in ``errors``.

    Never raises; always returns a :class:`KrakenError` (the base class for unknown strings).
    """
    items = [messages] if isinstance(messages, str) else [str(m) for m in messages]
    errors = [m for m in items if not m.startswith("W")] or items
    cls: type[KrakenError] = KrakenError
    for message in errors:
        cls = error_class(message)
        if cls is not KrakenError:
            break
    return cls(errors, method=method)
