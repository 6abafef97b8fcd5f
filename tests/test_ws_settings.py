"""Session settings resolve as argument > environment, and constructing does no I/O."""

from __future__ import annotations

import pytest

from krakenwire import Credentials, PrivateSocket, PrivateSocketV1
from krakenwire.auth import CredentialsError

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


@pytest.mark.parametrize("cls", [PrivateSocket, PrivateSocketV1])
def test_no_credentials_anywhere_is_a_clear_error(cls: type, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.delenv("KRAKEN_API_KEY", raising=False)
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    with pytest.raises(CredentialsError, match="KRAKEN_API_KEY"):
        cls()


@pytest.mark.parametrize("cls", [PrivateSocket, PrivateSocketV1])
def test_credentials_from_the_environment(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", "K" * 56)
    monkeypatch.setenv("KRAKEN_API_SECRET", SECRET)
    monkeypatch.setenv("KRAKEN_WS_AUTH_URL", "ws://127.0.0.1:9/ws-auth/v2")
    ws = cls(url="ws://127.0.0.1:9/x")  # no I/O: nothing listens on port 9
    assert SECRET not in repr(ws)


def test_both_credentials_and_provider_refused() -> None:
    from krakenwire import KrakenClient, TokenProvider

    creds = Credentials("K" * 56, SECRET)
    provider = TokenProvider(KrakenClient(creds, base_url="http://127.0.0.1:9"))
    with pytest.raises(ValueError, match="not both"):
        PrivateSocket(credentials=creds, token_provider=provider, url="ws://127.0.0.1:9/x")
