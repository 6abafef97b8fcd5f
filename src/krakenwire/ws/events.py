"""Lifecycle events of a WebSocket session, and the gap marker of a bounded stream.

A session reports what happens to its connection as small frozen dataclasses on
``session.events()``: connecting, authenticated, subscribed (or resubscribed after a
reconnect), reconnecting with the attempt number and the delay chosen, token refreshed, order
outcome unknown, rate-limit warnings, disconnected and closed. They carry no secret (no token,
no key, no signature), so they are safe to print or log as they are.

Shared by the v2 session and the v1 session built on the same parts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Authenticated",
    "Closed",
    "Connecting",
    "Disconnected",
    "Gap",
    "LifecycleEvent",
    "OrderOutcomeUnknownEvent",
    "RateLimitWarning",
    "Reconnecting",
    "Subscribed",
    "TokenRefreshed",
]


@dataclass(frozen=True, slots=True)
class Gap:
    """A bounded stream overflowed: ``missed`` items of ``stream`` were not delivered here.

    Nothing is lost for the session itself (the open-orders view is kept by the reader); the
    consumer of this one stream fell behind and should re-read the state it cares about.
    """

    stream: str
    missed: int


@dataclass(frozen=True, slots=True)
class Connecting:
    """A connection attempt starts (``attempt`` counts from 1 since the last good session)."""

    url: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A token was accepted on a new connection: its first private subscription succeeded
    (once per connection, so again after each reconnect)."""

    url: str


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A channel subscription was acknowledged; ``resubscribed`` after a reconnect or a token
    refresh."""

    channel: str
    resubscribed: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The socket was lost or given up; ``reason`` says why (no secrets)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The session will try again after ``delay`` seconds (``attempt`` counts from 1)."""

    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class TokenRefreshed:
    """The WebSocket token was replaced by a fresh one (``reason``: why the old one went)."""

    reason: str


@dataclass(frozen=True, slots=True)
class OrderOutcomeUnknownEvent:
    """An order request was sent but its reply never came (connection lost or timeout): the
    order may or may not exist. ``cl_ord_id`` identifies it for ``reconcile``."""

    method: str
    cl_ord_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RateLimitWarning:
    """The trading rate counter is high (``count`` of ``maximum``) or a request was refused
    for rate limits (``error`` is Kraken's string then)."""

    count: float | None
    maximum: float | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """The session was closed by the program (the last lifecycle event)."""

    reason: str


LifecycleEvent = (
    Connecting
    | Authenticated
    | Subscribed
    | Disconnected
    | Reconnecting
    | TokenRefreshed
    | OrderOutcomeUnknownEvent
    | RateLimitWarning
    | Closed
    | Gap
)
