"""Kraken's error strings, byte for byte, as the REST and WebSocket APIs send them.

The client maps these to exceptions (:mod:`krakenwire.errors`); the sandbox sends them.
Keeping one list means the two can never drift apart.
"""

from __future__ import annotations

from typing import Final

# --- auth / API ---------------------------------------------------------------------------
INVALID_KEY: Final = "EAPI:Invalid key"
INVALID_SIGNATURE: Final = "EAPI:Invalid signature"
INVALID_NONCE: Final = "EAPI:Invalid nonce"
RATE_LIMIT: Final = "EAPI:Rate limit exceeded"
BAD_REQUEST: Final = "EAPI:Bad request"

# --- general ------------------------------------------------------------------------------
PERMISSION_DENIED: Final = "EGeneral:Permission denied"
INVALID_ARGUMENTS: Final = "EGeneral:Invalid arguments"
UNKNOWN_METHOD: Final = "EGeneral:Unknown method"
TEMPORARY_LOCKOUT: Final = "EGeneral:Temporary lockout"
INTERNAL_ERROR: Final = "EGeneral:Internal error"
TOO_MANY_REQUESTS: Final = "EGeneral:Too many requests"

# --- orders -------------------------------------------------------------------------------
ORDER_RATE_LIMIT: Final = "EOrder:Rate limit exceeded"
ORDERS_LIMIT: Final = "EOrder:Orders limit exceeded"
INSUFFICIENT_FUNDS: Final = "EOrder:Insufficient funds"
ORDER_MINIMUM: Final = "EOrder:Order minimum not met"
COST_MINIMUM: Final = "EOrder:Cost minimum not met"
TICK_SIZE: Final = "EOrder:Tick size check failed"
INVALID_PRICE: Final = "EOrder:Invalid price"
INVALID_ORDER: Final = "EOrder:Invalid order"
UNKNOWN_ORDER: Final = "EOrder:Unknown order"
POST_ONLY_MODE: Final = "EService:Market in post_only mode"
CANCEL_ONLY_MODE: Final = "EService:Market in cancel_only mode"

# --- service / query ----------------------------------------------------------------------
UNAVAILABLE: Final = "EService:Unavailable"
BUSY: Final = "EService:Busy"
DEADLINE_ELAPSED: Final = "EService:Deadline elapsed"
UNKNOWN_PAIR: Final = "EQuery:Unknown asset pair"
UNKNOWN_ASSET: Final = "EQuery:Unknown asset"

# --- WebSocket ----------------------------------------------------------------------------
INVALID_SESSION: Final = "ESession:Invalid session"
TOKEN_NOT_FOUND: Final = "Token(s) not found"
PRIVATE_ON_PUBLIC: Final = (
    "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com"
)
PUBLIC_ON_PRIVATE_V2: Final = (
    "Public market data subscriptions are unavailable on this endpoint. Try ws.kraken.com"
)
SUBSCRIPTION_NOT_FOUND: Final = "Subscription Not Found"
ALREADY_SUBSCRIBED: Final = "Already subscribed"
UNSUPPORTED_EVENT: Final = "Unsupported event"
MALFORMED_REQUEST: Final = "Malformed request"
SUBSCRIPTION_NAME_INVALID: Final = "Subscription name invalid"


def invalid_arguments(detail: str | None = None) -> str:
    """``EGeneral:Invalid arguments`` with an optional ``:detail`` suffix, as Kraken writes it."""
    return INVALID_ARGUMENTS if not detail else f"{INVALID_ARGUMENTS}:{detail}"


def unsupported_field(field: str, msg_type: str) -> str:
    """The v2 refusal of an unknown parameter, e.g. ``Unsupported field: 'price' for the given
    msg type: add order`` (``msg_type`` is the method with ``_`` turned into spaces)."""
    return f"Unsupported field: '{field}' for the given msg type: {msg_type.replace('_', ' ')}"


def must_be_number(field: str) -> str:
    """The v2 refusal of a number sent as a string, e.g. ``Limit_price field must be a
    number_float``."""
    return f"{field[:1].upper()}{field[1:]} field must be a number_float"


def currency_pair_not_supported(symbol: str) -> str:
    """The v2 refusal of an unknown symbol, e.g. ``Currency pair not supported XBT/USD``."""
    return f"Currency pair not supported {symbol}"

# --- sandbox additions (exchange core) ----------------------------------------------------
# Kraken's refusal of a second open order with the same client order id. Seen in third-party
# client tests; not in Kraken's published catalogue (UNCONFIRMED byte for byte).
DUPLICATE_CL_ORD_ID: Final = "EOrder:cl_ord_id already in use"
# post_only amend whose new price would take liquidity (UNCONFIRMED wording).
POST_ONLY_AMEND: Final = "EOrder:Post only order"


def invalid_price_decimals(pair: str, decimals: int) -> str:
    """Kraken's refusal of a price with too many decimals, e.g. ``EOrder:Invalid price:XXBTZEUR
    price can only be specified up to 1 decimals.``"""
    return f"{INVALID_PRICE}:{pair} price can only be specified up to {decimals} decimals."
