"""Kraken's documented token request, as a plain standard-library script, against the sandbox.

bench/kraken_example_token.py signs ``GetWebSocketsToken`` the way Kraken's documentation
example does (form body); tests/data/kraken_example_token_json.py does the same with the JSON
body Kraken's docs show, the nonce as a JSON number or a JSON string. Each runs as its own
process against an in-process sandbox; the token it prints must be one the sandbox accepts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import WAIT, http_session, run_python
from krakenwire.auth import Credentials
from krakenwire.sandbox import Sandbox

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
FORM = ROOT / "bench" / "kraken_example_token.py"
JSON_BODY = Path(__file__).resolve().parent / "data" / "kraken_example_token_json.py"
TOKEN = re.compile(r"[A-Za-z0-9+/]{43}")


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sandbox:
        yield sandbox


def env_for(sb: Sandbox, creds: Credentials) -> dict[str, str]:
    return {"KRAKEN_API_KEY": creds.api_key, "KRAKEN_API_SECRET": creds.api_secret,
            "KRAKEN_REST_URL": sb.rest_url}


async def assert_token_subscribes(sb: Sandbox, token: str) -> None:
    """The token is live: the sandbox's v2 ``executions`` subscription accepts it."""
    async with http_session() as http, http.ws_connect(sb.ws_auth_v2_url) as ws:
        greeting = await ws.receive_json(timeout=WAIT)
        assert greeting["channel"] == "status"
        await ws.send_json({"method": "subscribe", "req_id": 1,
                            "params": {"channel": "executions", "token": token}})
        ack = await ws.receive_json(timeout=WAIT)
        assert ack["method"] == "subscribe" and ack["req_id"] == 1
        assert ack["success"] is True, ack


@pytest.mark.parametrize("argv", [
    pytest.param((str(FORM),), id="form-body"),
    pytest.param((str(JSON_BODY),), id="json-body-number-nonce"),
    pytest.param((str(JSON_BODY), "--nonce-as-string"), id="json-body-string-nonce"),
])
async def test_documented_request_prints_a_token(sb: Sandbox, argv: tuple[str, ...]) -> None:
    code, out, err = await run_python(*argv, env=env_for(sb, sb.credentials))
    assert code == 0, err
    assert err == ""
    token = out.removesuffix("\n")
    assert out.endswith("\n") and "\n" not in token
    assert len(token) == 43 and TOKEN.fullmatch(token)
    await assert_token_subscribes(sb, token)


async def test_two_runs_get_two_tokens(sb: Sandbox) -> None:
    """Each run signs its own request with a fresh millisecond nonce (a new key for the JSON
    run: the form run's nonce may be the same millisecond); each gets its own token."""
    acct = sb.create_account({"USD": "10"})
    first = await run_python(str(FORM), env=env_for(sb, sb.credentials))
    second = await run_python(str(JSON_BODY), env=env_for(sb, sb.create_key(acct)))
    assert first[0] == second[0] == 0, (first, second)
    assert TOKEN.fullmatch(first[1].strip()) and TOKEN.fullmatch(second[1].strip())
    assert first[1] != second[1]


@pytest.mark.parametrize("script", [FORM, JSON_BODY], ids=["form-body", "json-body"])
async def test_a_wrong_secret_is_refused_without_echoing_it(sb: Sandbox, script: Path) -> None:
    wrong = Credentials(sb.credentials.api_key, Credentials("x", "Q" * 88).api_secret)
    code, out, err = await run_python(str(script), env=env_for(sb, wrong))
    assert code != 0 and out == ""
    assert "Kraken refused: ['EAPI:Invalid key']" in err
    assert wrong.api_secret not in out + err and sb.credentials.api_secret not in out + err
