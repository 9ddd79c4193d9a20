"""The brokerage conformance suite: what every brokerage plugin must do, tested the same way.

Use it from a plugin's tests by subclassing and providing two fixtures::

    class TestMyBroker(BrokerageConformance):
        @pytest.fixture
        def brokerage(self, venue): return MyBrokerageClient(...)
        @pytest.fixture
        def venue(self): return MyVenueHarness(...)
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from qmtl_core.brokerage import BrokerageClient, OcoSupport
from qmtl_core.errors import (
    OrderNotCancelable,
    OrderNotFound,
    OrderRejected,
    OrderValidationError,
)
from qmtl_core.oco import OCOOrder
from qmtl_core.orders import OrderAck, OrderStatus, OrderType
from qmtl_core.testing.events import record_events
from qmtl_core.testing.harness import BrokerageFault, VenueHarness, wait_until


class BrokerageConformance:
    """Subclass with ``brokerage`` and ``venue`` fixtures; every ``test_*`` here then runs."""

    @pytest.fixture
    def brokerage(self) -> BrokerageClient:
        raise NotImplementedError("provide a 'brokerage' fixture that builds the connector")

    @pytest.fixture
    def venue(self) -> VenueHarness:
        raise NotImplementedError("provide a 'venue' fixture describing the venue")

    # --- helpers -----------------------------------------------------------------

    @staticmethod
    def market(venue: VenueHarness, side: str = "BUY", **extra: Any) -> dict[str, Any]:
        return {"symbol": venue.symbol, "side": side, "type": "market", "quantity": "0.01", **extra}

    @staticmethod
    def resting_limit(venue: VenueHarness, **extra: Any) -> dict[str, Any]:
        """A BUY limit far below the market: it rests."""
        below = (Decimal(venue.price) / 2).quantize(Decimal("0.01"))
        return {
            "symbol": venue.symbol,
            "side": "BUY",
            "type": "limit",
            "quantity": "0.01",
            "limit_price": str(below),
            "time_in_force": "GTC",
            **extra,
        }

    @staticmethod
    def arm(venue: VenueHarness, fault: BrokerageFault, **kw: Any) -> None:
        if not venue.inject(fault, **kw):
            pytest.skip(f"this venue harness cannot inject '{fault}'")

    # --- validation before sending ------------------------------------------------

    def test_invalid_quantity_never_reaches_the_venue(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        before = venue.order_count()
        for quantity in (0, -1, "nan", None):
            with pytest.raises(OrderValidationError) as info:
                brokerage.post_order(self.market(venue, quantity=quantity))
            assert info.value.field == "quantity"
        assert venue.order_count() == before

    def test_limit_without_price_never_reaches_the_venue(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        before = venue.order_count()
        with pytest.raises(OrderValidationError, match="limit_price"):
            brokerage.post_order({**self.market(venue), "type": "limit"})
        assert venue.order_count() == before

    def test_unknown_fields_are_refused(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        with pytest.raises(OrderValidationError, match="did you mean 'time_in_force'"):
            brokerage.post_order(self.market(venue, time_in_forse="GTC"))

    def test_futures_fields_follow_capabilities(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        order = self.market(venue, reduce_only=False)
        if brokerage.capabilities.futures:
            assert brokerage.post_order(order)["client_order_id"]
        else:
            before = venue.order_count()
            with pytest.raises(OrderValidationError, match="futures-only"):
                brokerage.post_order(order)
            assert venue.order_count() == before

    def test_unsupported_order_types_are_refused(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        if OrderType.STOP in brokerage.capabilities.order_types:
            pytest.skip("this connector supports stop orders")
        with pytest.raises(OrderValidationError, match="not supported"):
            brokerage.post_order({**self.market(venue), "type": "stop", "stop_price": venue.price})

    # --- client ids and acks ------------------------------------------------------

    def test_client_order_id_is_kept(self, brokerage: BrokerageClient, venue: VenueHarness) -> None:
        ack = brokerage.post_order(self.resting_limit(venue, client_order_id="conformance-1"))
        assert ack["client_order_id"] == "conformance-1"
        assert brokerage.poll_order_status(ack)["client_order_id"] == "conformance-1"

    def test_generated_client_order_ids_are_unique(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        acks = [brokerage.post_order(self.resting_limit(venue)) for _ in range(5)]
        assert len({a["client_order_id"] for a in acks}) == 5
        assert len({a["id"] for a in acks}) == 5

    def test_ack_shape_and_status_vocabulary(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        ack = brokerage.post_order(self.resting_limit(venue))
        assert isinstance(ack, OrderAck)
        assert isinstance(ack["id"], str) and ack["id"]
        assert ack["status"] in set(OrderStatus)
        assert ack["status"] is OrderStatus.NEW
        assert isinstance(ack["filled_quantity"], Decimal) and ack["filled_quantity"] == 0
        assert ack["raw"] is not None

    def test_market_order_fills(self, brokerage: BrokerageClient, venue: VenueHarness) -> None:
        ack = brokerage.post_order(self.market(venue))
        final = ack if ack.is_complete else brokerage.poll_order_status(ack)
        assert final["status"] is OrderStatus.FILLED
        assert final["filled_quantity"] == Decimal("0.01")
        assert final["average_price"] is not None and final["average_price"] > 0

    def test_same_client_order_id_is_one_venue_order(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        order = self.resting_limit(venue, client_order_id="conformance-dup")
        first = brokerage.post_order(order)
        before = venue.order_count()
        try:
            again = brokerage.post_order(order)
        except OrderRejected:
            pass  # a venue may refuse the duplicate outright: still one order
        else:
            assert again["id"] == first["id"]
        assert venue.order_count() == before

    # --- poll and cancel ----------------------------------------------------------

    def test_poll_by_ack_mapping_and_id(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        ack = brokerage.post_order(self.resting_limit(venue))
        for ref in (ack, {"id": ack["id"]}, ack["id"]):
            polled = brokerage.poll_order_status(ref)
            assert polled["id"] == ack["id"] and polled["status"] is OrderStatus.NEW

    def test_poll_unknown_order_is_not_found(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        with pytest.raises(OrderNotFound):
            brokerage.poll_order_status("999999999")

    def test_resting_order_fills_when_price_crosses(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        order = self.resting_limit(venue)
        ack = brokerage.post_order(order)
        venue.set_price(str(Decimal(order["limit_price"]) * Decimal("0.99")))
        assert brokerage.poll_order_status(ack)["status"] is OrderStatus.FILLED

    def test_cancel_a_resting_order(self, brokerage: BrokerageClient, venue: VenueHarness) -> None:
        ack = brokerage.post_order(self.resting_limit(venue))
        canceled = brokerage.cancel_order(ack["id"])
        assert canceled["status"] is OrderStatus.CANCELED
        assert brokerage.poll_order_status(ack)["status"] is OrderStatus.CANCELED

    def test_cancel_after_fill_is_an_error(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        ack = brokerage.post_order(self.market(venue))
        with pytest.raises(OrderNotCancelable):
            brokerage.cancel_order(ack["id"])
        assert brokerage.poll_order_status(ack)["status"] is OrderStatus.FILLED

    # --- OCO ------------------------------------------------------------------------

    def test_oco_cancel_on_fill(self, brokerage: BrokerageClient, venue: VenueHarness) -> None:
        price = Decimal(venue.price)
        take_profit = {
            "symbol": venue.symbol,
            "side": "SELL",
            "type": "limit",
            "quantity": "0.01",
            "limit_price": str((price * Decimal("1.1")).quantize(Decimal("0.01"))),
        }
        far_leg = {**take_profit, "limit_price": str((price * 3).quantize(Decimal("0.01")))}
        oco = OCOOrder(take_profit, far_leg, poll_interval=0.01)
        first, second = oco.execute(brokerage)
        assert brokerage.capabilities.oco in set(OcoSupport)
        venue.set_price(str(price * Decimal("1.2")))
        result = oco.wait(10)
        oco.stop()
        assert result.filled is not None and result.filled.id == first.id
        assert result.canceled is not None and result.canceled.id == second.id
        assert not result.both_filled

    # --- failures -------------------------------------------------------------------

    def test_transient_failure_is_retried_into_one_order(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        self.arm(venue, "transient")
        before = venue.order_count()
        ack = brokerage.post_order(self.resting_limit(venue))
        assert ack["status"] is OrderStatus.NEW
        assert venue.order_count() == before + 1

    def test_ambiguous_failure_gives_exactly_one_order(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        self.arm(venue, "ambiguous")
        before = venue.order_count()
        ack = brokerage.post_order(self.resting_limit(venue, client_order_id="conformance-amb"))
        assert ack["client_order_id"] == "conformance-amb"
        assert venue.order_count() == before + 1

    def test_rejection_is_not_retried(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        self.arm(venue, "reject")
        before = venue.order_count()
        with pytest.raises(OrderRejected):
            brokerage.post_order(self.resting_limit(venue))
        assert venue.order_count() == before
        # The fault was consumed by one attempt: the next order goes through.
        assert brokerage.post_order(self.resting_limit(venue))["status"] is OrderStatus.NEW

    def test_rate_limit_backs_off(self, brokerage: BrokerageClient, venue: VenueHarness) -> None:
        self.arm(venue, "rate_limit", retry_after=0.3)
        before = venue.order_count()
        started = time.monotonic()
        brokerage.post_order(self.resting_limit(venue))
        assert time.monotonic() - started >= 0.3
        assert venue.order_count() == before + 1

    # --- safety ---------------------------------------------------------------------

    def test_secrets_never_leak(
        self, brokerage: BrokerageClient, venue: VenueHarness, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        ack = brokerage.post_order(self.resting_limit(venue))
        brokerage.poll_order_status(ack)
        brokerage.cancel_order(ack)
        with pytest.raises(OrderNotCancelable) as info:
            brokerage.cancel_order(ack)
        error_text = f"{info.value} {info.value!r} {info.value.raw!r}"
        texts = [repr(brokerage), str(brokerage), caplog.text, error_text, repr(vars(brokerage))]
        for secret in venue.secrets:
            for text in texts:
                assert secret not in text

    def test_concurrent_post_order(self, brokerage: BrokerageClient, venue: VenueHarness) -> None:
        before = venue.order_count()
        acks: list[OrderAck] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker() -> None:
            try:
                for _ in range(5):
                    ack = brokerage.post_order(self.resting_limit(venue))
                    with lock:
                        acks.append(ack)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        assert len({a["id"] for a in acks}) == 30
        wait_until(lambda: venue.order_count() == before + 30, what="30 venue orders")

    def test_order_events_are_emitted(
        self, brokerage: BrokerageClient, venue: VenueHarness
    ) -> None:
        with record_events() as events:
            ack = brokerage.post_order(self.resting_limit(venue))
        mine = events.kinds(ack["client_order_id"])
        assert mine[0] == "validated" and mine[-1] == "acknowledged" and "sent" in mine
