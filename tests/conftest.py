"""Suite-wide hygiene: no test leaks state into the next, no run leaves a process behind.

Every test runs in a fresh copy of Python's default :mod:`decimal` context: ccxt, exercised
in-process by the third-party tests, sets ``ROUND_HALF_UP`` and traps ``Underflow`` on the
thread's context, which made later tests' money rounding depend on the test order.

At the end of the session every child process of the test process still running (a CLI or
sandbox subprocess a failed test did not reap) is killed and named in the summary, and so are
threads other than the main one that are not daemons (they would keep the interpreter alive).
"""

from __future__ import annotations

import decimal
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _default_decimal_context() -> Iterator[None]:
    with decimal.localcontext(decimal.DefaultContext):
        yield


def _children(pid: int) -> list[tuple[int, str]]:
    """Running child processes of ``pid`` (Linux /proc; empty elsewhere)."""
    found: list[tuple[int, str]] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            ids = (task / "children").read_text().split()
        except OSError:
            continue
        for child in ids:
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":  # a zombie has exited already
                found.append((int(child), cmd.decode(errors="replace").strip()))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leftovers = _children(os.getpid())
    for pid, _cmd in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    threads = [t.name for t in threading.enumerate()
               if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for pid, cmd in leftovers:
        reporter.write_line(f"stray child process killed: {pid} {cmd[:120]}", red=True)
    for name in threads:
        reporter.write_line(f"stray non-daemon thread: {name}", red=True)
