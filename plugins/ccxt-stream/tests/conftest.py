"""Fixtures: the loopback Binance stand-in, quick reconnects, and feeds pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qmtl_core import runtime
from qmtl_core.testing import until
from qmtl_plugin_ccxt_stream.feed import CcxtStreamFeed
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

SYMBOL = "BTC/USDT"
API_KEY = "stream-test-key-9f31c0a7"
SECRET = "stream-test-secret-4be2d816"


def make_feed(venue: BinanceStandIn, on_message: Any, **options: Any) -> CcxtStreamFeed:
    """A feed of the stand-in: BTC/USDT trades unless ``options`` say otherwise."""
    settings: dict[str, Any] = {
        "symbols": [SYMBOL],
        "channels": ["trades"],
        "urls": venue.urls(),
        "enableRateLimit": False,
        **options,
    }
    return CcxtStreamFeed("binance", on_message, **settings)


async def subscribed(venue: BinanceStandIn, *streams: str, count: int = 1) -> None:
    """Wait until every stream has ``count`` open subscribers at the stand-in."""
    await until(
        lambda: all(venue.listeners(s) >= count for s in streams), what=f"subscriptions {streams}"
    )


@pytest.fixture
def venue() -> Iterator[BinanceStandIn]:
    with BinanceStandIn() as standin:
        yield standin


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "WS_BACKOFF_INITIAL_SECONDS", 0.02)
    monkeypatch.setattr(runtime, "WS_BACKOFF_MAX_SECONDS", 0.1)


@pytest.fixture(autouse=True)
def no_thread_left_behind(qmtl_no_thread_left_behind: None) -> None:
    """Every test here fails if it leaves a thread running (the core's check)."""
