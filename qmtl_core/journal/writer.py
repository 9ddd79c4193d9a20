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
from collections.abc import Callable

from qmtl_core import runtime
from qmtl_core.journal.model import Outcome

log = logging.getLogger("qmtl_core.journal")

_OPEN: weakref.WeakSet[OutcomeWriter] = weakref.WeakSet()


class OutcomeWriter:
    """A queue of outcomes, and the thread that stores them with ``store(batch)`` when
    no claim has carried them.

    While outcomes keep arriving the thread watches: it looks at the queue once per
    linger period on its own timer, and handing an outcome over wakes nobody, so a
    process that keeps trading pays no thread switch per order (waking the thread at
    each outcome cost a switch per order: it ran while the order path waited on the
    wire and found the queue already carried away). After
    ``runtime.JOURNAL_OUTCOME_WATCH_SECONDS`` without an outcome the thread sleeps
    until woken: by the next outcome, a reader that waits, or the journal closing."""

    def __init__(self, store: Callable[[list[Outcome]], None], name: str) -> None:
        self._store = store
        self._queue: list[Outcome] = []
        self._since: float = 0.0  # when the oldest queued outcome arrived (monotonic)
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # the thread waits here
        self._done = threading.Condition(lock)  # flush() waits here
        self._storing = threading.Lock()  # one batch at a time, so batches stay in order
        self._handed = 0  # outcomes handed over so far
        self._stored = 0  # of which stored (or given up on after a logged failure)
        self._last_put: float = 0.0  # when the newest outcome arrived (monotonic)
        self._idle = False  # the thread sleeps until an outcome wakes it
        self._urgent = False  # a reader waits: no lingering
        self._flushing = 0  # readers waiting in flush()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _OPEN.add(self)

    def put(self, outcome: Outcome) -> None:
        """Hand ``outcome`` over; it is stored after every outcome handed over before it."""
        with self._work:
            if self._closing:
                raise RuntimeError("the order journal is closed")
            self._last_put = time.monotonic()
            if not self._queue:
                self._since = self._last_put
            self._queue.append(outcome)
            self._handed += 1
            if self._idle:
                self._work.notify()

    def take(self) -> list[Outcome]:
        """Take every queued outcome, in order, to store with another write. This also
        takes the store turn (one batch at a time, so batches stay in order): end it
        with :meth:`finish` whatever happens. Two calls rather than a context manager,
        because every claim of the order path comes through here."""
        self._storing.acquire()
        with self._work:
            batch, self._queue = self._queue, []
        return batch

    def finish(self, batch: list[Outcome], *, stored: bool) -> None:
        """End the turn :meth:`take` began: ``batch`` now counts as stored, or (when
        the write failed) goes back to the front of the queue."""
        try:
            if not batch:
                return
            with self._work:
                if stored:
                    self._stored += len(batch)
                    if self._flushing:
                        self._done.notify_all()
                else:
                    self._queue[:0] = batch
                    self._since = time.monotonic()
        finally:
            self._storing.release()

    def flush(self) -> None:
        """Wait until every outcome handed over before this call is stored. Without its
        thread (a forked child keeps the object, not the thread) the caller stores them."""
        if not self._thread.is_alive():
            self._store_taken()
            return
        with self._done:
            target = self._handed
            if self._stored < target:
                self._urgent = True
                self._work.notify()
                self._flushing += 1
                while self._stored < target:
                    self._done.wait()
                self._flushing -= 1

    def close(self) -> None:
        """Store what is queued, then stop the thread. Safe to call twice."""
        with self._work:
            self._closing = True
            self._work.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()
        _OPEN.discard(self)

    def _run(self) -> None:
        while self._wait_for_work():
            self._store_taken()

    def _store_taken(self) -> None:
        """Take what is queued (a claim may have carried it meanwhile) and store it. A
        batch the store refuses is logged and counts as handled: its entries stay in
        flight, and reconciliation finds the truth at the venue."""
        batch = self.take()
        handled = False
        try:
            if batch:
                self._store(batch)
            handled = True
        except Exception:
            handled = True
            log.exception(
                "order journal: storing %d outcome(s) failed (%s); their entries "
                "stay in flight until reconciliation",
                len(batch),
                ", ".join(o.client_order_id for o in batch),
            )
        finally:
            self.finish(batch, stored=handled)

    def _wait_for_work(self) -> bool:
        """Wait until the oldest queued outcome has lingered long enough for a claim to
        carry it (or a reader waits, or the journal closes); False when closed with
        nothing left to store."""
        linger = runtime.JOURNAL_OUTCOME_LINGER_SECONDS
        with self._work:
            while True:
                if not self._queue:
                    if self._closing:
                        return False
                    self._urgent = False  # what a reader waited for was carried by a claim
                    if time.monotonic() - self._last_put < runtime.JOURNAL_OUTCOME_WATCH_SECONDS:
                        self._work.wait(linger)  # watching: outcomes arrive without a wake
                        continue
                    self._idle = True
                    self._work.wait()
                    self._idle = False
                    continue
                if self._urgent or self._closing:
                    self._urgent = False
                    return True
                left = self._since + linger - time.monotonic()
                if left <= 0:
                    return True
                self._work.wait(left)


@atexit.register
def _store_before_exit() -> None:
    """An interpreter that exits without closing its journals still stores their
    outcomes (the lease and the connections go with the process)."""
    for writer in list(_OPEN):
        writer.flush()
