"""Render docs/api.md from the docstrings of krakenwire's public names.

    python docs/gen_api.py          # rewrite docs/api.md
    python docs/gen_api.py --check  # exit 1 if docs/api.md is out of date

The reference is the code's own docstrings (what each call promises and raises); this script
only collects them, so the page cannot drift from the code. tests/test_docs.py runs --check.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import krakenwire

OUT = Path(__file__).resolve().parent / "api.md"

GROUPS: list[tuple[str, list[str]]] = [
    ("Signing and credentials", ["sign", "Signer", "Credentials", "CredentialsError",
                                 "SecretFormatError", "NonceSource", "FileNonceStore"]),
    ("REST clients", ["KrakenClient", "AsyncKrakenClient", "RestRateLimiter"]),
    ("WebSocket tokens", ["TokenProvider", "WebSocketToken"]),
    ("Private WebSocket sessions", ["PrivateSocket", "PrivateSocketV1", "ConnectionSettings",
                                    "OpenOrders", "OpenOrder", "OrdersResync",
                                    "Reconciliation"]),
    ("Clocks", ["Clock", "SystemClock", "ManualClock"]),
    ("Sandbox", ["Sandbox", "SandboxThread"]),
]


def _doc(obj: object) -> str:
    return inspect.cleandoc(inspect.getdoc(obj) or "(undocumented)")


_SET = re.compile(r"frozenset\(\{([^}]*)\}\)")


def _signature(name: str, obj: object) -> str:
    try:
        text = f"{name}{inspect.signature(obj)}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name
    # set reprs follow the hash seed: sort them so the page is the same on every run
    return _SET.sub(lambda m: "frozenset({" + ", ".join(sorted(m.group(1).split(", "))) + "})",
                    text)


def _members(cls: type) -> list[tuple[str, object]]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property) or inspect.isfunction(member) or isinstance(
                member, (classmethod, staticmethod)):
            out.append((name, member))
    return out


def render() -> str:
    lines = ["# krakenwire API reference", "",
             "Generated from the docstrings by `docs/gen_api.py`; do not edit by hand. "
             "Everything here is importable from `krakenwire`.", ""]
    listed: set[str] = set()
    errors = [n for n in krakenwire.__all__ if n not in ("__version__",)
              and isinstance(getattr(krakenwire, n), type)
              and issubclass(getattr(krakenwire, n), BaseException)
              and all(n not in names for _, names in GROUPS)]
    groups = [*GROUPS, ("Errors", sorted(errors, key=lambda n: n != "KrakenwireError")),
              ("Error mapping", ["error_from_kraken"])]
    for title, names in groups:
        lines += [f"## {title}", ""]
        for name in names:
            listed.add(name)
            obj = getattr(krakenwire, name)
            lines += [f"### `{_signature(name, obj) if callable(obj) else name}`", "",
                      _doc(obj), ""]
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for mname, member in _members(obj):
                    target = member.fget if isinstance(member, property) else member
                    if isinstance(target, (classmethod, staticmethod)):
                        target = target.__func__
                    sig = mname if isinstance(member, property) else _signature(mname, target)
                    doc = inspect.getdoc(target) or "(undocumented)"
                    first = doc.strip().split("\n\n")[0].replace("\n", " ")
                    lines += [f"* `{sig}` — {first}"]
                lines.append("")
    missing = sorted(set(krakenwire.__all__) - listed - {"__version__"})
    if missing:
        lines += ["## Other public names", ""]
        for name in missing:
            lines += [f"### `{name}`", "", _doc(getattr(krakenwire, name)), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/api.md is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
