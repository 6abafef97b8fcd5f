"""Decoding throughput of WebSocket v2 execution messages: krakenwire's codec vs json.

Decoders compared on the same bytes (Kraken's documented / recorded frames, §6.4–6.5):

* ``json.loads``                  — stdlib, floats (lossy), dicts
* ``json.loads(parse_float=Decimal)`` — stdlib, exact, dicts
* ``krakenwire decode_message``   — typed structs, exact Decimal (what the client uses)

Run: ``.venv/bin/python bench/bench_v2_decode.py [--seconds 0.5]``. Prints µs per message and
messages per second for each decoder and frame, and the ratios against ``json.loads``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from krakenwire.protocol.v2 import decode_message

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common

FRAMES: dict[str, bytes] = {
    "pending_new (full)": (
        b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5",'
        b'"order_userref":3,"symbol":"BTC/USD","order_qty":0.005,"cum_cost":0.0,'
        b'"time_in_force":"GTC","exec_type":"pending_new","side":"sell","order_type":"limit",'
        b'"limit_price_type":"static","limit_price":26500.0,"stop_price":0.0,'
        b'"order_status":"pending_new","fee_usd_equiv":0.0,"fee_ccy_pref":"fciq",'
        b'"timestamp":"2023-09-22T10:33:05.709950Z"}],"sequence":8}'),
    "new (delta)": (
        b'{"channel":"executions","type":"update","data":[{"timestamp":'
        b'"2023-09-22T10:33:05.709982Z","order_status":"new","exec_type":"new",'
        b'"order_userref":3,"order_id":"OK4GJX-KSTLS-7DZZO5"}],"sequence":9}'),
    "trade": (
        b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5",'
        b'"order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade",'
        b'"trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,'
        b'"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit",'
        b'"timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled",'
        b'"cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,'
        b'"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}'),
    "balances update": (
        b'{"channel":"balances","type":"update","data":[{"ledger_id":"A5KS77-LQRMP-SMMN4B",'
        b'"ref_id":"AGBB7L-HT5LX-J3BB4A","timestamp":"2023-09-22T10:33:05.710082Z",'
        b'"type":"trade","asset":"USD","asset_class":"currency","category":"trade",'
        b'"wallet_type":"spot","wallet_id":"main","amount":132.9995,"fee":0.3458,'
        b'"balance":500}],"sequence":10}'),
}


def _json_decimal(raw: bytes) -> Any:
    return json.loads(raw, parse_float=Decimal)


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "json.loads": json.loads,
    "json + Decimal": _json_decimal,
    "krakenwire typed": decode_message,
}


def measure(fn: Callable[[bytes], Any], raw: bytes, seconds: float) -> float:
    """Best-of-5 µs per call, each round running for about ``seconds`` / 5."""
    n = 1000
    while True:  # calibrate
        t0 = time.perf_counter()
        for _ in range(n):
            fn(raw)
        if time.perf_counter() - t0 > seconds / 25:
            break
        n *= 2
    return common.best_us_per_call(fn, raw, n, 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="time per decoder and frame")
    args = ap.parse_args()
    names = list(DECODERS)
    print(f"{'frame':<22}" + "".join(f"{n:>18}" for n in names)
          + f"{'json/ours':>12}{'json+Dec/ours':>15}")
    totals = dict.fromkeys(names, 0.0)
    for frame, raw in FRAMES.items():
        row = {n: measure(fn, raw, args.seconds) for n, fn in DECODERS.items()}
        for n in names:
            totals[n] += row[n]
        ours = row["krakenwire typed"]
        print(f"{frame:<22}" + "".join(f"{row[n]:>15.2f} µs" for n in names)
              + f"{row['json.loads'] / ours:>11.2f}x{row['json + Decimal'] / ours:>14.2f}x")
    ours = totals["krakenwire typed"]
    print(f"{'all four (sum)':<22}" + "".join(f"{totals[n]:>15.2f} µs" for n in names)
          + f"{totals['json.loads'] / ours:>11.2f}x{totals['json + Decimal'] / ours:>14.2f}x")
    per_s = {n: len(FRAMES) / (totals[n] / 1e6) for n in names}
    print("messages/s: " + ", ".join(f"{n} {per_s[n]:,.0f}" for n in names))
    print("(ratios > 1 mean krakenwire's typed, exact decoding is faster)")


if __name__ == "__main__":
    main()
