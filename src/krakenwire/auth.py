"""Request signing for Kraken's private REST API (kraken-protocol.md §1.3), and credentials.

``API-Sign = base64(HMAC-SHA512(base64decode(secret), urlpath + SHA256(nonce + body)))``

Signing is pure: no I/O, no clock. Used by the client to sign and by the sandbox to verify.
:class:`Credentials` holds an API key and secret (never shown in a ``repr``) and loads them
from the environment or a file. Nonces live in :mod:`krakenwire.nonce`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "Credentials",
    "CredentialsError",
    "SecretFormatError",
    "Signer",
    "decode_secret",
    "load_credentials_file",
    "sign",
]


class CredentialsError(ValueError):
    """API credentials are missing or unreadable. The message never contains the secret."""


class SecretFormatError(CredentialsError):
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


# --------------------------------------------------------------------------------------------
# credentials
# --------------------------------------------------------------------------------------------

ENV_API_KEY = "KRAKEN_API_KEY"
ENV_API_SECRET = "KRAKEN_API_SECRET"

# names accepted in a credentials file for the key and the secret
_KEY_NAMES = ("api_key", "KRAKEN_API_KEY", "key")
_SECRET_NAMES = ("api_secret", "KRAKEN_API_SECRET", "secret", "private_key")


def _redact_key(api_key: str) -> str:
    if len(api_key) <= 8:
        return api_key[:2] + "…"
    return api_key[:4] + "…" + api_key[-4:]


class Credentials:
    """A Kraken API key and its secret.

    ``Credentials(api_key, api_secret)`` validates both at once: the key must be non-empty and
    the secret valid, non-empty base64 (the HMAC key is decoded once and reused for every
    signature, see :attr:`signer`). ``repr``/``str`` show the key truncated and never the
    secret.

    Raises:
        CredentialsError: if the key is empty.
        SecretFormatError: if the secret is empty or not valid base64 (the message never echoes
            the secret).
    """

    __slots__ = ("_api_secret", "_signer", "api_key")

    api_key: str
    _api_secret: str
    _signer: Signer

    def __init__(self, api_key: str, api_secret: str) -> None:
        key = (api_key or "").strip()
        if not key:
            raise CredentialsError("API key is empty")
        if any(c.isspace() for c in key) or not key.isprintable():
            raise CredentialsError("API key contains whitespace or control characters")
        secret = (api_secret or "").strip()
        signer = Signer(secret)  # validates, raises SecretFormatError
        object.__setattr__(self, "api_key", key)
        object.__setattr__(self, "_api_secret", secret)
        object.__setattr__(self, "_signer", signer)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Credentials are immutable")

    @property
    def api_secret(self) -> str:
        """The base64 secret (handle with care: never log it)."""
        return self._api_secret

    @property
    def signer(self) -> Signer:
        """A :class:`Signer` with the precomputed HMAC key for this secret."""
        return self._signer

    @property
    def redacted_key(self) -> str:
        """The API key truncated for display, e.g. ``'AbCd…WxYz'``."""
        return _redact_key(self.api_key)

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.redacted_key!r}, api_secret=<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return self.api_key == other.api_key and hmac.compare_digest(
            self._api_secret.encode(), other._api_secret.encode())

    def __hash__(self) -> int:
        return hash(self.api_key)

    def __reduce__(self) -> tuple[object, ...]:
        return (Credentials, (self.api_key, self._api_secret))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``KRAKEN_API_KEY`` and ``KRAKEN_API_SECRET`` from the environment.

        Raises:
            CredentialsError: if either variable is unset or empty (named in the message).
            SecretFormatError: if the secret is not valid base64.
        """
        env = os.environ if environ is None else environ
        key = env.get(ENV_API_KEY, "").strip()
        secret = env.get(ENV_API_SECRET, "").strip()
        missing = [name for name, value in ((ENV_API_KEY, key), (ENV_API_SECRET, secret))
                   if not value]
        if missing:
            raise CredentialsError(
                f"no API credentials: {' and '.join(missing)} not set in the environment")
        return cls(key, secret)

    @classmethod
    def maybe_from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Like :meth:`from_env`, but ``None`` when neither variable is set.

        Raises:
            CredentialsError: if only one of the two is set, or the secret is malformed.
        """
        env = os.environ if environ is None else environ
        if not env.get(ENV_API_KEY, "").strip() and not env.get(ENV_API_SECRET, "").strip():
            return None
        return cls.from_env(env)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Credentials:
        """Read credentials from a file; see :func:`load_credentials_file` for the formats.

        Raises:
            CredentialsError: if the file is missing, unreadable or lacks a key or secret.
            SecretFormatError: if the secret is not valid base64.
        """
        return load_credentials_file(path)[0]


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _parse_key_value(text: str, where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for lineno, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        if not sep or not _NAME_RE.match(name.strip()):
            raise CredentialsError(f"{where}: line {lineno} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def load_credentials_file(path: str | os.PathLike[str]) -> tuple[Credentials, dict[str, str]]:
    """Read credentials (and any other settings) from a file.

    Two formats, chosen by the first non-blank character:

    * JSON object: ``{"api_key": "...", "api_secret": "..."}``. Other keys are allowed and
      returned as settings, so the sandbox's credentials file (which also carries ``rest_url``,
      ``ws_auth_v2_url`` and so on) works as is.
    * ``KEY=VALUE`` lines (``#`` comments, optional ``export`` and quotes, as in a ``.env``
      file): ``KRAKEN_API_KEY=...`` and ``KRAKEN_API_SECRET=...`` (or ``api_key`` /
      ``api_secret``); other lines, e.g. ``KRAKEN_REST_URL=...``, are returned as settings.

    Returns ``(credentials, settings)`` where ``settings`` maps every other name to its string
    value.

    Raises:
        CredentialsError: missing or unreadable file, malformed content, no key or no secret.
            The message names the file and the problem, never the file's content.
        SecretFormatError: if the secret is not valid base64.
    """
    where = f"credentials file {os.fspath(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialsError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise CredentialsError(f"{where} is a directory") from None
    except PermissionError:
        raise CredentialsError(f"{where} is not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise CredentialsError(f"{where} is not UTF-8 text") from None
    except OSError as exc:
        raise CredentialsError(f"{where} cannot be read ({exc.strerror})") from None
    stripped = text.lstrip()
    values: dict[str, str]
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CredentialsError(
                f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"{where} must hold a JSON object")
        values = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    elif stripped:
        values = _parse_key_value(text, where)
    else:
        raise CredentialsError(f"{where} is empty")

    def pick(names: tuple[str, ...]) -> str:
        for name in names:
            value = values.get(name, "").strip()
            if value:
                return value
        return ""

    key, secret = pick(_KEY_NAMES), pick(_SECRET_NAMES)
    missing = [label for label, value in (("api_key", key), ("api_secret", secret)) if not value]
    if missing:
        raise CredentialsError(f"{where} has no {' and no '.join(missing)}")
    try:
        credentials = Credentials(key, secret)
    except SecretFormatError as exc:
        raise SecretFormatError(f"{where}: {exc}") from None
    settings = {k: v for k, v in values.items() if k not in _KEY_NAMES + _SECRET_NAMES}
    return credentials, settings
