"""`make dist`, then `pip install --find-links dist <one plugin>` in a clean virtualenv.

Marked ``dist`` (about a minute: it builds every distribution and installs into a new
virtualenv). Offline: pip runs with ``--no-index``; the third-party dependencies come
from a wheelhouse repacked from this test run's own environment, so nothing is
downloaded. ``pytest -m "not dist"`` skips it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.dist

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DISTRIBUTIONS = (
    "qmtl-core",
    "qmtl-plugin-fake",
    "qmtl-plugin-http",
    "qmtl-plugin-websocket",
    "qmtl-ccxt-common",
    "qmtl-plugin-ccxt-spot",
    "qmtl-plugin-ccxt-futures",
)
# Dist-info files that describe one installation, not the distribution.
_INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def _third_party_closure(names: list[str]) -> set[str]:
    """The installed non-qmtl distributions that ``names`` need, transitively."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(name, frozenset[str]()) for name in names]
    while todo:
        name, extras = todo.pop()
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in {"", *extras}):
                continue
            key = (str(canonicalize_name(req.name)), frozenset(req.extras))
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return {name for name, _ in seen if not name.startswith("qmtl-")}


def _repack(name: str, dest: Path) -> None:
    """A wheel of the installed distribution ``name``, from the files its RECORD lists."""
    dist = metadata.distribution(name)
    files = [
        f
        for f in dist.files or []
        if not str(f).startswith("..")
        and "__pycache__" not in f.parts
        and not (f.parent.name.endswith(".dist-info") and f.name in _INSTALL_ONLY)
    ]
    info = next(f.parent for f in files if f.parent.name.endswith(".dist-info"))
    tag = Parser().parsestr(dist.read_text("WHEEL") or "").get_all("Tag")[0]
    base = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    record: list[str] = []
    with zipfile.ZipFile(dest / f"{base}-{tag}.whl", "w", zipfile.ZIP_STORED) as wheel:
        for f in files:
            data = Path(str(f.locate())).read_bytes()
            wheel.writestr(str(f), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{f},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make dist` into a temporary folder: the command a user runs."""
    out = tmp_path_factory.mktemp("dist")
    venv = [f"VENV={BIN.parent}"]
    done = subprocess.run(
        # -o: this venv is installed already; never re-run `make install` from a test.
        ["make", "-s", "-o", f"{BIN.parent}/.installed", "dist", f"DIST={out}", *venv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = tmp_path_factory.mktemp("wheelhouse")
    for name in _third_party_closure(list(DISTRIBUTIONS)):
        _repack(name, house)
    return house


def _venv(where: Path) -> Iterator[Path]:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    yield where / "bin"


def _pip_install(bin_dir: Path, *sources: Path, package: str) -> None:
    links = [arg for source in sources for arg in ("--find-links", str(source))]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_COMPILE": "1"}
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-index", *links, package],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _cli(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QMTL_")}
    return subprocess.run(
        [str(bin_dir / "qmtl-connectors"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_make_dist_builds_a_wheel_and_an_sdist_of_every_distribution(dist_dir: Path) -> None:
    built = {p.name for p in dist_dir.iterdir()}
    for name in DISTRIBUTIONS:
        stem = f"{name.replace('-', '_')}-0.1.0"
        assert {f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"} <= built, built
    with zipfile.ZipFile(dist_dir / "qmtl_plugin_ccxt_futures-0.1.0-py3-none-any.whl") as wheel:
        meta = wheel.read("qmtl_plugin_ccxt_futures-0.1.0.dist-info/METADATA").decode()
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: qmtl-core<0.2,>=0.1.0" in requires
    assert "Requires-Dist: qmtl-ccxt-common<0.2,>=0.1.0" in requires


def test_one_plugin_installs_alone_with_the_core_and_its_plugin_dependencies(
    dist_dir: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    bin_dir = next(_venv(tmp_path / "venv"))
    # ccxt-futures alone: it brings qmtl-core and qmtl-ccxt-common, not the spot plugin.
    _pip_install(bin_dir, dist_dir, wheelhouse, package="qmtl-plugin-ccxt-futures")
    listed = _cli(bin_dir, "plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:4] for line in listed.stdout.splitlines()[1:]]
    assert rows == [["brokerage", "ccxt-futures", "qmtl-plugin-ccxt-futures", "0.1.0"]]
    exported = subprocess.run(
        [str(bin_dir / "python"), "-c", "from qmtl_core import FuturesCcxtBrokerageClient"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    # The demo needs the examples of the checkout: outside it, it says so, no traceback.
    demo = _cli(bin_dir, "demo", cwd=tmp_path)
    assert demo.returncode != 0
    assert "source checkout" in demo.stderr and "Traceback" not in demo.stderr
    # The paper plugin next, on its own: `pip install ./plugins/fake` failed before dist/.
    _pip_install(bin_dir, dist_dir, wheelhouse, package="qmtl-plugin-fake")
    config = tmp_path / "qmtl.yml"
    config.write_text("connectors:\n  brokerage: {name: fake, prices: {BTC/USDT: 50000}}\n")
    checked = _cli(bin_dir, "check", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
