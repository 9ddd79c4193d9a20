"""Shared fixtures for the core tests: fresh runner state, wait-with-deadline, and
throw-away installed distributions for plugin-loading tests."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qmtl_core import Runner


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
