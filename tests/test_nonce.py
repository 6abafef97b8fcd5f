"""Nonces: strictly increasing under any clock, threads, asyncio tasks and processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import WAIT, run_threads
from krakenwire.clock import ManualClock
from krakenwire.nonce import FileNonceStore, NonceSource, NonceStoreError


class ScriptedClock:
    """A clock that returns the given times in turn (it may go backwards)."""

    def __init__(self, times: list[float]) -> None:
        self.times = list(times)
        self.i = 0

    def now(self) -> float:
        value = self.times[min(self.i, len(self.times) - 1)]
        self.i += 1
        return value


@settings(max_examples=300)
@given(times=st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), min_size=1,
                      max_size=60),
       scale=st.sampled_from(["s", "ms", "us", "100ns", "ns", 7]),
       start=st.integers(min_value=0, max_value=2**40))
def test_strictly_increasing_whatever_the_clock_does(times: list[float], scale: str | int,
                                                     start: int) -> None:
    source = NonceSource(scale, clock=ScriptedClock(times), start=start)
    out = [source.next() for _ in times]
    assert out[0] > start
    assert all(b > a for a, b in itertools.pairwise(out))
    units = source.scale
    for t, n in zip(times, out, strict=True):
        assert n >= int(t * units)  # never below the clock reading


@settings(max_examples=100)
@given(observed=st.lists(st.integers(min_value=0, max_value=2**62), max_size=20))
def test_observe_raises_the_floor(observed: list[int]) -> None:
    clock = ManualClock(1000)
    source = NonceSource("ms", clock=clock)
    last = 0
    for value in observed:
        source.observe(value)
        nonce = source.next()
        assert nonce > value and nonce > last
        last = nonce


def test_default_scale_is_nanoseconds_since_epoch() -> None:
    before = time.time_ns()
    nonce = NonceSource().next()
    after = time.time_ns()
    assert before <= nonce <= after + 1
    assert len(str(nonce)) == 19


def test_scale_names_and_errors() -> None:
    clock = ManualClock(1_700_000_000)
    assert NonceSource("ms", clock=clock).next() == 1_700_000_000_000
    assert NonceSource(1000, clock=clock).next() == 1_700_000_000_000
    assert NonceSource("s", clock=clock).next() == 1_700_000_000
    with pytest.raises(ValueError, match="unknown nonce scale"):
        NonceSource("minutes")
    with pytest.raises(ValueError):
        NonceSource(0)


def test_shared_source_per_key() -> None:
    assert NonceSource.shared("key-a") is NonceSource.shared("key-a")
    assert NonceSource.shared("key-a") is not NonceSource.shared("key-b")


def test_eight_threads_thousand_nonces_each() -> None:
    # a frozen clock forces every nonce through the floor (last + 1) path
    source = NonceSource("ms", clock=ManualClock(1_700_000_000))
    results: list[list[int]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8, timeout=WAIT)

    def work(i: int) -> None:
        barrier.wait()
        results[i].extend(source.next() for _ in range(1000))

    run_threads(work, 8)
    everything = [n for r in results for n in r]
    assert len(everything) == 8000 == len(set(everything))
    for r in results:
        assert all(b > a for a, b in itertools.pairwise(r))
    assert max(everything) == 1_700_000_000_000 + 7999


def test_eight_threads_real_clock() -> None:
    source = NonceSource()
    results: list[list[int]] = [[] for _ in range(8)]

    def work(i: int) -> None:
        results[i].extend(source.next() for _ in range(1000))

    run_threads(work, 8)
    everything = [n for r in results for n in r]
    assert len(set(everything)) == 8000
    for r in results:
        assert all(b > a for a, b in itertools.pairwise(r))


async def test_asyncio_tasks() -> None:
    source = NonceSource("s", clock=ManualClock(10))
    order: list[int] = []

    async def task() -> None:
        for _ in range(100):
            order.append(source.next())
            await asyncio.sleep(0)

    await asyncio.gather(*(task() for _ in range(20)))
    assert order == sorted(order) and len(set(order)) == 2000


def test_file_store_floor_and_corruption(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    store = FileNonceStore(path)
    assert store.last() == 0
    a = NonceSource("s", clock=ManualClock(100), store=store)
    b = NonceSource("s", clock=ManualClock(50), store=store)  # a slower clock elsewhere
    values = [a.next(), b.next(), a.next(), b.next()]
    assert values == [100, 101, 102, 103]
    assert store.last() == 103
    assert os.stat(path).st_mode & 0o777 == 0o600
    path.write_text("garbage")
    with pytest.raises(NonceStoreError, match="does not hold a number"):
        a.next()


_CHILD = """
import sys
from krakenwire.clock import ManualClock
from krakenwire.nonce import FileNonceStore, NonceSource
path, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# seconds scale and a frozen clock: every nonce comes from the shared file's floor
source = NonceSource("s", clock=ManualClock(1_700_000_000), store=FileNonceStore(path))
sys.stdin.readline()  # start together
values = [source.next() for _ in range(count)]
with open(out, "w") as f:
    f.write("\\n".join(map(str, values)))
"""


def test_two_processes_share_a_nonce_file(tmp_path: Path) -> None:
    store = tmp_path / "shared.nonce"
    count = 2000
    procs = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(store), str(count), str(out)],
                                stdin=subprocess.PIPE, text=True)
        procs.append((proc, out))
    try:
        for proc, _ in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc, _ in procs:
            assert proc.wait(60) == 0
    finally:
        for proc, _ in procs:  # never leave a child behind when the test fails
            if proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)
            if proc.stdin is not None:
                proc.stdin.close()
    per_process = [[int(x) for x in out.read_text().split()] for _, out in procs]
    everything = [n for values in per_process for n in values]
    assert len(everything) == 2 * count
    assert len(set(everything)) == 2 * count, "a nonce was handed out twice"
    for values in per_process:
        assert all(b > a for a, b in itertools.pairwise(values))
    assert sorted(everything) == list(range(1_700_000_000, 1_700_000_000 + 2 * count))
    assert FileNonceStore(store).last() == 1_700_000_000 + 2 * count - 1
