"""The sandbox gate: keys, signatures, nonces, lockout, counters and tokens (pure, clocked)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenwire.auth import Signer
from krakenwire.clock import ManualClock
from krakenwire.protocol import errors
from krakenwire.sandbox.gate import (
    Gate,
    GateError,
    GateSettings,
    KeyRecord,
    is_token_shaped,
    token_digest,
)

PATH = "/0/private/Balance"


def _gate(**kw: float) -> tuple[Gate, ManualClock]:
    clock = ManualClock(1_700_000_000)
    return Gate(clock, GateSettings(**kw)), clock  # type: ignore[arg-type]


def _signed(rec: KeyRecord, nonce: int | str, path: str = PATH,
            extra: str = "") -> tuple[str, bytes]:
    body = f"nonce={nonce}{extra}".encode()
    return Signer(rec.secret).sign(path, nonce, body), body


def _auth(gate: Gate, rec: KeyRecord, nonce: int) -> KeyRecord:
    sig, body = _signed(rec, nonce)
    return gate.authenticate(PATH, rec.key, sig, body, str(nonce))


def test_key_shape_and_secret_hidden() -> None:
    gate, _ = _gate()
    rec = gate.create_key("acct")
    assert len(rec.key) == 56
    assert len(base64.b64decode(rec.secret)) == 64
    assert rec.secret not in repr(rec) and rec.key in repr(rec)
    assert gate.drain_dirty() == [rec]
    assert gate.drain_dirty() == []
    with pytest.raises(ValueError, match="unknown permission"):
        gate.create_key("acct", permissions=["withdraw"])


def test_valid_request_and_json_nonce() -> None:
    gate, _ = _gate()
    rec = gate.create_key("a")
    assert _auth(gate, rec, 5) is rec
    body = b'{"nonce": 6, "pair": "XBTUSD"}'
    sig = Signer(rec.secret).sign(PATH, "6", body)
    assert gate.authenticate(PATH, rec.key, sig, body, 6) is rec
    assert rec.nonce == 6


@pytest.mark.parametrize("case", ["unknown", "missing", "badsig", "wrongpath", "bodychanged"])
def test_invalid_key_cases(case: str) -> None:
    gate, _ = _gate()
    rec = gate.create_key("a")
    other = gate.create_key("b")
    sig, body = _signed(rec, 10)
    key: str | None = rec.key
    path = PATH
    if case == "unknown":
        key = "x" * 56
    elif case == "missing":
        key = None
    elif case == "badsig":
        sig, body = _signed(other, 10)
    elif case == "wrongpath":
        path = "/0/private/AddOrder"
    else:
        body += b"&x=1"
    with pytest.raises(GateError) as info:
        gate.authenticate(path, key, sig, body, "10")
    assert info.value.error == errors.INVALID_KEY
    assert rec.secret not in str(info.value) and sig not in str(info.value)
    assert rec.nonce == 0  # a refused request does not move the nonce mark


def test_nonce_strict_and_window() -> None:
    gate, _ = _gate()
    strict = gate.create_key("a")
    _auth(gate, strict, 100)
    for bad in (100, 99, 1):
        with pytest.raises(GateError, match="EAPI:Invalid nonce"):
            _auth(gate, strict, bad)
    windowed = gate.create_key("a", nonce_window=10)
    _auth(gate, windowed, 100)
    _auth(gate, windowed, 95)  # inside the window
    with pytest.raises(GateError, match="EAPI:Invalid nonce"):
        _auth(gate, windowed, 95)  # reuse inside the window
    with pytest.raises(GateError, match="EAPI:Invalid nonce"):
        _auth(gate, windowed, 90)  # outside the window
    with pytest.raises(GateError, match="EAPI:Invalid nonce"):
        sig, body = _signed(strict, "abc")
        gate.authenticate(PATH, strict.key, sig, body, "abc")


def test_loaded_mark_is_a_floor_even_with_window() -> None:
    gate, _ = _gate()
    rec = KeyRecord(key="k" * 56, secret=base64.b64encode(b"s" * 64).decode(), account_id="a",
                    nonce_window=1000, nonce=500)
    gate.load_key(rec)
    with pytest.raises(GateError, match="EAPI:Invalid nonce"):
        _auth(gate, rec, 499)
    _auth(gate, rec, 501)
    assert rec.nonce == 501


@given(st.lists(st.integers(min_value=1, max_value=2**64 - 1), max_size=40),
       st.integers(min_value=0, max_value=50))
def test_nonce_property_never_accepts_a_used_nonce(nonces: list[int], window: int) -> None:
    gate, _ = _gate(lockout_threshold=10**9)
    rec = gate.create_key("a", nonce_window=window)
    accepted: list[int] = []
    high = 0
    for n in nonces:
        try:
            _auth(gate, rec, n)
        except GateError as exc:
            assert exc.error == errors.INVALID_NONCE
            assert n in accepted or n <= high - window or (window == 0 and n <= high)
        else:
            assert n not in accepted
            assert n > high or (window and n > high - window)
            accepted.append(n)
            high = max(high, n)
    assert rec.nonce == high


def test_lockout_after_burst_and_expiry() -> None:
    gate, clock = _gate(lockout_threshold=3, lockout_window=10, lockout_duration=60)
    rec = gate.create_key("a")
    sig, body = _signed(rec, 1)
    for _ in range(3):
        with pytest.raises(GateError, match="EAPI:Invalid key"):
            gate.authenticate(PATH, rec.key, "bad" + sig[3:], body, "1")
    with pytest.raises(GateError, match="EGeneral:Temporary lockout"):
        _auth(gate, rec, 2)  # even a good request is refused during the lockout
    assert gate.is_locked(rec.key)
    clock.advance(61)
    assert _auth(gate, rec, 3) is rec


def test_failures_spread_out_do_not_lock() -> None:
    gate, clock = _gate(lockout_threshold=3, lockout_window=10)
    rec = gate.create_key("a")
    for _ in range(6):
        with pytest.raises(GateError, match="EAPI:Invalid key"):
            gate.authenticate(PATH, rec.key, "bad", b"nonce=1", "1")
        clock.advance(6)
    assert not gate.is_locked(rec.key)


def test_permissions() -> None:
    gate, _ = _gate()
    rec = gate.create_key("a", permissions=["query_funds"])
    gate.require(rec, "query_funds")
    with pytest.raises(GateError, match="EGeneral:Permission denied"):
        gate.require(rec, "trade")


def test_rest_counter_limits_and_decays() -> None:
    gate, clock = _gate()
    rec = gate.create_key("a", tier="starter")  # max 15, decay 0.33/s
    for _ in range(15):
        gate.charge_rest(rec, "Balance")
    with pytest.raises(GateError, match="EAPI:Rate limit exceeded"):
        gate.charge_rest(rec, "Balance")
    gate.charge_rest(rec, "AddOrder")  # trading methods do not use the REST counter
    clock.advance(4)  # 1.32 decayed
    gate.charge_rest(rec, "Balance")
    with pytest.raises(GateError, match="EAPI:Rate limit exceeded"):
        gate.charge_rest(rec, "TradesHistory")  # costs 2
    unlimited = gate.create_key("a", tier="unlimited")
    for _ in range(1000):
        gate.charge_rest(unlimited, "Balance")


def test_trading_counter_matches_kraken_example() -> None:
    gate, _ = _gate()
    rec = gate.create_key("a", tier="intermediate")
    # Kraken's example, without the decay in between: add (+1), amend of a 7 s old order
    # (+1 fixed +2), cancel of a 36 s old order (+4) -> 8
    assert gate.charge_trading(rec, "XXBTZUSD", "add") == 1
    gate.charge_trading(rec, "XXBTZUSD", "amend", order_age=7)
    assert gate.charge_trading(rec, "XXBTZUSD", "cancel", order_age=36) == 8
    assert gate.trading_counter_value("a", "XETHZUSD") == 0


def test_trading_counter_threshold_and_open_cap() -> None:
    gate, clock = _gate()
    rec = gate.create_key("a", tier="starter")  # threshold 60
    for _ in range(60):
        gate.charge_trading(rec, "XXBTZUSD", "add")
    with pytest.raises(GateError, match="EOrder:Rate limit exceeded"):
        gate.charge_trading(rec, "XXBTZUSD", "add")
    gate.charge_trading(rec, "XETHZUSD", "add")  # per pair
    clock.advance(7)  # 53 after decay
    with pytest.raises(GateError, match="EOrder:Rate limit exceeded"):
        gate.charge_trading(rec, "XXBTZUSD", "cancel", order_age=1)  # young order: +8
    gate.charge_trading(rec, "XXBTZUSD", "cancel", order_age=400)  # old order: free
    gate.check_open_orders(rec, 59)
    with pytest.raises(GateError, match="EOrder:Orders limit exceeded"):
        gate.check_open_orders(rec, 60)
    with pytest.raises(GateError, match="EOrder:Orders limit exceeded"):
        gate.check_open_orders(rec, 50, adding=11)


def test_tokens_first_use_window_and_binding() -> None:
    gate, clock = _gate()
    rec = gate.create_key("a")
    token, expires = gate.issue_token(rec)
    assert expires == 900 and is_token_shaped(token)
    assert gate.check_token(token) is rec
    clock.advance(899)
    gate.bind_token(token, "conn1")
    gate.bind_token(token, "conn2")  # one token may serve several connections
    clock.advance(10_000)
    assert gate.check_token(token) is rec  # held by a private subscription
    gate.unbind_token(token, "conn1")
    assert gate.check_token(token) is rec
    gate.unbind_token(token, "conn2")
    with pytest.raises(GateError, match="ESession:Invalid session"):
        gate.check_token(token)
    with pytest.raises(GateError, match="ESession:Invalid session"):
        gate.bind_token(token, "conn3")
    with pytest.raises(GateError, match="ESession:Invalid session"):
        gate.check_token(None)


def test_unused_token_expires_and_invalidate_all() -> None:
    gate, clock = _gate()
    rec = gate.create_key("a")
    old, _ = gate.issue_token(rec)
    clock.advance(900)
    with pytest.raises(GateError, match="ESession:Invalid session"):
        gate.check_token(old)
    fresh, _ = gate.issue_token(rec)  # issuing prunes the expired token
    assert gate.token_count() == 1
    assert gate.drain_token_changes().removed == [token_digest(old)]
    gate.bind_token(fresh, 1)
    assert gate.invalidate_tokens() == 1
    with pytest.raises(GateError, match="ESession:Invalid session"):
        gate.check_token(fresh)


@given(st.binary(min_size=32, max_size=32))
def test_token_shape_property(raw: bytes) -> None:
    gate = Gate(ManualClock(0), random_bytes=lambda n: (raw * 3)[:n])
    rec = gate.create_key("a")
    token, _ = gate.issue_token(rec)
    assert is_token_shaped(token)
