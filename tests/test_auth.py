"""Signing properties (hypothesis) and Credentials: loading, validation, redaction."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenwire.auth import (
    Credentials,
    CredentialsError,
    SecretFormatError,
    Signer,
    load_credentials_file,
    sign,
)

SECRET = base64.b64encode(bytes(range(64))).decode()
KEY = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrSt"


def reference_sign(secret: str, path: str, nonce: str, body: bytes) -> str:
    """Kraken's algorithm, written out independently from krakenwire.auth."""
    inner = hashlib.sha256(nonce.encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


secrets_st = st.binary(min_size=1, max_size=128).map(lambda b: base64.b64encode(b).decode())
paths_st = st.from_regex(r"/0/private/[A-Z][A-Za-z]{0,20}", fullmatch=True)
nonces_st = st.integers(min_value=0, max_value=2**64 - 1)
bodies_st = st.binary(max_size=512)


@settings(max_examples=200)
@given(secret=secrets_st, path=paths_st, nonce=nonces_st, body=bodies_st)
def test_sign_matches_reference_and_precomputed(secret: str, path: str, nonce: int,
                                                body: bytes) -> None:
    expected = reference_sign(secret, path, str(nonce), body)
    assert sign(secret, path, nonce, body) == expected
    signer = Signer(secret)
    assert signer.sign(path, nonce, body) == expected
    assert signer.sign(path, str(nonce), body) == expected  # str and int nonces agree
    assert signer.verify(path, nonce, body, expected)
    assert len(expected) == 88 and expected.endswith("==")


@settings(max_examples=200)
@given(secret=secrets_st, path=paths_st, nonce=nonces_st, body=bodies_st,
       flip=st.integers(min_value=0, max_value=10_000))
def test_any_change_to_the_signed_bytes_breaks_the_signature(
        secret: str, path: str, nonce: int, body: bytes, flip: int) -> None:
    signer = Signer(secret)
    good = signer.sign(path, nonce, body)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        assert not signer.verify(path, nonce, tampered, good)
    assert not signer.verify(path, nonce + 1, body, good)
    assert not signer.verify(path + "X", nonce, body, good)
    assert signer.sign(path, nonce, body + b"&") != good


def test_credentials_repr_hides_secret_and_truncates_key() -> None:
    creds = Credentials(KEY, SECRET)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr(creds.signer)):
        assert SECRET not in text
        assert KEY not in text
    assert "AbCd" in repr(creds) and "<hidden>" in repr(creds)
    assert creds.api_secret == SECRET
    assert creds == Credentials(KEY, SECRET)
    with pytest.raises(AttributeError):
        creds.api_key = "other"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "   ", "not base64 at all!!", "abc", "===="])
def test_bad_secret_is_refused_without_echo(bad: str) -> None:
    with pytest.raises(SecretFormatError) as info:
        Credentials(KEY, bad)
    assert isinstance(info.value, CredentialsError)
    if bad.strip():
        assert bad.strip() not in str(info.value)
    assert "secret" in str(info.value)


def test_empty_key_is_refused() -> None:
    with pytest.raises(CredentialsError, match="API key is empty"):
        Credentials("", SECRET)


def test_from_env() -> None:
    creds = Credentials.from_env({"KRAKEN_API_KEY": KEY, "KRAKEN_API_SECRET": SECRET})
    assert creds.api_key == KEY
    with pytest.raises(CredentialsError, match="KRAKEN_API_SECRET not set"):
        Credentials.from_env({"KRAKEN_API_KEY": KEY})
    with pytest.raises(CredentialsError, match="KRAKEN_API_KEY and KRAKEN_API_SECRET"):
        Credentials.from_env({})
    assert Credentials.maybe_from_env({}) is None
    with pytest.raises(SecretFormatError) as info:
        Credentials.from_env({"KRAKEN_API_KEY": KEY, "KRAKEN_API_SECRET": "s3cr3t-value!"})
    assert "s3cr3t-value" not in str(info.value)


def test_from_json_file_and_sandbox_file(tmp_path: Path) -> None:
    plain = tmp_path / "creds.json"
    plain.write_text(json.dumps({"api_key": KEY, "api_secret": SECRET}))
    assert Credentials.from_file(plain).api_key == KEY
    sandbox = tmp_path / "sandbox.json"
    sandbox.write_text(json.dumps({
        "api_key": KEY, "api_secret": SECRET, "rest_url": "http://127.0.0.1:8080",
        "ws_auth_v2_url": "ws://127.0.0.1:8080/ws-auth/v2"}))
    creds, extra = load_credentials_file(sandbox)
    assert creds.api_key == KEY
    assert extra == {"rest_url": "http://127.0.0.1:8080",
                     "ws_auth_v2_url": "ws://127.0.0.1:8080/ws-auth/v2"}


def test_from_key_value_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(f"# my key\nexport KRAKEN_API_KEY={KEY}\nKRAKEN_API_SECRET='{SECRET}'\n"
                    "KRAKEN_REST_URL=http://localhost:9\n")
    creds, extra = load_credentials_file(path)
    assert creds.api_key == KEY and creds.api_secret == SECRET
    assert extra == {"KRAKEN_REST_URL": "http://localhost:9"}


def test_file_errors_name_the_problem_never_the_content(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        Credentials.from_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"api_key": "' + KEY + '", "api_secret": "' + SECRET + '"')
    with pytest.raises(CredentialsError, match="not valid JSON") as info:
        Credentials.from_file(broken)
    assert SECRET not in str(info.value)
    nosecret = tmp_path / "nosecret.json"
    nosecret.write_text(json.dumps({"api_key": KEY}))
    with pytest.raises(CredentialsError, match="has no api_secret"):
        Credentials.from_file(nosecret)
    bad = tmp_path / "bad.env"
    bad.write_text(f"KRAKEN_API_KEY={KEY}\nKRAKEN_API_SECRET=sup3r$ecret!\n")
    with pytest.raises(SecretFormatError) as info2:
        Credentials.from_file(bad)
    assert "sup3r$ecret" not in str(info2.value) and "bad.env" in str(info2.value)
    garbage = tmp_path / "garbage.txt"
    garbage.write_text(f"{SECRET}\n")
    with pytest.raises(CredentialsError, match="not KEY=VALUE") as info3:
        Credentials.from_file(garbage)
    assert SECRET not in str(info3.value)
    if os.geteuid() != 0:
        locked = tmp_path / "locked.json"
        locked.write_text("{}")
        locked.chmod(0)
        with pytest.raises(CredentialsError, match="not readable"):
            Credentials.from_file(locked)
