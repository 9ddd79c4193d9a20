"""Timeouts and backoff settings, read at call time so tests and users can lower them.

Always read them as ``runtime.NAME`` inside the function that needs them, never copy
them into a default argument: a copy would freeze the value at import time.
"""

from __future__ import annotations

#: Timeout of every HTTP request a connector makes (connect and read).
HTTP_TIMEOUT_SECONDS: float = 2.0
#: A WebSocket that delivers no frame for this long is considered dead.
WS_RECV_TIMEOUT_SECONDS: float = 30.0
#: Interval between WebSocket pings.
WS_PING_INTERVAL_SECONDS: float = 10.0

#: First retry delay of the order retry policy, when a client gives no ``backoff``.
BACKOFF_INITIAL_SECONDS: float = 0.1
#: Upper bound of any single retry delay.
BACKOFF_MAX_SECONDS: float = 5.0
#: Each delay is spread by up to this fraction either way, so clients do not retry in lockstep.
BACKOFF_JITTER: float = 0.2
#: Longest ``Retry-After`` the client will honour before giving up on that attempt.
RETRY_AFTER_MAX_SECONDS: float = 60.0

#: Reconnect delays of live feeds: initial, cap, and how long a connection must stay
#: healthy before the retry budget resets.
WS_BACKOFF_INITIAL_SECONDS: float = 0.5
WS_BACKOFF_MAX_SECONDS: float = 30.0
WS_HEALTHY_AFTER_SECONDS: float = 10.0
#: How long a feed's ``start()`` keeps trying to make its first connection before it
#: raises ``FeedError`` (an unresolvable host, a gateway that is down); once connected
#: the feed reconnects within its own budget, unlimited by default.
WS_START_TIMEOUT_SECONDS: float = 30.0

#: How long an order journal's owner stays alive without renewing its lease; a
#: background thread renews it every third of this while the journal is open.
JOURNAL_LEASE_SECONDS: float = 15.0
#: How long a recorded outcome waits for the next claim of its process to carry it to
#: the store (one write for both); then the journal's writer thread stores it alone.
JOURNAL_OUTCOME_LINGER_SECONDS: float = 0.005
#: How long after its last outcome the writer thread keeps looking at the queue on its
#: own timer (once per linger period); then it sleeps until the next outcome wakes it.
JOURNAL_OUTCOME_WATCH_SECONDS: float = 1.0
#: Reconciliation concludes "not placed" from a lookup that finds nothing only for an
#: entry untouched this long: a request of a crashed sender may still be on its way.
RECONCILE_SETTLE_SECONDS: float = 10.0

#: Completed orders each client, paper engine and in-memory journal keeps in memory;
#: older ones leave, so a week-long process stays bounded. What must survive a restart
#: lives in the journal (``connectors: state:``), not here.
MAX_COMPLETED_ORDERS: int = 100_000

#: Worker threads of the bounded pool async clients use for blocking I/O (journal and
#: rate budget stores, venue calls of connectors without a native async library), read
#: when the pool is first created. Small on purpose: every worker that wakes competes
#: with the event loop for the interpreter lock. Measured with 50 stalling orders on a
#: loaded 2-core box, the loop's p99 lag was 26-71 ms with 32 workers and 6-11 ms with 8.
ASYNC_IO_THREADS: int = 8
