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
}

if TYPE_CHECKING:
    from krakenwire.auth import Signer as Signer
    from krakenwire.auth import sign as sign
    from krakenwire.clock import Clock as Clock
    from krakenwire.clock import ManualClock as ManualClock
    from krakenwire.clock import SystemClock as SystemClock

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
