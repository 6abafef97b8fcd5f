"""The sandbox's HTTP server (aiohttp.web, one port): Kraken's REST API and the admin API.

* ``GET /0/public/<Method>`` — Time, SystemStatus, Assets, AssetPairs, Ticker, Depth, Trades,
  OHLC (from the recent public tape), Spread (current best bid/ask only).
* ``POST /0/private/<Method>`` — signed calls checked by the gate, then the exchange.
  Bodies may be form-encoded or JSON; the signature is checked over the raw bytes received.
  Trading methods run inside ``core.shared()`` until their events are published, so no tick's
  events come between an order and its own ``pending_new`` / ``new``.
* The same REST paths under any prefix (``/<prefix>/0/public/Time``); signatures are always
  checked against ``/0/private/<Method>``.
* ``/sandbox/...`` — the JSON admin API (loopback peers only): accounts, keys, orders,
  balances, the manual clock, prices, fault switches, token invalidation.
* WebSocket routes come from :mod:`krakenwire.sandbox.ws_v2` / ``ws_v1`` when present.

Kraken's envelope: HTTP 200 with ``{"error":[],"result":...}`` on success and
``{"error":["<string>"]}`` (no ``result``) on any API error; POST to a public or GET to a
private endpoint is HTTP 405; an unknown method is ``EGeneral:Unknown method``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from krakenwire.protocol import errors
from krakenwire.protocol.naming import ASSETS, PAIRS, Pair, asset_by_any, pair_by_any
from krakenwire.sandbox import rest_render as rr
from krakenwire.sandbox.core import SandboxCore
from krakenwire.sandbox.exchange import ExchangeError
from krakenwire.sandbox.gate import METHOD_PERMISSIONS, GateError, KeyRecord
from krakenwire.sandbox.model import Event, Order, OrderRequest
from krakenwire.sandbox.store import StoreError
from krakenwire.sandbox.ws_common import TradeError, is_relative_price, resolve_relative_price

__all__ = ["ApiError", "make_app", "order_request_from_params"]

log = logging.getLogger("krakenwire.sandbox.server")

CORE_KEY: Final = web.AppKey("krakenwire_sandbox_core", SandboxCore)
_JSON_CT: Final = "application/json; charset=utf-8"
_ENCODER: Final = msgspec.json.Encoder()
_ORDER_ID: Final = re.compile(r"^O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")
_ORDER_TYPES: Final = frozenset(
    {"market", "limit", "stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"}
)
_TIFS: Final = frozenset({"GTC", "IOC", "GTD", "FOK"})
_STP: Final = frozenset({"cancel-newest", "cancel-oldest", "cancel-both"})
_OFLAGS: Final = frozenset({"post", "fcib", "fciq", "nompp", "viqc"})
_PAGE: Final = 50
_PLACING: Final = frozenset({"AddOrder", "AddOrderBatch", "EditOrder", "AmendOrder"})
#: methods that change the exchange: each runs inside ``core.shared()`` (see _private)
_TRADING: Final = _PLACING | {"CancelOrder", "CancelOrderBatch", "CancelAll",
                              "CancelAllOrdersAfter"}


class ApiError(Exception):
    """A REST request was refused with Kraken's ``error`` string."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


# --- envelope ----------------------------------------------------------------------------------
def _json_response(payload: Any, status: int = 200) -> web.Response:
    # Kraken escapes "/" as "\/" inside JSON strings (tokens, wsnames); outside strings JSON
    # never contains "/", so a byte replacement is exact.
    body = _ENCODER.encode(payload).replace(b"/", b"\\/")
    return web.Response(body=body, status=status, headers={"Content-Type": _JSON_CT})


def _ok(result: Any) -> web.Response:
    return _json_response({"error": [], "result": result})


def _fail(error: str) -> web.Response:
    return _json_response({"error": [error]})


# --- parameters --------------------------------------------------------------------------------
def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """Parse a form-encoded or JSON body into a dict (form keys like ``orders[0][type]`` nest;
    repeated form keys become lists; JSON numbers with a fraction become Decimal).

    Raises:
        ApiError: ``EAPI:Bad request`` for a body that is neither.
    """
    if not raw.strip():
        return {}
    if "json" in content_type or raw.lstrip()[:1] == b"{":
        try:
            obj = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(errors.BAD_REQUEST) from None
        if not isinstance(obj, dict):
            raise ApiError(errors.BAD_REQUEST)
        return obj
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(errors.BAD_REQUEST) from None
    return _nest(pairs)


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if "[" not in key or not key.endswith("]"):
            if key in out:
                prev = out[key]
                out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                out[key] = value
            continue
        base, _, rest = key.partition("[")
        parts = [base, *rest[:-1].split("][")]
        node: dict[str, Any] = out
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        last = parts[-1]
        if last == "":  # txid[]=a&txid[]=b
            node.setdefault("", []).append(value)
        else:
            node[last] = value
    return cast(dict[str, Any], _listify(out))


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if set(node) == {""}:
        return [_listify(v) for v in node[""]]
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def _bad(name: str) -> ApiError:
    return ApiError(errors.invalid_arguments(name))


def p_str(p: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string parameter (numbers are accepted and turned into text)."""
    value = p.get(name)
    if value is None or value == "":
        if required:
            raise _bad(name)
        return None
    if isinstance(value, (bool, list, dict)):
        raise _bad(name)
    return str(value)


def p_dec(p: dict[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    """A decimal parameter (string or JSON number)."""
    text = p_str(p, name, required=required)
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _bad(name) from None
    if not value.is_finite():
        raise _bad(name)
    return value


def p_int(p: dict[str, Any], name: str) -> int | None:
    """An integer parameter."""
    text = p_str(p, name)
    if text is None:
        return None
    text = text.strip()
    if not re.fullmatch(r"-?\d{1,20}", text):
        raise _bad(name)
    return int(text)


def p_bool(p: dict[str, Any], name: str) -> bool:
    """A boolean parameter (``true``/``false``, ``1``/``0``, JSON booleans)."""
    value = p.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise _bad(name)


def p_list(p: dict[str, Any], name: str) -> list[str]:
    """A list parameter: a JSON/form array or a comma-separated string."""
    value = p.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _time_param(p: dict[str, Any], name: str, now: float) -> float | None:
    text = p_str(p, name)
    if text is None:
        return None
    text = text.strip()
    try:
        if text.startswith("+"):
            return now + float(Decimal(text[1:]))
        value = float(Decimal(text))
    except (InvalidOperation, ValueError):
        raise _bad(name) from None
    return None if value == 0 else value


def _deadline(p: dict[str, Any], name: str = "deadline") -> float | None:
    text = p_str(p, name)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _bad(name) from None


def resolve_pair(name: str | None) -> Pair:
    """The pair named by a REST ``pair`` parameter (id or altname; other spellings too).

    Raises:
        ApiError: ``EGeneral:Invalid arguments:pair`` if missing, ``EQuery:Unknown asset
            pair`` if unknown.
    """
    if name is None:
        raise _bad("pair")
    pair = pair_by_any(name.strip())
    if pair is None:
        raise ApiError(errors.UNKNOWN_PAIR)
    return pair


def _price_param(p: dict[str, Any], name: str, side: str, ordertype: str, pair: Pair,
                 reference: Callable[[], Decimal] | None, *, required: bool) -> Decimal | None:
    """A price, absolute or relative to the last trade (``+5``, ``-5``, ``#5``, ``+2%``),
    resolved by :func:`krakenwire.sandbox.ws_common.resolve_relative_price` — the one rule
    shared by REST and WS v1."""
    text = p_str(p, name, required=required)
    if text is None:
        return None
    text = text.strip()
    if not is_relative_price(text):
        return p_dec({name: text}, name)
    if reference is None:
        raise _bad(name)
    try:
        return resolve_relative_price(text, side=side, ordertype=ordertype, last=reference(),
                                      tick=pair.tick_size, name=name)
    except TradeError as exc:
        raise ApiError(exc.error) from None


def order_request_from_params(p: dict[str, Any], pair: Pair, now: float,
                              reference: Callable[[], Decimal] | None = None) -> OrderRequest:
    """Build an :class:`OrderRequest` from REST ``AddOrder`` parameters (also used for each
    order of ``AddOrderBatch``). ``reference`` gives the price that relative prices (``+5``,
    ``-1%``, ``#2``) are taken from; without it they are refused.

    Raises:
        ApiError: ``EGeneral:Invalid arguments:<name>`` for a missing or malformed parameter.
    """
    side = p_str(p, "type", required=True)
    if side not in ("buy", "sell"):
        raise _bad("type")
    ordertype = p_str(p, "ordertype", required=True)
    if ordertype not in _ORDER_TYPES:
        raise _bad("ordertype")
    volume = p_dec(p, "volume", required=True)
    assert volume is not None
    if volume <= 0:
        raise _bad("volume")
    price = _price_param(p, "price", side, ordertype, pair, reference,
                         required=ordertype != "market")
    price2 = _price_param(p, "price2", side, ordertype, pair, reference,
                          required=ordertype.endswith("-limit"))
    if price is not None and price <= 0:
        raise ApiError(errors.INVALID_PRICE)
    if ordertype == "market":
        price = None
    if not ordertype.endswith("-limit"):
        price2 = None
    flags = set(p_list(p, "oflags"))
    if not flags <= _OFLAGS or {"fcib", "fciq"} <= flags:
        raise _bad("oflags")
    tif = (p_str(p, "timeinforce") or "GTC").upper()
    if tif not in _TIFS:
        raise _bad("timeinforce")
    expiretm = _time_param(p, "expiretm", now)
    if tif == "GTD" and expiretm is None:
        raise _bad("expiretm")
    if expiretm is not None and tif == "GTC":
        tif = "GTD"
    userref = p_int(p, "userref")
    if userref is not None and not -(2**31) <= userref < 2**31:
        raise _bad("userref")
    cl_ord_id = p_str(p, "cl_ord_id")
    if cl_ord_id is not None and (userref is not None or len(cl_ord_id) > 36):
        raise _bad("cl_ord_id")
    stp = p_str(p, "stptype") or "cancel-newest"
    if stp not in _STP:
        raise _bad("stptype")
    trigger = p_str(p, "trigger") or "last"
    if trigger not in ("last", "index"):
        raise _bad("trigger")
    cash: Decimal | None = None
    if "viqc" in flags:
        if ordertype != "market" or side != "buy":
            raise _bad("oflags")
        cash = volume
    return OrderRequest(
        pair=pair.id,
        side=side,  # type: ignore[arg-type]
        ordertype=ordertype,  # type: ignore[arg-type]
        volume=volume,
        price=price,
        price2=price2,
        timeinforce=tif,  # type: ignore[arg-type]
        post_only="post" in flags,
        starttm=_time_param(p, "starttm", now),
        expiretm=expiretm,
        userref=userref,
        cl_ord_id=cl_ord_id,
        validate=p_bool(p, "validate"),
        stp_type=stp,  # type: ignore[arg-type]
        trigger=trigger,  # type: ignore[arg-type]
        reduce_only=p_bool(p, "reduce_only"),
        fee_in_base="fcib" in flags,
        no_mpp="nompp" in flags,
        cash_order_qty=cash,
        deadline=_deadline(p),
        display_qty=p_dec(p, "displayvol"),
    )


# --- private calls -----------------------------------------------------------------------------
@dataclass(slots=True)
class Call:
    """One authenticated private call."""

    core: SandboxCore
    key: KeyRecord
    params: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    @property
    def account_id(self) -> str:
        """The key's account."""
        return self.key.account_id


Handler = Callable[[Call], Awaitable[Any]]


def _matching_open(core: SandboxCore, account_id: str, ident: str) -> list[Order]:
    ident = ident.strip()
    if _ORDER_ID.match(ident):
        order = core.exchange.order(account_id, ident)
        return [order] if order is not None and order.is_open else []
    opens = core.exchange.open_orders(account_id)
    if re.fullmatch(r"-?\d+", ident):
        ref = int(ident)
        return [o for o in opens if o.userref == ref]
    return [o for o in opens if o.cl_ord_id == ident]


def _trade_ids_by_order(core: SandboxCore, account_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in core.exchange.trades(account_id):
        out.setdefault(t.order_id, []).append(t.id)
    return out


async def _token(call: Call) -> Any:
    token, expires = call.core.gate.issue_token(call.key)
    return {"token": token, "expires": expires}


async def _balance(call: Call) -> Any:
    account = call.core.exchange.account(call.account_id)
    out = {}
    for asset_id, amount in account.balances.items():
        asset = ASSETS.get(asset_id)
        out[asset_id] = rr.fmt(amount, asset.decimals if asset else 8)
    return out


async def _balance_ex(call: Call) -> Any:
    account = call.core.exchange.account(call.account_id)
    out = {}
    for asset_id, amount in account.balances.items():
        asset = ASSETS.get(asset_id)
        places = asset.decimals if asset else 8
        out[asset_id] = {"balance": rr.fmt(amount, places),
                         "hold_trade": rr.fmt(account.holds.get(asset_id, rr.ZERO), places)}
    return out


def _last_price(core: SandboxCore, pair: Pair) -> Decimal:
    try:
        return core.exchange.last_price(pair.id)
    except ExchangeError:
        return pair.start_price


def _value_in(core: SandboxCore, asset_id: str, amount: Decimal, target: str) -> Decimal:
    if asset_id == target or not amount:
        return amount
    for pair in PAIRS.values():
        if pair.base == asset_id and pair.quote == target:
            return amount * _last_price(core, pair)
        if pair.quote == asset_id and pair.base == target:
            return amount / _last_price(core, pair)
    if target != "ZUSD":  # go through USD
        usd = _value_in(core, asset_id, amount, "ZUSD")
        one = _value_in(core, target, Decimal(1), "ZUSD")
        return usd / one if one else rr.ZERO
    return rr.ZERO


async def _trade_balance(call: Call) -> Any:
    name = p_str(call.params, "asset") or "ZUSD"
    asset = asset_by_any(name)
    if asset is None:
        raise ApiError(errors.UNKNOWN_ASSET)
    account = call.core.exchange.account(call.account_id)
    total = sum((_value_in(call.core, a, v, asset.id) for a, v in account.balances.items()),
                rr.ZERO)
    places = 4
    eb = rr.fmt(total, places)
    zero = rr.fmt(rr.ZERO, places)
    return {"eb": eb, "tb": eb, "m": zero, "uv": zero, "n": zero, "c": zero, "v": zero,
            "e": eb, "mf": eb}


def _order_filter(call: Call) -> Callable[[Order], bool]:
    userref = p_int(call.params, "userref")
    cl_ord_id = p_str(call.params, "cl_ord_id")

    def keep(o: Order) -> bool:
        if userref is not None and o.userref != userref:
            return False
        return cl_ord_id is None or o.cl_ord_id == cl_ord_id

    return keep


async def _open_orders(call: Call) -> Any:
    keep = _order_filter(call)
    with_trades = p_bool(call.params, "trades")
    tmap = _trade_ids_by_order(call.core, call.account_id) if with_trades else {}
    opens = sorted(call.core.exchange.open_orders(call.account_id), key=lambda o: -o.seq)
    return {"open": {o.id: rr.order_info(o, tmap.get(o.id)) for o in opens if keep(o)}}


def _bound(p: dict[str, Any], name: str, time_of: Callable[[str], float | None]
           ) -> float | None:
    """A ``start``/``end`` bound: a Unix timestamp, or the id of an order or trade whose time
    ``time_of`` gives.

    Raises:
        ApiError: ``EGeneral:Invalid arguments:<name>`` for neither.
    """
    text = p_str(p, name)
    if text is None:
        return None
    text = text.strip()
    if re.fullmatch(r"[A-Z0-9]{6}-[A-Z0-9]{5}-[A-Z0-9]{6}", text):
        when = time_of(text)
        if when is None:
            raise _bad(name)
        return when
    value = p_dec(p, name)
    assert value is not None
    return float(value)


async def _closed_orders(call: Call) -> Any:
    keep = _order_filter(call)
    p = call.params
    with_trades = p_bool(p, "trades")
    ofs = p_int(p, "ofs") or 0
    closetime = p_str(p, "closetime") or "both"
    if closetime not in ("open", "close", "both"):
        raise _bad("closetime")

    def stamp(o: Order) -> float:
        return o.opentm if closetime == "open" else (o.closetm or o.opentm)

    def order_time(ident: str) -> float | None:
        order = call.core.exchange.order(call.account_id, ident)
        return None if order is None else stamp(order)

    # Kraken: "start"/"end" are a Unix timestamp or an order id
    start, end = _bound(p, "start", order_time), _bound(p, "end", order_time)
    orders = [o for o in call.core.exchange.closed_orders(call.account_id) if keep(o)
              and (start is None or stamp(o) > start)
              and (end is None or stamp(o) <= end)]
    orders.sort(key=lambda o: (o.closetm or o.opentm, o.seq), reverse=True)
    tmap = _trade_ids_by_order(call.core, call.account_id) if with_trades else {}
    page = orders[ofs:ofs + _PAGE]
    return {"closed": {o.id: rr.order_info(o, tmap.get(o.id)) for o in page},
            "count": len(orders)}


async def _query_orders(call: Call) -> Any:
    p = call.params
    ids = p_list(p, "txid")
    if not ids or len(ids) > 50:
        raise _bad("txid")
    keep = _order_filter(call)
    tmap = _trade_ids_by_order(call.core, call.account_id) if p_bool(p, "trades") else {}
    out = {}
    for ident in ids:
        order = call.core.exchange.order(call.account_id, ident)
        if order is None:
            raise ApiError(errors.INVALID_ORDER)
        if keep(order):
            out[order.id] = rr.order_info(order, tmap.get(order.id))
    return out


async def _trades_history(call: Call) -> Any:
    p = call.params
    kind = p_str(p, "type") or "all"
    if kind not in ("all", "any position", "closed position", "closing position",
                    "no position"):
        raise _bad("type")
    ofs = p_int(p, "ofs") or 0
    mine = call.core.exchange.trades(call.account_id)
    times = {t.id: t.time for t in mine}
    # Kraken: "start"/"end" are a Unix timestamp or a trade id
    start, end = _bound(p, "start", times.get), _bound(p, "end", times.get)
    trades = [t for t in mine
              if (start is None or t.time > start) and (end is None or t.time <= end)]
    trades.reverse()
    page = trades[ofs:ofs + _PAGE]
    out = {t.id: rr.trade_info(t) for t in page}
    if p_bool(p, "ledgers"):  # Kraken: "ledgers": the trade's ledger entry ids
        for e in call.core.exchange.ledger(call.account_id):
            if e.refid in out:
                out[e.refid].setdefault("ledgers", []).append(e.id)
    return {"trades": out, "count": len(trades)}


async def _query_trades(call: Call) -> Any:
    ids = p_list(call.params, "txid")
    if not ids or len(ids) > 20:
        raise _bad("txid")
    mine = {t.id: t for t in call.core.exchange.trades(call.account_id)}
    out = {}
    for ident in ids:
        trade = mine.get(ident)
        if trade is None:
            raise _bad("txid")
        out[trade.id] = rr.trade_info(trade)
    return out


async def _ledgers(call: Call) -> Any:
    p = call.params
    assets = {a.id for a in (asset_by_any(n) for n in p_list(p, "asset")) if a}
    ofs = p_int(p, "ofs") or 0
    kind = p_str(p, "type") or "all"
    mine = call.core.exchange.ledger(call.account_id)
    times = {e.id: e.time for e in mine}
    # Kraken: "start"/"end" are a Unix timestamp or a ledger id; "type" filters by entry type
    start, end = _bound(p, "start", times.get), _bound(p, "end", times.get)
    entries = [e for e in mine
               if (not assets or e.asset in assets) and kind in ("all", e.type)
               and (start is None or e.time > start) and (end is None or e.time <= end)]
    entries.reverse()
    return {"ledger": {e.id: _ledger_info(e) for e in entries[ofs:ofs + _PAGE]},
            "count": len(entries)}


async def _query_ledgers(call: Call) -> Any:
    ids = p_list(call.params, "id")
    if not ids or len(ids) > 20:
        raise _bad("id")
    mine = {e.id: e for e in call.core.exchange.ledger(call.account_id)}
    out = {}
    for ident in ids:
        entry = mine.get(ident)
        if entry is None:
            raise _bad("id")
        out[ident] = _ledger_info(entry)
    return out


def _ledger_info(e: Any) -> dict[str, Any]:
    asset = ASSETS.get(e.asset)
    places = asset.decimals if asset else 8
    return {"refid": e.refid, "time": e.time, "type": e.type, "subtype": "",
            "aclass": "currency", "asset": e.asset, "amount": rr.fmt(e.amount, places),
            "fee": rr.fmt(e.fee, places), "balance": rr.fmt(e.balance, places)}


async def _trade_volume(call: Call) -> Any:
    now = call.core.clock.now()
    volume = sum((_value_in(call.core, PAIRS[t.pair].quote, t.cost, "ZUSD")
                  for t in call.core.exchange.trades(call.account_id)
                  if t.time > now - 30 * 86400), rr.ZERO)
    out: dict[str, Any] = {"currency": "ZUSD", "volume": rr.fmt(volume, 4)}
    names = p_list(call.params, "pair")
    if names:
        pairs = [resolve_pair(n) for n in names]
        out["fees"] = {p.id: _fee_tier(p.fees, volume) for p in pairs}
        out["fees_maker"] = {p.id: _fee_tier(p.fees_maker, volume) for p in pairs}
    return out


def _fee_tier(table: tuple[tuple[int, Decimal], ...], volume: Decimal
              ) -> dict[str, str | None]:
    index = max(i for i, (tier, _pct) in enumerate(table) if volume >= tier)
    tier, pct = table[index]
    nxt = table[index + 1] if index + 1 < len(table) else None
    return {"fee": rr.fmt(pct, 4), "minfee": rr.fmt(table[-1][1], 4),
            "maxfee": rr.fmt(table[0][1], 4),
            "nextfee": rr.fmt(nxt[1], 4) if nxt else None,
            "nextvolume": rr.fmt(Decimal(nxt[0]), 4) if nxt else None,
            "tiervolume": rr.fmt(Decimal(tier), 4)}


async def _open_positions(call: Call) -> Any:
    # spot only: the sandbox has no margin positions. Kraken keys positions by id, but with
    # ``consolidation=market`` the result is a list of per-pair summaries (ccxt relies on it)
    if p_str(call.params, "consolidation") == "market":
        return []
    return {}


async def _add_order(call: Call) -> Any:
    core = call.core
    pair = resolve_pair(p_str(call.params, "pair"))
    core.gate.charge_trading(call.key, pair.id, "add")
    req = order_request_from_params(call.params, pair, core.clock.now(),
                                    lambda: core.exchange.last_price(pair.id))
    if not req.validate and not call.key.unlimited:
        core.gate.check_open_orders(call.key, core.exchange.open_count(call.account_id, pair.id))
    order, events = await core.run(lambda: core.exchange.add_order(call.account_id, req))
    call.events = events
    descr = {"order": rr.order_descr(order, pair)}
    if req.validate:
        return {"descr": descr}
    return {"descr": descr, "txid": [order.id]}


async def _add_order_batch(call: Call) -> Any:
    core = call.core
    p = call.params
    pair = resolve_pair(p_str(p, "pair"))
    raw_orders = p.get("orders")
    if not isinstance(raw_orders, list) or not 2 <= len(raw_orders) <= 15 or not all(
            isinstance(o, dict) for o in raw_orders):
        raise _bad("orders")
    core.gate.charge_trading(call.key, pair.id, "add", count=1)
    now = core.clock.now()
    deadline = _deadline(p)
    validate = p_bool(p, "validate")
    reqs = []
    for o in raw_orders:
        req = order_request_from_params(o, pair, now, lambda: core.exchange.last_price(pair.id))
        req.deadline = deadline
        req.validate = validate
        reqs.append(req)
    extra = len(reqs) / 2 - 1
    if extra > 0 and not call.key.unlimited:
        core.gate.charge_trading(call.key, pair.id, "add", count=1)  # n/2 in total, rounded
    if not validate and not call.key.unlimited:
        core.gate.check_open_orders(call.key, core.exchange.open_count(call.account_id, pair.id),
                                    adding=len(reqs))

    # Kraken: validation failures reject the whole batch; pre-match (funding) failures only
    # reject their order and the rest proceeds.
    for req in reqs:
        probe = copy.copy(req)
        probe.validate = True
        try:
            core.exchange.add_order(call.account_id, probe)
        except ExchangeError as exc:
            if exc.error != errors.INSUFFICIENT_FUNDS:
                raise

    def place() -> list[Any]:
        out: list[Any] = []
        for req in reqs:
            try:
                order = core.exchange.add_order(call.account_id, req)
            except ExchangeError as exc:
                out.append({"error": exc.error})
                continue
            item: dict[str, Any] = {"descr": {"order": rr.order_descr(order, pair)}}
            if not validate:
                item["txid"] = order.id
            out.append(item)
        return out

    results, events = await core.run(place)
    call.events = events
    return {"orders": results}


async def _amend_order(call: Call) -> Any:
    core = call.core
    p = call.params
    txid = p_str(p, "txid")
    cl_ord_id = p_str(p, "cl_ord_id")
    if (txid is None) == (cl_ord_id is None):
        raise _bad("txid")
    order = (core.exchange.order(call.account_id, txid) if txid is not None else next(
        (o for o in core.exchange.open_orders(call.account_id) if o.cl_ord_id == cl_ord_id),
        None))
    if order is None or not order.is_open:
        raise ApiError(errors.UNKNOWN_ORDER)
    volume = p_dec(p, "order_qty")
    limit_price = p_dec(p, "limit_price")
    trigger_price = p_dec(p, "trigger_price")
    if order.ordertype in ("limit", "market"):
        price, price2 = limit_price, None
        if trigger_price is not None:
            raise _bad("trigger_price")
    else:
        price, price2 = trigger_price, limit_price
    core.gate.charge_trading(call.key, order.pair, "amend", core.exchange.order_age(order))
    (_amended, amend_id), events = await core.run(lambda: core.exchange.amend_order(
        call.account_id, order_id=order.id, volume=volume, price=price, price2=price2,
        post_only=p_bool(p, "post_only")))
    call.events = events
    return {"amend_id": amend_id}


async def _edit_order(call: Call) -> Any:
    core = call.core
    p = call.params
    pair = resolve_pair(p_str(p, "pair"))
    ident = p_str(p, "txid", required=True)
    assert ident is not None
    matches = _matching_open(core, call.account_id, ident)
    if len(matches) != 1 or matches[0].pair != pair.id:
        raise ApiError(errors.UNKNOWN_ORDER)
    old = matches[0]
    flags = set(p_list(p, "oflags"))
    if not flags <= _OFLAGS:
        raise _bad("oflags")
    validate = p_bool(p, "validate")
    core.gate.charge_trading(call.key, pair.id, "edit", core.exchange.order_age(old))
    (new, _old), events = await core.run(lambda: core.exchange.edit_order(
        call.account_id, old.id, volume=p_dec(p, "volume"), price=p_dec(p, "price"),
        price2=p_dec(p, "price2"), userref=p_int(p, "userref"),
        post_only=("post" in flags) if flags else None, validate=validate))
    call.events = events
    result: dict[str, Any] = {
        "status": "ok",
        "descr": {"order": rr.order_descr(new, pair, by_id=True)},
        "volume": rr.fmt(new.volume, pair.lot_decimals),
        "price": rr.price_str(pair, new.price),
        "price2": rr.price_str(pair, new.price2),
        "orders_cancelled": 0 if validate else 1,
    }
    if not validate:
        result["txid"] = new.id
        result["originaltxid"] = old.id
    return result


async def _cancel(call: Call, idents: list[str]) -> int:
    core = call.core
    targets: dict[str, Order] = {}
    for ident in idents:
        for order in _matching_open(core, call.account_id, ident):
            targets[order.id] = order
    for order in targets.values():
        core.gate.charge_trading(call.key, order.pair, "cancel", core.exchange.order_age(order))

    def cancel() -> int:
        n = 0
        for oid in targets:
            with contextlib.suppress(ExchangeError):  # filled or cancelled meanwhile
                n += len(core.exchange.cancel_order(call.account_id, oid))
        return n

    count, events = await core.run(cancel)
    call.events = events
    return count


async def _cancel_order(call: Call) -> Any:
    p = call.params
    idents = p_list(p, "txid") + p_list(p, "cl_ord_id")
    if not idents:
        raise _bad("txid")
    targets = [o for i in idents for o in _matching_open(call.core, call.account_id, i)]
    if not targets:
        raise ApiError(errors.UNKNOWN_ORDER)
    return {"count": await _cancel(call, idents)}


async def _cancel_order_batch(call: Call) -> Any:
    p = call.params
    idents: list[str] = []
    raw = p.get("orders")
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                idents.extend(str(v) for v in item.values())
            else:
                idents.append(str(item))
    elif raw is not None:
        idents.extend(p_list(p, "orders"))
    idents.extend(p_list(p, "cl_ord_ids"))
    if not idents or len(idents) > 50:
        raise _bad("orders")
    return {"count": await _cancel(call, idents)}


async def _cancel_all(call: Call) -> Any:
    core = call.core
    count, events = await core.run(lambda: core.exchange.cancel_all(call.account_id))
    call.events = events
    return {"count": count}


async def _cancel_all_after(call: Call) -> Any:
    core = call.core
    timeout = p_int(call.params, "timeout")
    if timeout is None or not 0 <= timeout < 86400:
        raise _bad("timeout")
    (now, trigger), events = await core.run(
        lambda: core.exchange.cancel_all_after(call.account_id, timeout))
    call.events = events
    return {"currentTime": rr.iso_seconds(now, round_up=True),
            "triggerTime": "0" if trigger is None else rr.iso_seconds(trigger, round_up=True)}


PRIVATE: Final[dict[str, Handler]] = {
    "GetWebSocketsToken": _token,
    "Balance": _balance,
    "BalanceEx": _balance_ex,
    "TradeBalance": _trade_balance,
    "OpenOrders": _open_orders,
    "ClosedOrders": _closed_orders,
    "QueryOrders": _query_orders,
    "TradesHistory": _trades_history,
    "QueryTrades": _query_trades,
    "Ledgers": _ledgers,
    "TradeVolume": _trade_volume,
    "OpenPositions": _open_positions,
    "QueryLedgers": _query_ledgers,
    "AddOrder": _add_order,
    "AddOrderBatch": _add_order_batch,
    "AmendOrder": _amend_order,
    "EditOrder": _edit_order,
    "CancelOrder": _cancel_order,
    "CancelOrderBatch": _cancel_order_batch,
    "CancelAll": _cancel_all,
    "CancelAllOrdersAfter": _cancel_all_after,
}


def _check_system_status(core: SandboxCore, method: str, params: dict[str, Any]) -> None:
    status = core.faults.system_status
    if status == "maintenance":
        raise ApiError(errors.UNAVAILABLE)
    if method not in _PLACING:
        return
    if status == "cancel_only":
        raise ApiError(errors.CANCEL_ONLY_MODE)
    if status == "post_only" and method in ("AddOrder", "AddOrderBatch"):
        orders = params.get("orders") if method == "AddOrderBatch" else [params]
        for order in orders if isinstance(orders, list) else []:
            if not isinstance(order, dict) or "post" not in p_list(order, "oflags"):
                raise ApiError(errors.POST_ONLY_MODE)


async def _read_body(request: web.Request) -> bytes:
    """The request body, or HTTP 408 if the client does not send it within
    ``settings.read_timeout`` s (a stalled client never holds a handler forever)."""
    core = request.app[CORE_KEY]
    try:
        return await asyncio.wait_for(request.read(), core.settings.read_timeout)
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None


async def _private(request: web.Request) -> web.StreamResponse:
    """One private REST call. Whatever the exchange did is committed before any reply, and its
    events reach the feeds whatever happens to the reply: sent, refused, failed, or lost to a
    client that went away or to a handler cancelled at shutdown."""
    core = request.app[CORE_KEY]
    method = request.match_info["method"]
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    raw = await _read_body(request)
    if core.faults.rest_delay > 0:
        await asyncio.sleep(core.faults.rest_delay)  # fault injection: a slow exchange
    if core.faults.rest_http_status:
        return _proxy_error(core.faults.rest_http_status)
    handler = PRIVATE.get(method)
    if handler is None:
        return _fail(errors.UNKNOWN_METHOD)
    if method not in _TRADING:
        return await _call_private(request, core, method, handler, raw)
    # An exchange operation: no tick may publish between its execution and the publishing of
    # its events (e.g. a fill of the order just placed before its pending_new / new), as on
    # the WebSocket transports; concurrent calls still share their commits.
    async with core.shared():
        return await _call_private(request, core, method, handler, raw)


async def _call_private(request: web.Request, core: SandboxCore, method: str, handler: Handler,
                        raw: bytes) -> web.StreamResponse:
    """Authenticate and run one private call, reply, then publish its events."""
    call: Call | None = None
    try:
        try:
            params = parse_body(raw, request.headers.get("Content-Type", ""))
            key = core.gate.authenticate(f"/0/private/{method}",
                                         request.headers.get("API-Key"),
                                         request.headers.get("API-Sign"), raw,
                                         params.get("nonce"))
            if core.faults.unavailable:
                raise ApiError(errors.UNAVAILABLE)
            if core.faults.busy:
                raise ApiError(errors.BUSY)
            _check_system_status(core, method, params)
            core.gate.charge_rest(key, method)
            core.gate.require(key, METHOD_PERMISSIONS[method])
            call = Call(core, key, params)
            result = await handler(call)
            await core.commit()
        except (ApiError, GateError, ExchangeError) as exc:
            try:
                await core.commit()  # the nonce mark moved: make it durable before replying
            except StoreError:
                return _fail(errors.INTERNAL_ERROR)
            return _fail(exc.error)
        except StoreError:
            log.exception("sandbox store failed")
            return _fail(errors.INTERNAL_ERROR)
        except Exception:  # a sandbox bug: answer like Kraken, keep what was committed
            log.exception("sandbox %s failed", method)
            with contextlib.suppress(StoreError):
                await core.commit()
            return _fail(errors.INTERNAL_ERROR)
        if core.faults.rest_drop_before_reply:  # fault: executed and durable, but no answer
            core.faults.rest_drop_before_reply = False
            _publish(core, call)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        response = _ok(result)
        if not call.events or core.settings.ack_after_events:
            return response
        # the reply goes out first, then the feeds see the events (§10)
        with contextlib.suppress(ConnectionError):  # the client went away: nobody to tell
            await response.prepare(request)
            await response.write_eof()
        return response
    finally:
        _publish(core, call)


def _publish(core: SandboxCore, call: Call | None) -> None:
    """Publish the call's events once (when its commit has settled)."""
    if call is not None and call.events:
        events, call.events = call.events, []
        core.publish_when_durable(events)


# --- public calls ------------------------------------------------------------------------------
def _query_pairs(request: web.Request) -> list[Pair]:
    names = [n for n in request.query.get("pair", "").split(",") if n.strip()]
    if not names:
        return list(PAIRS.values())
    out = []
    for name in names:
        pair = pair_by_any(name.strip())
        if pair is None:
            raise ApiError(errors.UNKNOWN_PAIR)
        out.append(pair)
    return out


def _one_pair(request: web.Request) -> Pair:
    return resolve_pair(request.query.get("pair"))


def _ticker(core: SandboxCore, pair: Pair) -> dict[str, Any]:
    t = core.exchange.ticker(pair.id)
    # Kraken's Ticker / Depth / Trades / Spread examples write XBTUSD prices with 5 decimals
    # ("30300.10000"), the pair's cost_decimals, not its pair_decimals (1); OHLC uses the latter.
    pd, ld = pair.cost_decimals, pair.lot_decimals

    def g(name: str) -> Decimal:
        return t.get(name, rr.ZERO)

    def pf(v: Decimal) -> str:
        return rr.fmt(v, pd)

    def vf(v: Decimal) -> str:
        return rr.fmt(v, ld)

    def side(price: Decimal, vol: Decimal) -> list[str]:
        return [pf(price), str(max(1, int(vol))), f"{vol:.3f}"]

    return {
        "a": side(g("ask"), g("ask_volume")),
        "b": side(g("bid"), g("bid_volume")),
        "c": [pf(g("last")), vf(g("last_volume"))],
        "v": [vf(g("volume_today")), vf(g("volume_24h"))],
        "p": [pf(g("vwap_today")), pf(g("vwap_24h"))],
        "t": [int(g("trades_today")), int(g("trades_24h"))],
        "l": [pf(g("low_today")), pf(g("low_24h"))],
        "h": [pf(g("high_today")), pf(g("high_24h"))],
        "o": pf(g("open")),
    }


async def _public_result(core: SandboxCore, method: str, request: web.Request) -> Any:
    now = core.clock.now()
    q = request.query
    if method == "Time":
        return {"unixtime": int(now), "rfc1123": rr.rfc1123(now)}
    if method == "SystemStatus":
        return {"status": core.faults.system_status, "timestamp": rr.iso_seconds(now)}
    if method == "Assets":
        names = [n for n in q.get("asset", "").split(",") if n.strip()]
        if not names:
            return {a.id: rr.asset_info(a) for a in ASSETS.values()}
        out = {}
        for n in names:
            asset = asset_by_any(n.strip())
            if asset is None:
                raise ApiError(errors.UNKNOWN_ASSET)
            out[asset.id] = rr.asset_info(asset)
        return out
    if method == "AssetPairs":
        info = q.get("info", "info")
        if info not in ("info", "leverage", "fees", "margin"):
            raise _bad("info")
        return {p.id: rr.pair_info(p, info) for p in _query_pairs(request)}
    if method == "Ticker":
        return {p.id: _ticker(core, p) for p in _query_pairs(request)}
    if method == "Depth":
        pair = _one_pair(request)
        count = int(q.get("count", "100") or 100)
        book = core.exchange.depth(pair.id, count)
        return {pair.id: _depth(pair, book)}
    if method == "Trades":
        pair = _one_pair(request)
        since = q.get("since")
        count = int(q.get("count", "1000") or 1000)
        rows = list(core.exchange.recent_trades(pair.id))
        if since:
            try:
                cut = int(since)
            except ValueError:
                raise _bad("since") from None
            if cut < 10**12:  # Kraken's example passes Unix seconds (1616663618); "last" is ns
                cut *= 10**9
            rows = [t for t in rows if t.time * 1e9 > cut]
        # with since: the oldest trades after it (paging forward with "last", as ccxt and
        # Kraken's historical-download recipe do); without: the most recent ones
        rows = rows[:count] if since else rows[-count:]
        # nothing newer: Kraken echoes the cursor, so a poller never skips ahead of the tape
        last = (int(rows[-1].time * 1e9) if rows
                else int(since) if since else int(now * 1e9))
        return {pair.id: [rr.public_trade_row(pair, t) for t in rows], "last": str(last)}
    if method == "OHLC":
        pair = _one_pair(request)
        interval = int(q.get("interval", "1") or 1)
        if interval not in (1, 5, 15, 30, 60, 240, 1440, 10080, 21600):
            raise _bad("interval")
        since = q.get("since")
        candles = _ohlc(pair, core.exchange.recent_trades(pair.id), interval * 60)
        if since:
            candles = [r for r in candles if r[0] > int(since)]
        return {pair.id: candles[-720:], "last": candles[-1][0] if candles else int(now)}
    if method == "Spread":
        pair = _one_pair(request)
        bid, ask = core.exchange.best_bid_ask(pair.id)
        row = [int(now), rr.fmt(bid, pair.cost_decimals), rr.fmt(ask, pair.cost_decimals)]
        return {pair.id: [row], "last": int(now)}
    raise ApiError(errors.UNKNOWN_METHOD)


def _ohlc(pair: Pair, tape: list[Any], seconds: int) -> list[list[Any]]:
    """``[time, open, high, low, close, vwap, volume, count]`` rows from the public tape."""
    buckets: dict[int, list[Any]] = {}
    for t in tape:
        start = int(t.time) // seconds * seconds
        b = buckets.get(start)
        if b is None:
            buckets[start] = [t.price, t.price, t.price, t.price, t.volume,
                              t.price * t.volume, 1]
        else:
            b[1], b[2], b[3] = max(b[1], t.price), min(b[2], t.price), t.price
            b[4] += t.volume
            b[5] += t.price * t.volume
            b[6] += 1
    pd, ld = pair.pair_decimals, pair.lot_decimals
    return [[start, rr.fmt(o, pd), rr.fmt(h, pd), rr.fmt(lo, pd), rr.fmt(c, pd),
             rr.fmt(pv / v if v else c, pd), rr.fmt(v, ld), n]
            for start, (o, h, lo, c, v, pv, n) in sorted(buckets.items())]


def _depth(pair: Pair, book: dict[str, list[tuple[Decimal, Decimal, float]]]
           ) -> dict[str, Any]:
    # Kraken's Get Order Book example: ["30384.10000","2.059",1688671659] -- prices with the
    # pair's cost_decimals, volumes with 3 decimals (as the Ticker's lot volumes "1.000")
    def rows(levels: list[tuple[Decimal, Decimal, float]]) -> list[list[Any]]:
        return [[rr.fmt(price, pair.cost_decimals), rr.fmt(volume, 3), int(ts)]
                for price, volume, ts in levels]

    return {"asks": rows(book.get("asks", [])), "bids": rows(book.get("bids", []))}


def _proxy_error(status: int) -> web.Response:
    return web.Response(status=status, content_type="text/html",
                        text=f"<html><body><h1>{status}</h1>sandbox fault</body></html>")


async def _public(request: web.Request) -> web.Response:
    if request.method != "GET":
        raise web.HTTPMethodNotAllowed(request.method, ["GET"])
    core = request.app[CORE_KEY]
    if core.faults.rest_http_status:
        return _proxy_error(core.faults.rest_http_status)
    try:
        return _ok(await _public_result(core, request.match_info["method"], request))
    except (ApiError, ExchangeError) as exc:
        return _fail(exc.error)
    except ValueError:
        return _fail(errors.invalid_arguments())


# --- admin API ---------------------------------------------------------------------------------
def _loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def _admin_guard(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    if request.path.startswith("/sandbox/"):
        core = request.app[CORE_KEY]
        if core.settings.admin_loopback_only and not _loopback(request):
            return _json_response({"error": "the admin API is for loopback peers only"}, 403)
        try:
            return await handler(request)
        except (ValueError, TypeError, KeyError, ExchangeError, ApiError) as exc:
            msg = exc.error if isinstance(exc, (ExchangeError, ApiError)) else str(exc)
            return _json_response({"error": msg}, 400)
    return await handler(request)


async def _admin_body(request: web.Request) -> dict[str, Any]:
    raw = await _read_body(request)
    if not raw.strip():
        return {}
    try:
        obj = json.loads(raw)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("the body must be a JSON object")
    return obj


def _admin_order(o: Order) -> dict[str, Any]:
    info = rr.order_info(o)
    info["txid"] = o.id
    info["pair"] = o.pair
    return info


async def _adm_create_account(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    body = await _admin_body(request)
    balances = body.get("balances", {})
    if not isinstance(balances, dict):
        raise ValueError("balances must be an object of asset -> amount")
    account = core.create_account(balances)
    await core.commit()
    return _json_response({"account_id": account.id})


async def _adm_accounts(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    keyed = {k.account_id for k in core.gate.key_records()}
    ids = [a.id for a in core.exchange.accounts() if a.id in keyed]
    return _json_response({"accounts": ids, "demo_account": core.demo_account})


async def _adm_account(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    account = core.exchange.account(request.match_info["account"])
    return _json_response({
        "account_id": account.id,
        "balances": {a: str(v) for a, v in account.balances.items()},
        "holds": {a: str(v) for a, v in account.holds.items() if v},
    })


async def _adm_orders(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    account_id = request.match_info["account"]
    core.exchange.account(account_id)
    status = request.query.get("status", "open")
    orders: list[Order] = []
    if status in ("open", "all"):
        orders += core.exchange.open_orders(account_id)
    if status in ("closed", "all"):
        orders += core.exchange.closed_orders(account_id)
    if status not in ("open", "closed", "all"):
        raise ValueError("status must be open, closed or all")
    return _json_response({"orders": [_admin_order(o) for o in orders]})


async def _adm_create_key(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    body = await _admin_body(request)
    account_id = body.get("account_id") or core.demo_account
    if not isinstance(account_id, str):
        raise ValueError("account_id is required")
    perms = body.get("permissions")
    tier = body.get("tier", "starter")
    rec = core.create_key(
        account_id,
        permissions=perms if perms is not None else ("query_funds", "query_orders", "trade",
                                                     "websocket"),
        tier=tier, nonce_window=int(body.get("nonce_window", 0)))
    await core.commit()
    return _json_response({"api_key": rec.key, "api_secret": rec.secret,
                           "account_id": account_id, "permissions": sorted(rec.permissions),
                           "tier": rec.tier, "nonce_window": rec.nonce_window})


async def _adm_clock(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    if request.method == "POST":
        body = await _admin_body(request)
        seconds = float(body.get("seconds", 0))
        now = await core.advance(seconds)
    else:
        now = core.clock.now()
    return _json_response({"now": now, "manual": core.settings.manual_clock})


async def _adm_price(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    body = await _admin_body(request)
    pair = pair_by_any(str(body.get("pair", "")))
    if pair is None:
        raise ValueError("unknown pair")
    price = Decimal(str(body.get("price")))
    set_price = getattr(core.exchange, "set_price", None)
    if set_price is None:
        raise ValueError("this exchange cannot set prices")
    set_price(pair.id, price)
    await core.tick()
    return _json_response({"pair": pair.id, "price": str(price)})


async def _adm_faults(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    if request.method == "POST":
        body = await _admin_body(request)
        kinds = {f.name: f.type for f in fields(core.faults)}
        for name, value in body.items():
            if name not in kinds:
                raise ValueError(f"unknown fault {name!r}")
            current = getattr(core.faults, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"fault {name!r} takes true or false")
            elif isinstance(current, (int, float)):
                value = type(current)(value)
            elif isinstance(current, str):
                value = str(value)
            setattr(core.faults, name, value)
    return _json_response({f.name: getattr(core.faults, f.name) for f in fields(core.faults)})


async def _adm_stats(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    return _json_response({"store": {"commits": core.store.commits,
                                     "batches": core.store.batches},
                           "tokens": core.gate.token_count(), "now": core.clock.now()})


async def _adm_invalidate(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    return _json_response({"invalidated": core.gate.invalidate_tokens()})


# --- the application ---------------------------------------------------------------------------
def make_app(core: SandboxCore) -> web.Application:
    """The aiohttp application serving REST, admin and (when present) WebSocket routes."""
    app = web.Application(middlewares=[_admin_guard], client_max_size=1 << 20)
    app[CORE_KEY] = core
    for prefix in ("", "/{prefix:.+}"):
        app.router.add_route("*", prefix + "/0/public/{method}", _public)
        app.router.add_route("*", prefix + "/0/private/{method}", _private)
    app.router.add_post("/sandbox/accounts", _adm_create_account)
    app.router.add_get("/sandbox/accounts", _adm_accounts)
    app.router.add_get("/sandbox/accounts/{account}", _adm_account)
    app.router.add_get("/sandbox/accounts/{account}/orders", _adm_orders)
    app.router.add_post("/sandbox/keys", _adm_create_key)
    app.router.add_route("*", "/sandbox/clock", _adm_clock)
    app.router.add_post("/sandbox/price", _adm_price)
    app.router.add_route("*", "/sandbox/faults", _adm_faults)
    app.router.add_post("/sandbox/tokens/invalidate", _adm_invalidate)
    app.router.add_get("/sandbox/stats", _adm_stats)
    for name in ("krakenwire.sandbox.ws_v2", "krakenwire.sandbox.ws_v1"):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name != name:
                raise
            continue
        add_routes = getattr(module, "add_routes", None)
        if add_routes is not None:
            add_routes(app, core)
    return app

