"""The sandbox's gate: API keys, signatures, nonces, permissions, rate limits, WebSocket tokens.

Pure and clocked: no I/O; time comes from the injected :class:`~krakenwire.clock.Clock` and
randomness from an injectable ``random_bytes`` function. Every refusal is a :class:`GateError`
whose ``error`` is Kraken's exact string (kraken-protocol.md §2, §3, §4 and the sandbox policy
of §10):

* unknown/missing key or signature mismatch → ``EAPI:Invalid key``;
* nonce not above the key's high-water mark (outside its nonce window) → ``EAPI:Invalid nonce``;
* too many auth failures for one key string in a short time → ``EGeneral:Temporary lockout``;
* missing permission → ``EGeneral:Permission denied``;
* REST call counter over the tier maximum → ``EAPI:Rate limit exceeded``;
* per-pair trading counter over the tier threshold → ``EOrder:Rate limit exceeded``;
* open orders per pair at the tier cap → ``EOrder:Orders limit exceeded``;
* unknown, expired or invalidated WebSocket token → ``ESession:Invalid session``.

Tokens are held by their SHA-256 digest (:func:`token_digest`), never as the token itself, so
the store can persist them (:meth:`Gate.drain_token_changes`, :meth:`Gate.load_token`) and a
token issued before a restart still works within its first-use window after it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from krakenwire.auth import Signer
from krakenwire.clock import Clock
from krakenwire.protocol import errors
from krakenwire.protocol.limits import (
    REST_TIERS,
    TRADING_TIERS,
    DecayingCounter,
    Tier,
    TradeAction,
    rest_cost,
    trading_cost,
)

__all__ = [
    "ALL_PERMISSIONS",
    "METHOD_PERMISSIONS",
    "Gate",
    "GateError",
    "GateSettings",
    "KeyRecord",
    "Permission",
    "TokenChanges",
    "TokenRecord",
    "is_token_shaped",
    "token_digest",
]

Permission = Literal["query_funds", "query_orders", "trade", "websocket"]

#: Every permission a key can hold.
ALL_PERMISSIONS: Final[frozenset[str]] = frozenset(
    {"query_funds", "query_orders", "trade", "websocket"}
)

#: The permission each private REST method needs.
METHOD_PERMISSIONS: Final[dict[str, str]] = {
    "Balance": "query_funds",
    "BalanceEx": "query_funds",
    "TradeBalance": "query_funds",
    "TradeVolume": "query_funds",
    "OpenPositions": "query_orders",
    "Ledgers": "query_funds",
    "QueryLedgers": "query_funds",
    "OpenOrders": "query_orders",
    "ClosedOrders": "query_orders",
    "QueryOrders": "query_orders",
    "TradesHistory": "query_orders",
    "QueryTrades": "query_orders",
    "GetWebSocketsToken": "websocket",
    "AddOrder": "trade",
    "AddOrderBatch": "trade",
    "AmendOrder": "trade",
    "EditOrder": "trade",
    "CancelOrder": "trade",
    "CancelOrderBatch": "trade",
    "CancelAll": "trade",
    "CancelAllOrdersAfter": "trade",
}

_TOKEN_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)


class GateError(Exception):
    """A request was refused; ``error`` is Kraken's exact error string. The message never
    contains a key, secret, signature or token."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(slots=True)
class GateSettings:
    """Tunable gate policy (kraken-protocol.md §10). Defaults follow Kraken where known."""

    #: auth failures (invalid key / invalid nonce) per key string that trigger a lockout
    lockout_threshold: int = 20
    #: ... counted within this many seconds
    lockout_window: float = 60.0
    #: how long a lockout lasts (Kraken: "approximately 15 minutes")
    lockout_duration: float = 900.0
    #: REST counter cost of ledger / trade-history calls (Kraken's docs say 2 or 4)
    history_cost: float = 2.0
    #: seconds within which a new WebSocket token must be first used
    token_ttl: float = 900.0


@dataclass(slots=True, eq=False)
class KeyRecord:
    """One API key. ``secret`` is never shown in ``repr``.

    ``nonce`` is the highest nonce accepted so far (the high-water mark that must survive a
    restart); ``nonce_floor`` is the mark loaded from the store: nonces at or below it are
    refused even inside the nonce window, so that nonces used before a restart stay used.
    """

    key: str
    secret: str = field(repr=False)
    account_id: str
    permissions: frozenset[str] = ALL_PERMISSIONS
    tier: Tier = "starter"
    nonce_window: int = 0
    nonce: int = 0
    created: float = 0.0
    nonce_floor: int = 0
    signer: Signer = field(init=False, repr=False)
    rest_counter: DecayingCounter = field(init=False, repr=False)
    # nonces accepted inside the window (only kept when nonce_window > 0)
    recent_nonces: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.signer = Signer(self.secret)
        rt = REST_TIERS[self.tier]
        self.rest_counter = DecayingCounter(rt.max_counter, rt.decay_per_s)

    @property
    def unlimited(self) -> bool:
        """True for the load-test tier (no counters, no open-order cap)."""
        return self.tier == "unlimited"


@dataclass(slots=True, eq=False)
class TokenRecord:
    """One WebSocket token (held under its digest; the token string is never stored)."""

    key: KeyRecord
    issued: float
    connections: set[object] = field(default_factory=set)


@dataclass(slots=True)
class TokenChanges:
    """Token state to persist since the last :meth:`Gate.drain_token_changes`: ``cleared``
    (every token was invalidated first), then ``removed`` digests, then ``added`` rows
    ``(digest, api_key, issued)``."""

    cleared: bool = False
    removed: list[str] = field(default_factory=list)
    added: list[tuple[str, str, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.cleared or self.removed or self.added)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is held and stored (tokens carry 256 random
    bits, so an unsalted digest cannot be reversed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = -math.inf


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Gate:
    """Keys, auth checks, counters and tokens for the sandbox.

    ``Gate(clock, settings=None, random_bytes=secrets.token_bytes)``. Key state that must be
    persisted (new keys and nonce high-water marks) is collected for the store by
    :meth:`drain_dirty`.
    """

    def __init__(self, clock: Clock, settings: GateSettings | None = None, *,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.clock = clock
        self.settings = settings or GateSettings()
        self._random = random_bytes
        self._keys: dict[str, KeyRecord] = {}
        self._failures: dict[str, _Failures] = {}
        self._tokens: dict[str, TokenRecord] = {}  # by token digest
        self._token_changes = TokenChanges()
        self._last_token_prune = -math.inf
        # (account id, pair id) -> trading counter
        self._trading: dict[tuple[str, str], DecayingCounter] = {}
        self._dirty: dict[str, KeyRecord] = {}

    # --- keys --------------------------------------------------------------------------------
    def create_key(self, account_id: str, *, permissions: Iterable[str] = ALL_PERMISSIONS,
                   tier: Tier = "starter", nonce_window: int = 0) -> KeyRecord:
        """Create a key for ``account_id``: a 56-character key and a secret that is the base64
        of 64 random bytes.

        Raises:
            ValueError: for an unknown permission or tier, or a negative nonce window.
        """
        perms = frozenset(permissions)
        unknown = perms - ALL_PERMISSIONS
        if unknown:
            raise ValueError(f"unknown permission(s): {', '.join(sorted(unknown))}")
        if tier not in REST_TIERS:
            raise ValueError(f"unknown tier {tier!r}")
        if nonce_window < 0:
            raise ValueError("nonce_window must be >= 0")
        while True:
            key = _b64(self._random(42))  # 56 characters, no padding
            if key not in self._keys:
                break
        record = KeyRecord(key=key, secret=_b64(self._random(64)), account_id=account_id,
                           permissions=perms, tier=tier, nonce_window=nonce_window,
                           created=self.clock.now())
        self._keys[key] = record
        self._dirty[key] = record
        return record

    def load_key(self, record: KeyRecord) -> None:
        """Install a key read back from the store; its nonce mark becomes the floor."""
        record.nonce_floor = record.nonce
        self._keys[record.key] = record

    def key(self, api_key: str) -> KeyRecord | None:
        """The key record for ``api_key``, or None."""
        return self._keys.get(api_key)

    def key_records(self) -> list[KeyRecord]:
        """All keys."""
        return list(self._keys.values())

    def drain_dirty(self) -> list[KeyRecord]:
        """Keys created or whose nonce mark moved since the last call (for the store)."""
        dirty, self._dirty = list(self._dirty.values()), {}
        return dirty

    # --- authentication ----------------------------------------------------------------------
    def authenticate(self, urlpath: str, api_key: str | None, api_sign: str | None,
                     body: bytes, nonce: object) -> KeyRecord:
        """Check a private REST request: lockout, key, signature over the raw ``body``, nonce.

        ``nonce`` is the parsed ``nonce`` field (str or int; None if absent); its ``str()``
        prefixes the body in the signature, as Kraken's own example does. On success the
        key's nonce mark moves up and the key's failure count is reset.

        Raises:
            GateError: ``EGeneral:Temporary lockout``, ``EAPI:Invalid key`` or
                ``EAPI:Invalid nonce``.
        """
        now = self.clock.now()
        ident = api_key or ""
        fails = self._failures.get(ident)
        if fails is not None and now < fails.locked_until:
            raise GateError(errors.TEMPORARY_LOCKOUT)
        record = self._keys.get(ident) if api_key else None
        if record is None or not api_sign or nonce is None or isinstance(nonce, bool):
            self._fail(ident, now)
            raise GateError(errors.INVALID_KEY if record is None or not api_sign
                            else errors.INVALID_NONCE)
        nonce_str = str(nonce)
        try:
            ok = record.signer.verify(urlpath, nonce_str, body, api_sign)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            self._fail(ident, now)
            raise GateError(errors.INVALID_KEY)
        value = _parse_nonce(nonce_str)
        if value is None or not self._accept_nonce(record, value):
            self._fail(ident, now)
            raise GateError(errors.INVALID_NONCE)
        if fails is not None:
            del self._failures[ident]
        return record

    def _accept_nonce(self, record: KeyRecord, value: int) -> bool:
        if value <= record.nonce_floor:
            return False
        if value > record.nonce:
            if record.nonce_window:
                record.recent_nonces.add(value)
                low = value - record.nonce_window
                record.recent_nonces = {n for n in record.recent_nonces if n > low}
            record.nonce = value
            self._dirty[record.key] = record
            return True
        if (record.nonce_window and value > record.nonce - record.nonce_window
                and value not in record.recent_nonces):
            record.recent_nonces.add(value)
            return True
        return False

    def _fail(self, ident: str, now: float) -> None:
        s = self.settings
        fails = self._failures.setdefault(ident, _Failures())
        fails.times.append(now)
        while fails.times and fails.times[0] <= now - s.lockout_window:
            fails.times.popleft()
        if len(fails.times) >= s.lockout_threshold:
            fails.locked_until = now + s.lockout_duration
            fails.times.clear()
        if len(self._failures) > 100_000:  # bound memory under a flood of random key strings
            self._failures = {k: v for k, v in self._failures.items() if v.locked_until > now}

    def is_locked(self, api_key: str) -> bool:
        """True while ``api_key`` is in a temporary lockout."""
        fails = self._failures.get(api_key)
        return fails is not None and self.clock.now() < fails.locked_until

    # --- permissions and counters ------------------------------------------------------------
    @staticmethod
    def require(record: KeyRecord, permission: str) -> None:
        """Raise ``GateError(EGeneral:Permission denied)`` unless the key has ``permission``."""
        if permission not in record.permissions:
            raise GateError(errors.PERMISSION_DENIED)

    def charge_rest(self, record: KeyRecord, method: str) -> None:
        """Charge one private REST call on the key's call counter.

        Raises:
            GateError: ``EAPI:Rate limit exceeded`` when the counter would pass the tier max
                (nothing is charged then).
        """
        if record.unlimited:
            return
        cost = rest_cost(method, history_cost=self.settings.history_cost)
        if cost and not record.rest_counter.try_add(cost, self.clock.now()):
            raise GateError(errors.RATE_LIMIT)

    def rest_counter_value(self, record: KeyRecord) -> float:
        """The key's REST call counter now (after decay)."""
        return record.rest_counter.value(self.clock.now())

    def _trading_counter(self, record: KeyRecord, pair_id: str) -> DecayingCounter:
        tt = TRADING_TIERS[record.tier]
        slot = (record.account_id, pair_id)
        counter = self._trading.get(slot)
        if counter is None:
            counter = self._trading[slot] = DecayingCounter(tt.threshold, tt.decay_per_s)
        else:  # the key used now sets the tier
            counter.maximum, counter.decay_per_s = tt.threshold, tt.decay_per_s
        return counter

    def charge_trading(self, record: KeyRecord, pair_id: str, action: TradeAction,
                       order_age: float | None = None, count: int = 1) -> float:
        """Charge ``count`` trading actions on ``pair_id`` (Kraken's cost table, §3.2) and
        return the counter's new value. The counter is per account and pair.

        Raises:
            GateError: ``EOrder:Rate limit exceeded`` if the charge would pass the tier
                threshold (nothing is charged then).
        """
        if record.unlimited:
            return 0.0
        cost = trading_cost(action, order_age) * count
        counter = self._trading_counter(record, pair_id)
        now = self.clock.now()
        if not counter.try_add(cost, now):
            raise GateError(errors.ORDER_RATE_LIMIT)
        return counter.value(now)

    def trading_counter_value(self, account_id: str, pair_id: str) -> float:
        """The account's trading counter on ``pair_id`` now (0 if never charged)."""
        counter = self._trading.get((account_id, pair_id))
        return 0.0 if counter is None else counter.value(self.clock.now())

    def max_rate_count(self, record: KeyRecord) -> float:
        """The key's trading-counter threshold (WS ``maxratecount``)."""
        return TRADING_TIERS[record.tier].threshold

    @staticmethod
    def check_open_orders(record: KeyRecord, open_on_pair: int, adding: int = 1) -> None:
        """Refuse when ``open_on_pair + adding`` would pass the tier's open-order cap.

        Raises:
            GateError: ``EOrder:Orders limit exceeded``.
        """
        if record.unlimited:
            return
        if open_on_pair + adding > TRADING_TIERS[record.tier].max_open_orders:
            raise GateError(errors.ORDERS_LIMIT)

    # --- WebSocket tokens --------------------------------------------------------------------
    def issue_token(self, record: KeyRecord) -> tuple[str, int]:
        """A new 43-character token (base64 alphabet, may hold ``+`` and ``/``) and its
        ``expires`` (900): it must be first used within that many seconds. Only its digest is
        kept (and persisted through :meth:`drain_token_changes`)."""
        now = self.clock.now()
        self._prune_tokens(now)
        while True:
            token = _b64(self._random(32))[:43]
            digest = token_digest(token)
            if digest not in self._tokens:
                break
        self._tokens[digest] = TokenRecord(record, now)
        self._token_changes.added.append((digest, record.key, now))
        return token, int(self.settings.token_ttl)

    def _token_record(self, token: object) -> TokenRecord | None:
        return self._tokens.get(token_digest(token)) if isinstance(token, str) else None

    def check_token(self, token: object) -> KeyRecord:
        """The key a token belongs to, if the token is valid now: issued less than ``token_ttl``
        seconds ago, or held by a live private subscription on some connection.

        Raises:
            GateError: ``ESession:Invalid session`` otherwise (also for a non-string).
        """
        rec = self._token_record(token)
        if rec is None:
            raise GateError(errors.INVALID_SESSION)
        if rec.connections or self.clock.now() < rec.issued + self.settings.token_ttl:
            return rec.key
        raise GateError(errors.INVALID_SESSION)

    def bind_token(self, token: str, conn_id: object) -> KeyRecord:
        """Record that connection ``conn_id`` made a private subscription with ``token`` (keeps
        the token alive while any binding exists). Checks the token first.

        Raises:
            GateError: ``ESession:Invalid session`` if the token is not valid now.
        """
        key = self.check_token(token)
        rec = self._token_record(token)
        assert rec is not None
        rec.connections.add(conn_id)
        return key

    def unbind_token(self, token: str, conn_id: object) -> None:
        """Forget ``conn_id``'s binding of ``token`` (no error if there was none)."""
        rec = self._token_record(token)
        if rec is not None:
            rec.connections.discard(conn_id)

    def invalidate_tokens(self) -> int:
        """Admin switch: forget every token (bound or not); return how many there were."""
        n = len(self._tokens)
        self._tokens.clear()
        self._token_changes = TokenChanges(cleared=True)
        return n

    def token_count(self) -> int:
        """How many tokens the gate currently remembers."""
        return len(self._tokens)

    def has_token_digest(self, digest: str) -> bool:
        """True if the gate holds a token with this digest (valid now or not)."""
        return digest in self._tokens

    def load_token(self, digest: str, api_key: str, issued: float) -> bool:
        """Install a token read back from the store (by digest). Returns False, and drops it,
        when its key is gone or its first-use window has passed (connections that held it did
        not survive the restart); the drop is persisted through :meth:`drain_token_changes`."""
        key = self._keys.get(api_key)
        if key is None or self.clock.now() >= issued + self.settings.token_ttl:
            self._token_changes.removed.append(digest)
            return False
        self._tokens[digest] = TokenRecord(key, issued)
        return True

    def drain_token_changes(self) -> TokenChanges:
        """Tokens issued, pruned or invalidated since the last call (for the store)."""
        changes, self._token_changes = self._token_changes, TokenChanges()
        return changes

    def _prune_tokens(self, now: float) -> None:
        ttl = self.settings.token_ttl
        if len(self._tokens) < 1024 and now - self._last_token_prune < ttl:
            return
        self._last_token_prune = now
        gone = [d for d, r in self._tokens.items() if not r.connections and now >= r.issued + ttl]
        for digest in gone:
            del self._tokens[digest]
        self._token_changes.removed.extend(gone)


def _parse_nonce(text: str) -> int | None:
    """A nonce as an unsigned 64-bit integer, or None if it is not one."""
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    value = int(text)
    return value if value < 2**64 else None


def is_token_shaped(token: str) -> bool:
    """True if ``token`` looks like a sandbox/Kraken token: 43 characters of base64."""
    return len(token) == 43 and set(token) <= _TOKEN_ALPHABET
