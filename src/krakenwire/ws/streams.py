"""Bounded, single-consumer event streams that say when they overflowed.

The socket reader pushes with :meth:`EventStream.push`, which never blocks and never runs user
code: when the stream is full the new item is not queued but counted, and the consumer is
handed a :class:`~krakenwire.ws.events.Gap` naming how many items it missed, at the place where
they were missed. So a slow consumer never delays the reader (acks, pongs, reconnects), and
never loses items silently.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from krakenwire.ws.events import Gap

__all__ = ["EventStream"]

T = TypeVar("T")


class EventStream(Generic[T]):
    """A bounded FIFO of ``T`` items plus :class:`Gap` markers.

    ``EventStream(name, maxsize)``; ``push(item)`` from the producer, ``async for item in
    stream`` (or :meth:`get`) from the consumer. Several concurrent readers share the items
    (each item goes to one of them). Iteration ends after :meth:`close` once the queued items
    are drained.

    Raises:
        ValueError: if ``maxsize`` < 1.
    """

    __slots__ = ("_closed", "_items", "_maxsize", "_missed", "_waiters", "name")

    def __init__(self, name: str, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.name = name
        self._maxsize = maxsize
        self._items: deque[T | Gap] = deque()
        self._missed = 0
        self._closed = False
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def missed(self) -> int:
        """Items dropped since the last gap marker was queued (not yet reported)."""
        return self._missed

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def push(self, item: T) -> bool:
        """Queue ``item`` without blocking; return False if it was dropped (stream full or
        closed). A dropped item is counted and reported to the consumer as a :class:`Gap`."""
        if self._closed:
            return False
        if len(self._items) >= self._maxsize:
            self._missed += 1
            return False
        if self._missed:
            # the gap marker may take the queue one past maxsize: it must sit where the loss was
            self._items.append(Gap(self.name, self._missed))
            self._missed = 0
        self._items.append(item)
        self._wake()
        return True

    def close(self) -> None:
        """End the stream: the consumer gets what is queued, then iteration stops."""
        self._closed = True
        self._wake()

    def get_nowait(self) -> T | Gap | None:
        """Return the next item, a pending :class:`Gap`, or None if there is nothing."""
        if self._items:
            return self._items.popleft()
        if self._missed:
            gap = Gap(self.name, self._missed)
            self._missed = 0
            return gap
        return None

    async def get(self) -> T | Gap:
        """Wait for and return the next item.

        Raises:
            StopAsyncIteration: when the stream is closed and drained.
        """
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self._closed:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[T | Gap]:
        return self

    async def __anext__(self) -> T | Gap:
        return await self.get()

    def __repr__(self) -> str:
        return (f"EventStream({self.name!r}, queued={len(self._items)}, "
                f"missed={self._missed}, closed={self._closed})")
