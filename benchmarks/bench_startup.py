"""Startup cost of listing connectors, as a ratio against a bare interpreter start.

Runs `qmtl-connectors plugins` and `python -c pass` alternately, RUNS times each,
in the same run, and prints both medians and their ratio. Fails (exit 1) if listing
imported ccxt, requests or websocket code: registration must stay lazy.

    .venv/bin/python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("ccxt", "requests", "websocket", "websockets", "prometheus_client")
CLI = str(Path(sys.executable).with_name("qmtl-connectors"))
LISTING_IMPORTS = (
    "import contextlib, io, json, sys\n"
    "from qmtl_core.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(['plugins'])\n"
    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    imported = json.loads(
        subprocess.run(
            [sys.executable, "-c", LISTING_IMPORTS], check=True, capture_output=True, text=True
        ).stdout
    )
    baseline, listing = [], []
    timed([sys.executable, "-c", "pass"])  # warm-up: page cache, pyc files
    timed([CLI, "plugins"])
    for _ in range(args.runs):
        baseline.append(timed([sys.executable, "-c", "pass"]))
        listing.append(timed([CLI, "plugins"]))
    base_ms = statistics.median(baseline) * 1000
    list_ms = statistics.median(listing) * 1000
    print(f"python -c pass           median {base_ms:7.1f} ms  ({args.runs} runs)")
    print(f"qmtl-connectors plugins  median {list_ms:7.1f} ms  ({args.runs} runs)")
    print(f"ratio plugins/python     {list_ms / base_ms:7.2f}x  (+{list_ms - base_ms:.1f} ms)")
    if imported:
        print(f"FAIL: listing connectors imported {', '.join(imported)}")
        return 1
    print(f"listing imported none of: {', '.join(HEAVY)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
