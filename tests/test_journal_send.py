"""Orders through the journal: write-ahead, duplicates, outcomes, reconciliation, config."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qmtl_core import OrderStatusUnknown, Runner, load_connectors, open_journal, runtime
from qmtl_core.errors import ConfigError, OrderRejected
from qmtl_core.journal import OrderJournal
from qmtl_core.orders import Order, OrderAck, validate_order
from qmtl_plugin_fake.brokerage import FakeBrokerageClient
from qmtl_plugin_http.server import BrokerServer

ORDER = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.01"}


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/state.db"


class WatchedBroker(FakeBrokerageClient):
    """The paper broker, noting what a second reader of the journal file sees at send time."""

    def __init__(self, journal: OrderJournal, reader: OrderJournal) -> None:
        super().__init__(prices={"BTC/USDT": 50000}, journal=journal)
        self.reader = reader
        self.seen_at_send: list[str] = []
        self.interrupt = False

    def _send(self, order: Order) -> OrderAck:
        entry = self.reader.get(order.client_order_id)
        self.seen_at_send.append(entry.state if entry else "absent")
        if self.interrupt:
            raise KeyboardInterrupt
        return super()._send(order)


def test_the_order_is_journaled_before_it_leaves_and_resent_ids_send_nothing(
    state_url: str,
) -> None:
    with open_journal(state_url) as journal, open_journal(state_url) as reader:
        broker = WatchedBroker(journal, reader)
        first = broker.post_order({**ORDER, "client_order_id": "w-1"})
        assert broker.seen_at_send == ["in_flight"]
        again = broker.post_order({**ORDER, "client_order_id": "w-1"})
        assert again.id == first.id and len(broker.orders()) == 1
        entry = reader.get("w-1")
        assert entry is not None and entry.state == "acknowledged"


def test_a_rejection_is_not_placed_and_may_go_again(state_url: str) -> None:
    with open_journal(state_url) as journal:
        broker = FakeBrokerageClient(prices={"BTC/USDT": 50000}, journal=journal)
        taken = {**ORDER, "quantity": "5", "client_order_id": "r-1"}
        broker.engine.submit(validate_order(taken))  # the venue already uses the id
        with pytest.raises(OrderRejected):
            broker.post_order({**ORDER, "client_order_id": "r-1"})
        entry = journal.get("r-1")
        assert entry is not None and entry.state == "not_placed"
        assert broker.post_order(taken).client_order_id == "r-1"
        entry = journal.get("r-1")
        assert entry is not None and entry.state == "acknowledged"


def test_an_interrupt_mid_send_leaves_it_in_flight_and_reconcile_resolves_it(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "RECONCILE_SETTLE_SECONDS", 0.0)
    with open_journal(state_url) as journal, open_journal(state_url) as reader:
        broker = WatchedBroker(journal, reader)
        broker.interrupt = True
        with pytest.raises(KeyboardInterrupt):
            broker.post_order({**ORDER, "client_order_id": "k-1"})
        entry = journal.get("k-1")
        assert entry is not None and entry.state == "in_flight"
        with pytest.raises(OrderStatusUnknown, match="in_flight"):
            broker.post_order({**ORDER, "client_order_id": "k-1"})
        assert broker.seen_at_send == ["in_flight"]  # the resend sent nothing
        resolved = broker.reconcile()
        assert [(e.client_order_id, e.state) for e in resolved] == [("k-1", "not_placed")]
        broker.interrupt = False
        assert broker.post_order({**ORDER, "client_order_id": "k-1"}).is_complete


def test_runner_claims_in_the_journal_and_logs_suppressed_duplicates(
    state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with open_journal(state_url) as journal:
        broker = FakeBrokerageClient(prices={"BTC/USDT": 50000})
        Runner.set_trade_execution_service(broker)
        Runner.set_journal(journal)
        timed = {**ORDER, "timestamp": 1700000000}
        first = Runner.submit_order(timed)
        with caplog.at_level(logging.WARNING, logger="qmtl_core.journal"):
            again = Runner.submit_order(timed)
        assert first.sent and again.outcome == "duplicate"
        assert again.ack is not None and first.ack is not None and again.ack.id == first.ack.id
        assert first.order.client_order_id in caplog.text
        # neither client_order_id nor timestamp: a new intent every time
        assert Runner.submit_order(ORDER).sent and Runner.submit_order(ORDER).sent
        assert len(broker.orders()) == 3
        assert len(journal.entries()) == 3


def test_load_connectors_gives_the_client_the_durable_default_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QMTL_STATE_DIR", str(tmp_path / "default"))
    with BrokerServer(prices={"BTC/USDT": 50000}) as server:
        connectors = load_connectors({"execution_domain": "live", "broker_url": server.url})
        try:
            Runner.set_trade_execution_service(connectors.brokerage)
            assert Runner.journal() is connectors.journal
            result = Runner.submit_order({**ORDER, "client_order_id": "d-1"})
            assert result.sent
            again = connectors.brokerage.post_order({**ORDER, "client_order_id": "d-1"})
            assert again.id == result.ack.id if result.ack else False
            assert server.order_count == 1
        finally:
            connectors.close()
    assert (tmp_path / "default" / "state.db").is_file()
    with open_journal(f"sqlite:///{tmp_path}/default/state.db") as reopened:
        entry = reopened.get("d-1")
        assert entry is not None and entry.state == "acknowledged"


def test_state_key_relative_to_the_file_and_errors_name_file_line_key(tmp_path: Path) -> None:
    config = tmp_path / "qmtl.yml"
    config.write_text(
        "connectors:\n  execution_domain: live\n  broker_url: http://127.0.0.1:1/o\n"
        "  state: sqlite:///data/orders.db\n"
    )
    connectors = load_connectors(config)
    try:
        assert connectors.config.state is not None
        assert connectors.config.state.path == (tmp_path / "data" / "orders.db").resolve()
        assert connectors.journal.get("x") is None
        assert (tmp_path / "data" / "orders.db").is_file()
    finally:
        connectors.close()
    config.write_text("connectors:\n  execution_domain: dryrun\n  state: postgres://db/x\n")
    with pytest.raises(ConfigError) as info:
        load_connectors(config)
    assert info.value.key == "connectors.state" and info.value.line == 3
    assert str(config) in str(info.value)
    (tmp_path / "blocker").write_text("a file, not a folder")
    config.write_text(
        "connectors:\n  execution_domain: live\n  broker_url: http://127.0.0.1:1/o\n"
        "  state: sqlite:///blocker/orders.db\n"
    )
    with pytest.raises(ConfigError, match="cannot open the state file") as info:
        _ = load_connectors(config).journal
    assert info.value.line == 4 and info.value.key == "connectors.state"
