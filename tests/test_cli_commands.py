"""`krakenwire balance|orders|trades|order ...` against a real sandbox, in-process and as
subprocesses: tables, JSON, exit codes, one stderr line per failure, no secret ever printed,
confirmation before trading on a non-loopback server."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from krakenwire.auth import Credentials
from krakenwire.cli import EXIT_KRAKEN, EXIT_OUTCOME_UNKNOWN, EXIT_TRANSPORT, EXIT_USAGE, main
from krakenwire.cli.common import CommandError, Connection, confirm_trading, print_table
from krakenwire.pytest_plugin import KrakenSandboxFixture

ENV_NAMES = ("KRAKEN_API_KEY", "KRAKEN_API_SECRET", "KRAKEN_REST_URL", "KRAKEN_WS_AUTH_URL",
             "KRAKEN_WS_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sb(kraken_sandbox: KrakenSandboxFixture, monkeypatch: pytest.MonkeyPatch
       ) -> KrakenSandboxFixture:
    """The sandbox, with the demo key and URL in the environment."""
    for name, value in kraken_sandbox.env().items():
        monkeypatch.setenv(name, value)
    return kraken_sandbox


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(list(args))
    out, err = capsys.readouterr()
    return Run(code, out, err)


def assert_clean(run: Run, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in run.out and secret not in run.err


def assert_one_line(run: Run, prefix: str) -> None:
    assert run.err.count("\n") == 1, run.err
    assert run.err.startswith(f"krakenwire {prefix}: ")


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "--help")
    assert run.code == 0
    for name in ("balance", "orders", "trades", "order", "token", "watch"):
        assert f"    {name}" in run.out


def test_balance_table_and_json(sb: KrakenSandboxFixture,
                                capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "balance")
    assert run.code == 0 and run.err == ""
    lines = run.out.splitlines()
    assert lines[0].split() == ["asset", "name", "balance", "held", "available"]
    assert any(line.split() == ["XXBT", "BTC", "10", "0", "10"] for line in lines)
    run = cli(capsys, "balance", "--json")
    data = run.json()
    assert data["ZUSD"] == {"balance": "100000", "hold_trade": "0", "available": "100000"}
    assert_clean(run, sb.api_secret)


def test_order_lifecycle(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000",
              "--cl-ord-id", "cli-1", "--json")
    assert run.code == 0, run.err
    placed = run.json()
    assert placed["cl_ord_id"] == "cli-1" and len(placed["txid"]) == 1
    txid = placed["txid"][0]
    assert "limit 1000" in placed["descr"]

    run = cli(capsys, "orders")
    assert run.code == 0 and txid in run.out and "cli-1" in run.out
    row = next(line for line in run.out.splitlines() if txid in line).split()
    assert row[2:9] == ["XBTUSD", "buy", "limit", "1000", "0.01", "0", "open"]

    # the hold shows in the balance
    held = cli(capsys, "balance", "--json").json()["ZUSD"]
    assert Decimal(held["hold_trade"]) > 10

    run = cli(capsys, "order", "amend", "--cl-ord-id", "cli-1", "--limit", "1100")
    assert run.code == 0 and run.out.startswith("amended cli-1 (amend_id ")
    (order,) = cli(capsys, "orders", "--json").json()
    assert order["price"] == "1100" and order["txid"] == txid

    run = cli(capsys, "order", "cancel", "--cl-ord-id", "cli-1", "--json")
    assert run.code == 0 and run.json() == [{"id": "cli-1", "count": 1}]
    assert cli(capsys, "orders", "--json").json() == []
    assert "(no open orders)" in cli(capsys, "orders").out
    closed = cli(capsys, "orders", "closed", "--cl-ord-id", "cli-1", "--json").json()
    assert [(o["txid"], o["status"]) for o in closed] == [(txid, "canceled")]


def test_market_order_shows_in_trades(sb: KrakenSandboxFixture,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "trades").out.strip() == "(no trades)"
    run = cli(capsys, "order", "add", "BTC/USD", "sell", "0.5")
    assert run.code == 0, run.err
    assert "sell 0.50000000 XBTUSD @ market" in run.out
    trades = cli(capsys, "trades", "--json").json()
    assert trades and all(t["type"] == "sell" and t["pair"] == "XXBTZUSD" for t in trades)
    assert sum(Decimal(t["vol"]) for t in trades) == Decimal("0.5")
    table = cli(capsys, "trades").out.splitlines()
    assert table[0].split()[:4] == ["txid", "time", "pair", "side"]
    assert len(table) == 1 + len(trades)
    assert cli(capsys, "balance", "--json").json()["XXBT"]["balance"] == "9.5"


def test_validate_places_nothing(sb: KrakenSandboxFixture,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000", "--validate")
    assert run.code == 0 and run.out.startswith("valid, not placed: buy 0.01")
    assert cli(capsys, "orders", "--json").json() == []


def test_post_only_and_tif(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000", "--post-only",
              "--tif", "gtd", "--expiretm", "+3600", "--json")
    assert run.code == 0, run.err
    (order,) = cli(capsys, "orders", "--json").json()
    assert order["txid"] == run.json()["txid"][0]


def test_cancel_all(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str]) -> None:
    for price in ("1000", "1001"):
        assert cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", price).code == 0
    run = cli(capsys, "order", "cancel-all")
    assert run.code == 0 and run.out == "cancelled 2 order(s)\n"
    assert cli(capsys, "order", "cancel-all", "--json").json() == {"count": 0}


def test_cancel_unknown_and_known(sb: KrakenSandboxFixture,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    txid = cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000",
               "--json").json()["txid"][0]
    assert cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000",
               "--cl-ord-id", "mine").code == 0
    run = cli(capsys, "order", "cancel", "OABCDE-FGHIJ-KLMNOP", txid, "--cl-ord-id", "mine",
              "--json")
    assert run.code == EXIT_KRAKEN
    assert_one_line(run, "order cancel")
    assert "OABCDE-FGHIJ-KLMNOP: CancelOrder: EOrder:Unknown order" in run.err
    assert [(r["id"], r["count"]) for r in run.json()] == [
        ("OABCDE-FGHIJ-KLMNOP", 0), (txid, 1), ("mine", 1)]
    assert cli(capsys, "orders", "--json").json() == []  # the known ones were still cancelled


@pytest.mark.parametrize(("args", "words"), [
    (["order", "add", "XBTUSD", "buy", "0.01", "--post-only"], "--post-only needs"),
    (["order", "add", "XBTUSD", "buy", "0.01", "--limit", "1", "--tif", "GTD"], "--expiretm"),
    (["order", "add", "XBTUSD", "buy", "0.01", "--expiretm", "+5"], "--tif GTD"),
    (["order", "amend", "OX", "--cl-ord-id", "c"], "one of them"),
    (["order", "amend", "OX"], "nothing to amend"),
    (["order", "cancel"], "name the orders"),
])
def test_usage_errors(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str],
                      args: list[str], words: str) -> None:
    run = cli(capsys, *args)
    assert run.code == EXIT_USAGE and words in run.err and run.out == ""
    assert_one_line(run, f"order {args[1]}")


def test_bad_volume_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["order", "add", "XBTUSD", "buy", "lots"])
    assert exc.value.code == 2
    assert "volume must be a number" in capsys.readouterr().err


def test_kraken_refusal_is_one_line(sb: KrakenSandboxFixture,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "order", "add", "NOPEUSD", "buy", "1", "--limit", "1")
    assert run.code == EXIT_KRAKEN and "EQuery:Unknown asset pair" in run.err
    assert_one_line(run, "order add")
    run = cli(capsys, "order", "add", "XBTUSD", "buy", "1000", "--limit", "1000")
    assert run.code == EXIT_KRAKEN and "EOrder:Insufficient funds" in run.err
    assert_clean(run, sb.api_secret, sb.api_key)


def test_missing_permission(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    limited = sb.new_key(permissions=["query_funds"])
    monkeypatch.setenv("KRAKEN_API_KEY", limited.api_key)
    monkeypatch.setenv("KRAKEN_API_SECRET", limited.api_secret)
    assert cli(capsys, "balance").code == 0
    run = cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000")
    assert run.code == EXIT_KRAKEN and "EGeneral:Permission denied" in run.err
    assert "'Create & Modify Orders'" in run.err
    run = cli(capsys, "orders")
    assert run.code == EXIT_KRAKEN and "Query Open Orders" in run.err
    assert_one_line(run, "orders")
    assert_clean(run, limited.api_secret, limited.api_key)


def test_wrong_secret(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    other = sb.new_key()
    monkeypatch.setenv("KRAKEN_API_SECRET", other.api_secret)
    run = cli(capsys, "trades")
    assert run.code == EXIT_KRAKEN and "EAPI:Invalid key" in run.err
    assert sb.credentials.redacted_key in run.err
    assert_clean(run, other.api_secret, sb.api_secret, sb.api_key)


def test_no_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["balance"], ["orders", "closed"], ["trades"], ["order", "cancel-all"]):
        run = cli(capsys, *command)
        assert run.code == EXIT_USAGE and "KRAKEN_API_KEY" in run.err and run.out == ""
        assert_one_line(run, " ".join(command[:1] if command[0] != "order" else command))


def test_credentials_file(sb: KrakenSandboxFixture, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name)
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"api_key": sb.api_key, "api_secret": sb.api_secret,
                                **sb.urls}))
    run = cli(capsys, "balance", "--credentials", str(path), "--json")
    assert run.code == 0 and run.json()["XETH"]["balance"] == "100"


def test_connection_refused(capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    creds = Credentials("K" * 20, "c2VjcmV0")
    monkeypatch.setenv("KRAKEN_API_KEY", creds.api_key)
    monkeypatch.setenv("KRAKEN_API_SECRET", creds.api_secret)
    run = cli(capsys, "balance", "--rest-url", f"http://127.0.0.1:{port}")
    assert run.code == EXIT_TRANSPORT and "connection refused" in run.err
    assert_one_line(run, "balance")


def test_insecure_url_refused(capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", "K" * 20)
    monkeypatch.setenv("KRAKEN_API_SECRET", "c2VjcmV0")
    run = cli(capsys, "orders", "--rest-url", "http://example.com")
    assert run.code == EXIT_USAGE and "non-loopback" in run.err
    assert_one_line(run, "orders")


def test_outcome_unknown_names_the_cl_ord_id(sb: KrakenSandboxFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sb.set_faults(rest_drop_before_reply=True)
    run = cli(capsys, "order", "add", "XBTUSD", "buy", "0.01", "--limit", "1000",
              "--cl-ord-id", "lost-1")
    assert run.code == EXIT_OUTCOME_UNKNOWN and run.out == ""
    assert_one_line(run, "order add")
    assert "outcome unknown" in run.err and "--cl-ord-id lost-1" in run.err
    # it was placed: the lookup the message suggests finds it
    found = cli(capsys, "orders", "open", "--cl-ord-id", "lost-1", "--json").json()
    assert [o["cl_ord_id"] for o in found] == ["lost-1"]


def test_service_unavailable(sb: KrakenSandboxFixture,
                             capsys: pytest.CaptureFixture[str]) -> None:
    sb.set_faults(unavailable=True)
    run = cli(capsys, "order", "cancel-all")
    assert run.code == EXIT_KRAKEN and "EService:Unavailable" in run.err
    assert_one_line(run, "order cancel-all")


def test_embedded_sandbox_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "balance", "--sandbox", "--json")
    assert run.code == 0 and run.json()["XXBT"]["balance"] == "10"
    run = cli(capsys, "order", "add", "--sandbox", "ETHUSD", "buy", "1")
    assert run.code == 0 and "buy 1.00000000 ETHUSD @ market" in run.out
    run = cli(capsys, "token", "--sandbox")
    assert run.code == 0 and run.err == "" and len(run.out.strip()) >= 20


def test_sandbox_db_keeps_state(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    db = str(tmp_path / "sb.db")
    txid = cli(capsys, "order", "add", "--sandbox-db", db, "XBTUSD", "buy", "0.01", "--limit",
               "900", "--json").json()["txid"][0]
    listed = cli(capsys, "orders", "--sandbox-db", db, "--json").json()
    assert [o["txid"] for o in listed] == [txid]


# --- confirmation before trading on real Kraken ----------------------------------------------

class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def remote(url: str = "https://api.kraken.com") -> Connection:
    creds = Credentials("AAAAkeyZZZZ", "c2VjcmV0")
    return Connection(client=None, credentials=creds, rest_url=url,  # type: ignore[arg-type]
                      embedded=False)


def test_confirmation_asked_on_a_real_url() -> None:
    err = io.StringIO()
    confirm_trading("order add", remote(), "buy 1 XBTUSD", yes=False, stdin=Tty("y\n"),
                    stderr=err)
    assert "buy 1 XBTUSD on https://api.kraken.com" in err.getvalue()
    assert "AAAA…ZZZZ" in err.getvalue() and "c2VjcmV0" not in err.getvalue()
    with pytest.raises(CommandError) as exc:
        confirm_trading("order add", remote(), "buy", yes=False, stdin=Tty("\n"),
                        stderr=io.StringIO())
    assert exc.value.code == EXIT_USAGE and "nothing was sent" in str(exc.value)
    with pytest.raises(CommandError) as exc:
        confirm_trading("order add", remote(), "buy", yes=False, stdin=io.StringIO("y\n"),
                        stderr=io.StringIO())
    assert "--yes" in str(exc.value)


def test_no_confirmation_for_loopback_or_yes() -> None:
    silent = io.StringIO()
    confirm_trading("order add", remote("http://127.0.0.1:1"), "buy", yes=False,
                    stdin=io.StringIO(), stderr=silent)
    confirm_trading("order add", remote(), "buy", yes=True, stdin=io.StringIO(), stderr=silent)
    assert silent.getvalue() == ""


def test_real_url_without_tty_sends_nothing(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update(KRAKEN_API_KEY="K" * 20, KRAKEN_API_SECRET="c2VjcmV0")
    proc = subprocess.run(
        [sys.executable, "-m", "krakenwire.cli", "order", "add", "XBTUSD", "buy", "1",
         "--rest-url", "https://127.0.0.2.invalid"],  # never reached: refused before sending
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == EXIT_USAGE and proc.stdout == ""
    assert "without confirmation" in proc.stderr and "--yes" in proc.stderr
    assert proc.stderr.count("\n") == 1


# --- as subprocesses ---------------------------------------------------------------------------

def run_proc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "krakenwire.cli", *args], env=full,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_subprocess_round_trip(kraken_sandbox: KrakenSandboxFixture) -> None:
    env = kraken_sandbox.env(kraken_sandbox.new_key())
    proc = run_proc(env, "order", "add", "XBTUSD", "buy", "0.02", "--limit", "999", "--json")
    assert proc.returncode == 0, proc.stderr
    txid = json.loads(proc.stdout)["txid"][0]
    proc = run_proc(env, "orders", "--json")
    assert [o["txid"] for o in json.loads(proc.stdout)] == [txid]
    proc = run_proc(env, "order", "cancel", txid)
    assert proc.returncode == 0 and txid in proc.stdout
    proc = run_proc(env, "orders", "closed")
    assert proc.returncode == 0 and "canceled" in proc.stdout
    for p in (proc,):
        assert env["KRAKEN_API_SECRET"] not in p.stdout + p.stderr


def test_subprocess_embedded_sandbox() -> None:
    proc = run_proc({}, "balance", "--sandbox")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.splitlines()[0].split() == ["asset", "name", "balance", "held",
                                                   "available"]


def test_print_table_alignment() -> None:
    out = io.StringIO()
    print_table(["a", "num"], [["x", "1.5"], ["long", "10"]], right=["num"], out=out)
    assert out.getvalue().splitlines() == ["a     num", "x     1.5", "long   10"]


# --- start-up: import only what the command needs ---------------------------------------------

PROBE = """
import sys
from krakenwire.cli import main
code = main(sys.argv[1:])
watched = ("asyncio", "aiohttp", "krakenwire.sandbox", "krakenwire.ws", "krakenwire.rest",
           "urllib3", "msgspec", "krakenwire.protocol.rest_types")
print("LOADED=" + ",".join(m for m in watched if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def loaded_modules(env: dict[str, str], *args: str) -> set[str]:
    full = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=full, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("LOADED=")]
    return set(filter(None, line[len("LOADED="):].split(",")))


def test_help_imports_no_client(capsys: pytest.CaptureFixture[str]) -> None:
    assert loaded_modules({}, "--help") == set()


def test_token_imports_no_asyncio_or_sandbox(kraken_sandbox: KrakenSandboxFixture) -> None:
    loaded = loaded_modules(kraken_sandbox.env(kraken_sandbox.new_key()), "token")
    assert loaded == {"krakenwire.rest", "urllib3", "msgspec"}  # no typed results (rest_types)


def test_balance_loads_typed_results(kraken_sandbox: KrakenSandboxFixture) -> None:
    loaded = loaded_modules(kraken_sandbox.env(kraken_sandbox.new_key()), "balance")
    assert "krakenwire.protocol.rest_types" in loaded and "asyncio" not in loaded


def test_rest_still_exposes_typed_result_names() -> None:
    from krakenwire import rest
    from krakenwire.protocol import rest_types

    assert rest.Ticker is rest_types.Ticker and rest.to_decimal is rest_types.to_decimal
    with pytest.raises(AttributeError):
        _ = rest.NoSuchName
