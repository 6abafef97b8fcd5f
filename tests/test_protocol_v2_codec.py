"""The v2 codec (krakenwire.protocol.v2): exact numbers, Kraken's recorded frames, validation."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenwire.protocol import v2

# recorded / documented frames (kraken-protocol.md §6)
STATUS = (b'{"channel":"status","data":[{"api_version":"v2","connection_id":13834774380200032777,'
          b'"system":"online","version":"2.0.0","upcoming_maintenance":[]}],"type":"update"}')
TRADE = (b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5",'
         b'"order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade",'
         b'"trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,'
         b'"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit",'
         b'"timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled",'
         b'"cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,'
         b'"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}')
BALANCES = (b'{"channel":"balances","data":[{"asset":"BTC","asset_class":"currency",'
            b'"balance":1.2,"wallets":[{"type":"spot","id":"main","balance":1.2}]}],'
            b'"type":"snapshot","sequence":1}')
LEDGER = (b'{"channel":"balances","type":"update","data":[{"ledger_id":"A5KS77-LQRMP-SMMN4B",'
          b'"ref_id":"AGBB7L-HT5LX-J3BB4A","timestamp":"2023-09-22T10:33:05.710082Z",'
          b'"type":"trade","asset":"USD","asset_class":"currency","category":"trade",'
          b'"wallet_type":"spot","wallet_id":"main","amount":132.9995,"fee":0.3458,'
          b'"balance":500}],"sequence":10}')
ESESSION = (b'{"channel":"executions","error":"ESession:Invalid session","method":"subscribe",'
            b'"status":"error","success":false,"time_in":"2026-09-25T17:58:09.493462Z",'
            b'"time_out":"2026-09-25T17:58:09.493897Z"}')
CANCEL_AFTER = (b'{"method":"cancel_all_orders_after","req_id":1234567890,"result":'
                b'{"currentTime":"2023-09-21T15:49:29Z","triggerTime":"2023-09-21T15:51:09Z"},'
                b'"success":true,"time_in":"2023-09-21T15:49:28.627900Z",'
                b'"time_out":"2023-09-21T15:49:28.649057Z"}')
BATCH_ADD = (b'{"method":"batch_add","req_id":1,"result":[{"order_id":"ORDERX-IDXXX-XXXXX1",'
             b'"order_userref":1},{"order_id":"ORDERX-IDXXX-XXXXX2","order_userref":2}],'
             b'"success":true}')


def test_status_keeps_uint64_connection_id() -> None:
    msg = v2.decode_message(STATUS)
    assert isinstance(msg, v2.StatusFrame)
    assert msg.data[0].connection_id == 13834774380200032777


def test_execution_report_numbers_are_exact_decimals() -> None:
    msg = v2.decode_message(TRADE)
    assert isinstance(msg, v2.ExecutionsFrame) and msg.sequence == 10
    (rep,) = msg.data
    assert rep.cost == Decimal("132.9995") and rep.last_price == Decimal("26599.9")
    assert rep.fees == [v2.Fee("USD", Decimal("0.3458"))]
    assert rep.cl_ord_id is msgspec.UNSET
    # and back to the wire: numbers, not strings, same digits
    out = json.loads(v2.encode(msg), parse_float=Decimal)
    assert out == json.loads(TRADE, parse_float=Decimal)


def test_balances_and_ledger_frames() -> None:
    snap = v2.decode_message(BALANCES)
    assert isinstance(snap, v2.BalancesSnapshotFrame)
    assert snap.data[0].wallets == [v2.Wallet("spot", "main", Decimal("1.2"))]
    upd = v2.decode_message(LEDGER)
    assert isinstance(upd, v2.BalancesUpdateFrame)
    assert upd.data[0].balance == Decimal(500) and upd.data[0].fee == Decimal("0.3458")


def test_responses_are_typed_by_method() -> None:
    err = v2.decode_message(ESESSION)
    assert isinstance(err, v2.Response) and err.success is False
    assert err.error == "ESession:Invalid session" and err.channel == "executions"
    cao = v2.decode_message(CANCEL_AFTER)
    assert isinstance(cao, v2.Response)
    assert isinstance(cao.result, v2.CancelAfterResult)
    assert cao.result.triggerTime == "2023-09-21T15:51:09Z"
    batch = v2.decode_message(BATCH_ADD)
    assert isinstance(batch, v2.Response)
    assert [r.order_userref for r in batch.result] == [1, 2]
    assert isinstance(v2.decode_message(b'{"channel":"heartbeat"}'), v2.HeartbeatFrame)


def test_decode_rejects_garbage() -> None:
    with pytest.raises(msgspec.DecodeError):
        v2.decode_message(b"CloudFlare WebSocket proxy restarting")
    with pytest.raises(msgspec.ValidationError):
        v2.decode_message(b'{"foo":1}')


def test_request_encoding_numbers_never_strings() -> None:
    req = v2.Request(method="add_order", req_id=7, params=v2.AddOrderParams(
        order_type="limit", side="buy", symbol="BTC/USD", token="t",
        order_qty=Decimal("0.2123456789"), limit_price=Decimal("26500.4")))
    text = v2.encode(req).decode()
    assert '"order_qty":0.2123456789' in text and '"limit_price":26500.4' in text
    assert "cl_ord_id" not in text  # unset optional fields are left out


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8,
                   min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_decimal_roundtrip_is_exact(value: Decimal) -> None:
    frame = v2.ExecutionsFrame(type="update", sequence=1, data=[
        v2.ExecutionReport(order_id="O", exec_type="trade", last_price=value)])
    back = v2.decode_message(v2.encode(frame))
    assert isinstance(back, v2.ExecutionsFrame)
    assert back.data[0].last_price == value


@given(st.integers(min_value=0, max_value=4_102_444_800_000_000))
def test_rfc3339_roundtrip_microseconds(us: int) -> None:
    text = v2.rfc3339(us / 1_000_000)
    assert len(text) == 27 and text.endswith("Z") and text[10] == "T"
    assert round(v2.parse_rfc3339(text) * 1_000_000) == us


def test_rfc3339_known_value() -> None:
    assert v2.rfc3339(1695378785.70995) == "2023-09-22T10:33:05.709950Z"
    assert v2.parse_rfc3339("2022-06-13T08:09:10.7890123") == pytest.approx(1655107750.7890123)


@pytest.mark.parametrize(("raw", "error"), [
    (b'{"method":"ping","params":{}}', "Unsupported field: 'params' for the given msg type: ping"),
    (b'{"method":"nope"}', "Unsupported event"),
    (b"not json", "Malformed request"),
    (b"[1,2]", "Malformed request"),
])
def test_parse_request_refusals(raw: bytes, error: str) -> None:
    with pytest.raises(v2.RequestError) as info:
        v2.parse_request(raw)
    assert info.value.error == error


@given(st.sampled_from(["order_qty", "limit_price", "display_qty", "cash_order_qty"]),
       st.one_of(st.text(), st.booleans(), st.none(), st.lists(st.integers())))
def test_number_fields_reject_non_numbers(name: str, value: object) -> None:
    with pytest.raises(v2.RequestError) as info:
        v2.validate_params("add_order", {"order_type": "limit", "side": "buy",
                                         "symbol": "BTC/USD", name: value})
    assert info.value.error == f"{name[0].upper()}{name[1:]} field must be a number_float"


def test_validate_params_converts_and_refuses_unknown_fields() -> None:
    method, params, req_id = v2.parse_request(
        b'{"method":"add_order","req_id":3,"params":{"order_type":"limit","side":"buy",'
        b'"symbol":"BTC/USD","order_qty":1,"limit_price":26500.4,'
        b'"expire_time":"2023-09-22T10:33:05.5Z","triggers":{"price":1.5}}}')
    assert (method, req_id) == ("add_order", 3)
    p = v2.validate_params(method, params)
    assert p["order_qty"] == Decimal(1) and p["limit_price"] == Decimal("26500.4")
    assert p["expire_time"] == pytest.approx(1695378785.5)
    assert p["triggers"]["price"] == Decimal("1.5")
    with pytest.raises(v2.RequestError) as info:
        v2.validate_params("add_order", {"order_type": "limit", "triggers": {"bogus": 1}})
    assert info.value.error == "Unsupported field: 'bogus' for the given msg type: add order"
    with pytest.raises(v2.RequestError) as info:
        v2.validate_params("cancel_all_orders_after", {})
    assert info.value.error == "EGeneral:Invalid arguments:timeout"
