"""Request ids and the futures that wait for their replies.

Kraken echoes ``req_id`` (``reqid`` in v1) on every reply to a request that carried one, and
the id must fit a signed 32-bit integer. :class:`ReqIds` hands out such ids, never one still
in use. :class:`PendingReplies` maps each id to a future that the socket reader resolves
directly (no user code runs in the reader: resolving a future only schedules its waiters).
A request may expect several replies (v2 ``cancel_order`` with N ids answers N times under one
``req_id``); the future completes when all have arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INT32_MAX", "Pending", "PendingReplies", "ReqIds"]

INT32_MAX = 2**31 - 1


class ReqIds:
    """Allocates request ids in ``1 .. INT32_MAX``, wrapping around and skipping ids in use.

    ``ReqIds(start=1)``; :meth:`next` takes a container of ids still in use.
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        if not 1 <= start <= INT32_MAX:
            raise ValueError("start must be within 1 .. 2**31-1")
        self._next = start

    def next(self, in_use: Container[int] = ()) -> int:
        """Return the next free id.

        Raises:
            RuntimeError: if every id is in use (cannot happen with fewer than 2**31-1 pending).
        """
        for _ in range(INT32_MAX):
            rid = self._next
            self._next = 1 if rid >= INT32_MAX else rid + 1
            if rid not in in_use:
                return rid
        raise RuntimeError("no free req_id")  # pragma: no cover


@dataclass(slots=True)
class Pending:
    """One request waiting for ``expected`` replies (its ``future`` gets the list of them)."""

    req_id: int
    method: str
    expected: int
    future: asyncio.Future[list[Any]]
    replies: list[Any] = field(default_factory=list)
    context: Any = None  # what the caller needs to interpret a loss (e.g. the cl_ord_id)


class PendingReplies:
    """The requests in flight on one connection, keyed by ``req_id``."""

    __slots__ = ("_ids", "_pending")

    def __init__(self, ids: ReqIds | None = None) -> None:
        self._ids = ids or ReqIds()
        self._pending: dict[int, Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, req_id: object) -> bool:
        return req_id in self._pending

    def open(self, method: str, expected: int = 1, context: Any = None) -> Pending:
        """Allocate a fresh ``req_id`` and a future for ``expected`` replies to ``method``.

        Must be called with an event loop running.
        """
        if expected < 1:
            raise ValueError("expected must be at least 1")
        rid = self._ids.next(self._pending)
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        pending = Pending(rid, method, expected, fut, context=context)
        self._pending[rid] = pending
        return pending

    def resolve(self, req_id: int, reply: Any, *, final: bool = False) -> bool:
        """Record one reply for ``req_id``; complete its future when all expected replies are
        in, or at once when ``final`` (a refusal of the whole request, which is answered only
        once). Return False if no request with that id is waiting (late or foreign reply)."""
        pending = self._pending.get(req_id)
        if pending is None:
            return False
        pending.replies.append(reply)
        if final or len(pending.replies) >= pending.expected:
            del self._pending[req_id]
            if not pending.future.done():
                pending.future.set_result(pending.replies)
        return True

    def only(self, method: str) -> Pending | None:
        """The single request of ``method`` waiting, or None if there are none or several
        (used to route a reply that came back without its ``req_id``)."""
        found = [p for p in self._pending.values() if p.method == method]
        return found[0] if len(found) == 1 else None

    def discard(self, req_id: int) -> Pending | None:
        """Forget ``req_id`` (its waiter gave up); return what was pending, if anything."""
        return self._pending.pop(req_id, None)

    def fail_all(self, make_error: Callable[[Pending], BaseException]) -> list[Pending]:
        """Fail every waiting future with ``make_error(pending)``; return the failed ones."""
        failed = list(self._pending.values())
        self._pending.clear()
        for pending in failed:
            if not pending.future.done():
                pending.future.set_exception(make_error(pending))
                # the waiter may already have given up; do not warn about an unread exception
                pending.future.exception()
        return failed
