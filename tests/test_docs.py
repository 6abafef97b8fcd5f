"""The API reference is generated from the docstrings and kept current; every public name,
and every public method of a public class, has a docstring."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_api_reference_is_current_and_complete() -> None:
    proc = subprocess.run([sys.executable, str(DOCS / "gen_api.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = (DOCS / "api.md").read_text()
    assert "(undocumented)" not in text
    for name in ("KrakenClient", "PrivateSocket", "PrivateSocketV1", "TokenProvider",
                 "OrderOutcomeUnknown", "Sandbox"):
        assert f"### `{name}" in text


def test_docs_link_targets_exist() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    for page in ("docs/guide.md", "docs/api.md", "docs/sandbox.md"):
        assert page in readme
        assert (DOCS.parent / page).is_file()
