"""Every script in examples/ runs to exit 0 against its embedded sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "ws_token.py": [],
    "place_and_cancel.py": ["placed O", "cancelled 1 order", "status now: canceled"],
    "private_session.py": ["ack: order O", "execution: new (new)",
                           "execution: canceled (canceled)"],
}


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    for text in EXPECTED[name]:
        assert text in proc.stdout
    if name == "ws_token.py":
        (line,) = proc.stdout.splitlines()
        assert len(line) >= 20 and " " not in line
