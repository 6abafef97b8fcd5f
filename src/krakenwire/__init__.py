"""krakenwire: the authenticated side of the Kraken exchange, and a local sandbox of it.

Public names are imported lazily (on first attribute access) so that importing the package,
and starting the ``krakenwire`` command, stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "sign": "krakenwire.auth",
    "Signer": "krakenwire.auth",
    "Clock": "krakenwire.clock",
    "ManualClock": "krakenwire.clock",
    "SystemClock": "krakenwire.clock",
    "Credentials": "krakenwire.auth",
    "CredentialsError": "krakenwire.auth",
    "SecretFormatError": "krakenwire.auth",
    "NonceSource": "krakenwire.nonce",
    "FileNonceStore": "krakenwire.nonce",
    "KrakenwireError": "krakenwire.errors",
    "KrakenError": "krakenwire.errors",
    "InvalidKey": "krakenwire.errors",
    "InvalidSignature": "krakenwire.errors",
    "InvalidNonce": "krakenwire.errors",
    "PermissionDenied": "krakenwire.errors",
    "RateLimitExceeded": "krakenwire.errors",
    "ClientRateLimited": "krakenwire.errors",
    "OrderRateLimitExceeded": "krakenwire.errors",
    "HTTPRateLimited": "krakenwire.errors",
    "InvalidArguments": "krakenwire.errors",
    "InsufficientFunds": "krakenwire.errors",
    "OrderRejected": "krakenwire.errors",
    "UnknownOrder": "krakenwire.errors",
    "UnknownAssetPair": "krakenwire.errors",
    "ServiceUnavailable": "krakenwire.errors",
    "TemporaryLockout": "krakenwire.errors",
    "InvalidSession": "krakenwire.errors",
    "TransportError": "krakenwire.errors",
    "ServerError": "krakenwire.errors",
    "ProtocolError": "krakenwire.errors",
    "OrderOutcomeUnknown": "krakenwire.errors",
    "InsecureURLError": "krakenwire.errors",
    "error_from_kraken": "krakenwire.errors",
    "KrakenClient": "krakenwire.rest",
    "AsyncKrakenClient": "krakenwire.rest",
    "RestRateLimiter": "krakenwire.ratelimit",
    "TokenProvider": "krakenwire.token",
    "WebSocketToken": "krakenwire.token",
    "Sandbox": "krakenwire.sandbox",
    "SandboxThread": "krakenwire.sandbox",
    "PrivateSocket": "krakenwire.ws.v2",
    "PrivateSocketV1": "krakenwire.ws.v1",
    "Reconciliation": "krakenwire.orders",
    "ConnectionSettings": "krakenwire.ws.connection",
    "OpenOrders": "krakenwire.orders",
    "OpenOrder": "krakenwire.orders",
    "OrdersResync": "krakenwire.orders",
}

if TYPE_CHECKING:
    from krakenwire.auth import Credentials as Credentials
    from krakenwire.auth import CredentialsError as CredentialsError
    from krakenwire.auth import SecretFormatError as SecretFormatError
    from krakenwire.auth import Signer as Signer
    from krakenwire.auth import sign as sign
    from krakenwire.clock import Clock as Clock
    from krakenwire.clock import ManualClock as ManualClock
    from krakenwire.clock import SystemClock as SystemClock
    from krakenwire.errors import ClientRateLimited as ClientRateLimited
    from krakenwire.errors import HTTPRateLimited as HTTPRateLimited
    from krakenwire.errors import InsecureURLError as InsecureURLError
    from krakenwire.errors import InsufficientFunds as InsufficientFunds
    from krakenwire.errors import InvalidArguments as InvalidArguments
    from krakenwire.errors import InvalidKey as InvalidKey
    from krakenwire.errors import InvalidNonce as InvalidNonce
    from krakenwire.errors import InvalidSession as InvalidSession
    from krakenwire.errors import InvalidSignature as InvalidSignature
    from krakenwire.errors import KrakenError as KrakenError
    from krakenwire.errors import KrakenwireError as KrakenwireError
    from krakenwire.errors import OrderOutcomeUnknown as OrderOutcomeUnknown
    from krakenwire.errors import OrderRateLimitExceeded as OrderRateLimitExceeded
    from krakenwire.errors import OrderRejected as OrderRejected
    from krakenwire.errors import PermissionDenied as PermissionDenied
    from krakenwire.errors import ProtocolError as ProtocolError
    from krakenwire.errors import RateLimitExceeded as RateLimitExceeded
    from krakenwire.errors import ServerError as ServerError
    from krakenwire.errors import ServiceUnavailable as ServiceUnavailable
    from krakenwire.errors import TemporaryLockout as TemporaryLockout
    from krakenwire.errors import TransportError as TransportError
    from krakenwire.errors import UnknownAssetPair as UnknownAssetPair
    from krakenwire.errors import UnknownOrder as UnknownOrder
    from krakenwire.errors import error_from_kraken as error_from_kraken
    from krakenwire.nonce import FileNonceStore as FileNonceStore
    from krakenwire.nonce import NonceSource as NonceSource
    from krakenwire.orders import OpenOrder as OpenOrder
    from krakenwire.orders import OpenOrders as OpenOrders
    from krakenwire.orders import OrdersResync as OrdersResync
    from krakenwire.orders import Reconciliation as Reconciliation
    from krakenwire.ratelimit import RestRateLimiter as RestRateLimiter
    from krakenwire.rest import AsyncKrakenClient as AsyncKrakenClient
    from krakenwire.rest import KrakenClient as KrakenClient
    from krakenwire.sandbox import Sandbox as Sandbox
    from krakenwire.sandbox import SandboxThread as SandboxThread
    from krakenwire.token import TokenProvider as TokenProvider
    from krakenwire.token import WebSocketToken as WebSocketToken
    from krakenwire.ws.connection import ConnectionSettings as ConnectionSettings
    from krakenwire.ws.v1 import PrivateSocketV1 as PrivateSocketV1
    from krakenwire.ws.v2 import PrivateSocket as PrivateSocket

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'krakenwire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
