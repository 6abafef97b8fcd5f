"""`krakenwire token`: prints only the token; one clear stderr line per failure; no secrets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from krakenwire.cli import EXIT_KRAKEN, EXIT_TRANSPORT, EXIT_USAGE, main
from rest_fault_server import FaultServer

METHOD = "GetWebSocketsToken"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KRAKEN_API_KEY", "KRAKEN_API_SECRET", "KRAKEN_REST_URL"):
        monkeypatch.delenv(name, raising=False)


def use_env(monkeypatch: pytest.MonkeyPatch, server: FaultServer, *, key: str | None = None,
            secret: str | None = None) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", key or server.credentials.api_key)
    monkeypatch.setenv("KRAKEN_API_SECRET", secret or server.credentials.api_secret)
    monkeypatch.setenv("KRAKEN_REST_URL", server.url)


def run(capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["token", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_clean_line(err: str, server: FaultServer | None = None) -> None:
    assert err.count("\n") == 1 and err.startswith("krakenwire token: ")
    if server is not None:
        assert server.credentials.api_secret not in err
        assert server.credentials.api_key not in err
        for token in server.tokens:
            assert token not in err


def test_prints_only_the_token(server: FaultServer, capsys: Any,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server)
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out == server.tokens[-1] + "\n"


def test_json_output(server: FaultServer, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server)
    code, out, _ = run(capsys, "--json")
    data = json.loads(out)
    assert code == 0 and data["token"] == server.tokens[-1] and data["expires"] == 900
    assert data["expires_at"].endswith("Z")


def test_credentials_file_with_rest_url(server: FaultServer, capsys: Any,
                                        tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps({"api_key": server.credentials.api_key,
                                "api_secret": server.credentials.api_secret,
                                "rest_url": server.url, "ws_auth_v2_url": "ws://x"}))
    code, out, _ = run(capsys, "--credentials", str(path))
    assert code == 0 and out.strip() == server.tokens[-1]
    code, out, _ = run(capsys, "--credentials", str(path), "--rest-url", server.url)
    assert code == 0 and out.strip() == server.tokens[-1]


def test_no_credentials(capsys: Any) -> None:
    code, out, err = run(capsys)
    assert code == EXIT_USAGE and out == ""
    assert "KRAKEN_API_KEY" in err and "--credentials" in err
    assert_one_clean_line(err)


def test_missing_credentials_file(capsys: Any, tmp_path: Path) -> None:
    code, _, err = run(capsys, "--credentials", str(tmp_path / "nope.json"))
    assert code == EXIT_USAGE and "does not exist" in err
    assert_one_clean_line(err)


def test_bad_secret(server: FaultServer, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server, secret="this-is-my-s3cret!!")
    code, out, err = run(capsys)
    assert code == EXIT_USAGE and out == ""
    assert "base64" in err and "s3cret" not in err
    assert_one_clean_line(err, server)
    assert server.calls == []


def test_invalid_key(server: FaultServer, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server, key="K" + "x" * 55)
    code, out, err = run(capsys)
    assert code == EXIT_KRAKEN and out == ""
    assert "EAPI:Invalid key" in err and "Kx" in err
    assert_one_clean_line(err, server)


def test_missing_websocket_permission(server: FaultServer, capsys: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server)
    server.denied.add(METHOD)
    code, out, err = run(capsys)
    assert code == EXIT_KRAKEN and out == ""
    assert "EGeneral:Permission denied" in err and "WebSocket" in err
    assert_one_clean_line(err, server)


def test_nonce(server: FaultServer, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server)
    server.fault(METHOD, "EAPI:Invalid nonce", "EAPI:Invalid nonce")
    code, _, err = run(capsys)
    assert code == EXIT_KRAKEN and "EAPI:Invalid nonce" in err and "another process" in err
    assert_one_clean_line(err, server)


def test_network_failure(server: FaultServer, capsys: Any,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_env(monkeypatch, server)
    code, out, err = run(capsys, "--rest-url", f"http://127.0.0.1:{port}")
    assert code == EXIT_TRANSPORT and out == ""
    assert "connection refused" in err
    assert_one_clean_line(err, server)


def test_server_error_page(server: FaultServer, capsys: Any,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server)
    server.fault(METHOD, "502", "502")
    code, _, err = run(capsys)
    assert code == EXIT_TRANSPORT and "HTTP 502" in err
    assert_one_clean_line(err, server)


def test_insecure_url_refused(server: FaultServer, capsys: Any,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, server)
    code, _, err = run(capsys, "--rest-url", "http://api.example.com")
    assert code == EXIT_USAGE and "non-loopback" in err
    assert_one_clean_line(err, server)


def test_command_substitution_in_a_real_process(server: FaultServer) -> None:
    env = dict(os.environ, KRAKEN_API_KEY=server.credentials.api_key,
               KRAKEN_API_SECRET=server.credentials.api_secret, KRAKEN_REST_URL=server.url)
    done = subprocess.run([sys.executable, "-m", "krakenwire.cli", "token"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == server.tokens[-1] + "\n" and done.stderr == ""
