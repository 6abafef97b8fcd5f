"""Kraken error strings map to the typed hierarchy; messages explain, never leak."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenwire.errors import (
    ClientRateLimited,
    InsufficientFunds,
    InvalidArguments,
    InvalidKey,
    InvalidNonce,
    InvalidSession,
    InvalidSignature,
    KrakenError,
    MarketRestricted,
    OrderOutcomeUnknown,
    OrderRateLimitExceeded,
    OrderRejected,
    OrdersLimitExceeded,
    PermissionDenied,
    ProtocolError,
    RateLimitExceeded,
    ServerError,
    ServiceUnavailable,
    SubscriptionError,
    TemporaryLockout,
    TransportError,
    UnknownAssetPair,
    UnknownMethod,
    UnknownOrder,
    WrongEndpoint,
    error_from_kraken,
)
from krakenwire.protocol import errors as E

CASES: list[tuple[str, type[KrakenError], bool]] = [
    (E.INVALID_KEY, InvalidKey, False),
    (E.INVALID_SIGNATURE, InvalidSignature, False),
    (E.INVALID_NONCE, InvalidNonce, True),
    (E.PERMISSION_DENIED, PermissionDenied, False),
    (E.RATE_LIMIT, RateLimitExceeded, True),
    ("EService: Throttled: 1700000000", RateLimitExceeded, True),
    (E.ORDER_RATE_LIMIT, OrderRateLimitExceeded, True),
    (E.INVALID_ARGUMENTS, InvalidArguments, False),
    (E.invalid_arguments("ordertype"), InvalidArguments, False),
    (E.BAD_REQUEST, InvalidArguments, False),
    (E.INSUFFICIENT_FUNDS, InsufficientFunds, False),
    (E.ORDER_MINIMUM, OrderRejected, False),
    (E.ORDERS_LIMIT, OrdersLimitExceeded, False),
    (E.UNKNOWN_ORDER, UnknownOrder, False),
    (E.UNAVAILABLE, ServiceUnavailable, True),
    (E.BUSY, ServiceUnavailable, True),
    ("EGeneral:Internal error:42", ServiceUnavailable, True),
    (E.CANCEL_ONLY_MODE, MarketRestricted, False),
    (E.TEMPORARY_LOCKOUT, TemporaryLockout, False),
    (E.INVALID_SESSION, InvalidSession, True),
    (E.TOKEN_NOT_FOUND, InvalidSession, True),
    (E.UNKNOWN_METHOD, UnknownMethod, False),
    (E.UNSUPPORTED_EVENT, UnknownMethod, False),
    (E.UNKNOWN_PAIR, UnknownAssetPair, False),
    (E.currency_pair_not_supported("XBT/USD"), UnknownAssetPair, False),
    (E.PRIVATE_ON_PUBLIC, WrongEndpoint, False),
    (E.PUBLIC_ON_PRIVATE_V2, WrongEndpoint, False),
    (E.SUBSCRIPTION_NOT_FOUND, SubscriptionError, False),
    (E.unsupported_field("price", "add_order"), InvalidArguments, False),
    (E.must_be_number("limit_price"), InvalidArguments, False),
]


@pytest.mark.parametrize(("text", "cls", "retryable"), CASES)
def test_mapping_rest_array_and_ws_string(text: str, cls: type[KrakenError],
                                          retryable: bool) -> None:
    for form in ([text], text):  # REST array entry; WS v2 `error` / v1 `errorMessage`
        err = error_from_kraken(form, method="AddOrder")
        assert type(err) is cls
        assert err.errors == (text,)
        assert err.retryable is retryable
        assert text in str(err) and str(err).startswith("AddOrder: ")


def test_warnings_are_skipped_and_all_errors_kept() -> None:
    err = error_from_kraken(["WGeneral:Something", "EGeneral:Weird", E.INSUFFICIENT_FUNDS])
    assert type(err) is InsufficientFunds
    assert err.errors == ("EGeneral:Weird", E.INSUFFICIENT_FUNDS)


def test_unknown_string_gives_the_base_class() -> None:
    err = error_from_kraken("ESomething:New")
    assert type(err) is KrakenError and err.error == "ESomething:New"


def test_invalid_nonce_explains_likely_causes() -> None:
    text = str(error_from_kraken([E.INVALID_NONCE]))
    assert "another process" in text and "nonce scale" in text


def test_hierarchy() -> None:
    assert issubclass(OrderRateLimitExceeded, RateLimitExceeded)
    assert issubclass(ClientRateLimited, RateLimitExceeded)
    assert issubclass(InsufficientFunds, OrderRejected)
    assert issubclass(ServerError, TransportError)
    assert not issubclass(ProtocolError, KrakenError)
    assert TransportError("x").retryable and not ProtocolError("x").retryable


def test_pickle_round_trip() -> None:
    for err in (error_from_kraken([E.INVALID_NONCE], method="Balance"),
                ClientRateLimited("Balance", 1.5),
                TransportError("reset", maybe_sent=False, method="Balance"),
                ServerError("HTTP 502", status=502, method="Balance"),
                OrderOutcomeUnknown("abc-123", cause=TransportError("t"))):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
    back_t = pickle.loads(pickle.dumps(TransportError("reset", maybe_sent=False)))
    assert back_t.maybe_sent is False


def test_order_outcome_unknown_carries_cl_ord_id() -> None:
    err = OrderOutcomeUnknown("my-id-1", cause=TransportError("no answer within 10 s"))
    assert err.cl_ord_id == "my-id-1" and "my-id-1" in str(err)
    assert "look it up" in str(err)


@given(st.text(max_size=80))
def test_error_from_kraken_never_raises(text: str) -> None:
    err = error_from_kraken([text])
    assert isinstance(err, KrakenError)
    assert err.errors == (text,)
