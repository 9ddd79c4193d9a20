"""The ``OrderJournal`` interface and what every backend shares: owner and lease.

A journal belongs to the process that opened it (its ``owner`` id). The owner's lease is
renewed by a background thread while the journal is open, so peers can tell a live
owner's in-flight order (which may not have reached the venue yet: hands off) from one
whose owner is gone (reconcile it).

A journal on disk or on a server stores outcomes off the order path, through an
:class:`~qmtl_core.journal.writer.OutcomeWriter`: with the process's next claim, or
by the writer's thread soon after. Every read of this process waits for the outcomes
recorded before it (:meth:`OrderJournal.flush`), so the process always reads what it
recorded.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType

from qmtl_core import runtime
from qmtl_core.journal.model import (
    Claim,
    EntryState,
    JournalEntry,
    JournalEvent,
    Outcome,
    new_owner_id,
)
from qmtl_core.journal.writer import OutcomeWriter
from qmtl_core.orders import Order, OrderAck

log = logging.getLogger("qmtl_core.journal")

# The claim the current call chain holds: (journal id, client_order_id). A client called
# by the Runner under the Runner's claim must not claim the same order a second time.
_HELD: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "qmtl_journal_held", default=None
)


class OrderJournal(ABC):
    """Write-ahead order state, shared by every process that opens the same URL.

    Open one with :func:`qmtl_core.open_journal`. Readers use :meth:`get`,
    :meth:`entries` and :meth:`events`; the send path (``BaseBrokerageClient.post_order``
    and ``Runner.submit_order``) uses :meth:`claim` and :meth:`record`.
    """

    def __init__(self, url: str, *, renew_lease: bool, background_outcomes: bool) -> None:
        self.url = url
        self.owner = new_owner_id()
        self._writer: OutcomeWriter | None = None
        if background_outcomes:
            self._writer = OutcomeWriter(
                self._store_outcomes, name=f"qmtl-journal-outcomes:{self.owner}"
            )
        self._sending: set[str] = set()
        self._sending_lock = threading.Lock()
        self._reconciled: set[str] = set()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        if renew_lease:
            self._renewer = threading.Thread(
                target=self._renew_forever, name=f"qmtl-journal-lease:{self.owner}", daemon=True
            )

    def _start(self) -> None:
        """Take the lease and start renewing it (backends call this once set up)."""
        self._renew_lease(runtime.JOURNAL_LEASE_SECONDS)
        if self._renewer is not None:
            self._renewer.start()

    def _renew_forever(self) -> None:
        while not self._stop.wait(runtime.JOURNAL_LEASE_SECONDS / 3):
            try:
                self._renew_lease(runtime.JOURNAL_LEASE_SECONDS)
            except Exception:  # the store is down: keep trying, peers see the lease age
                log.exception("order journal %s: renewing the owner lease failed", self)

    # --- reading -----------------------------------------------------------------

    def get(self, client_order_id: str) -> JournalEntry | None:
        """The entry for ``client_order_id``, or None if the journal never saw it."""
        self.flush()
        return self._get(client_order_id)

    def entries(self, state: str | None = None) -> list[JournalEntry]:
        """Entries, oldest first; only those in ``state`` when given."""
        self.flush()
        return self._entries(None if state is None else EntryState(state))

    def events(self, after: str | None = None, limit: int = 1000) -> list[JournalEvent]:
        """Stored transitions after event id ``after`` (from the start when None)."""
        self.flush()
        return self._events(after, limit)

    def flush(self) -> None:
        """Wait until every outcome this process recorded so far is stored (readers in
        this process do this by themselves; other processes see an outcome once it is)."""
        if self._writer is not None:
            self._writer.flush()

    # --- the send path -------------------------------------------------------------

    def claim(
        self,
        order: Order,
        *,
        connector: str,
        key: str | None = None,
        key_ttl: float | None = None,
    ) -> Claim:
        """Durably record ``order`` as in flight, unless its ``client_order_id`` (or the
        content ``key`` within ``key_ttl`` seconds) is already held; atomic across
        processes. An id whose entry is ``not_placed`` may be claimed again."""
        writer = self._writer
        if writer is None:
            return self._claim(order, connector=connector, key=key, key_ttl=key_ttl, outcomes=[])
        # The outcomes this process recorded ride with the claim: one write for all, and
        # stored before the claim looks at the id (a not_placed one frees it).
        outcomes = writer.take()
        try:
            claim = self._claim(
                order, connector=connector, key=key, key_ttl=key_ttl, outcomes=outcomes
            )
        except BaseException:
            writer.finish(outcomes, stored=False)
            raise
        writer.finish(outcomes, stored=True)
        return claim

    def record(
        self,
        client_order_id: str,
        state: EntryState,
        *,
        ack: OrderAck | None = None,
        reason: str = "",
    ) -> None:
        """Store an outcome (off the order path when the journal has a writer). A
        ``not_placed`` outcome frees the content key."""
        outcome = Outcome(client_order_id, state, ack, reason, time.time())
        if self._writer is None:
            self._store_outcomes([outcome])
        else:
            self._writer.put(outcome)

    def observe(self, ack: OrderAck) -> None:
        """Store a later answer (a poll, a cancel) for a journaled order when its status
        or fill changed; an unresolved entry so found becomes ``acknowledged``."""
        self.flush()
        self._observe(ack)

    def adopt(self, client_order_id: str, previous_owner: str) -> bool:
        """Take over an unresolved entry from ``previous_owner``; False if someone else did."""
        self.flush()
        return self._adopt(client_order_id, previous_owner)

    def unresolved_count(self) -> int:
        """How many entries are in flight or unknown, whoever owns them: one cheap read
        (what the ``qmtl_journal_unresolved`` gauge exports at each scrape)."""
        self.flush()
        return self._unresolved_count()

    # --- what a backend implements -------------------------------------------------

    @abstractmethod
    def _get(self, client_order_id: str) -> JournalEntry | None: ...

    @abstractmethod
    def _entries(self, state: EntryState | None) -> list[JournalEntry]: ...

    @abstractmethod
    def _events(self, after: str | None, limit: int) -> list[JournalEvent]: ...

    @abstractmethod
    def _claim(
        self,
        order: Order,
        *,
        connector: str,
        key: str | None,
        key_ttl: float | None,
        outcomes: list[Outcome],
    ) -> Claim:
        """Store ``outcomes`` (whatever the claim's answer), then claim atomically: the
        claim writes nothing when the id or key is held."""

    @abstractmethod
    def _store_outcomes(self, outcomes: list[Outcome]) -> None:
        """Store ``outcomes`` in their order (one transaction or round trip if it can)."""

    @abstractmethod
    def _observe(self, ack: OrderAck) -> None: ...

    @abstractmethod
    def _adopt(self, client_order_id: str, previous_owner: str) -> bool: ...

    @abstractmethod
    def _unresolved_count(self) -> int: ...

    # --- ownership and reconciliation ----------------------------------------------

    @abstractmethod
    def _unresolved(self, connector: str | None) -> list[tuple[JournalEntry, bool]]:
        """Unresolved entries (of ``connector`` if given), each with "its owner is gone"."""

    @abstractmethod
    def _renew_lease(self, seconds: float) -> None: ...

    @abstractmethod
    def _release_lease(self) -> None: ...

    @abstractmethod
    def _close_store(self) -> None: ...

    def reclaimable(self, connector: str | None = None) -> list[JournalEntry]:
        """Unresolved entries this process may reconcile: its own that no thread is
        sending right now, and those whose owner is gone. Never a live peer's."""
        self.flush()
        with self._sending_lock:
            sending = set(self._sending)
        return [
            entry
            for entry, gone in self._unresolved(connector)
            if entry.client_order_id not in sending and (gone or entry.owner == self.owner)
        ]

    def unresolved(self) -> list[JournalEntry]:
        """Every in-flight or unknown entry, whoever owns it."""
        self.flush()
        return [entry for entry, _ in self._unresolved(None)]

    def first_send(self, connector: str) -> bool:
        """True once per connector: the moment to reconcile before the first order."""
        if connector in self._reconciled:  # every later order: no lock to take
            return False
        with self._sending_lock:
            if connector in self._reconciled:
                return False
            self._reconciled.add(connector)
            return True

    def sending(self, client_order_id: str) -> _Sending:
        """Mark a claimed order as being sent by this thread (reconciliation keeps off)."""
        return _Sending(self, client_order_id)

    def holds(self, client_order_id: str) -> bool:
        """True inside :meth:`sending` for this order: the caller already claimed it."""
        return _HELD.get() == (id(self), client_order_id)

    # --- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Store the outcomes still on their way, stop renewing the lease, give it up
        (peers may reconcile what is left) and close the store. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._writer is not None:
            self._writer.close()
        if self._renewer is not None and self._renewer.is_alive():
            self._renewer.join()
        try:
            self._release_lease()
        finally:
            self._close_store()

    def __enter__(self) -> OrderJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        from qmtl_core.redaction import redact_url

        return f"{type(self).__name__}({redact_url(self.url)!r})"


class _Sending:
    """The context of :meth:`OrderJournal.sending`: a class rather than a generator
    context manager, because every journaled order passes through one."""

    __slots__ = ("_client_order_id", "_journal", "_token")

    def __init__(self, journal: OrderJournal, client_order_id: str) -> None:
        self._journal = journal
        self._client_order_id = client_order_id

    def __enter__(self) -> None:
        journal, coid = self._journal, self._client_order_id
        with journal._sending_lock:
            journal._sending.add(coid)
        self._token = _HELD.set((id(journal), coid))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        journal = self._journal
        _HELD.reset(self._token)
        with journal._sending_lock:
            journal._sending.discard(self._client_order_id)
