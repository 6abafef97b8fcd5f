"""Nonces for Kraken's private REST API (kraken-protocol.md §1.5, §8.3).

Kraken accepts a private call only if its nonce is strictly larger than the last nonce it
accepted for the same API key. :class:`NonceSource` hands out such nonces: time-based (default
scale nanoseconds since the epoch), and never equal to or below the previous one even when
called faster than the clock ticks or when the clock steps back (floor = last + 1). It is
safe to call from many threads and asyncio tasks at once.

Several *processes* sharing one key need one shared counter: :class:`FileNonceStore` keeps the
last nonce in a small file guarded by an OS lock (``fcntl.flock``); pass it as
``NonceSource(store=FileNonceStore(path))`` in every process.
"""

from __future__ import annotations

import os
import threading
import time
from typing import ClassVar, Final, Protocol

from krakenwire.clock import Clock

__all__ = ["SCALES", "FileNonceStore", "NonceSource", "NonceStore", "NonceStoreError"]

#: Named nonce scales: units per second.
SCALES: Final[dict[str, int]] = {
    "s": 1,
    "ms": 1_000,
    "us": 1_000_000,
    "100ns": 10_000_000,
    "ns": 1_000_000_000,
}

_UINT64_MAX: Final = 2**64 - 1


class NonceStoreError(RuntimeError):
    """A nonce store cannot be used (unreadable or corrupt file, no OS lock support)."""


class NonceStore(Protocol):
    """A shared high-water mark for nonces (e.g. across processes)."""

    def reserve(self, candidate: int) -> int:
        """Atomically record and return ``max(candidate, last + 1)``."""
        ...


class NonceSource:
    """Strictly increasing nonces for one API key.

    ``NonceSource(scale="ns", clock=None, store=None, start=0)``:

    * ``scale`` — units per second: a name from :data:`SCALES` or a positive int. The default,
      nanoseconds, is the largest scale in common use, so a key already used by another client
      (milliseconds, 10 ns...) keeps working. Scale changes on a key are one-way: never go down.
    * ``clock`` — a :class:`~krakenwire.clock.Clock`; default the system clock
      (``time.time_ns``, exact at nanosecond scale).
    * ``store`` — an optional :class:`NonceStore` shared with other processes.
    * ``start`` — the floor: every nonce is larger than it.

    :meth:`next` is thread-safe and never blocks for long, so it is also safe from asyncio.

    Raises:
        ValueError: for an unknown or non-positive scale.
    """

    __slots__ = ("_clock", "_last", "_lock", "_store", "scale")

    _shared: ClassVar[dict[str, NonceSource]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, scale: str | int = "ns", *, clock: Clock | None = None,
                 store: NonceStore | None = None, start: int = 0) -> None:
        if isinstance(scale, str):
            if scale not in SCALES:
                raise ValueError(f"unknown nonce scale {scale!r}; use one of {sorted(SCALES)}")
            units = SCALES[scale]
        else:
            units = int(scale)
        if units <= 0:
            raise ValueError("nonce scale must be a positive number of units per second")
        self.scale = units
        self._clock = clock
        self._store = store
        self._last = int(start)
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, api_key: str) -> NonceSource:
        """The process-wide default source for ``api_key`` (created on first use, scale ns).

        Clients that are not given a source use this one, so two clients of one key in one
        process never hand out the same nonce.
        """
        with cls._shared_lock:
            source = cls._shared.get(api_key)
            if source is None:
                source = cls._shared[api_key] = cls()
            return source

    def _now_units(self) -> int:
        if self._clock is None:
            ns = time.time_ns()
            return ns if self.scale == 1_000_000_000 else ns * self.scale // 1_000_000_000
        return int(self._clock.now() * self.scale)

    def next(self) -> int:
        """Return a nonce larger than every nonce this source (and its store) gave before.

        Raises:
            NonceStoreError: if the store cannot be used.
            OverflowError: past the unsigned 64-bit range Kraken accepts.
        """
        with self._lock:
            value = max(self._now_units(), self._last + 1)
            if self._store is not None:
                value = self._store.reserve(value)
            if value > _UINT64_MAX:
                raise OverflowError("nonce exceeds the unsigned 64-bit range")
            self._last = value
            return value

    __call__ = next

    def observe(self, nonce: int) -> None:
        """Raise the floor so later nonces are larger than ``nonce`` (no effect if lower)."""
        with self._lock:
            self._last = max(self._last, int(nonce))

    @property
    def last(self) -> int:
        """The last nonce handed out (or the floor)."""
        return self._last

    def __repr__(self) -> str:
        return f"NonceSource(scale={self.scale}, store={self._store!r})"


class FileNonceStore:
    """A cross-process nonce high-water mark in a file, guarded by ``fcntl.flock``.

    Every :meth:`reserve` takes an exclusive lock on the file, reads the last nonce, writes
    ``max(candidate, last + 1)`` and releases the lock, so processes (and threads) sharing the
    file never reuse or reorder a nonce. The file is created (mode 0600) if missing and holds
    one decimal number. POSIX only.

    Raises:
        NonceStoreError: on platforms without ``fcntl``.
    """

    __slots__ = ("path",)

    _WIDTH: Final = 20

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            import fcntl  # noqa: F401
        except ImportError:  # pragma: no cover - non-POSIX
            raise NonceStoreError("FileNonceStore needs fcntl (POSIX)") from None
        self.path = os.fspath(path)

    def reserve(self, candidate: int) -> int:
        """Atomically record and return ``max(candidate, last + 1)``.

        Raises:
            NonceStoreError: if the file cannot be opened, locked or holds something other than
                a number.
        """
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise NonceStoreError(f"cannot open nonce file {self.path!r}: {exc.strerror}") \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 64, 0).strip()
            try:
                last = int(raw) if raw else 0
            except ValueError:
                raise NonceStoreError(
                    f"nonce file {self.path!r} does not hold a number") from None
            value = max(int(candidate), last + 1)
            os.pwrite(fd, f"{value:0{self._WIDTH}d}\n".encode("ascii"), 0)
            return value
        finally:
            os.close(fd)  # closing releases the lock

    def last(self) -> int:
        """The last nonce recorded (0 if none); reads under the lock."""
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            raw = os.pread(fd, 64, 0).strip()
            return int(raw) if raw else 0
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"FileNonceStore({self.path!r})"
