"""`krakenwire watch` as a subprocess against a real sandbox: live views, JSON events,
reconnects shown as they happen, clean exit on Ctrl-C, one stderr line on failure."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from krakenwire.auth import Credentials
from krakenwire.cli import EXIT_KRAKEN
from krakenwire.pytest_plugin import KrakenSandboxFixture
from krakenwire.rest import KrakenClient

WAIT = 20.0


class Watcher:
    """A running `krakenwire watch` whose stdout lines are collected by a reader thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pred: Callable[[str], bool]) -> str:
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"not seen within {WAIT} s; got {self.seen[-10:]}") from None
            if line is None:
                raise AssertionError(f"watch ended early; got {self.seen[-10:]}")
            self.seen.append(line)
            if pred(line):
                return line

    def wait_json(self, **want: Any) -> dict[str, Any]:
        def match(line: str) -> bool:
            event = json.loads(line)
            return all(event.get(k) == v for k, v in want.items())

        return dict(json.loads(self.wait_for(match)))

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=WAIT)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


@contextmanager
def watch(env: dict[str, str], *args: str) -> Iterator[Watcher]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
    full.update(env)
    proc = subprocess.Popen([sys.executable, "-m", "krakenwire.cli", "watch", *args], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        yield Watcher(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)


def client(sb: KrakenSandboxFixture) -> KrakenClient:
    return KrakenClient(sb.credentials, base_url=sb.rest_url)


def test_executions_json_with_reconnect(kraken_sandbox: KrakenSandboxFixture) -> None:
    key = kraken_sandbox.new_key()
    with watch(kraken_sandbox.env(key), "executions", "--json") as w, \
            client(kraken_sandbox) as rest:
        w.wait_json(type="lifecycle", event="Subscribed", channel="executions",
                    resubscribed=False)
        w.wait_json(type="lifecycle", event="Subscribed", channel="balances")
        txid = rest.add_order("XBTUSD", "buy", "limit", "0.01", "1000").txid
        new = w.wait_json(type="execution", order_id=txid, exec_type="new")
        assert new["snapshot"] is False and new["order_status"] == "new"

        # the next private frame is not sent: the socket drops; the view reconnects
        kraken_sandbox.set_faults(ws_drop_midstream=True)
        market = rest.add_order("XBTUSD", "sell", "market", "0.01").txid
        w.wait_json(type="lifecycle", event="Reconnecting")
        # the new snapshot and the resubscription come on two streams, in either order
        found: dict[str, dict[str, Any]] = {}
        while len(found) < 2:
            event = json.loads(w.wait_for(lambda _line: True))
            if event.get("event") == "Subscribed" and event.get("channel") == "executions":
                assert event["resubscribed"] is True
                found["resubscribed"] = event
            elif event.get("order_id") == market and event.get("snapshot"):
                found["trade"] = event
        trade = found["trade"]
        assert trade["exec_type"] == "trade" and trade["order_status"] == "filled"
        assert Decimal(trade["last_qty"]) == Decimal("0.01")  # an exact decimal string

        code, err = w.interrupt()
    assert (code, err) == (0, "")
    for line in w.seen:
        assert key.api_secret not in line and key.api_key not in line


def test_orders_table_shows_fill_progress(kraken_sandbox: KrakenSandboxFixture) -> None:
    with watch(kraken_sandbox.env(kraken_sandbox.new_key()), "orders") as w, \
            client(kraken_sandbox) as rest:
        w.wait_for(lambda line: line == "(no open orders)")
        txid = rest.add_order("XBTUSD", "buy", "limit", "0.01", "1000").txid
        assert txid is not None
        row = w.wait_for(lambda line: line.startswith(txid))
        assert "BTC/USD" in row and "[----------] 0/0.01 (0%)" in row
        rest.cancel_order(txid)
        w.wait_for(lambda line: line == "(no open orders)")
        code, err = w.interrupt()
    assert (code, err) == (0, "")


def test_balances_with_holds(kraken_sandbox: KrakenSandboxFixture) -> None:
    with watch(kraken_sandbox.env(kraken_sandbox.new_key()), "balances") as w, \
            client(kraken_sandbox) as rest:
        w.wait_for(lambda line: line.split() == ["USD", "100000", "0", "100000"])
        rest.add_order("XBTUSD", "buy", "limit", "0.01", "1000")  # holds 10 USD + fee
        row = w.wait_for(lambda line: line.startswith("USD") and line.split()[2] != "0")
        _, balance, held, available = row.split()
        assert balance == "100000" and held == "10.04" and available == "99989.96"
        code, _ = w.interrupt()
    assert code == 0


def test_embedded_sandbox_and_ctrl_c() -> None:
    with watch({}, "orders", "--sandbox", "--json") as w:
        w.wait_json(type="lifecycle", event="Subscribed", channel="executions")
        code, err = w.interrupt()
    assert (code, err) == (0, "")


def test_refused_key_is_one_line(kraken_sandbox: KrakenSandboxFixture) -> None:
    key = kraken_sandbox.new_key()
    wrong = Credentials(key.api_key, kraken_sandbox.new_key().api_secret)
    with watch(kraken_sandbox.env(wrong), "executions") as w:
        code = w.proc.wait(timeout=WAIT)
        assert w.proc.stderr is not None
        err = w.proc.stderr.read()
    assert code == EXIT_KRAKEN
    assert err.startswith("krakenwire watch: EAPI:Invalid key") and err.count("\n") == 1
    assert key.redacted_key in err and wrong.api_secret not in err


def test_ctrl_c_during_set_up(kraken_sandbox: KrakenSandboxFixture) -> None:
    with watch(kraken_sandbox.env(kraken_sandbox.new_key()), "orders", "--json") as w:
        w.wait_json(type="lifecycle", event="Connecting")
        code, err = w.interrupt()
    assert (code, err) == (0, "")


def test_ctrl_c_while_reconnecting(kraken_sandbox: KrakenSandboxFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with watch(kraken_sandbox.env(kraken_sandbox.new_key()), "executions", "--json",
               "--ws-url", f"ws://127.0.0.1:{port}/ws-auth/v2") as w:
        event = w.wait_json(type="lifecycle", event="Reconnecting")
        assert "connect failed" in event["reason"]
        code, err = w.interrupt()
    assert (code, err) == (0, "")
