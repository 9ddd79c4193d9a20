"""Conformance kit for qmtl connector plugins (also a pytest plugin, ``pytest11``).

A plugin proves it keeps the contract by subclassing the suites in its own tests::

    from qmtl_core.testing import BrokerageConformance, FeedConformance

and providing the fixtures they ask for: the connector, and a small harness that
describes the venue (price, order count, faults) or the feed source.
"""

from __future__ import annotations

from qmtl_core.testing.async_twin import AsyncTwinConformance, BlockingTwin
from qmtl_core.testing.brokerage_suite import BrokerageConformance
from qmtl_core.testing.events import EventRecorder, record_events
from qmtl_core.testing.feed_suite import FeedConformance
from qmtl_core.testing.harness import (
    BrokerageFault,
    FeedHarness,
    VenueHarness,
    until,
    wait_until,
)

__all__ = [
    "AsyncTwinConformance",
    "BlockingTwin",
    "BrokerageConformance",
    "BrokerageFault",
    "EventRecorder",
    "FeedConformance",
    "FeedHarness",
    "VenueHarness",
    "record_events",
    "until",
    "wait_until",
]
