"""Every code block of the README runs against a sandbox.

Python blocks run as scripts; a block that defines ``test_*`` functions runs under pytest (it
uses the ``kraken_sandbox`` fixture); ``sh`` blocks of ``krakenwire`` commands run line by line.
The sandbox's address and demo key reach them through the environment variables the README
tells users to set for real Kraken. Only the quick-start block (``make demo`` / ``make test``,
which is what CI itself runs) and ``text`` blocks are not executed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from krakenwire.sandbox import SandboxThread

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(README.read_text())]


def _id(block: tuple[str, str]) -> str:
    lang, code = block
    first = next((line for line in code.splitlines() if line.strip()), "")
    return f"{lang}:{first[:40]}"


RUNNABLE = [b for b in blocks() if b[0] in ("python", "sh") and "make demo" not in b[1]]


def test_readme_blocks_are_found() -> None:
    langs = [lang for lang, _ in blocks()]
    assert langs.count("python") >= 4 and "sh" in langs
    # the quick start is exactly two commands
    (quick,) = [code for lang, code in blocks() if "make demo" in code]
    commands = [line.split("#")[0].strip() for line in quick.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


@pytest.fixture(scope="module")
def sandbox_env() -> Iterator[dict[str, str]]:
    with SandboxThread() as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
        env.update(KRAKEN_API_KEY=sb.credentials.api_key,
                   KRAKEN_API_SECRET=sb.credentials.api_secret,
                   KRAKEN_REST_URL=sb.rest_url, KRAKEN_WS_AUTH_URL=sb.ws_auth_v2_url)
        yield env


@pytest.mark.parametrize("block", RUNNABLE, ids=_id)
def test_readme_block_runs(block: tuple[str, str], sandbox_env: dict[str, str],
                           tmp_path: Path) -> None:
    lang, code = block
    if lang == "sh":
        for line in code.splitlines():
            command = line.split("#")[0].strip()
            if not command:
                continue
            argv = shlex.split(command)
            assert argv[0] == "krakenwire", f"README shell line is not a krakenwire command: {line}"
            proc = subprocess.run([sys.executable, "-m", "krakenwire.cli", *argv[1:]],
                                  env=sandbox_env, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
            assert proc.returncode == 0, f"{command}: {proc.stderr}"
            assert proc.stdout.strip()
            assert sandbox_env["KRAKEN_API_SECRET"] not in proc.stdout + proc.stderr
        return
    script = tmp_path / ("test_block.py" if "def test_" in code else "block.py")
    script.write_text(code)
    if "def test_" in code:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
    else:
        argv = [sys.executable, str(script)]
    proc = subprocess.run(argv, env=sandbox_env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip()
