"""pytest plugin (entry point ``pytest11``): a local Kraken sandbox for any project's tests.

Installed with krakenwire and off unless a test asks for one of its fixtures; importing this
module imports nothing but pytest (the sandbox is imported when a fixture first runs).

Fixtures:

* ``kraken_sandbox`` (function scope): a fresh sandbox for one test.
* ``kraken_sandbox_session`` (session scope): one sandbox shared by every test that asks for it
  (faster; tests share its accounts, so give each test its own account with
  :meth:`KrakenSandboxFixture.new_account`).

Both yield a :class:`KrakenSandboxFixture`: a real server on ``127.0.0.1`` on a free port,
served from a background thread so synchronous and asynchronous tests can both use it, with a
funded demo account (``credentials`` / ``api_key`` / ``api_secret``: 100000 USD, 10 BTC,
100 ETH, 1000 SOL), its URLs (``rest_url``, ``ws_auth_v2_url`` ...), and helpers to create
accounts and keys, advance a manual clock, move the simulated price and switch faults on.

Clock: the sandbox runs on the real clock by default (the simulated market moves, rate-limit
counters decay). For a manual clock, which moves only with ``kraken_sandbox.advance(seconds)``:

* mark the test: ``@pytest.mark.kraken_sandbox(manual_clock=True)``; or
* parametrize the fixture: ``@pytest.mark.parametrize("kraken_sandbox",
  [{"manual_clock": True}], indirect=True)``;
* for ``kraken_sandbox_session``: the ini option ``kraken_sandbox_clock = manual``.

Other options (marker keywords / parameter keys): ``seed`` (int, the simulated market's seed),
``market`` (bool, run the simulated market). Any Kraken client works: point it at
``rest_url`` (krakenex: ``api.uri = kraken_sandbox.rest_url``; python-kraken-sdk:
``User(key, secret, url=kraken_sandbox.rest_url)``). Give each client its own key
(:meth:`KrakenSandboxFixture.new_key`): nonces of one key must keep increasing, and clients
differ in their nonce scale (krakenex uses milliseconds, krakenwire nanoseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from krakenwire.auth import Credentials
    from krakenwire.sandbox import Faults, SandboxThread

__all__ = ["KrakenSandboxFixture", "kraken_sandbox", "kraken_sandbox_session"]

_OPTIONS = frozenset({"manual_clock", "seed", "market"})

#: balances of an account made by :meth:`KrakenSandboxFixture.new_account` without arguments
DEFAULT_BALANCES: dict[str, str] = {"USD": "100000", "BTC": "10", "ETH": "100", "SOL": "1000"}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``kraken_sandbox_clock`` ini option."""
    parser.addini("kraken_sandbox_clock",
                  "clock of the kraken_sandbox_session fixture: real (default) or manual",
                  default="real")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kraken_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        "kraken_sandbox(manual_clock=False, seed=0, market=True): options of the "
        "kraken_sandbox fixture for this test")


class KrakenSandboxFixture:
    """A running sandbox, as handed to a test.

    Attributes: ``rest_url``, ``ws_auth_v2_url``, ``ws_public_v2_url``, ``ws_auth_v1_url``,
    ``ws_public_v1_url`` (strings), ``credentials`` (the funded demo account's key, a
    :class:`~krakenwire.auth.Credentials`), ``api_key`` / ``api_secret`` (the same as plain
    strings, for other clients), ``account_id``, ``manual_clock``, ``thread`` (the underlying
    :class:`~krakenwire.sandbox.SandboxThread`, for anything not wrapped here).
    """

    def __init__(self, thread: SandboxThread, *, manual_clock: bool) -> None:
        self.thread = thread
        self.manual_clock = manual_clock
        sandbox = thread.sandbox
        self.rest_url: str = sandbox.rest_url
        self.ws_auth_v2_url: str = sandbox.ws_auth_v2_url
        self.ws_public_v2_url: str = sandbox.ws_public_v2_url
        self.ws_auth_v1_url: str = sandbox.ws_auth_v1_url
        self.ws_public_v1_url: str = sandbox.ws_public_v1_url
        self.credentials: Credentials = sandbox.credentials
        self.account_id: str = sandbox.demo_account

    # --- plain values for other clients ----------------------------------------------------
    @property
    def api_key(self) -> str:
        """The demo key's API key."""
        return self.credentials.api_key

    @property
    def api_secret(self) -> str:
        """The demo key's base64 secret (sandbox-only; never a real Kraken secret)."""
        return self.credentials.api_secret

    @property
    def urls(self) -> dict[str, str]:
        """Every URL by name (``rest_url``, ``ws_auth_v2_url``, ...)."""
        return dict(self.thread.sandbox.urls())

    def env(self, credentials: Credentials | None = None) -> dict[str, str]:
        """Environment variables pointing krakenwire (and the ``krakenwire`` command) at this
        sandbox: ``KRAKEN_API_KEY``, ``KRAKEN_API_SECRET``, ``KRAKEN_REST_URL``,
        ``KRAKEN_WS_AUTH_URL``, ``KRAKEN_WS_URL`` (``credentials`` defaults to the demo key)."""
        creds = credentials or self.credentials
        return {"KRAKEN_API_KEY": creds.api_key, "KRAKEN_API_SECRET": creds.api_secret,
                "KRAKEN_REST_URL": self.rest_url, "KRAKEN_WS_AUTH_URL": self.ws_auth_v2_url,
                "KRAKEN_WS_URL": self.ws_public_v2_url}

    # --- accounts and keys -----------------------------------------------------------------
    def create_account(self, balances: Mapping[str, Decimal | str | int]) -> str:
        """Create an account holding ``balances`` (asset names in any spelling: ``BTC``,
        ``XBT``, ``XXBT``); return its id.

        Raises:
            ValueError: for an unknown asset or a negative or non-numeric amount.
        """
        return self.thread.create_account(balances)

    def create_key(self, account_id: str | None = None, *,
                   permissions: Iterable[str] | None = None, tier: str = "pro",
                   nonce_window: int = 0) -> Credentials:
        """Create an API key for ``account_id`` (default: the demo account); return its
        credentials. ``permissions`` is a subset of ``query_funds``, ``query_orders``,
        ``trade``, ``websocket`` (default: all); ``tier`` is ``starter``, ``intermediate``,
        ``pro`` (default) or ``unlimited``.

        Raises:
            ExchangeError: if the account does not exist.
            ValueError: for an unknown permission or tier.
        """
        from krakenwire.sandbox.gate import ALL_PERMISSIONS

        return self.thread.create_key(
            account_id or self.account_id,
            permissions=ALL_PERMISSIONS if permissions is None else permissions,
            tier=tier, nonce_window=nonce_window)  # type: ignore[arg-type]

    def new_key(self, **options: Any) -> Credentials:
        """A new key on the demo account (same options as :meth:`create_key`)."""
        return self.create_key(None, **options)

    def new_account(self, balances: Mapping[str, Decimal | str | int] | None = None,
                    **key_options: Any) -> Credentials:
        """Create an account (default: the demo balances) and a key for it; return the key."""
        account_id = self.create_account(DEFAULT_BALANCES if balances is None else balances)
        return self.create_key(account_id, **key_options)

    # --- time, prices, faults --------------------------------------------------------------
    def now(self) -> float:
        """The sandbox clock's current time (Unix seconds)."""
        return float(self.thread.sandbox.clock.now())

    def advance(self, seconds: float) -> float:
        """Move the manual clock forward by ``seconds``, run everything due (expiries, fills,
        rate-limit decay) and return the new time.

        Raises:
            TypeError: if the sandbox runs on the real clock (ask for ``manual_clock=True``).
        """
        return self.thread.advance(seconds)

    def set_price(self, pair: str, price: Decimal | str | int) -> None:
        """Move the simulated market of ``pair`` (any spelling: ``XBTUSD``, ``BTC/USD``) to
        ``price`` and run everything that crosses (resting orders fill, stops trigger).

        Raises:
            ValueError: for an unknown pair or a price that is not a positive number.
        """
        from krakenwire.protocol.naming import pair_by_any

        found = pair_by_any(pair)
        if found is None:
            raise ValueError(f"unknown pair {pair!r}")
        value = Decimal(str(price))
        if not value.is_finite() or value <= 0:
            raise ValueError(f"price must be a positive number, got {price!r}")
        core = self.thread.sandbox.core

        async def move() -> None:
            core.exchange.set_price(found.id, value)
            await core.tick()

        self.thread.call(move())

    @property
    def faults(self) -> Faults:
        """The live fault switches (read them here; change them with :meth:`set_faults`)."""
        return self.thread.sandbox.core.faults

    def set_faults(self, **values: Any) -> None:
        """Switch faults on or off by name, e.g. ``set_faults(unavailable=True)``,
        ``set_faults(rest_drop_before_reply=True)``; see
        :class:`~krakenwire.sandbox.Faults` for the names.

        Raises:
            ValueError: for an unknown fault name (nothing is changed then).
        """
        faults = self.faults
        unknown = sorted(set(values) - set(type(faults).__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")

        async def apply() -> None:  # on the sandbox's loop, between requests
            for name, value in values.items():
                setattr(faults, name, value)

        self.thread.call(apply())

    def reset_faults(self) -> None:
        """Switch every fault off again."""
        from dataclasses import fields

        from krakenwire.sandbox import Faults

        defaults = Faults()
        self.set_faults(**{f.name: getattr(defaults, f.name) for f in fields(defaults)})

    def __repr__(self) -> str:
        return f"KrakenSandboxFixture(rest_url={self.rest_url!r})"


def _options(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(raw) - _OPTIONS)
    if unknown:
        raise pytest.UsageError(f"{where}: unknown kraken_sandbox option(s) "
                                f"{', '.join(unknown)} (known: {', '.join(sorted(_OPTIONS))})")
    return dict(raw)


def _start(options: Mapping[str, Any]) -> Iterator[KrakenSandboxFixture]:
    from krakenwire.sandbox import SandboxThread

    manual = bool(options.get("manual_clock", False))
    thread = SandboxThread(manual_clock=manual, seed=int(options.get("seed", 0)))
    if "market" in options:
        thread.sandbox.settings.market = bool(options["market"])
    thread.start()
    try:
        yield KrakenSandboxFixture(thread, manual_clock=manual)
    finally:
        thread.stop()


@pytest.fixture
def kraken_sandbox(request: pytest.FixtureRequest) -> Iterator[KrakenSandboxFixture]:
    """A fresh Kraken sandbox for this test (real clock unless asked otherwise; see the
    module documentation for the marker and the parameter)."""
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("kraken_sandbox")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("kraken_sandbox marker takes keyword arguments only")
        options.update(_options(marker.kwargs, "@pytest.mark.kraken_sandbox"))
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, Mapping):
            raise pytest.UsageError("parametrize kraken_sandbox with dicts of options")
        options.update(_options(param, "kraken_sandbox parameter"))
    yield from _start(options)


@pytest.fixture(scope="session")
def kraken_sandbox_session(request: pytest.FixtureRequest) -> Iterator[KrakenSandboxFixture]:
    """One Kraken sandbox shared by the whole test session (clock from the
    ``kraken_sandbox_clock`` ini option: ``real`` or ``manual``)."""
    clock = str(request.config.getini("kraken_sandbox_clock") or "real").strip().lower()
    if clock not in ("real", "manual"):
        raise pytest.UsageError(f"kraken_sandbox_clock must be real or manual, not {clock!r}")
    yield from _start({"manual_clock": clock == "manual"})
