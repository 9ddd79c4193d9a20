"""pytest plugin shipped with qmtl-core: test-friendly runtime settings.

HTTP requests time out after 1.5 s under test (2 s in production), as the seed page
documents, so a stalled peer fails a test quickly.
"""

from __future__ import annotations

import pytest

from qmtl_core import runtime

TEST_HTTP_TIMEOUT_SECONDS = 1.5


def pytest_configure(config: pytest.Config) -> None:
    runtime.HTTP_TIMEOUT_SECONDS = TEST_HTTP_TIMEOUT_SECONDS
