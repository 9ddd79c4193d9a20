"""Test support shared by the ccxt plugins' own tests (spot here, and ccxt-futures).

Clients of a recorded venue, the orders the tests send, a live ``qmtl.yml``, the
conformance kit on a recording, and running a demo script. Imported by tests only
(it imports pytest); the fixtures themselves stay in each plugin's ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from qmtl_ccxt_common.aio import AsyncCcxtVenue
from qmtl_ccxt_common.client import CcxtClient
from qmtl_ccxt_common.recorded import BinanceReplay, ReplayHarness
from qmtl_ccxt_common.recorded.loopback import loopback
from qmtl_core.aio import AsyncBrokerage
from qmtl_core.testing import AsyncTwinConformance, BrokerageConformance

C = TypeVar("C", bound=CcxtClient)

#: The seed page's limit order (floats, as the seed writes it): 0.001 BTC at 10000.
SEED_ORDER: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "side": "BUY",
    "type": "limit",
    "quantity": 0.001,
    "limit_price": 10000.0,
    "time_in_force": "GTC",
}
#: A BTC/USDT limit buy that rests on the recorded market (last price 30000).
LIMIT_ORDER: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "side": "BUY",
    "type": "limit",
    "quantity": "0.001",
    "limit_price": "10000",
}
#: What a test client of a recording sets besides the credentials.
CLIENT_DEFAULTS: dict[str, Any] = {"sandbox": True, "enableRateLimit": False, "backoff": 0.01}


def client_factory(cls: type[C], exchange: str, api_key: str, secret: str) -> Callable[..., C]:
    """Build ``cls`` clients of a recording served with these credentials.

    Keyword arguments of the returned function override the defaults.
    """

    def make(**options: Any) -> C:
        defaults = {"apiKey": api_key, "secret": secret, **CLIENT_DEFAULTS}
        return cls(exchange, **{**defaults, **options})

    return make


def live_qmtl_yml(
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    venue: BinanceReplay,
    credentials: tuple[str, str],
    **brokerage: Any,
) -> Path:
    """Write a live-domain ``qmtl.yml`` whose brokerage takes its keys from the environment.

    ``credentials`` names the two variables (set here to ``venue``'s key and secret)
    that the file references as ``${...}``; ``brokerage`` holds the other settings.
    """
    key_env, secret_env = credentials
    monkeypatch.setenv(key_env, venue.api_key)
    monkeypatch.setenv(secret_env, venue.secret)
    settings = [f"    {key}: {json.dumps(value)}\n" for key, value in brokerage.items()]
    config = directory / "qmtl.yml"
    config.write_text(
        "connectors:\n"
        "  execution_domain: live\n"
        "  brokerage:\n"
        + "".join(settings)
        + f"    api_key: ${{{key_env}}}\n"
        + f"    secret: ${{{secret_env}}}\n"
    )
    return config


class RecordedConformance(BrokerageConformance):
    """The core's brokerage conformance kit on a recorded venue; subclasses add ``brokerage``.

    The ``venue`` fixture wraps the plugin's own ``venue`` fixture (the recording).
    """

    @pytest.fixture
    def venue(self, venue: BinanceReplay) -> ReplayHarness:
        return ReplayHarness(venue)


class RecordedAsyncTwinConformance(AsyncTwinConformance):
    """The kit through the client's ``ccxt.async_support`` twin, on the recording served
    on loopback (subclasses add ``blocking_brokerage``)."""

    @pytest.fixture
    def venue(self, venue: BinanceReplay) -> ReplayHarness:
        return ReplayHarness(venue)

    @pytest.fixture
    def prepare_twin(self, venue: ReplayHarness) -> Iterator[Callable[[AsyncBrokerage], None]]:
        with loopback(venue.replay) as served:
            yield lambda twin: served.route(twin_exchange(twin))


def twin_exchange(twin: AsyncBrokerage) -> Any:
    """The ``ccxt.async_support`` exchange behind a ccxt client's async twin."""
    venue = twin.venue
    assert isinstance(venue, AsyncCcxtVenue) and venue.exchange is not None
    return venue.exchange


def run_script(
    script: Path, *args: str, unset: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with this interpreter, its environment minus ``unset``; output captured."""
    removed = set(unset)
    env = {k: v for k, v in os.environ.items() if k not in removed}
    return subprocess.run(  # noqa: S603 - this interpreter on a script the test names
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
