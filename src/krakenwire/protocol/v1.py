"""Kraken WebSocket API v1 (``wss://ws-auth.kraken.com``): the message codec, pure.

Used by the sandbox's v1 endpoint now and by the v1 client session later, so both speak the
same bytes. Wire facts: kraken-protocol.md §5 and §8.

Shape of the protocol
---------------------
* **Events** are JSON objects with an ``event`` field: ``systemStatus``, ``heartbeat``,
  ``ping``/``pong``, ``subscribe``/``unsubscribe``/``subscriptionStatus`` and the trading
  requests (``addOrder`` …) with their ``*Status`` replies. Failures carry ``status:"error"`` and
  ``errorMessage``. An optional integer ``reqid`` is echoed only when the request had one.
* **Data frames** are JSON arrays ``[[{<id>: {...}}, ...], "<channel>", {"sequence": n}]`` for the
  private channels ``openOrders`` and ``ownTrades``; ``sequence`` counts messages per
  subscription, from 1.
* **Numbers are strings** everywhere in v1 (``"0.00000000"``); times are strings of Unix seconds
  with 6 decimals (``"1700220661.985020"``); ``userref`` is an integer; ``connectionID`` is an
  unsigned 64-bit integer (never let it pass through a float). Pairs are in v1 form (``XBT/USD``,
  see :mod:`krakenwire.protocol.naming`).
* Kraken writes the keys of event objects in alphabetical order
  (``{"descr":…,"event":…,"reqid":…,"status":…,"txid":…}``); the builders here do the same. Order
  *deltas* inside ``openOrders`` keep Kraken's own (non-alphabetical) order, which the sandbox's
  renderer builds explicitly.

What is here
------------
* JSON: :func:`encode` (bytes, compact, keys in insertion order) and :func:`decode` (JSON numbers
  become :class:`~decimal.Decimal` or ``int`` — never ``float``).
* Formatting: :func:`fmt_decimal`, :func:`fmt_time`.
* Server → client builders returning plain dicts / lists: :func:`system_status`,
  :func:`heartbeat`, :func:`pong`, :func:`subscription_status`, :func:`error_event`,
  :func:`request_status`, :func:`data_frame`.
* Client → server requests as typed :mod:`msgspec` structs (:class:`Subscribe`, :class:`AddOrder`,
  …): a client builds one and :func:`encode` s it; the server turns a decoded dict back into one
  with :func:`parse_request`, which raises :class:`RequestError` carrying the reply to send.
* Server → client messages as typed structs for the client: :func:`parse_message` returns one of
  :class:`SystemStatus`, :class:`Heartbeat`, :class:`Pong`, :class:`SubscriptionStatus`,
  :class:`RequestStatus`, :class:`ErrorEvent`, :class:`OpenOrders`, :class:`OwnTrades`;
  :func:`merge_order` applies an ``openOrders`` delta to the entry known so far.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import msgspec

from krakenwire.protocol import errors

__all__ = [
    "CHANNELS",
    "REPLY_EVENTS",
    "VERSION",
    "AddOrder",
    "AmendOrder",
    "CancelAll",
    "CancelAllOrdersAfter",
    "CancelOrder",
    "DecodeError",
    "EditOrder",
    "ErrorEvent",
    "Heartbeat",
    "OpenOrderDescr",
    "OpenOrderInfo",
    "OpenOrders",
    "OwnTradeInfo",
    "OwnTrades",
    "Ping",
    "Pong",
    "Request",
    "RequestError",
    "RequestStatus",
    "ServerMessage",
    "Subscribe",
    "Subscription",
    "SubscriptionStatus",
    "SystemStatus",
    "Unsubscribe",
    "data_frame",
    "decode",
    "encode",
    "error_event",
    "fmt_decimal",
    "fmt_time",
    "heartbeat",
    "merge_order",
    "parse_message",
    "parse_request",
    "pong",
    "request_status",
    "subscription_status",
    "system_status",
]

#: ``version`` announced in the ``systemStatus`` greeting (the value Kraken's v1 service reports).
VERSION: Final = "1.9.1"

#: The private data channels of v1.
CHANNELS: Final = ("openOrders", "ownTrades")

#: Request event → the event name of its reply.
REPLY_EVENTS: Final[dict[str, str]] = {
    "ping": "pong",
    "subscribe": "subscriptionStatus",
    "unsubscribe": "subscriptionStatus",
    "addOrder": "addOrderStatus",
    "amendOrder": "amendOrderStatus",
    "editOrder": "editOrderStatus",
    "cancelOrder": "cancelOrderStatus",
    "cancelAll": "cancelAllStatus",
    "cancelAllOrdersAfter": "cancelAllOrdersAfterStatus",
}


class DecodeError(ValueError):
    """A frame was not valid JSON (or not a JSON object/array where one was required)."""


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------

_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(float_hook=Decimal)


def encode(message: object) -> bytes:
    """Serialize ``message`` (dicts, lists, str, int, ``Decimal`` → JSON string, or a request
    struct) as compact JSON, keys in insertion order (struct fields in declaration order,
    ``None``-valued optional struct fields left out).

    Raises:
        TypeError: if ``message`` holds a value JSON cannot represent (e.g. a float NaN is
            encoded as ``null`` by msgspec, but arbitrary objects raise).
    """
    try:
        return _encoder.encode(message)
    except msgspec.EncodeError as exc:  # pragma: no cover - programming error
        raise TypeError(str(exc)) from exc


def decode(data: bytes | str) -> Any:
    """Parse one JSON frame. Numbers with a fraction or exponent become exact ``Decimal``; whole
    numbers become ``int`` (so a uint64 ``connectionID`` survives intact).

    Raises:
        DecodeError: if ``data`` is not valid JSON.
    """
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not a JSON message: {exc}") from None


# --------------------------------------------------------------------------------------------
# Numbers and times
# --------------------------------------------------------------------------------------------


def fmt_decimal(value: Decimal | int, places: int) -> str:
    """Format ``value`` as v1 writes decimals: fixed-point with at least ``places`` decimals
    (``fmt_decimal(Decimal("25"), 5) == "25.00000"``). Digits beyond ``places`` are kept, never
    rounded away, so the string is always exactly ``value``.

    Raises:
        ValueError: for NaN or infinity.
    """
    d = value if isinstance(value, Decimal) else Decimal(value)
    if not d.is_finite():
        raise ValueError(f"cannot format {d!r} as a v1 decimal")
    exponent = d.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    text = format(d, f".{places}f") if -exponent <= places else format(d.normalize(), "f")
    if text.startswith("-") and not d:
        text = text[1:]  # no "-0.00000"
    return text


def fmt_time(seconds: float | Decimal) -> str:
    """Format Unix seconds as v1 does: a string with exactly 6 decimals
    (``"1700220661.985020"``)."""
    return f"{seconds:.6f}"


# --------------------------------------------------------------------------------------------
# Server -> client builders (plain dicts, keys as Kraken orders them)
# --------------------------------------------------------------------------------------------


def _sorted(fields: dict[str, Any]) -> dict[str, Any]:
    """Kraken's v1 event objects list their keys alphabetically; ``None`` values are dropped."""
    return {k: fields[k] for k in sorted(fields) if fields[k] is not None}


def system_status(connection_id: int, status: str = "online",
                  version: str = VERSION) -> dict[str, Any]:
    """The greeting sent on connect and on every engine status change:
    ``{"connectionID":…,"event":"systemStatus","status":"online","version":"1.9.1"}``.

    ``status`` is one of ``online | cancel_only | maintenance | post_only``; ``connection_id`` an
    unsigned 64-bit integer.

    Raises:
        ValueError: if ``connection_id`` is not in ``0 .. 2**64-1``.
    """
    if not 0 <= connection_id < 2**64:
        raise ValueError("connectionID must be an unsigned 64-bit integer")
    return {"connectionID": connection_id, "event": "systemStatus", "status": status,
            "version": version}


def heartbeat() -> dict[str, Any]:
    """``{"event":"heartbeat"}`` — sent when a subscribed connection has been quiet ~1 s."""
    return {"event": "heartbeat"}


def pong(reqid: int | None = None) -> dict[str, Any]:
    """The reply to ``ping``: ``{"event":"pong","reqid":42}`` (``reqid`` only if the ping had
    one)."""
    return _sorted({"event": "pong", "reqid": reqid})


def subscription_status(name: str | None, status: str, *, reqid: int | None = None,
                        maxratecount: int | None = None, error: str | None = None,
                        subscription: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``subscriptionStatus`` reply.

    Success (``status`` ``subscribed`` / ``unsubscribed``)::

        {"channelName":"openOrders","event":"subscriptionStatus","reqid":1,
         "status":"subscribed","subscription":{"maxratecount":125,"name":"openOrders"}}

    Failure (pass ``error``; ``status`` becomes ``"error"``, there is no ``channelName``, and
    ``subscription`` — the request's own subscription object — is echoed as sent)::

        {"errorMessage":"ESession:Invalid session","event":"subscriptionStatus",
         "status":"error","subscription":{"name":"openOrders","token":"…"}}
    """
    if error is not None:
        return _sorted({"errorMessage": error, "event": "subscriptionStatus", "reqid": reqid,
                        "status": "error", "subscription": subscription})
    sub = _sorted({"maxratecount": maxratecount, "name": name})
    return _sorted({"channelName": name, "event": "subscriptionStatus", "reqid": reqid,
                    "status": status, "subscription": sub})


def error_event(message: str, reqid: int | None = None) -> dict[str, Any]:
    """A generic failure not tied to a request type (unparseable frame, unknown event):
    ``{"errorMessage":"Malformed request","event":"error"}``."""
    return _sorted({"errorMessage": message, "event": "error", "reqid": reqid})


def request_status(event: str, *, reqid: int | None = None, error: str | None = None,
                   **fields: Any) -> dict[str, Any]:
    """A ``*Status`` reply to a trading request, keys alphabetical, ``None`` fields left out.

    ``event`` is the reply's event (``addOrderStatus`` …). Success carries ``status:"ok"`` and
    the given ``fields`` (``txid``, ``descr``, ``originaltxid``, ``count``, ``amend_id``,
    ``cl_ord_id``, ``currentTime``, ``triggerTime``); failure (``error`` given) carries
    ``errorMessage`` and ``status:"error"`` plus any ``fields`` still given (e.g. ``cl_ord_id``).
    """
    body = dict(fields)
    body["event"] = event
    body["reqid"] = reqid
    if error is not None:
        body["errorMessage"] = error
        body["status"] = "error"
    else:
        body["status"] = "ok"
    return _sorted(body)


def data_frame(channel: str, entries: list[dict[str, dict[str, Any]]],
               sequence: int) -> list[Any]:
    """A private data frame: ``[entries, channel, {"sequence": sequence}]``, where each entry is
    a one-key object ``{<order or trade id>: {...}}``."""
    return [entries, channel, {"sequence": sequence}]


# --------------------------------------------------------------------------------------------
# Client -> server requests (typed; the client encodes them, the server parses them)
# --------------------------------------------------------------------------------------------


class Subscription(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The ``subscription`` object of ``subscribe`` / ``unsubscribe``.

    Private channels need ``token``; ``ratecounter`` applies to ``openOrders``; ``snapshot``
    (default true) and ``consolidate_taker`` (default true) to ``ownTrades``. Kraken's doc example
    writes ``"ratecounter":"true"`` as a string, so the booleans also accept ``"true"/"false"``.
    """

    name: str
    token: str | None = None
    ratecounter: bool | str | None = None
    snapshot: bool | str | None = None
    consolidate_taker: bool | str | None = None
    rebased: bool | str | None = None
    depth: int | None = None
    interval: int | None = None

    def __repr__(self) -> str:  # never show the token
        token = "<redacted>" if self.token else None
        return f"Subscription(name={self.name!r}, token={token})"


class Subscribe(msgspec.Struct, tag_field="event", tag="subscribe", omit_defaults=True,
                kw_only=True):
    """``{"event":"subscribe","reqid":1,"subscription":{"name":"openOrders","token":"…"}}``."""

    subscription: Subscription
    reqid: int | None = None
    pair: list[str] | None = None


class Unsubscribe(msgspec.Struct, tag_field="event", tag="unsubscribe", omit_defaults=True,
                  kw_only=True):
    """``{"event":"unsubscribe","subscription":{"name":"ownTrades","token":"…"}}``."""

    subscription: Subscription
    reqid: int | None = None
    pair: list[str] | None = None


class Ping(msgspec.Struct, tag_field="event", tag="ping", omit_defaults=True, kw_only=True):
    """``{"event":"ping","reqid":42}``."""

    reqid: int | None = None


class _Trading(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Fields every trading request has: the top-level ``token`` and an optional ``reqid``."""

    token: str | None = None
    reqid: int | None = None

    def __repr__(self) -> str:  # never show the token
        fields = ", ".join(
            f"{name}={'<redacted>' if name == 'token' else getattr(self, name)!r}"
            for name in self.__struct_fields__
            if getattr(self, name) is not None
        )
        return f"{type(self).__name__}({fields})"


class AddOrder(_Trading, tag_field="event", tag="addOrder"):
    """``addOrder``. Numbers are strings on the wire; ``price``/``price2`` may be relative
    (``+5``, ``-5``, ``#5``, ``5%``). ``userref`` is a string of an integer. ``validate`` is a
    string (``"true"``)."""

    ordertype: str
    type: str
    pair: str
    volume: Decimal | None = None
    price: str | None = None
    price2: str | None = None
    leverage: str | int | None = None
    reduce_only: bool | str | None = None
    oflags: str | None = None
    starttm: str | None = None
    expiretm: str | None = None
    deadline: str | None = None
    userref: str | int | None = None
    cl_ord_id: str | None = None
    sender_sub_id: str | None = None
    stp_type: str | None = None
    timeinforce: str | None = None
    trigger: str | None = None
    validate: str | bool | None = None
    close_ordertype: str | None = msgspec.field(default=None, name="close[ordertype]")
    close_price: str | None = msgspec.field(default=None, name="close[price]")
    close_price2: str | None = msgspec.field(default=None, name="close[price2]")


class AmendOrder(_Trading, tag_field="event", tag="amendOrder"):
    """``amendOrder``: change an order in place (keeps its id and queue priority when the
    price does not move). Identify it by ``txid`` or ``cl_ord_id``."""

    txid: str | None = None
    cl_ord_id: str | None = None
    volume: Decimal | None = None
    display_volume: Decimal | None = None
    limit_price: str | None = None
    trigger_price: str | None = None
    post_only: bool | str | None = None
    pair: str | None = None
    deadline: str | None = None


class EditOrder(_Trading, tag_field="event", tag="editOrder"):
    """``editOrder``: cancel-and-replace; the reply carries the new ``txid`` and the
    ``originaltxid``. ``orderid`` is a txid or userref."""

    orderid: str
    pair: str
    volume: Decimal | None = None
    price: str | None = None
    price2: str | None = None
    oflags: str | None = None
    newuserref: str | int | None = None
    validate: str | bool | None = None


class CancelOrder(_Trading, tag_field="event", tag="cancelOrder"):
    """``cancelOrder`` of several ids (txids and/or userrefs) and/or ``cl_ord_id`` s; the server
    answers with one ``cancelOrderStatus`` per id."""

    txid: list[str] | None = None
    cl_ord_id: list[str] | None = None


class CancelAll(_Trading, tag_field="event", tag="cancelAll"):
    """``cancelAll``: the reply's ``count`` says how many orders were cancelled."""


class CancelAllOrdersAfter(_Trading, tag_field="event", tag="cancelAllOrdersAfter"):
    """``cancelAllOrdersAfter``: the dead-man switch; ``timeout`` seconds, 0 disables."""

    timeout: int


Request = (
    Subscribe | Unsubscribe | Ping | AddOrder | AmendOrder | EditOrder | CancelOrder | CancelAll
    | CancelAllOrdersAfter
)
"""Every request a v1 client may send."""

_REQUEST_TYPES: Final[dict[str, type[Any]]] = {
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "ping": Ping,
    "addOrder": AddOrder,
    "amendOrder": AmendOrder,
    "editOrder": EditOrder,
    "cancelOrder": CancelOrder,
    "cancelAll": CancelAll,
    "cancelAllOrdersAfter": CancelAllOrdersAfter,
}


class RequestError(Exception):
    """A request could not be parsed. ``reply`` is the message the server sends back (already
    in Kraken's shape: a ``*Status`` with ``errorMessage`` for a known event, else an ``error``
    event). The message never includes the request's token."""

    def __init__(self, message: str, reply: dict[str, Any]) -> None:
        super().__init__(message)
        self.reply = reply


def _field_of(exc: msgspec.ValidationError) -> str | None:
    """The top-level field a msgspec validation error points at (``… - at `$.volume` ``)."""
    text = str(exc)
    marker = "at `$."
    at = text.rfind(marker)
    if at < 0:
        missing = "missing required field `"
        start = text.find(missing)
        if start < 0:
            return None
        return text[start + len(missing):].split("`", 1)[0]
    path = text[at + len(marker):].rstrip("`")
    return path.split(".", 1)[0].split("[", 1)[0]


def parse_request(message: Any) -> Request:
    """Turn one decoded client message (a dict from :func:`decode`) into its typed request.

    Unknown fields are ignored, as Kraken ignores them. Numbers may be JSON strings or numbers.

    Raises:
        RequestError: with ``reply`` set to what Kraken would answer —
            ``{"errorMessage":"Malformed request","event":"error"}`` for a non-object or a missing
            ``event``; ``{"errorMessage":"Unsupported event","event":"error"}`` for an unknown
            event; for a known event with a bad or missing field, its ``*Status`` reply with
            ``EGeneral:Invalid arguments:<field>`` (``subscriptionStatus`` replies say
            ``Malformed request``).
    """
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise RequestError("not a v1 request", error_event(errors.MALFORMED_REQUEST))
    event = message["event"]
    reqid = message.get("reqid")
    echo = reqid if isinstance(reqid, int) and not isinstance(reqid, bool) else None
    kind = _REQUEST_TYPES.get(event)
    if kind is None:
        raise RequestError(f"unsupported event {event!r}",
                           error_event(errors.UNSUPPORTED_EVENT, echo))
    try:
        parsed: Request = msgspec.convert(message, kind, strict=False)
    except msgspec.ValidationError as exc:
        field = _field_of(exc)
        reply_event = REPLY_EVENTS[event]
        if reply_event == "subscriptionStatus":
            sub = message.get("subscription")
            reply = subscription_status(None, "error", reqid=echo,
                                        error=errors.MALFORMED_REQUEST,
                                        subscription=sub if isinstance(sub, dict) else None)
        elif event == "ping":
            reply = error_event(errors.MALFORMED_REQUEST, echo)
        else:
            reply = request_status(reply_event, reqid=echo,
                                   error=errors.invalid_arguments(field))
        raise RequestError(f"bad {event} request (field {field})", reply) from None
    return parsed


# --------------------------------------------------------------------------------------------
# Server -> client messages, typed (for the client)
# --------------------------------------------------------------------------------------------


class SystemStatus(msgspec.Struct, kw_only=True):
    """The ``systemStatus`` greeting."""

    connection_id: int = msgspec.field(name="connectionID")
    status: str
    version: str = ""


class Heartbeat(msgspec.Struct):
    """``{"event":"heartbeat"}``."""


class Pong(msgspec.Struct, kw_only=True):
    """The reply to ``ping``."""

    reqid: int | None = None


class SubscriptionStatus(msgspec.Struct, kw_only=True):
    """A ``subscriptionStatus``: ``status`` is ``subscribed | unsubscribed | error``; on error
    ``error_message`` says why and ``channel_name`` is usually absent, so use
    ``subscription["name"]``."""

    status: str
    channel_name: str | None = msgspec.field(default=None, name="channelName")
    reqid: int | None = None
    subscription: dict[str, Any] = msgspec.field(default_factory=dict)
    error_message: str | None = msgspec.field(default=None, name="errorMessage")

    @property
    def name(self) -> str | None:
        """The channel this status is about."""
        name = self.subscription.get("name")
        return self.channel_name or (name if isinstance(name, str) else None)

    def __repr__(self) -> str:
        return (f"SubscriptionStatus(status={self.status!r}, name={self.name!r}, "
                f"reqid={self.reqid!r}, error_message={self.error_message!r})")


class RequestStatus(msgspec.Struct, kw_only=True):
    """A ``*Status`` reply to a trading request (``event`` says which). ``ok`` is true for
    ``status == "ok"``; on failure ``error_message`` holds Kraken's error string."""

    event: str
    status: str
    reqid: int | None = None
    txid: str | None = None
    descr: str | None = None
    originaltxid: str | None = None
    count: int | None = None
    amend_id: str | None = None
    cl_ord_id: str | None = None
    current_time: str | None = msgspec.field(default=None, name="currentTime")
    trigger_time: str | None = msgspec.field(default=None, name="triggerTime")
    error_message: str | None = msgspec.field(default=None, name="errorMessage")

    @property
    def ok(self) -> bool:
        """True when the request succeeded."""
        return self.status == "ok"


class ErrorEvent(msgspec.Struct, kw_only=True):
    """``{"errorMessage":…,"event":"error"}``: a request the server could not attribute."""

    error_message: str = msgspec.field(default="", name="errorMessage")
    reqid: int | None = None


class OpenOrderDescr(msgspec.Struct, kw_only=True):
    """``descr`` of an ``openOrders`` entry. Prices are exact decimals."""

    pair: str | None = None
    type: str | None = None
    ordertype: str | None = None
    price: Decimal | None = None
    price2: Decimal | None = None
    leverage: str | None = None
    order: str | None = None
    close: str | None = None
    position: str | None = None
    margin: bool | None = None


class OpenOrderInfo(msgspec.Struct, kw_only=True):
    """One ``openOrders`` entry (without its id). A snapshot or new-order entry has most fields;
    an update (delta) has only the ones that changed, the rest are ``None``. Numbers are exact
    decimals; times are Unix seconds as exact decimals."""

    status: str | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    refid: str | None = None
    opentm: Decimal | None = None
    starttm: Decimal | None = None
    expiretm: Decimal | None = None
    lastupdated: Decimal | None = None
    descr: OpenOrderDescr | None = None
    vol: Decimal | None = None
    vol_exec: Decimal | None = None
    cost: Decimal | None = None
    fee: Decimal | None = None
    avg_price: Decimal | None = None
    stopprice: Decimal | None = None
    limitprice: Decimal | None = None
    misc: str | None = None
    oflags: str | None = None
    timeinforce: str | None = None
    trigger: str | None = None
    display_volume: Decimal | None = None
    display_volume_remain: Decimal | None = None
    cancel_reason: str | None = None
    amended: bool | None = None
    amend_reason: str | None = None
    ratecount: Decimal | None = None


def merge_order(base: OpenOrderInfo | None, delta: OpenOrderInfo) -> OpenOrderInfo:
    """Apply an ``openOrders`` update to the entry known so far: every field the update carries
    (not ``None``) replaces the old one; ``descr`` is merged the same way. With no ``base``
    (an order first seen through a delta) the delta itself is returned. Pure; returns a new
    struct."""
    if base is None:
        return delta
    changes = {name: getattr(delta, name) for name in delta.__struct_fields__
               if getattr(delta, name) is not None}
    if base.descr is not None and delta.descr is not None:
        descr_changes = {name: getattr(delta.descr, name)
                         for name in delta.descr.__struct_fields__
                         if getattr(delta.descr, name) is not None}
        changes["descr"] = msgspec.structs.replace(base.descr, **descr_changes)
    return msgspec.structs.replace(base, **changes)


class OwnTradeInfo(msgspec.Struct, kw_only=True):
    """One ``ownTrades`` entry (without its trade id). Numbers exact; ``time`` Unix seconds."""

    ordertxid: str
    pair: str
    time: Decimal
    type: str
    ordertype: str
    price: Decimal
    cost: Decimal
    fee: Decimal
    vol: Decimal
    postxid: str | None = None
    margin: Decimal | None = None
    userref: int | None = None
    cl_ord_id: str | None = None


class OpenOrders(msgspec.Struct, kw_only=True):
    """An ``openOrders`` frame: ``orders`` as ``(order id, entry)`` pairs in frame order."""

    orders: list[tuple[str, OpenOrderInfo]]
    sequence: int | None


class OwnTrades(msgspec.Struct, kw_only=True):
    """An ``ownTrades`` frame: ``trades`` as ``(trade id, entry)`` pairs in frame order."""

    trades: list[tuple[str, OwnTradeInfo]]
    sequence: int | None


ServerMessage = (
    SystemStatus | Heartbeat | Pong | SubscriptionStatus | RequestStatus | ErrorEvent | OpenOrders
    | OwnTrades
)
"""Every message a v1 server sends."""


def _entries(raw: Any, kind: type[Any]) -> list[tuple[str, Any]]:
    if not isinstance(raw, list):
        raise DecodeError("data frame payload is not a list")
    out: list[tuple[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise DecodeError("data frame entry is not an object")
        for key, value in item.items():
            out.append((key, msgspec.convert(value, kind, strict=False)))
    return out


def parse_message(data: bytes | str) -> ServerMessage:
    """Decode one server frame into its typed message (for the client).

    Raises:
        DecodeError: if the frame is not JSON, not a known event / channel, or a field has the
            wrong type.
    """
    raw = decode(data)
    try:
        if isinstance(raw, dict):
            event = raw.get("event")
            if event == "heartbeat":
                return Heartbeat()
            if event == "systemStatus":
                return msgspec.convert(raw, SystemStatus, strict=False)
            if event == "pong":
                return msgspec.convert(raw, Pong, strict=False)
            if event == "subscriptionStatus":
                return msgspec.convert(raw, SubscriptionStatus, strict=False)
            if event == "error":
                return msgspec.convert(raw, ErrorEvent, strict=False)
            if isinstance(event, str) and event.endswith("Status"):
                return msgspec.convert(raw, RequestStatus, strict=False)
            raise DecodeError(f"unknown v1 event {event!r}")
        if isinstance(raw, list) and len(raw) >= 2:
            channel = raw[-2] if isinstance(raw[-1], dict) else raw[-1]
            seq_obj = raw[-1] if isinstance(raw[-1], dict) else None
            sequence = seq_obj.get("sequence") if seq_obj else None
            if sequence is not None and not isinstance(sequence, int):
                raise DecodeError("sequence is not an integer")
            if channel == "openOrders":
                return OpenOrders(orders=_entries(raw[0], OpenOrderInfo), sequence=sequence)
            if channel == "ownTrades":
                return OwnTrades(trades=_entries(raw[0], OwnTradeInfo), sequence=sequence)
            raise DecodeError(f"unknown v1 channel {channel!r}")
    except msgspec.ValidationError as exc:
        raise DecodeError(f"bad v1 message: {exc}") from None
    raise DecodeError("not a v1 message")

