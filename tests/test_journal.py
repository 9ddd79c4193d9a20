"""The order journal's backends: claims, outcomes, duplicates, events and ownership.

Every test runs against SQLite (a file), memory and a real redis-server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qmtl_core import open_journal, runtime
from qmtl_core.journal import EntryState, OrderJournal, sqlite_backend
from qmtl_core.orders import Order, OrderAck, OrderStatus, validate_order
from qmtl_core.testing import wait_until


@pytest.fixture(params=["sqlite", "memory", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    if request.param == "memory":
        return "memory://"
    redis_url: str = request.getfixturevalue("qmtl_redis_url")
    return redis_url


@pytest.fixture
def journal(url: str) -> Iterator[OrderJournal]:
    with open_journal(url) as opened:
        yield opened


def order(coid: str = "c-1", **extra: Any) -> Order:
    fields = {"symbol": "BTC/USDT", "side": "BUY", "type": "limit", "quantity": "0.010"}
    return validate_order({**fields, "limit_price": "50000.5", "client_order_id": coid, **extra})


def ack(coid: str = "c-1", status: OrderStatus = OrderStatus.NEW, filled: str = "0") -> OrderAck:
    from decimal import Decimal

    return OrderAck("V1", coid, status, "BTC/USDT", Decimal(filled), raw={"venue": "x"})


def test_a_claim_is_durable_in_flight_and_the_order_comes_back_exactly(
    journal: OrderJournal,
) -> None:
    claim = journal.claim(order(), connector="Http")
    assert claim.fresh and claim.entry.state == "in_flight"
    entry = journal.get("c-1")
    assert entry is not None
    assert entry.state == "in_flight" and entry.ack is None
    assert entry.order == order()  # Decimal text kept: 0.010 and 50000.5
    assert entry.connector == "Http" and entry.owner == journal.owner
    assert journal.get("other") is None


def test_the_same_client_order_id_is_claimed_once(journal: OrderJournal) -> None:
    assert journal.claim(order(), connector="Http").fresh
    again = journal.claim(order(quantity="5"), connector="Http")
    assert not again.fresh
    assert again.entry.client_order_id == "c-1" and again.entry.order.quantity == order().quantity


def test_outcomes_and_their_events(journal: OrderJournal) -> None:
    journal.claim(order(), connector="Http")
    journal.record("c-1", EntryState.ACKNOWLEDGED, ack=ack())
    entry = journal.get("c-1")
    assert entry is not None and entry.state == "acknowledged"
    assert entry.ack is not None and entry.ack.id == "V1" and entry.ack.status is OrderStatus.NEW
    assert entry.ack.raw == {"venue": "x"}
    journal.observe(ack(status=OrderStatus.PARTIALLY_FILLED, filled="0.004"))
    journal.observe(ack(status=OrderStatus.PARTIALLY_FILLED, filled="0.004"))  # no change
    journal.observe(ack(status=OrderStatus.FILLED, filled="0.010"))
    entry = journal.get("c-1")
    assert entry is not None and entry.ack is not None
    assert entry.ack.status is OrderStatus.FILLED
    events = journal.events()
    assert [(e.state, e.status) for e in events] == [
        ("in_flight", ""),
        ("acknowledged", "new"),
        ("acknowledged", "partially_filled"),
        ("acknowledged", "filled"),
    ]
    assert [e.venue_id for e in events] == ["", "V1", "V1", "V1"]
    assert journal.events(after=events[1].id)[0].status == "partially_filled"
    assert journal.entries(state="acknowledged")[0].client_order_id == "c-1"
    assert journal.entries(state="in_flight") == []


def test_not_placed_frees_the_id_and_the_content_key(journal: OrderJournal) -> None:
    journal.claim(order(), connector="Http", key="content|x", key_ttl=60)
    assert not journal.claim(order("c-2"), connector="Http", key="content|x", key_ttl=60).fresh
    journal.record("c-1", EntryState.NOT_PLACED, reason="OrderRejected: no")
    assert journal.claim(order("c-2"), connector="Http", key="content|x", key_ttl=60).fresh
    assert journal.claim(order(), connector="Http").fresh  # the same id may go again


def test_an_unknown_outcome_keeps_blocking(journal: OrderJournal) -> None:
    journal.claim(order(), connector="Http", key="content|x", key_ttl=60)
    journal.record("c-1", EntryState.UNKNOWN, reason="timeout")
    held = journal.claim(order("c-2"), connector="Http", key="content|x", key_ttl=60)
    assert not held.fresh and held.entry.state == "unknown"
    assert not journal.claim(order(), connector="Http").fresh


def test_the_content_key_ttl_is_honoured(journal: OrderJournal) -> None:
    assert journal.claim(order("a"), connector="Http", key="content|y", key_ttl=0.3).fresh
    assert not journal.claim(order("b"), connector="Http", key="content|y", key_ttl=0.3).fresh
    wait_until(
        lambda: journal.claim(order("c"), connector="Http", key="content|y", key_ttl=0.3).fresh,
        timeout=5,
    )


def test_reclaimable_skips_orders_being_sent_and_live_peers(url: str) -> None:
    if url == "memory://":
        pytest.skip("a memory journal has no peers")
    with open_journal(url) as mine, open_journal(url) as peer:
        mine.claim(order("mine-sending"), connector="Http")
        mine.claim(order("mine-earlier"), connector="Http")
        peer.claim(order("peer-live"), connector="Http")
        with mine.sending("mine-sending"):
            assert mine.holds("mine-sending") and not mine.holds("mine-earlier")
            ids = {e.client_order_id for e in mine.reclaimable("Http")}
        assert ids == {"mine-earlier"}
        assert {e.client_order_id for e in mine.reclaimable("Http")} == {
            "mine-sending",
            "mine-earlier",
        }
        assert mine.reclaimable("Other") == []
        peer_owner = peer.owner
        peer.close()  # gives its lease up: its orders may now be reconciled
        assert "peer-live" in {e.client_order_id for e in mine.reclaimable()}
        assert mine.adopt("peer-live", peer_owner)
        assert not mine.adopt("peer-live", peer_owner)  # only once
        entry = mine.get("peer-live")
        assert entry is not None and entry.owner == mine.owner


def test_an_expired_lease_makes_the_owner_gone(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if url == "memory://":
        pytest.skip("a memory journal has no peers")
    from qmtl_core import runtime

    with open_journal(url) as mine:
        monkeypatch.setattr(runtime, "JOURNAL_LEASE_SECONDS", 0.3)
        with open_journal(url) as peer:
            peer.claim(order("p"), connector="Http")
            peer._stop.set()  # a hung peer: its renewer stops, its process lives on
            wait_until(lambda: bool(mine.reclaimable()), timeout=5)


def test_a_not_placed_outcome_frees_the_id_at_once_for_this_process(
    journal: OrderJournal,
) -> None:
    """The outcome may still be on its way to the store: the next claim waits for it."""
    journal.claim(order("np"), connector="Http")
    journal.record("np", EntryState.NOT_PLACED, reason="rejected")
    assert journal.claim(order("np"), connector="Http").fresh


def test_the_next_claim_carries_the_outcomes_recorded_before_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write for the claim and the queued outcomes, whatever the claim's answer."""
    if url == "memory://":
        pytest.skip("a memory journal stores outcomes at once")
    monkeypatch.setattr(runtime, "JOURNAL_OUTCOME_LINGER_SECONDS", 60.0)  # no writer help
    with open_journal(url) as mine, open_journal(url) as peer:
        mine.claim(order("a"), connector="Http")
        mine.record("a", EntryState.ACKNOWLEDGED, ack=ack("a"))
        assert mine.claim(order("b"), connector="Http").fresh
        carried = peer.get("a")
        assert carried is not None and carried.state == "acknowledged"
        mine.record("b", EntryState.ACKNOWLEDGED, ack=ack("b"))
        again = mine.claim(order("b"), connector="Http")  # held: stores the outcome all the same
        assert not again.fresh and again.entry.ack is not None
        carried = peer.get("b")
        assert carried is not None and carried.state == "acknowledged"
        assert [e.state for e in peer.events()] == [
            "in_flight", "acknowledged", "in_flight", "acknowledged"
        ]  # fmt: skip


def test_a_peer_sees_an_outcome_though_its_writer_never_reads_or_closes(url: str) -> None:
    """Outcomes are stored off the order path, but promptly and by themselves."""
    if url == "memory://":
        pytest.skip("a memory journal has no peers")
    with open_journal(url) as mine, open_journal(url) as peer:
        mine.claim(order("w1"), connector="Http")
        mine.record("w1", EntryState.ACKNOWLEDGED, ack=ack("w1"))

        def stored() -> bool:
            entry = peer.get("w1")
            return entry is not None and entry.state == "acknowledged"

        wait_until(stored, timeout=5, what="the outcome reaching the store")


def test_outcomes_recorded_while_the_writer_watches_reach_the_store(url: str) -> None:
    """While outcomes keep coming nobody wakes the writer thread: it looks on its own
    timer. The last outcome of a burst, which no claim follows, is stored all the same."""
    if url == "memory://":
        pytest.skip("a memory journal has no peers")
    with open_journal(url) as mine, open_journal(url) as peer:
        ids = [f"burst{i}" for i in range(5)]
        for coid in ids:  # each claim carries the outcome before it; the last has none
            mine.claim(order(coid), connector="Http")
            mine.record(coid, EntryState.ACKNOWLEDGED, ack=ack(coid))

        def all_stored() -> bool:
            return all(getattr(peer.get(c), "state", None) == "acknowledged" for c in ids)

        wait_until(all_stored, timeout=5, what="every outcome of the burst reaching the store")


def test_a_process_that_exits_without_closing_still_stores_its_outcomes(url: str) -> None:
    if url == "memory://":
        pytest.skip("a memory journal dies with its process")
    script = (
        "import sys; from decimal import Decimal\n"
        "from qmtl_core import open_journal\n"
        "from qmtl_core.journal import EntryState\n"
        "from qmtl_core.orders import OrderAck, OrderStatus, validate_order\n"
        "journal = open_journal(sys.argv[1])\n"
        "fields = {'symbol': 'BTC/USDT', 'side': 'BUY', 'type': 'market', 'quantity': '1'}\n"
        "journal.claim(validate_order({**fields, 'client_order_id': 'x1'}), connector='Http')\n"
        "ack = OrderAck('V9', 'x1', OrderStatus.FILLED, 'BTC/USDT', Decimal(1))\n"
        "journal.record('x1', EntryState.ACKNOWLEDGED, ack=ack)\n"  # and exit, no close
    )
    subprocess.run([sys.executable, "-c", script, url], check=True, timeout=60)
    with open_journal(url) as reader:
        entry = reader.get("x1")
        assert entry is not None and entry.state == "acknowledged"
        assert entry.ack is not None and entry.ack.id == "V9"


def test_an_outcome_the_store_refuses_is_logged_and_leaves_the_entry_in_flight(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from qmtl_core.journal.redis_backend import RedisJournal

    journal_class = RedisJournal if url.startswith("redis") else sqlite_backend.SqliteJournal

    def refuse(self: OrderJournal, outcomes: list[Any]) -> None:
        raise ConnectionError("store down")

    monkeypatch.setattr(journal_class, "_store_outcomes", refuse)
    with open_journal(url) as journal:
        journal.claim(order("r1"), connector="Http")
        if url == "memory://":  # stored inline: the caller sees the store's error
            with pytest.raises(ConnectionError):
                journal.record("r1", EntryState.ACKNOWLEDGED, ack=ack("r1"))
        else:
            journal.record("r1", EntryState.ACKNOWLEDGED, ack=ack("r1"))
            entry = journal.get("r1")  # waits for the writer, which gave up
            assert entry is not None and entry.state == "in_flight"
            assert "r1" in caplog.text and "stay in flight" in caplog.text


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "MAX_COMPLETED_ORDERS", 50)
    monkeypatch.setattr(sqlite_backend, "_PRUNE_EVERY", 10)
    with open_journal("memory://") as journal:
        for i in range(300):
            journal.claim(order(f"m{i}"), connector="Fake")
            journal.record(f"m{i}", EntryState.ACKNOWLEDGED, ack=ack(f"m{i}"))
        assert len(journal.entries()) <= 60
        assert len(journal.events()) <= 60
        assert journal.get("m299") is not None and journal.get("m0") is None


def test_a_closed_journal_stops_its_lease_renewer(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path}/s.db")
    renewer = journal._renewer
    assert renewer is not None and renewer.is_alive()
    started = time.monotonic()
    journal.close()
    journal.close()
    assert not renewer.is_alive() and time.monotonic() - started < 2


def test_a_file_written_by_the_earlier_schema_keeps_working(tmp_path: Path) -> None:
    """A state file from before the slimmer schema (AUTOINCREMENT events, indexes on
    state and created) opens, keeps its entries and events, and takes new claims."""
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE qmtl_journal_entries (client_order_id TEXT PRIMARY KEY, "
            "state TEXT NOT NULL, order_json TEXT NOT NULL, ack_json TEXT, "
            "connector TEXT NOT NULL, owner TEXT NOT NULL, dup_key TEXT, created REAL NOT NULL, "
            "updated REAL NOT NULL, reason TEXT NOT NULL DEFAULT '');"
            "CREATE INDEX qmtl_journal_by_state ON qmtl_journal_entries (state);"
            "CREATE INDEX qmtl_journal_by_created ON qmtl_journal_entries (created);"
            "CREATE TABLE qmtl_journal_events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "time REAL NOT NULL, client_order_id TEXT NOT NULL, state TEXT NOT NULL, "
            "connector TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL DEFAULT '', "
            "venue_id TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '');"
        )
    with open_journal(f"sqlite:///{path}") as old:
        old.claim(order("before"), connector="Fake")
        old_events = len(old.events())
    with open_journal(f"sqlite:///{path}") as journal:
        assert [e.client_order_id for e in journal.unresolved()] == ["before"]
        assert journal.claim(order("after"), connector="Fake").fresh
        journal.record("after", EntryState.ACKNOWLEDGED, ack=ack("after"))
        events = journal.events()
        assert len(events) == old_events + 2
        assert [e.state for e in events[-2:]] == ["in_flight", "acknowledged"]
        assert [e.client_order_id for e in journal.unresolved()] == ["before"]


def test_unresolved_count_is_the_number_of_unresolved_entries(journal: OrderJournal) -> None:
    for coid in ("u1", "u2", "u3"):
        journal.claim(order(coid), connector="Fake")
    journal.record("u1", EntryState.ACKNOWLEDGED, ack=ack("u1"))
    journal.record("u2", EntryState.UNKNOWN, reason="timeout")
    assert journal.unresolved_count() == len(journal.unresolved()) == 2
    journal.record("u3", EntryState.NOT_PLACED)
    journal.observe(ack("u2"))
    assert journal.unresolved_count() == 0


def test_a_failed_prune_leaves_the_claim_standing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Pruning is housekeeping after the claim's commit: when it fails the claim still
    stands (the order goes out) and the outcome it carried is stored once."""
    import sqlite3

    monkeypatch.setattr(sqlite_backend, "_PRUNE_EVERY", 1)
    with open_journal(f"sqlite:///{tmp_path}/state.db") as journal:
        other = sqlite3.connect(tmp_path / "state.db")
        other.execute("DROP TABLE qmtl_journal_keys")  # what pruning deletes from
        other.close()
        journal.claim(order("p1"), connector="Http")
        journal.record("p1", EntryState.ACKNOWLEDGED, ack=ack("p1"))
        claim = journal.claim(order("p2"), connector="Http")  # carries p1's outcome
        assert claim.fresh
        assert "pruning failed" in caplog.text
        states = [e.state for e in journal.events() if e.client_order_id == "p1"]
        assert states == ["in_flight", "acknowledged"]


def _floor(path: Path) -> int:
    """Where the SQLite journal starts scanning for entries in flight."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT low_water FROM qmtl_journal_floor").fetchone()[0])


def _rowid(path: Path, coid: str) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        sql = "SELECT rowid FROM qmtl_journal_entries WHERE client_order_id = ?"
        return int(conn.execute(sql, (coid,)).fetchone()[0])


def test_sqlite_finds_an_old_entry_in_flight_behind_newer_orders(tmp_path: Path) -> None:
    """Entries in flight are found by a scan from the floor, which rises past resolved
    orders only: an order still in flight is never left behind it."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    with open_journal(url) as journal:
        journal.claim(order("stuck"), connector="Http")  # never answered
        for i in range(20):
            journal.claim(order(f"done{i}"), connector="Http")
            journal.record(f"done{i}", EntryState.ACKNOWLEDGED, ack=ack(f"done{i}"))
        journal.flush()
        with open_journal(url):  # a peer's start renews its lease: the floor rises
            assert _floor(path) == _rowid(path, "stuck")
        assert [e.client_order_id for e in journal.unresolved()] == ["stuck"]
        assert journal.unresolved_count() == 1
        journal.record("stuck", EntryState.ACKNOWLEDGED, ack=ack("stuck"))
        journal.flush()
        with open_journal(url):
            assert _floor(path) > _rowid(path, "done19")  # nothing older to scan
        assert journal.unresolved() == [] and journal.unresolved_count() == 0


def test_sqlite_finds_a_not_placed_order_claimed_again_behind_the_floor(tmp_path: Path) -> None:
    """A not_placed entry claimed again keeps its old row: the floor comes down to it."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    with open_journal(url) as journal:
        journal.claim(order("again"), connector="Http")
        journal.record("again", EntryState.NOT_PLACED, reason="rejected")
        for i in range(5):
            journal.claim(order(f"later{i}"), connector="Http")
            journal.record(f"later{i}", EntryState.ACKNOWLEDGED, ack=ack(f"later{i}"))
        journal.flush()
        with open_journal(url):
            assert _floor(path) > _rowid(path, "again")
        assert journal.claim(order("again"), connector="Http").fresh
        assert [e.client_order_id for e in journal.unresolved()] == ["again"]


def test_sqlite_opens_a_file_of_the_earlier_layout(tmp_path: Path) -> None:
    """A file written before the floor existed (an index of unresolved entries instead)
    is brought up to date when opened, and its entries in flight are still found."""
    import sqlite3

    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    with open_journal(url) as journal:
        journal.claim(order("old-in-flight"), connector="Http")
    with sqlite3.connect(path) as conn:  # the earlier layout
        conn.execute("DROP TRIGGER qmtl_journal_floor_on_reclaim")
        conn.execute("DROP TABLE qmtl_journal_floor")
        conn.execute("DROP INDEX qmtl_journal_unknown")
        conn.execute(
            "CREATE INDEX qmtl_journal_unresolved ON qmtl_journal_entries (state) "
            "WHERE state IN ('in_flight', 'unknown')"
        )
    with open_journal(url) as journal:
        assert [e.client_order_id for e in journal.unresolved()] == ["old-in-flight"]
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "qmtl_journal_unresolved" not in names and "qmtl_journal_floor" in names


def test_an_ack_whose_raw_answer_json_has_no_form_for_is_stored(url: str) -> None:
    """A venue's raw answer may hold what JSON has no form for (a Decimal, a key that
    is not a string) or an int beyond 64 bits: the outcome is stored all the same."""
    from decimal import Decimal

    raw = {"price": Decimal("0.1"), "sequence": 2**70, 7: "seven", "fills": [{"qty": 1.5}]}
    with open_journal(url) as journal:
        journal.claim(order("odd-raw"), connector="Http")
        answer = OrderAck("V1", "odd-raw", OrderStatus.FILLED, "BTC/USDT", raw=raw)
        journal.record("odd-raw", EntryState.ACKNOWLEDGED, ack=answer)
        entry = journal.get("odd-raw")
        assert entry is not None and entry.state == "acknowledged" and entry.ack is not None
        stored = dict(entry.ack.raw)
    assert stored == {"price": "0.1", "sequence": 2**70, "7": "seven", "fills": [{"qty": 1.5}]}
