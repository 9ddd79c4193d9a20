"""API keys and secrets never show up in logs, errors, reprs or config dumps."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_ccxt_common.testing import LIMIT_ORDER
from qmtl_core.errors import AuthenticationError, OrderRejected, OrderStatusUnknown
from qmtl_core.registry import default_registry
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient


def test_full_session_with_failures_leaks_nothing(
    make_client: Callable[..., CcxtBrokerageClient],
    venue: BinanceReplay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(max_retries=1)
    errors: list[BaseException] = []
    ack = client.post_order(LIMIT_ORDER)
    client.poll_order_status(ack)
    client.open_orders()
    client.balance()
    client.cancel_order(ack)
    venue.fail_next("POST", "order", "insufficientBalance")
    venue.fail_next("POST", "order", "timeout")
    venue.fail_next("GET", "order", "internalError")
    venue.fail_next("GET", "order", "internalError")
    for expected in (OrderRejected, OrderStatusUnknown):
        with pytest.raises(expected) as info:
            client.post_order(LIMIT_ORDER)
        errors.append(info.value)
    with pytest.raises(AuthenticationError) as auth:
        make_client(secret="wrong-secret-that-is-long").post_order(LIMIT_ORDER)
    errors.append(auth.value)

    # ccxt logged every request with its headers, the API key among them, redacted.
    requests_logged = [r for r in caplog.records if r.name == "ccxt.base.exchange"]
    assert any("'X-MBX-APIKEY': '***'" in r.getMessage() for r in requests_logged)
    texts = [caplog.text, repr(client), str(client), repr(vars(client))]
    texts += [f"{e} {e!r} {getattr(e, 'raw', '')!r}" for e in errors]
    for text in texts:
        assert venue.api_key not in text and venue.secret not in text


def test_verbose_ccxt_output_is_scrubbed(
    make_client: Callable[..., CcxtBrokerageClient],
    venue: BinanceReplay,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_client(verbose=True).post_order(LIMIT_ORDER)
    printed = capsys.readouterr().out
    assert "X-MBX-APIKEY" in printed
    assert venue.api_key not in printed and venue.secret not in printed


def test_validated_options_hold_secrets_wrapped() -> None:
    checked = default_registry().validate(
        "brokerage",
        "ccxt",
        {"exchange": "binance", "api_key": "plain-key-123456", "secret": "plain-secret-123456"},
    )
    shown = f"{checked} {checked!r}"
    assert "plain-key-123456" not in shown and "plain-secret-123456" not in shown
    assert checked.apiKey is not None and checked.apiKey.reveal() == "plain-key-123456"
