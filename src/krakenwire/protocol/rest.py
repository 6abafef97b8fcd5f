"""Kraken REST, sans-I/O: request building and response-envelope parsing (kraken-protocol.md §1).

* :func:`build_public` — ``GET /0/public/<Method>?<query>``.
* :func:`build_private` — ``POST /0/private/<Method>`` with the nonce in the body (first field
  of a form body, ``"nonce"`` of a JSON body), ``API-Key`` and ``API-Sign`` headers; the bytes
  signed are exactly the bytes in :attr:`PreparedRequest.body`.
* :func:`parse_response` — Kraken's ``{"error": [...], "result": ...}`` envelope: returns the
  result and any ``W...`` warnings, raises the mapped :class:`~krakenwire.errors.KrakenError`
  for ``E...`` strings, :class:`~krakenwire.errors.ServerError` for HTTP 5xx and
  :class:`~krakenwire.errors.ProtocolError` for anything that is not the envelope.
* :func:`check_url` — the URL policy: ``https``/``wss`` anywhere, ``http``/``ws`` only for
  loopback hosts unless explicitly allowed (WebSocket sessions reuse it with
  ``websocket=True``).

JSON numbers in responses decode to :class:`~decimal.Decimal` (never float); Kraken's decimal
strings stay strings in the raw result, and typed helpers convert them to ``Decimal``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode, urlsplit

import msgspec

from krakenwire.auth import Signer
from krakenwire.errors import (
    HTTPRateLimited,
    InsecureURLError,
    ProtocolError,
    ServerError,
    error_from_kraken,
)

__all__ = [
    "DEFAULT_REST_URL",
    "USER_AGENT",
    "Envelope",
    "PreparedRequest",
    "build_private",
    "build_public",
    "check_url",
    "encode_form",
    "encode_json",
    "is_loopback_host",
    "parse_response",
]

DEFAULT_REST_URL: Final = "https://api.kraken.com"
USER_AGENT: Final = "krakenwire/0.1"
Encoding = Literal["form", "json"]

_METHOD_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:/[A-Za-z][A-Za-z0-9]*)*$")


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure: bool = False, websocket: bool | None = None) -> str:
    """Validate a base URL and return it without a trailing slash.

    ``https://`` / ``wss://`` are always allowed; ``http://`` / ``ws://`` only for a loopback
    host (the sandbox) unless ``allow_insecure`` is true. ``websocket=False`` accepts only the
    HTTP schemes (REST), ``websocket=True`` only the WebSocket ones, ``None`` either.

    Raises:
        InsecureURLError: for an unsupported scheme, a missing host, or plain text to a
            non-loopback host without ``allow_insecure``.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if websocket is None:
        websocket = scheme in ("ws", "wss")
    secure, plain = ("wss", "ws") if websocket else ("https", "http")
    if scheme not in (secure, plain):
        raise InsecureURLError(
            f"URL {url!r} must start with {secure}:// (or {plain}:// for a loopback host)")
    if not parts.hostname:
        raise InsecureURLError(f"URL {url!r} has no host")
    if parts.username or parts.password:
        raise InsecureURLError("URL must not carry a user name or password")
    if scheme == plain and not allow_insecure and not is_loopback_host(parts.hostname):
        raise InsecureURLError(
            f"refusing plain {plain}:// to non-loopback host {parts.hostname!r}; use "
            f"{secure}:// or pass allow_insecure=True")
    return url.strip().rstrip("/")


# --------------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------------


def _check_method(method: str) -> None:
    if not _METHOD_RE.match(method):
        raise ValueError(f"not a Kraken method name: {method!r}")


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_form_value(v) for v in value)
    raise TypeError(f"cannot form-encode a {type(value).__name__}")


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _clean(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    items = []
    for key, value in params.items():
        if value is None:
            continue
        if key == "nonce":
            raise ValueError("the nonce is added by krakenwire; do not pass one")
        items.append((key, value))
    return items


def encode_form(nonce: int | None, params: Mapping[str, Any]) -> bytes:
    """Form-encode ``params`` (``None`` values dropped) with ``nonce`` as the first field.

    Decimals are written in plain notation, booleans as ``true``/``false``, sequences
    comma-joined (Kraken's list syntax, e.g. ``pair=XBTUSD,ETHUSD``).
    """
    fields = [("nonce", str(nonce))] if nonce is not None else []
    fields += [(k, _form_value(v)) for k, v in _clean(params)]
    return urlencode(fields, quote_via=quote).encode("ascii")


_json_encoder = msgspec.json.Encoder()


def encode_json(nonce: int | None, params: Mapping[str, Any]) -> bytes:
    """JSON-encode ``params`` (``None`` values dropped) with ``"nonce"`` first, compact.

    The nonce is a JSON integer; Decimals and floats become decimal strings (Kraken's REST
    takes prices and volumes as strings).
    """
    body: dict[str, Any] = {"nonce": nonce} if nonce is not None else {}
    body.update((k, _json_value(v)) for k, v in _clean(params))
    return _json_encoder.encode(body)


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """One HTTP request ready to send: exactly these bytes and headers.

    ``repr`` hides the ``API-Sign`` header and the body.
    """

    http_method: Literal["GET", "POST"]
    url: str
    path: str
    kraken_method: str
    headers: dict[str, str] = field(repr=False)
    body: bytes | None = field(default=None, repr=False)
    nonce: int | None = None

    @property
    def private(self) -> bool:
        """True for a signed private call."""
        return self.nonce is not None


def build_public(base_url: str, method: str, params: Mapping[str, Any] | None = None, *,
                 user_agent: str = USER_AGENT) -> PreparedRequest:
    """Build ``GET <base>/0/public/<method>?<query>`` (Kraken refuses POST on public methods).

    Raises:
        ValueError: for a malformed method name.
        TypeError: for a parameter value that cannot be encoded.
    """
    _check_method(method)
    path = f"/0/public/{method}"
    query = encode_form(None, params or {}).decode("ascii")
    url = f"{base_url}{path}" + (f"?{query}" if query else "")
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    return PreparedRequest("GET", url, path, method, headers)


def build_private(base_url: str, method: str, params: Mapping[str, Any] | None, *,
                  api_key: str, signer: Signer, nonce: int, encoding: Encoding = "form",
                  user_agent: str = USER_AGENT) -> PreparedRequest:
    """Build a signed ``POST <base>/0/private/<method>``.

    The body carries ``nonce`` (form: first field; JSON: first key) and ``params``; ``API-Sign``
    is computed over exactly that body and the path ``/0/private/<method>``.

    Raises:
        ValueError: for a malformed method name or a ``nonce`` in ``params``.
        TypeError: for a parameter value that cannot be encoded.
    """
    _check_method(method)
    path = f"/0/private/{method}"
    if encoding == "json":
        body = encode_json(nonce, params or {})
        content_type = "application/json"
    else:
        body = encode_form(nonce, params or {})
        content_type = "application/x-www-form-urlencoded"
    headers = {
        "API-Key": api_key,
        "API-Sign": signer.sign(path, nonce, body),
        "Content-Type": content_type,
        "User-Agent": user_agent,
        "Accept": "application/json",
    }
    return PreparedRequest("POST", f"{base_url}{path}", path, method, headers, body, nonce)


# --------------------------------------------------------------------------------------------
# responses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Envelope:
    """A successful Kraken answer: ``result`` (raw, JSON numbers as Decimal) and any warnings."""

    result: Any
    warnings: tuple[str, ...] = ()


_decoder = msgspec.json.Decoder(float_hook=Decimal)
_TITLE_RE: Final = re.compile(rb"<title[^>]*>(.{0,120}?)</title>", re.IGNORECASE | re.DOTALL)


def decode_json(body: bytes) -> Any:
    """Decode JSON with numbers as int/Decimal (never float).

    Raises:
        msgspec.DecodeError: if ``body`` is not JSON.
    """
    return _decoder.decode(body)


def _describe_body(body: bytes, content_type: str | None) -> str:
    """A short, secret-free description of a body that is not Kraken's envelope."""
    kind = (content_type or "no content type").split(";")[0].strip() or "no content type"
    title = _TITLE_RE.search(body[:4096])
    if title:
        text = re.sub(rb"\s+", b" ", title.group(1)).decode("utf-8", "replace").strip()
        return f"{kind}, {len(body)} bytes, page title {text[:80]!r}"
    return f"{kind}, {len(body)} bytes"


def _strings(value: Iterable[Any]) -> list[str]:
    return [str(v) for v in value]


def parse_response(status: int, body: bytes, content_type: str | None = None, *,
                   method: str | None = None) -> Envelope:
    """Interpret one HTTP answer from Kraken.

    Returns the :class:`Envelope` of a success (``error`` empty or only ``W...`` warnings).

    Raises:
        KrakenError: (a subclass chosen by :func:`~krakenwire.errors.error_from_kraken`) when the
            envelope's ``error`` array holds an ``E...`` string — whatever the HTTP status.
        ServerError: HTTP 5xx without a Kraken envelope.
        HTTPRateLimited: HTTP 429 without a Kraken error string (a throttle before
            processing; retryable).
        ProtocolError: any other answer that is not the envelope (non-JSON or HTML body, 4xx,
            missing ``error``/``result``). Messages describe the body, never quote it.
    """
    data: Any = None
    decoded = False
    if body:
        try:
            data = _decoder.decode(body)
            decoded = True
        except (msgspec.DecodeError, ValueError):
            decoded = False
    if decoded and isinstance(data, dict) and isinstance(data.get("error"), list):
        messages = _strings(data["error"])
        errors = [m for m in messages if not m.startswith("W")]
        warnings = tuple(m for m in messages if m.startswith("W"))
        if errors:
            raise error_from_kraken(messages, method=method)
        if status >= 500:
            raise ServerError(f"HTTP {status} with an envelope and no error", status=status,
                              method=method)
        if status == 429:
            raise HTTPRateLimited(method=method)
        if status != 200 and "result" not in data:
            raise ProtocolError(f"HTTP {status} with an empty error array", status=status,
                                method=method)
        if "result" not in data:
            raise ProtocolError("Kraken envelope has neither errors nor a result",
                                status=status, method=method)
        return Envelope(data["result"], warnings)
    if status == 429:
        raise HTTPRateLimited(method=method)
    what = _describe_body(body, content_type)
    if status >= 500:
        raise ServerError(f"HTTP {status} from server ({what})", status=status, method=method)
    if status != 200:
        raise ProtocolError(f"HTTP {status} instead of a Kraken answer ({what})", status=status,
                            method=method)
    if not decoded:
        raise ProtocolError(f"answer is not JSON ({what})", status=status, method=method)
    raise ProtocolError(f"answer is JSON but not Kraken's envelope ({what})", status=status,
                        method=method)
