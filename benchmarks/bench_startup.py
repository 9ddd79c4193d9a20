"""Startup cost of listing connectors, as a ratio against a bare interpreter start.

Runs `python -c pass`, `python -c "import qmtl_core"` and `qmtl-connectors plugins`
alternately, RUNS times each, in the same run, and prints the medians and the ratios
of the medians. Aims: `plugins` <= 3x a bare interpreter, `import qmtl_core` <= 1.5x.
Exit 1 when an aim is missed or when listing imported ccxt, requests or websocket
code (registration must stay lazy).

    .venv/bin/python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("ccxt", "requests", "websocket", "websockets", "prometheus_client")
PLUGINS_AIM = 3.0
IMPORT_AIM = 1.5
CLI = str(Path(sys.executable).with_name("qmtl-connectors"))
LISTING_IMPORTS = (
    "import contextlib, io, json, sys\n"
    "from qmtl_core.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(['plugins'])\n"
    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
)


#: The warm-up writes the .pyc files an installed package has, even where
#: PYTHONDONTWRITEBYTECODE is set: otherwise every timed run would compile the project's
#: modules from source, which no user's start-up does.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENV)
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
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import qmtl_core": [sys.executable, "-c", "import qmtl_core"],
        "qmtl-connectors plugins": [CLI, "plugins"],
    }
    for command in commands.values():  # warm-up: page cache, pyc files
        timed(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command))
    median = {name: statistics.median(runs) * 1000 for name, runs in times.items()}
    for name, ms in median.items():
        print(f"{name:<24} median {ms:7.1f} ms  ({args.runs} runs)")
    base = median["python -c pass"]
    missed = []
    for name, aim in (("import qmtl_core", IMPORT_AIM), ("qmtl-connectors plugins", PLUGINS_AIM)):
        ratio = median[name] / base
        print(f"ratio {name} / python -c pass: {ratio:5.2f} (aim <= {aim:.1f})")
        if ratio > aim:
            missed.append(f"{name} takes {ratio:.2f}x a bare interpreter, aim {aim:.1f}x")
    if imported:
        print(f"FAIL: listing connectors imported {', '.join(imported)}")
        return 1
    print(f"listing imported none of: {', '.join(HEAVY)}")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
