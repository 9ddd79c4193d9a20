"""The journaled send: claim durably, send, record the outcome.

Used by ``BaseBrokerageClient.post_order`` and ``Runner.submit_order``, so every
connector journals the same way (:func:`journaling` is the plan both the blocking and
the event-loop paths run, see :mod:`qmtl_core.steps`). Before the first order a
process sends for a connector, the journal's reclaimable entries of that connector
are reconciled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from qmtl_core import steps
from qmtl_core.journal.base import OrderJournal
from qmtl_core.journal.model import EntryState, JournalEntry, proves_not_placed
from qmtl_core.journal.reconcile import Lookup, LookupPlan, reconciling
from qmtl_core.orders import Order, OrderAck
from qmtl_core.steps import Plan

log = logging.getLogger("qmtl_core.journal")


@dataclass(frozen=True)
class Journaled:
    """``sent``: this call placed the order (``ack`` is the venue's answer); otherwise
    the journal already held it and ``entry`` is the first order's entry."""

    sent: bool
    ack: OrderAck | None
    entry: JournalEntry


def send_journaled(
    journal: OrderJournal,
    order: Order,
    *,
    connector: str,
    send: Callable[[Order], OrderAck],
    lookup: Lookup | None,
    key: str | None = None,
    key_ttl: float | None = None,
) -> Journaled:
    """Send ``order`` at most once across processes and restarts.

    An error that proves the order was not placed records ``not_placed``; any other
    ``Exception`` records ``unknown``; a ``BaseException`` (``KeyboardInterrupt``,
    cancellation) leaves the entry ``in_flight`` for reconciliation.
    """
    plan = journaling(
        journal,
        order,
        connector=connector,
        send=lambda o: steps.call("send", o),
        lookup=None if lookup is None else (lambda o: steps.call("lookup", o)),
        key=key,
        key_ttl=key_ttl,
    )
    calls = {"send": send, "lookup": lookup}
    return steps.run(plan, lambda step: calls[step.name](*step.args))  # type: ignore[misc]


def journaling(
    journal: OrderJournal,
    order: Order,
    *,
    connector: str,
    send: Callable[[Order], Plan[OrderAck]],
    lookup: LookupPlan | None,
    key: str | None = None,
    key_ttl: float | None = None,
) -> Plan[Journaled]:
    """The plan of :func:`send_journaled`: claim and record are store steps, ``send``
    and ``lookup`` the caller's plans. A ``BaseException`` thrown in while the order is
    on its way (a cancelled task) leaves the entry ``in_flight``."""
    if lookup is not None and journal.first_send(connector):
        yield from reconciling(journal, lookup, connector=connector)
    claim = yield from steps.blocking(
        partial(journal.claim, order, connector=connector, key=key, key_ttl=key_ttl)
    )
    if not claim.fresh:
        held = claim.entry
        log.warning(
            "duplicate order suppressed, nothing sent: %s repeats the first order %s "
            "(state %s, venue id %s)",
            order.client_order_id,
            held.client_order_id,
            held.state,
            held.ack.id if held.ack else "-",
        )
        return Journaled(False, held.ack, held)
    coid = order.client_order_id
    with journal.sending(coid):
        try:
            ack = yield from send(order)
        except Exception as exc:
            state = EntryState.NOT_PLACED if proves_not_placed(exc) else EntryState.UNKNOWN
            _record(journal, coid, state, None, f"{type(exc).__name__}: {exc}")
            raise
    _record(journal, coid, EntryState.ACKNOWLEDGED, ack, "")
    return Journaled(True, ack, claim.entry)


def _record(
    journal: OrderJournal, coid: str, state: EntryState, ack: OrderAck | None, reason: str
) -> None:
    """Record an outcome. It is a step of no plan: recording hands the outcome to the
    journal's writer (a memory journal stores it at once), so it never waits on I/O and
    an event loop may call it. If storing fails, the entry stays in flight
    (reconciliation will find the truth at the venue) and the caller still gets the
    venue's answer."""
    try:
        journal.record(coid, state, ack=ack, reason=reason)
    except Exception:
        log.exception("order %s: recording %s in the journal failed", coid, state.value)
