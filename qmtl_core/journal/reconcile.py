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

from qmtl_core import runtime
from qmtl_core.journal.base import OrderJournal
from qmtl_core.journal.model import EntryState, JournalEntry
from qmtl_core.orders import Order, OrderAck

Lookup = Callable[[Order], OrderAck | None]
log = logging.getLogger("qmtl_core.journal")


def reconcile(
    journal: OrderJournal, lookup: Lookup, *, connector: str | None = None
) -> list[JournalEntry]:
    """Resolve the reclaimable entries (of ``connector`` if given); returns the entries
    it resolved, as they now stand."""
    resolved: list[JournalEntry] = []
    for entry in journal.reclaimable(connector):
        coid = entry.client_order_id
        if entry.owner != journal.owner and not journal.adopt(coid, entry.owner):
            continue  # another process took it over first
        try:
            found = lookup(entry.order)
        except Exception as exc:
            journal.record(coid, EntryState.UNKNOWN, reason=f"lookup failed: {exc}")
            log.warning(
                "order %s stays unknown: the lookup at the venue failed (%s: %s); it keeps "
                "blocking its keys until a later reconcile finds it",
                coid,
                type(exc).__name__,
                exc,
            )
            continue
        if found is not None:
            journal.record(coid, EntryState.ACKNOWLEDGED, ack=found, reason="reconciled")
        elif time.time() - entry.updated >= runtime.RECONCILE_SETTLE_SECONDS:
            journal.record(coid, EntryState.NOT_PLACED, reason="reconciled: not at the venue")
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
        now = journal.get(coid)
        if now is not None:
            resolved.append(now)
    return resolved
