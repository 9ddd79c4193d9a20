"""pytest plugin shipped with qmtl-core (entry point ``pytest11``).

- HTTP requests time out after 1.5 s under test (2 s in production), as the seed page
  documents, so a stalled peer fails a test quickly.
- The conformance suites get pytest's assertion rewriting, so a failing case shows
  the values involved.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "qmtl_core.testing.brokerage_suite", "qmtl_core.testing.feed_suite", "qmtl_core.testing.harness"
)

from qmtl_core import runtime  # noqa: E402  (after the rewrite registration)

TEST_HTTP_TIMEOUT_SECONDS = 1.5


def pytest_configure(config: pytest.Config) -> None:
    runtime.HTTP_TIMEOUT_SECONDS = TEST_HTTP_TIMEOUT_SECONDS
