"""Shared fixtures for the core tests: fresh runner state, wait-with-deadline, and
throw-away installed distributions for plugin-loading tests."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qmtl_core import Runner
from qmtl_core.registry import default_registry


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll ``predicate`` until it is true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def fresh_runner() -> Iterator[None]:
    Runner.reset()
    yield
    Runner.reset()


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where tests install small fake distributions."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in list(sys.modules):
        if name.startswith("thirdparty_"):
            del sys.modules[name]


DistMaker = Callable[..., None]


@pytest.fixture
def make_dist(site_dir: Path) -> DistMaker:
    """Install a distribution ``name`` with modules and ``qmtl.connectors`` entry points."""

    def make(
        name: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.0"
    ) -> None:
        for module, source in modules.items():
            (site_dir / f"{module}.py").write_text(textwrap.dedent(source))
        info = site_dir / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[qmtl.connectors]\n{lines}\n")

    return make


@pytest.fixture
def reset_default_registry() -> Iterator[None]:
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()
