"""``make demo``: the dry-run/live switch strategy on the embedded, offline connectors.

Part 1 runs it in the ``dryrun`` domain: fake paper broker, fake feed, a scripted
market that lifts the price through the take-profit so the stop-loss is cancelled.
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "strategies"))

from dryrun_live_switch_strategy import Settings, run_dryrun  # noqa: E402


def banner(text: str) -> None:
    print(f"\n=== {text} ===")


def main() -> int:
    settings = Settings()
    banner("dryrun: fake paper broker + fake feed (examples/qmtl.yml, domain overridden)")
    prices = [Decimal(p) for p in ("50000", "50400", "50800", "51050")]
    result = asyncio.run(run_dryrun(str(HERE / "qmtl.yml"), settings, prices))
    if result.filled is None or result.canceled is None or result.both_filled:
        print("demo FAILED: the OCO pair did not settle as one fill and one cancel")
        return 1
    print("\ndemo OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
