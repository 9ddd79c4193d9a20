"""The outcome writer: stores recorded outcomes off the order path, in order.

The claim is what must be durable before an order leaves; its outcome is not. A
process that dies before an outcome is stored leaves the entry ``in_flight``, and
reconciliation finds the order at the venue (never a re-send). So the order path hands
an outcome over and returns. The next claim of the process carries what is queued to
the store in its own write (one transaction, one fsync, one round trip for both); an
outcome that no claim carries within ``runtime.JOURNAL_OUTCOME_LINGER_SECONDS`` is
stored by this writer's thread. Readers in the same process call :meth:`flush` first,
so they always see what this process recorded.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from qmtl_core import runtime
from qmtl_core.journal.model import Outcome

log = logging.getLogger("qmtl_core.journal")

_OPEN: weakref.WeakSet[OutcomeWriter] = weakref.WeakSet()


class OutcomeWriter:
    """A queue of outcomes, and the thread that stores them with ``store(batch)`` when
    no claim has carried them."""

    def __init__(self, store: Callable[[list[Outcome]], None], name: str) -> None:
        self._store = store
        self._queue: list[Outcome] = []
        self._changed = threading.Condition()
        self._storing = threading.Lock()  # one batch at a time, so batches stay in order
        self._handed = 0  # outcomes handed over so far
        self._stored = 0  # of which stored (or given up on after a logged failure)
        self._urgent = False  # a reader waits: no lingering
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _OPEN.add(self)

    def put(self, outcome: Outcome) -> None:
        """Hand ``outcome`` over; it is stored after every outcome handed over before it."""
        with self._changed:
            if self._closing:
                raise RuntimeError("the order journal is closed")
            self._queue.append(outcome)
            self._handed += 1
            self._changed.notify_all()

    @contextmanager
    def taken(self) -> Iterator[list[Outcome]]:
        """Take every queued outcome, in order, to store with another write: they count
        as stored when the block ends, and are handed back if it raises."""
        with self._storing:
            with self._changed:
                batch, self._queue = self._queue, []
            try:
                yield batch
            except BaseException:
                with self._changed:
                    self._queue[:0] = batch
                raise
            with self._changed:
                self._stored += len(batch)
                self._changed.notify_all()

    def flush(self) -> None:
        """Wait until every outcome handed over before this call is stored."""
        with self._changed:
            target = self._handed
            if self._stored < target:
                self._urgent = True
                self._changed.notify_all()
            while self._stored < target:
                self._changed.wait()

    def close(self) -> None:
        """Store what is queued, then stop the thread. Safe to call twice."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()
        _OPEN.discard(self)

    def _run(self) -> None:
        while self._wait_for_work():
            with self.taken() as batch:
                if not batch:  # a claim carried them meanwhile
                    continue
                try:
                    self._store(batch)
                except Exception:  # the entries stay in flight: reconciliation finds the truth
                    log.exception(
                        "order journal: storing %d outcome(s) failed (%s); their entries "
                        "stay in flight until reconciliation",
                        len(batch),
                        ", ".join(o.client_order_id for o in batch),
                    )

    def _wait_for_work(self) -> bool:
        """Wait for outcomes, then let them linger for a claim to carry; False when
        closed with nothing left to store."""
        with self._changed:
            while not self._queue and not self._closing:
                self._changed.wait()
            if not self._queue:
                return False
            deadline = time.monotonic() + runtime.JOURNAL_OUTCOME_LINGER_SECONDS
            while self._queue and not (self._urgent or self._closing):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            self._urgent = False
            return True


@atexit.register
def _store_before_exit() -> None:
    """An interpreter that exits without closing its journals still stores their
    outcomes (the lease and the connections go with the process)."""
    for writer in list(_OPEN):
        writer.flush()
