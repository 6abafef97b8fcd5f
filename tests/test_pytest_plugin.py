"""The pytest plugin, as a user project sees it: small test files run with ``pytester`` that use
the ``kraken_sandbox`` fixtures with krakenwire, krakenex and python-kraken-sdk."""

from __future__ import annotations

import pytest

from helpers import SUBPROCESS_TIMEOUT

pytest_plugins = ["pytester"]

#: the inner runs' tests are bounded too (pytest-timeout), and so is a subprocess run as a whole
QUIET = ("-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function",
         "-o", "timeout=60")


def run_ok(pytester: pytest.Pytester, source: str, *, passed: int, args: tuple[str, ...] = (),
           subprocess: bool = False) -> pytest.RunResult:
    """Run ``source`` as a test file; ``subprocess`` for files that import third-party clients
    (an inline run drops the modules it imported, and `requests` breaks when imported twice in
    one process)."""
    pytester.makepyfile(source)
    if subprocess:
        result = pytester.runpytest_subprocess(*QUIET, *args, timeout=SUBPROCESS_TIMEOUT)
    else:
        result = pytester.runpytest(*QUIET, *args)
    result.assert_outcomes(passed=passed)
    return result


def test_with_krakenwire_client(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        from decimal import Decimal
        from krakenwire import KrakenClient

        def test_balance_token_and_order(kraken_sandbox):
            with KrakenClient(kraken_sandbox.credentials,
                              base_url=kraken_sandbox.rest_url) as client:
                assert client.balance()["XXBT"] == Decimal(10)
                assert client.get_websockets_token().token
                placed = client.add_order("XBTUSD", "buy", "limit", "0.01", "1000")
                assert placed.txid in client.open_orders()
                assert kraken_sandbox.rest_url.startswith("http://127.0.0.1:")
                assert kraken_sandbox.ws_auth_v2_url.endswith("/ws-auth/v2")

        def test_a_fresh_sandbox_per_test(kraken_sandbox):
            with KrakenClient(kraken_sandbox.credentials,
                              base_url=kraken_sandbox.rest_url) as client:
                assert client.open_orders() == {}
    """, passed=2)


def test_with_krakenex(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        import krakenex

        def test_krakenex(kraken_sandbox):
            key = kraken_sandbox.new_key()  # krakenex's nonces are milliseconds: its own key
            api = krakenex.API(key.api_key, key.api_secret)
            api.uri = kraken_sandbox.rest_url
            assert api.query_public("Time")["error"] == []
            assert api.query_private("Balance")["result"]["ZUSD"].startswith("100000")
            added = api.query_private("AddOrder", {"pair": "XBTUSD", "type": "buy",
                                                    "ordertype": "limit", "price": "1000",
                                                    "volume": "0.01"})
            assert added["error"] == [], added
            (txid,) = added["result"]["txid"]
            assert txid in api.query_private("OpenOrders")["result"]["open"]
            assert api.query_private("CancelOrder", {"txid": txid})["result"]["count"] == 1

        def test_faults(kraken_sandbox):
            key = kraken_sandbox.new_key()
            api = krakenex.API(key.api_key, key.api_secret)
            api.uri = kraken_sandbox.rest_url
            kraken_sandbox.set_faults(unavailable=True)
            assert api.query_private("Balance")["error"] == ["EService:Unavailable"]
            kraken_sandbox.reset_faults()
            assert api.query_private("Balance")["error"] == []
    """, passed=2, subprocess=True)


def test_with_python_kraken_sdk(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        from kraken.spot import Trade, User

        def test_sdk(kraken_sandbox):
            key = kraken_sandbox.new_account({"USD": 5000, "BTC": 1})
            user = User(key.api_key, key.api_secret, url=kraken_sandbox.rest_url)
            trade = Trade(key.api_key, key.api_secret, url=kraken_sandbox.rest_url)
            balances = user.get_balances()
            assert balances["ZUSD"]["balance"].startswith("5000")
            order = trade.create_order(ordertype="limit", side="buy", pair="XBTUSD",
                                       volume="0.01", price="1000", cl_ord_id="sdk-1")
            (txid,) = order["txid"]
            assert txid in user.get_open_orders()["open"]
            assert trade.cancel_order(cl_ord_id="sdk-1")["count"] == 1
    """, passed=1, subprocess=True)


def test_manual_clock_by_marker_or_parameter(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        import pytest

        @pytest.mark.kraken_sandbox(manual_clock=True)
        def test_marker(kraken_sandbox):
            start = kraken_sandbox.now()
            assert kraken_sandbox.advance(900) == start + 900
            assert kraken_sandbox.now() == start + 900

        @pytest.mark.parametrize("kraken_sandbox", [{"manual_clock": True}], indirect=True)
        def test_parameter(kraken_sandbox):
            assert kraken_sandbox.manual_clock
            kraken_sandbox.advance(1)

        def test_real_clock_by_default(kraken_sandbox):
            assert not kraken_sandbox.manual_clock
            with pytest.raises(TypeError):
                kraken_sandbox.advance(1)
    """, passed=3)


def test_set_price_fills_resting_orders(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        import pytest
        from krakenwire import KrakenClient

        @pytest.mark.kraken_sandbox(manual_clock=True)
        def test_price(kraken_sandbox):
            client = KrakenClient(kraken_sandbox.credentials, base_url=kraken_sandbox.rest_url)
            placed = client.add_order("XBTUSD", "buy", "limit", "0.01", "50000")
            assert client.query_orders(placed.txid)[placed.txid].status == "open"
            kraken_sandbox.set_price("BTC/USD", "49000")
            assert client.query_orders(placed.txid)[placed.txid].status == "closed"
            with pytest.raises(ValueError):
                kraken_sandbox.set_price("NOPE", "1")
            with pytest.raises(ValueError):
                kraken_sandbox.set_faults(no_such_fault=True)
    """, passed=1)


def test_async_test_and_ws_urls(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        import pytest
        from krakenwire import AsyncKrakenClient

        @pytest.mark.asyncio
        async def test_async(kraken_sandbox):
            async with AsyncKrakenClient(kraken_sandbox.credentials,
                                         base_url=kraken_sandbox.rest_url) as client:
                token = await client.get_websockets_token()
                assert token.token
            env = kraken_sandbox.env()
            assert env["KRAKEN_REST_URL"] == kraken_sandbox.rest_url
            assert env["KRAKEN_WS_AUTH_URL"] == kraken_sandbox.ws_auth_v2_url
    """, passed=1)


def test_session_fixture_is_shared_and_configurable(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nkraken_sandbox_clock = manual\n")
    run_ok(pytester, """
        seen = []

        def test_one(kraken_sandbox_session):
            seen.append(kraken_sandbox_session.rest_url)
            assert kraken_sandbox_session.manual_clock
            kraken_sandbox_session.advance(5)

        def test_two(kraken_sandbox_session):
            assert seen == [kraken_sandbox_session.rest_url]
            other = kraken_sandbox_session.new_account({"USD": 1})
            assert other.api_key != kraken_sandbox_session.api_key
    """, passed=2)


def test_off_unless_asked(pytester: pytest.Pytester) -> None:
    run_ok(pytester, """
        import sys
        import threading

        def test_nothing_started(request):
            assert request.config.pluginmanager.hasplugin("krakenwire")
            assert "krakenwire.sandbox" not in sys.modules
            assert "aiohttp" not in sys.modules
            assert not [t for t in threading.enumerate() if t.name == "krakenwire-sandbox"]
    """, passed=1, subprocess=True)


def test_bad_options_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.kraken_sandbox(manual_clok=True)
        def test_typo(kraken_sandbox):
            pass
    """)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown kraken_sandbox option(s) manual_clok*"])
