"""The REST clients against a real local server: signing, nonce order, retries, faults."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import join_all
from krakenwire.auth import Credentials, CredentialsError, Signer
from krakenwire.clock import ManualClock
from krakenwire.errors import (
    ClientRateLimited,
    HTTPRateLimited,
    InsecureURLError,
    InsufficientFunds,
    InvalidKey,
    InvalidNonce,
    OrderOutcomeUnknown,
    PermissionDenied,
    ProtocolError,
    RateLimitExceeded,
    ServerError,
    TransportError,
    UnknownOrder,
)
from krakenwire.protocol.rest import (
    build_private,
    build_public,
    check_url,
    encode_form,
    parse_response,
)
from krakenwire.ratelimit import RestRateLimiter
from krakenwire.rest import AsyncKrakenClient, KrakenClient
from rest_fault_server import FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def sync_client(server: FaultServer, **kw: Any) -> KrakenClient:
    kw.setdefault("rate_limit", None)
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("environ", {})
    return KrakenClient(server.credentials, base_url=server.url, **kw)


def async_client(server: FaultServer, **kw: Any) -> AsyncKrakenClient:
    kw.setdefault("rate_limit", None)
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("environ", {})
    return AsyncKrakenClient(server.credentials, base_url=server.url, **kw)


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- sans-I/O core --------------------------------------------------------------------------

SIGNER = Signer(
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==")

params_st = st.dictionaries(
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda k: k != "nonce"),
    st.one_of(st.text(max_size=20), st.integers(), st.booleans(),
              st.decimals(allow_nan=False, allow_infinity=False, places=8)),
    max_size=6)


@settings(max_examples=150)
@given(params=params_st, nonce=st.integers(min_value=1, max_value=2**64 - 1),
       encoding=st.sampled_from(["form", "json"]))
def test_bytes_signed_are_bytes_sent(params: dict[str, Any], nonce: int, encoding: Any) -> None:
    req = build_private("https://api.kraken.com", "AddOrder", params, api_key="k",
                        signer=SIGNER, nonce=nonce, encoding=encoding)
    assert req.body is not None
    assert SIGNER.verify("/0/private/AddOrder", nonce, req.body, req.headers["API-Sign"])
    if encoding == "form":
        assert req.body.startswith(f"nonce={nonce}".encode())
        assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    else:
        decoded = json.loads(req.body)
        assert next(iter(decoded)) == "nonce" and decoded["nonce"] == nonce
        assert req.headers["Content-Type"] == "application/json"
    assert "API-Sign" not in repr(req) and req.headers["API-Sign"] not in repr(req)


def test_official_vector_through_the_builder() -> None:
    req = build_private("https://api.kraken.com", "AddOrder",
                        {"ordertype": "limit", "pair": "XBTUSD", "price": 37500, "type": "buy",
                         "volume": Decimal("1.25")},
                        api_key="k", signer=SIGNER, nonce=1616492376594)
    assert req.body == (b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500"
                        b"&type=buy&volume=1.25")
    assert req.headers["API-Sign"] == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==")


def test_form_encoding_rules() -> None:
    body = encode_form(5, {"pair": ["XBTUSD", "ETHUSD"], "validate": True,
                           "price": Decimal("1E+2"), "skip": None, "cl_ord_id": "a b/c"})
    assert body == b"nonce=5&pair=XBTUSD%2CETHUSD&validate=true&price=100&cl_ord_id=a%20b%2Fc"
    with pytest.raises(ValueError, match="nonce"):
        encode_form(5, {"nonce": 1})
    with pytest.raises(ValueError, match="method"):
        build_public("https://x", "../private/Balance")
    assert build_public("https://x", "Ticker", {"pair": "XBTUSD"}).url == \
        "https://x/0/public/Ticker?pair=XBTUSD"


def test_envelope_parsing() -> None:
    ok = parse_response(200, b'{"error":[],"result":{"a":"1.5","n":1.10}}')
    assert ok.result == {"a": "1.5", "n": Decimal("1.10")} and ok.warnings == ()
    warn = parse_response(200, b'{"error":["WGeneral:x"],"result":{}}')
    assert warn.warnings == ("WGeneral:x",)
    with pytest.raises(InvalidKey):
        parse_response(200, b'{"error":["EAPI:Invalid key"]}')
    with pytest.raises(ServerError) as info:
        parse_response(502, b"<html><title>502 Bad Gateway</title></html>", "text/html")
    assert info.value.status == 502 and "502 Bad Gateway" in str(info.value)
    with pytest.raises(ProtocolError, match="HTTP 405"):
        parse_response(405, b"<html>Not Allowed</html>", "text/html")
    with pytest.raises(ProtocolError, match="not JSON"):
        parse_response(200, b'{"error":[],"result":{"token":"abcdef', "application/json")
    with pytest.raises(ProtocolError, match="envelope"):
        parse_response(200, b"[1,2]")
    with pytest.raises(ProtocolError, match="neither"):
        parse_response(200, b'{"error":[]}')


def test_url_policy() -> None:
    assert check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_url("http://localhost:1") == "http://localhost:1"
    assert check_url("http://[::1]:1") == "http://[::1]:1"
    assert check_url("https://api.kraken.com") == "https://api.kraken.com"
    with pytest.raises(InsecureURLError, match="non-loopback"):
        check_url("http://api.kraken.com")
    assert check_url("http://10.0.0.5", allow_insecure=True) == "http://10.0.0.5"
    with pytest.raises(InsecureURLError):
        check_url("ftp://api.kraken.com")
    with pytest.raises(InsecureURLError):
        check_url("wss://ws-auth.kraken.com", websocket=False)  # not a REST URL
    assert check_url("ws://127.0.0.1:9/ws-auth/v2", websocket=True) == "ws://127.0.0.1:9/ws-auth/v2"
    with pytest.raises(InsecureURLError, match="wss://"):
        check_url("ws://ws-auth.kraken.com/v2", websocket=True)
    with pytest.raises(InsecureURLError):
        KrakenClient(base_url="http://example.com", environ={})
    with pytest.raises(InsecureURLError):
        KrakenClient(base_url="wss://ws.kraken.com", environ={})
    with pytest.raises(InsecureURLError):
        AsyncKrakenClient(base_url="http://example.com", environ={})


def test_settings_resolution_and_no_io_in_constructor(server: FaultServer) -> None:
    creds = server.credentials
    env = {"KRAKEN_REST_URL": server.url, "KRAKEN_API_KEY": creds.api_key,
           "KRAKEN_API_SECRET": creds.api_secret}
    client = KrakenClient(environ=env, rate_limit=None)
    assert client.base_url == server.url and client.credentials == creds
    assert client.balance()["ZUSD"] == Decimal("1000.5000")
    assert KrakenClient(environ={}).base_url == "https://api.kraken.com"
    assert KrakenClient(base_url="https://other.example", environ=env).base_url == \
        "https://other.example"
    calls = len(server.calls)
    KrakenClient(base_url=refused_url(), environ={})  # no connection attempted
    AsyncKrakenClient(base_url=refused_url(), environ={})
    assert len(server.calls) == calls
    assert KrakenClient(environ={})._core.timeout == 10.0


def test_private_call_without_credentials_sends_nothing(server: FaultServer) -> None:
    client = KrakenClient(base_url=server.url, environ={}, rate_limit=None)
    with pytest.raises(CredentialsError, match="KRAKEN_API_KEY"):
        client.balance()
    assert server.calls == []
    assert client.server_time().unixtime > 0


# -- sync client ----------------------------------------------------------------------------


def test_public_and_private_helpers(server: FaultServer) -> None:
    with sync_client(server) as client:
        assert client.system_status().status == "online"
        ticker = client.ticker("XBTUSD")["XXBTZUSD"]
        assert ticker.ask == Decimal("30300.10000") and ticker.last == Decimal("30303.20000")
        assert server.calls_of("Ticker")[0].params == {"pair": "XBTUSD"}
        assert "XXBT" in client.assets()
        assert "XXBTZUSD" in client.asset_pairs()
        assert client.balance() == {"ZUSD": Decimal("1000.5000"), "XXBT": Decimal("0.1234567890")}
        ex = client.balance_ex()["ZUSD"]
        assert ex.available == Decimal("900.5000")
        token = client.get_websockets_token()
        assert token.token == server.tokens[-1] and token.lifetime == 900
        placed = client.add_order("XBTUSD", "buy", "limit", Decimal("1.25"), Decimal("30000.1"))
        assert placed.txid and placed.cl_ord_id
        call = server.calls_of("AddOrder")[0]
        assert call.params["cl_ord_id"] == placed.cl_ord_id and call.params["volume"] == "1.25"
        opened = client.open_orders()
        assert opened[placed.txid].price == Decimal("30000.1")
        assert client.query_orders(placed.txid)[placed.txid].cl_ord_id == placed.cl_ord_id
        assert client.cancel_order(cl_ord_id=placed.cl_ord_id) == 1
        with pytest.raises(UnknownOrder):
            client.cancel_order(placed.txid)
        assert client.cancel_all() == 0
        assert client.cancel_all_orders_after(0).trigger_time == "0"
        with pytest.raises(ValueError, match="userref"):
            client.add_order("XBTUSD", "buy", "limit", 1, 1, userref=5)


def test_json_encoding_is_signed_and_accepted(server: FaultServer) -> None:
    with sync_client(server, encoding="json") as client:
        client.add_order("XBTUSD", "sell", "limit", Decimal("0.5"), Decimal("31000"))
    call = server.calls_of("AddOrder")[0]
    assert call.content_type == "application/json"
    assert json.loads(call.body)["volume"] == "0.5"


def test_keep_alive_reuses_one_connection(server: FaultServer) -> None:
    with sync_client(server) as client:
        for _ in range(5):
            client.balance()
            client.server_time()
    assert len(server.connections) == 1


def test_threads_share_a_client_and_nonces_arrive_in_order(server: FaultServer) -> None:
    client = sync_client(server, pool_maxsize=8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                client.balance()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    join_all(threads)
    assert errors == []
    nonces = [c.nonce for c in server.calls_of("Balance")]
    assert len(nonces) == 200 and all(c.outcome == "ok" for c in server.calls)
    assert nonces == sorted(nonces) and len(set(nonces)) == 200


def test_transient_failures_are_retried(server: FaultServer, caplog: Any) -> None:
    server.fault("Balance", "502", "reset", "503json")
    with sync_client(server) as client, caplog.at_level(logging.INFO, "krakenwire"):
        assert client.balance()["ZUSD"] == Decimal("1000.5000")
    assert len(server.calls_of("Balance")) == 4
    assert "retry" in caplog.text
    server.fault("Balance", "502", "502")
    with pytest.raises(ServerError), sync_client(server, max_retries=1) as client:
        client.balance()


def test_http_429_without_kraken_body_is_a_retried_rate_limit(server: FaultServer,
                                                              caplog: Any) -> None:
    server.fault("Balance", "429", "429")
    with sync_client(server) as client, caplog.at_level(logging.INFO, "krakenwire"):
        assert client.balance()["ZUSD"] == Decimal("1000.5000")
    assert len(server.calls_of("Balance")) == 3
    assert "retry" in caplog.text and "HTTPRateLimited" in caplog.text
    server.fault("Balance", "429", "429")
    with pytest.raises(HTTPRateLimited) as info, sync_client(server, max_retries=1) as client:
        client.balance()
    assert isinstance(info.value, RateLimitExceeded) and info.value.retryable
    assert info.value.status == 429 and info.value.errors == ()
    assert "Balance: HTTP 429" in str(info.value)
    assert len(server.calls_of("Balance")) == 5


def test_http_429_on_add_order_is_refused_not_unknown(server: FaultServer) -> None:
    server.fault("AddOrder", "429")
    with sync_client(server) as client:
        with pytest.raises(HTTPRateLimited) as info:
            client.add_order("XBTUSD", "buy", "limit", "1", "30000", cl_ord_id="order-429")
        assert not isinstance(info.value, OrderOutcomeUnknown) and info.value.retryable
        assert len(server.calls_of("AddOrder")) == 1  # never retried
        assert client.order_by_cl_ord_id("order-429") is None  # refused before processing


def test_parse_response_429() -> None:
    for body, ctype in ((b"", None), (b"<html>slow down</html>", "text/html"),
                        (b'{"error":[]}', "application/json")):
        with pytest.raises(HTTPRateLimited) as info:
            parse_response(429, body, ctype, method="Ticker")
        assert info.value.method == "Ticker" and info.value.status == 429
    with pytest.raises(RateLimitExceeded) as kraken:  # Kraken's own string still wins
        parse_response(429, b'{"error":["EAPI:Rate limit exceeded"]}', "application/json")
    assert not isinstance(kraken.value, HTTPRateLimited)
    again = pickle.loads(pickle.dumps(HTTPRateLimited(method="Balance")))
    assert type(again) is HTTPRateLimited and str(again).startswith("Balance: HTTP 429")


def test_invalid_nonce_is_retried_once(server: FaultServer) -> None:
    server.fault("Balance", "EAPI:Invalid nonce")
    with sync_client(server) as client:
        client.balance()
        assert len(server.calls_of("Balance")) == 2
        server.fault("Balance", "EAPI:Invalid nonce", "EAPI:Invalid nonce")
        with pytest.raises(InvalidNonce, match="another process"):
            client.balance()
    assert len(server.calls_of("Balance")) == 4
    nonces = [c.nonce for c in server.calls_of("Balance")]
    assert len(set(nonces)) == 4  # fresh nonce each time


def test_kraken_errors_are_not_retried(server: FaultServer) -> None:
    server.denied.add("GetWebSocketsToken")
    with sync_client(server) as client:
        with pytest.raises(PermissionDenied):
            client.get_websockets_token()
        assert len(server.calls_of("GetWebSocketsToken")) == 1
    bad = Credentials(server.credentials.api_key, "AAAA" + server.credentials.api_secret[4:])
    with pytest.raises(InvalidKey), KrakenClient(bad, base_url=server.url, environ={},
                                                 rate_limit=None) as client:
        client.balance()


def test_warnings_are_logged(server: FaultServer, caplog: Any) -> None:
    server.fault("Balance", "warn")
    with sync_client(server) as client, caplog.at_level(logging.WARNING, "krakenwire"):
        assert client.balance()["XXBT"] == Decimal("0.1234567890")
    assert "WGeneral:Test warning" in caplog.text


@pytest.mark.parametrize("fault", ["502", "reset", "hang", "nonjson"])
def test_add_order_outcome_unknown_is_never_retried(server: FaultServer, fault: str) -> None:
    server.fault("AddOrder", fault)
    with sync_client(server, timeout=0.5) as client:
        with pytest.raises(OrderOutcomeUnknown) as info:
            client.add_order("XBTUSD", "buy", "limit", "1", "30000", cl_ord_id="order-1")
        assert info.value.cl_ord_id == "order-1"
        assert len(server.calls_of("AddOrder")) == 1
        server.release()
        found = client.order_by_cl_ord_id("order-1")
        if fault == "nonjson":
            assert found is None  # answered before processing: the order does not exist
        else:
            assert found is not None and found.cl_ord_id == "order-1"
            assert found.status == "open"


def test_add_order_refusals_and_unsent(server: FaultServer) -> None:
    server.fault("AddOrder", "EOrder:Insufficient funds", "EAPI:Invalid nonce")
    with sync_client(server) as client:
        with pytest.raises(InsufficientFunds):
            client.add_order("XBTUSD", "buy", "limit", "1", "30000")
        with pytest.raises(InvalidNonce):
            client.add_order("XBTUSD", "buy", "limit", "1", "30000")
        assert len(server.calls_of("AddOrder")) == 2
        # a raw AddOrder gets a cl_ord_id too
        client.private("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="1",
                       price="1")
        assert server.calls_of("AddOrder")[-1].params["cl_ord_id"]
    with KrakenClient(server.credentials, base_url=refused_url(), environ={},
                      rate_limit=None, max_retries=0) as client:
        with pytest.raises(TransportError) as info:
            client.add_order("XBTUSD", "buy", "limit", "1", "30000")
        assert not isinstance(info.value, OrderOutcomeUnknown)
        assert info.value.maybe_sent is False and "connection refused" in str(info.value)


def test_timeout_then_retry_for_reads(server: FaultServer) -> None:
    server.fault("Balance", "hang")
    with sync_client(server, timeout=0.3) as client:
        assert client.balance()["ZUSD"] == Decimal("1000.5000")
    assert len(server.calls_of("Balance")) == 2


def test_client_side_rate_limit_raise_mode(server: FaultServer) -> None:
    clock = ManualClock(1000)
    limiter = RestRateLimiter("starter", mode="raise", clock=clock)
    with sync_client(server, rate_limit=limiter) as client:
        for _ in range(15):
            client.balance()
        with pytest.raises(ClientRateLimited) as info:
            client.balance()
        assert info.value.retry_after == pytest.approx(1 / 0.33)
        assert len(server.calls_of("Balance")) == 15  # the refused call was not sent
        client.add_order("XBTUSD", "buy", "limit", "1", "1")  # trading counter, not REST
        clock.advance(3.1)
        client.balance()
    assert len(server.calls_of("Balance")) == 16


def test_rate_limiter_model() -> None:
    clock = ManualClock(0)
    limiter = RestRateLimiter("intermediate", clock=clock)
    assert all(limiter.acquire("Balance") == 0 for _ in range(20))
    assert limiter.acquire("Balance") == pytest.approx(2.0)
    assert limiter.acquire("AddOrder") == 0
    clock.advance(4)
    assert limiter.acquire("Ledgers") == 0  # costs 2; 4 s * 0.5/s freed 2
    assert limiter.acquire("Balance") > 0
    clock.advance(100)
    limiter.penalize()
    assert limiter.value() == pytest.approx(20)
    with pytest.raises(ValueError):
        RestRateLimiter("gold")


# -- async client ---------------------------------------------------------------------------


async def test_async_helpers_and_session_is_lazy(server: FaultServer) -> None:
    client = async_client(server)
    assert client._session is None
    async with client:
        assert (await client.server_time()).unixtime > 0
        assert (await client.balance())["ZUSD"] == Decimal("1000.5000")
        token = await client.get_websockets_token()
        assert token.token == server.tokens[-1]
        placed = await client.add_order("XBTUSD", "buy", "limit", "2", "29000")
        found = await client.order_by_cl_ord_id(placed.cl_ord_id or "")
        assert found is not None and found.txid == placed.txid
        assert await client.cancel_order(placed.txid) == 1
        assert (await client.cancel_all_orders_after(60)).current_time
    assert len(server.connections) == 1


async def test_async_concurrent_calls_arrive_in_nonce_order(server: FaultServer) -> None:
    async with async_client(server) as client:
        await asyncio.gather(*(client.balance() for _ in range(40)))
    nonces = [c.nonce for c in server.calls_of("Balance")]
    assert len(nonces) == 40 and nonces == sorted(nonces)
    assert all(c.outcome == "ok" for c in server.calls)


async def test_async_http_429_retried_for_reads_not_for_orders(server: FaultServer) -> None:
    server.fault("Balance", "429")
    server.fault("AddOrder", "429")
    async with async_client(server) as client:
        assert (await client.balance())["ZUSD"] == Decimal("1000.5000")
        assert len(server.calls_of("Balance")) == 2
        with pytest.raises(HTTPRateLimited):
            await client.add_order("XBTUSD", "buy", "limit", "1", "30000")
        assert len(server.calls_of("AddOrder")) == 1


@pytest.mark.parametrize("fault", ["502", "reset", "hang"])
async def test_async_add_order_outcome_unknown(server: FaultServer, fault: str) -> None:
    server.fault("AddOrder", fault)
    async with async_client(server, timeout=0.5) as client:
        with pytest.raises(OrderOutcomeUnknown) as info:
            await client.add_order("XBTUSD", "buy", "limit", "1", "30000")
        assert info.value.cl_ord_id
        assert len(server.calls_of("AddOrder")) == 1
        server.release()
        found = await client.order_by_cl_ord_id(info.value.cl_ord_id)
        assert found is not None


async def test_async_retries_and_refused(server: FaultServer) -> None:
    server.fault("Balance", "reset", "502", "EAPI:Invalid nonce")
    async with async_client(server) as client:
        assert (await client.balance())["XXBT"] == Decimal("0.1234567890")
    assert len(server.calls_of("Balance")) == 4
    async with AsyncKrakenClient(server.credentials, base_url=refused_url(), environ={},
                                 rate_limit=None, max_retries=0) as client:
        with pytest.raises(TransportError) as info:
            await client.balance()
        assert info.value.maybe_sent is False


def test_two_clients_of_one_key_share_nonces_and_order(server: FaultServer) -> None:
    clients = [sync_client(server), sync_client(server)]
    assert clients[0].nonce_source is clients[1].nonce_source

    def work(client: KrakenClient) -> None:
        for _ in range(20):
            client.balance()

    threads = [threading.Thread(target=work, args=(clients[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    join_all(threads)
    nonces = [c.nonce for c in server.calls_of("Balance")]
    assert len(nonces) == 120 and nonces == sorted(nonces)
    assert all(c.outcome == "ok" for c in server.calls)


def test_server_rate_limit(server: FaultServer) -> None:
    server.fault("Balance", "EAPI:Rate limit exceeded")
    with sync_client(server) as client:
        assert client.balance()["ZUSD"] == Decimal("1000.5000")  # retried after a pause
    assert len(server.calls_of("Balance")) == 2
    limiter = RestRateLimiter("pro", mode="raise", clock=ManualClock(0))
    server.fault("Balance", "EAPI:Rate limit exceeded")
    with sync_client(server, rate_limit=limiter) as client:
        with pytest.raises(RateLimitExceeded) as info:
            client.balance()
        assert not isinstance(info.value, ClientRateLimited)
        assert limiter.value() == pytest.approx(20)  # our model now knows the counter is full
        with pytest.raises(ClientRateLimited):
            client.balance()
    assert len(server.calls_of("Balance")) == 3
