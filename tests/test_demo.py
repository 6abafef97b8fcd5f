"""``krakenwire demo`` — the main job, run as a subprocess like a user would."""

from __future__ import annotations

import re
import time

import pytest

from helpers import run_python
from krakenwire.cli.demo_cmd import _is_real_kraken
from krakenwire.sandbox import Sandbox


async def run_demo(*args: str, env: dict[str, str] | None = None,
                   timeout: float = 60.0) -> tuple[int, str, str]:
    return await run_python("-m", "krakenwire.cli", "demo", *args, env=env, timeout=timeout)


#: the limit order either filled as the market moved, or the demo said it did not
LIMIT_OUTCOME = re.compile(r"\] order\s+limit order O\S+ (filled|not filled within [\d.]+ s "
                           r"\([\d.?]+ of [\d.]+ filled\); the market did not reach it)$",
                           re.M)


def lines_with(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(rf"^\[\s*[\d.]+s\] {label}\b", line)]


async def test_demo_runs_the_whole_story_on_an_embedded_sandbox() -> None:
    started = time.monotonic()
    code, out, err = await run_demo("--fill-timeout", "15")
    elapsed = time.monotonic() - started
    assert code == 0, (out, err)
    assert elapsed < 45  # "well under a minute", with room for a loaded machine
    assert "embedded Kraken sandbox" in out
    assert lines_with(out, "sandbox") and "ws://127.0.0.1:" in out
    # the token is printed whole (a sandbox token, like Kraken's example prints it)
    token_line = lines_with(out, "token")[-1]
    assert re.search(r"\b[A-Za-z0-9+/]{43}\b", token_line), token_line
    assert "Authenticated(" in out and "Subscribed(channel=executions" in out
    assert "Subscribed(channel=balances" in out
    assert any("snapshot: 0 open order(s)" in line for line in lines_with(out, "executions"))
    assert any(line.endswith(("USD 100000, BTC 10, ETH 100, SOL 1000", "SOL 1000"))
               for line in lines_with(out, "balances"))
    acks = lines_with(out, "ack")
    assert len(acks) >= 2 and all("order_id O" in a and "cl_ord_id" in a for a in acks[:2])
    reports = lines_with(out, "executions")
    assert any("pending_new" in r for r in reports)
    assert any(" trade " in r for r in reports)  # the market order filled
    # the limit order either filled as the market moved, or the demo said it did not
    assert LIMIT_OUTCOME.search(out), out
    assert lines_with(out, "cancel")
    final = [line for line in lines_with(out, "balances") if "final:" in line]
    assert final and "USD" in final[0] and "BTC" in final[0]
    assert "open orders: WebSocket view 0, REST OpenOrders 0" in out
    assert re.search(r"^done in [\d.]+ s$", out, re.M)
    assert "secret" not in err.lower() and not err.strip(), err


async def test_demo_says_when_the_limit_order_did_not_fill() -> None:
    code, out, err = await run_demo("--fill-timeout", "0.01")
    assert code == 0, (out, err)
    assert LIMIT_OUTCOME.search(out), out
    assert "not filled within 0.01 s" in out  # then cancelled, and nothing is left open
    assert "open orders: WebSocket view 0, REST OpenOrders 0" in out


async def test_demo_against_another_server_with_credentials_from_the_environment() -> None:
    async with Sandbox() as sb:
        code, out, err = await run_demo(
            "--rest-url", sb.rest_url, "--ws-url", sb.ws_auth_v2_url, "--fill-timeout", "1",
            env={"KRAKEN_API_KEY": sb.credentials.api_key,
                 "KRAKEN_API_SECRET": sb.credentials.api_secret})
        assert code == 0, (out, err)
        assert f"against {sb.rest_url}" in out
        assert LIMIT_OUTCOME.search(out), out  # with a 1 s wait, often the "not filled" path
        token_line = lines_with(out, "token")[-1]
        assert "…" in token_line  # not the embedded sandbox: the token is shortened
        assert sb.credentials.api_secret not in out + err
        assert "open orders: WebSocket view 0, REST OpenOrders 0" in out
        assert [o for o in sb.core.exchange.open_orders(sb.demo_account)] == []


async def test_demo_reports_bad_credentials_without_leaking() -> None:
    async with Sandbox() as sb:
        secret = "c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="
        code, out, err = await run_demo(
            "--rest-url", sb.rest_url, "--ws-url", sb.ws_auth_v2_url,
            env={"KRAKEN_API_KEY": "not-a-real-key", "KRAKEN_API_SECRET": secret})
        assert code == 1, (out, err)
        assert "EAPI:Invalid key" in err
        assert secret not in out + err


@pytest.mark.parametrize(("url", "real"), [
    ("https://api.kraken.com", True), ("wss://ws-auth.kraken.com/v2", True),
    ("http://127.0.0.1:8080", False), ("wss://notkraken.com/v2", False), (None, False)])
def test_real_kraken_is_recognised(url: str | None, real: bool) -> None:
    assert _is_real_kraken(url) is real
