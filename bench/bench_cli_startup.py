"""Cold start-up of the ``krakenwire`` command vs Kraken's own example script.

    .venv/bin/python bench/bench_cli_startup.py [--runs N]

By default modules load from cached bytecode, as after ``pip install`` (the cache goes to a
temporary ``PYTHONPYCACHEPREFIX``); ``--no-bytecode-cache`` compiles every module each run.

Starts a sandbox (in this process, on a free loopback port), gives each contender its own
API key, then runs every command N times as a fresh process (cold interpreter start, warm OS
file cache) and prints the median and best wall time and the ratio to Kraken's example:

* ``python -c pass``                 — the interpreter alone (floor)
* ``kraken_example_token.py``        — Kraken's documented urllib script (bench/)
* ``krakenwire --help``
* ``krakenwire token``               — same request, through krakenwire's client
* ``krakenwire balance``             — a table command, for reference
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE (every module compiled each run)")
    args = parser.parse_args()

    from krakenwire.sandbox import SandboxThread

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
    if not args.no_bytecode_cache:
        # as after `pip install`: modules load from cached bytecode (kept out of the tree)
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        base_env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="krakenwire-bench-pyc-")
    krakenwire = str(BIN / "krakenwire")
    with SandboxThread() as sb:
        def env_for() -> dict[str, str]:
            creds = sb.create_key(sb.demo_account, tier="unlimited")
            return {**base_env, "KRAKEN_API_KEY": creds.api_key,
                    "KRAKEN_API_SECRET": creds.api_secret, "KRAKEN_REST_URL": sb.rest_url}

        contenders = [
            ("python -c pass", [sys.executable, "-c", "pass"], base_env),
            ("Kraken example (urllib)", [sys.executable, str(HERE / "kraken_example_token.py")],
             env_for()),
            ("krakenwire --help", [krakenwire, "--help"], base_env),
            ("krakenwire token", [krakenwire, "token"], env_for()),
            ("krakenwire balance", [krakenwire, "balance"], env_for()),
        ]
        for _, cmd, env in contenders:  # warm the OS file cache once
            timed(cmd, env, 1)
        results = [(name, timed(cmd, env, args.runs)) for name, cmd, env in contenders]

    baseline = statistics.median(results[1][1])
    cache = "off" if args.no_bytecode_cache else "on"
    print(f"cold wall time, {args.runs} fresh processes each, sandbox on loopback, "
          f"bytecode cache {cache}")
    print(f"{'command':28} {'median ms':>10} {'best ms':>9} {'vs Kraken example':>18}")
    for name, times in results:
        median = statistics.median(times)
        print(f"{name:28} {median * 1000:10.1f} {min(times) * 1000:9.1f} "
              f"{median / baseline:17.2f}x")


if __name__ == "__main__":
    main()
