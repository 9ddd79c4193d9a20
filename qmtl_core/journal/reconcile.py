"""Reconciliation: resolve what a crash (or a lost answer) left in flight or unknown.

Each entry this process may touch (its own, or one whose owner is gone) is looked up
at the venue by ``client_order_id`` with the connector's own lookup; nothing is ever
re-sent. Found: ``acknowledged`` with the venue's answer. Not found: ``not_placed``
(so a re-submit may go), but only once the entry has been quiet for
``runtime.RECONCILE_SETTLE_SECONDS``: a request a crashed sender left on the wire may
still land. A failed lookup leaves the entry ``unknown``: it keeps blocking its keys
and is logged at WARNING.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

from qmtl_core import runtime
from qmtl_core.journal.base import OrderJournal
from qmtl_core.journal.model import EntryState, JournalEntry
from qmtl_core.orders import Order, OrderAck
from qmtl_core.steps import Plan, blocking, run

Lookup = Callable[[Order], OrderAck | None]
#: A lookup as a plan (see :mod:`qmtl_core.steps`), for the event-loop path.
LookupPlan = Callable[[Order], Plan[OrderAck | None]]
log = logging.getLogger("qmtl_core.journal")


def reconcile(
    journal: OrderJournal, lookup: Lookup, *, connector: str | None = None
) -> list[JournalEntry]:
    """Resolve the reclaimable entries (of ``connector`` if given); returns the entries
    it resolved, as they now stand."""
    return run(reconciling(journal, lambda order: _now(lookup, order), connector=connector))


def _now(lookup: Lookup, order: Order) -> Plan[OrderAck | None]:
    """A blocking lookup as a plan (run only by the blocking driver)."""
    return (yield from blocking(lambda: lookup(order)))


def reconciling(
    journal: OrderJournal, lookup: LookupPlan, *, connector: str | None = None
) -> Plan[list[JournalEntry]]:
    """The plan of :func:`reconcile`: journal reads and writes are store steps, each
    lookup is the connector's own plan."""
    resolved: list[JournalEntry] = []
    for entry in (yield from blocking(lambda: journal.reclaimable(connector))):
        coid = entry.client_order_id
        if entry.owner != journal.owner:
            adopted = yield from blocking(partial(journal.adopt, coid, entry.owner))
            if not adopted:
                continue  # another process took it over first
        try:
            found = yield from lookup(entry.order)
        except Exception as exc:
            reason = f"lookup failed: {exc}"
            yield from blocking(partial(journal.record, coid, EntryState.UNKNOWN, reason=reason))
            log.warning(
                "order %s stays unknown: the lookup at the venue failed (%s: %s); it keeps "
                "blocking its keys until a later reconcile finds it",
                coid,
                type(exc).__name__,
                exc,
            )
            continue
        if found is not None:
            record = partial(journal.record, coid, EntryState.ACKNOWLEDGED, ack=found)
            yield from blocking(partial(record, reason="reconciled"))
        elif time.time() - entry.updated >= runtime.RECONCILE_SETTLE_SECONDS:
            reason = "reconciled: not at the venue"
            yield from blocking(partial(journal.record, coid, EntryState.NOT_PLACED, reason=reason))
        else:
            log.warning(
                "order %s is not at the venue yet but was sent %.1fs ago; it stays %s until "
                "it has been quiet for %ss (a request may still be on its way)",
                coid,
                time.time() - entry.updated,
                entry.state,
                runtime.RECONCILE_SETTLE_SECONDS,
            )
            continue
        now = yield from blocking(partial(journal.get, coid))
        if now is not None:
            resolved.append(now)
    return resolved
