"""Run every bench script in this folder in turn (``make bench``); each prints its own table.

Benchmarks run side by side against other clients or a raw floor in one process run and print
ratios; they are never part of the test suite. Pass names to run a subset:
``python bench/run_all.py bench_client bench_v2_orders``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("bench_*.py"))
    if argv:
        scripts = [p for p in scripts if p.stem in argv]
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        failed += subprocess.run([sys.executable, str(script)]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
