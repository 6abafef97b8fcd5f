"""Request signing for Kraken's private REST API (kraken-protocol.md §1.3).

``API-Sign = base64(HMAC-SHA512(base64decode(secret), urlpath + SHA256(nonce + body)))``

Pure: no I/O, no clock. Used by the client to sign and by the sandbox to verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["Signer", "decode_secret", "sign"]


class SecretFormatError(ValueError):
    """The API secret is empty or not valid base64. The message never contains the secret."""


def decode_secret(secret: str | bytes) -> bytes:
    """Decode a base64 API secret to the raw HMAC key.

    Raises:
        SecretFormatError: if the secret is empty or not valid base64 (the message names the
            problem and never echoes the secret).
    """
    raw = secret.encode("ascii", "replace") if isinstance(secret, str) else secret
    raw = raw.strip()
    if not raw:
        raise SecretFormatError("API secret is empty")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SecretFormatError(
            f"API secret is not valid base64 ({len(raw)} characters); "
            "copy it again from Kraken's API key page"
        ) from None
    if not key:
        raise SecretFormatError("API secret decodes to zero bytes")
    return key


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


class Signer:
    """Signs with one secret; the HMAC key schedule is computed once and reused.

    ``Signer(secret).sign(urlpath, nonce, body)`` gives the same value as :func:`sign`, faster
    for repeated calls. The secret is never shown in ``repr``.
    """

    __slots__ = ("_hmac",)

    def __init__(self, secret: str | bytes) -> None:
        self._hmac = hmac.new(decode_secret(secret), digestmod=hashlib.sha512)

    def sign(self, urlpath: str | bytes, nonce: str | int, body: str | bytes) -> str:
        """Return the ``API-Sign`` header value for ``body`` sent to ``urlpath``.

        ``body`` must be exactly the bytes sent (form-encoded or JSON), nonce included; ``nonce``
        is the same digits as in the body.
        """
        inner = hashlib.sha256(str(nonce).encode("ascii") + _as_bytes(body)).digest()
        mac = self._hmac.copy()
        mac.update(_as_bytes(urlpath) + inner)
        return base64.b64encode(mac.digest()).decode("ascii")

    def verify(self, urlpath: str | bytes, nonce: str | int, body: str | bytes,
               signature: str | bytes) -> bool:
        """Constant-time check of ``signature`` against the expected ``API-Sign``."""
        expected = self.sign(urlpath, nonce, body).encode("ascii")
        return hmac.compare_digest(expected, _as_bytes(signature))

    def __repr__(self) -> str:
        return "Signer(<secret hidden>)"


def sign(secret: str, urlpath: str, nonce: str | int, body: str | bytes) -> str:
    """Return Kraken's ``API-Sign`` value (the naive, one-shot form of :class:`Signer`).

    Raises:
        SecretFormatError: if ``secret`` is not valid base64.
    """
    return Signer(secret).sign(urlpath, nonce, body)
