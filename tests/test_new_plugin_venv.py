"""``new-plugin`` straight into a fresh virtualenv, as a third party would use it.

For each kind, the generated distribution is installed with the core into a virtualenv
this test creates, offline: the core and the plugins are built from their folders, and
their third-party dependencies come from a local wheelhouse repacked from what this
environment has installed (pip resolves every requirement from it, so a missing
dependency fails here as it would for a user). Then `qmtl-connectors plugins` lists
them, a `qmtl.yml` selecting them builds through `load_connectors`, and `pytest`
inside each generated folder passes the whole conformance kit.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from qmtl_core.scaffold.generate import new_plugin
from qmtl_core.testing import BrokerageConformance, FeedConformance

REPO = Path(__file__).resolve().parents[1]
BROKERAGE, FEED = "demo-venue", "demo-ticks"
#: Files a wheel's ``.dist-info`` gets at install time, not from the wheel.
_INSTALL_ONLY = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def requirements_of(name: str, *extras: str) -> list[Requirement]:
    """What installed distribution ``name`` requires on this platform, with ``extras``."""
    out = []
    for text in metadata.requires(name) or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            out.append(req)
    return out


def requirement_closure(roots: list[Requirement]) -> set[str]:
    """The installed distributions ``roots`` need, following requirements and extras."""
    found: set[str] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name not in found:
            found.add(name)
            todo += requirements_of(name, *req.extras)
    return found


def repack(name: str, wheelhouse: Path) -> Path:
    """An installed distribution packed back into a wheel (its files as RECORD lists
    them; scripts are rebuilt by pip from its entry points)."""
    dist = metadata.distribution(name)
    site = Path(str(dist.locate_file("")))
    info = next(p for p in dist.files or [] if p.parts[0].endswith(".dist-info")).parts[0]
    tag = next(line for line in dist.read_text("WHEEL").splitlines() if line.startswith("Tag:"))
    version = dist.version
    stem = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    target = wheelhouse / f"{stem}-{version}-{tag.split(':', 1)[1].strip()}.whl"
    record = []
    with zipfile.ZipFile(target, "w") as wheel:
        for path in dist.files or []:
            text = str(path)
            if text.startswith("..") or "__pycache__" in path.parts:
                continue
            if path.parts[0] == info and path.name in _INSTALL_ONLY:
                continue
            data = (site / path).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{text},sha256={digest.decode()},{len(data)}")
            wheel.writestr(text, data)
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return target


@dataclass(frozen=True)
class Venv:
    """A virtualenv with the core and the two generated plugins installed."""

    path: Path
    plugins: dict[str, Path]  # kind -> generated folder
    env: dict[str, str]

    def run(
        self, *args: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=cwd, env={**self.env, **env}, capture_output=True, text=True, timeout=300
        )

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)


def offline_env(venv: Path) -> dict[str, str]:
    """This environment without pip's configured indexes and without our plugin selection."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "QMTL_LOAD", "QMTL_DISABLE", "PYTHON"))
        and k not in ("VIRTUAL_ENV",)
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    root = tmp_path_factory.mktemp("new-plugin-venv")
    wheelhouse = root / "wheelhouse"
    wheelhouse.mkdir()
    needed = requirement_closure(requirements_of("qmtl-core", "testing"))
    for name in sorted(needed | {"setuptools"}):  # setuptools: the build backend
        repack(name, wheelhouse)
    # The core from its sources (only what its wheel contains), not the editable checkout.
    core = root / "qmtl-core"
    core.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, core / name)
    shutil.copytree(
        REPO / "qmtl_core", core / "qmtl_core", ignore=shutil.ignore_patterns("__pycache__")
    )
    plugins = {
        "brokerage": new_plugin(BROKERAGE, "brokerage", root).path,
        "feed": new_plugin(FEED, "feed", root).path,
    }
    path = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
    )
    env = offline_env(path)

    def pip_install(*args: str) -> None:
        """This environment's pip, installing into the new one from the wheelhouse only."""
        out = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "--python", str(path / "bin" / "python")),
                *("install", "-q", "--no-compile", "--no-index", "--find-links", str(wheelhouse)),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr

    # The build backend first (as in any venv Python 3.11 creates); then the builds use
    # it instead of an isolated build environment each, which triples the install time.
    pip_install("setuptools")
    pip_install(
        "--no-build-isolation",
        f"{core}[testing]",
        *(f"{folder}[test]" for folder in plugins.values()),
    )
    yield Venv(path, plugins, env)


def test_plugins_lists_the_generated_connectors(venv: Venv) -> None:
    out = venv.run(venv.bin("qmtl-connectors"), "plugins")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert ["brokerage", BROKERAGE, f"qmtl-plugin-{BROKERAGE}", "0.1.0"] in [r[:4] for r in rows]
    assert ["feed", FEED, f"qmtl-plugin-{FEED}", "0.1.0"] in [r[:4] for r in rows]
    assert "failed to load" not in out.stdout


def test_a_qmtl_yml_selecting_them_builds(venv: Venv, tmp_path: Path) -> None:
    (tmp_path / "qmtl.yml").write_text(
        textwrap.dedent(
            f"""\
            connectors:
              execution_domain: live
              state: memory://
              brokerage:
                name: {BROKERAGE}
                prices: {{BTC/USDT: 50000}}
                api_key: ${{DEMO_KEY}}
              feed:
                name: {FEED}
                subscribe: [{{op: subscribe, channel: BTC/USDT}}]
            """
        )
    )
    script = textwrap.dedent(
        """\
        import asyncio
        from qmtl_core import load_connectors

        connectors = load_connectors("qmtl.yml")
        broker = connectors.brokerage
        ack = broker.post_order(
            {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.5"}
        )
        print(type(broker).__name__, ack["status"], ack["average_price"], repr(broker))
        received = []

        async def on_message(message):
            received.append(message)

        async def main():
            feed = connectors.feed(on_message)
            await feed.start()
            await feed.source.publish({"price": 50001})
            while not received:
                await asyncio.sleep(0.01)
            await feed.stop()
            print(type(feed).__name__, feed.source.received, received)

        asyncio.run(asyncio.wait_for(main(), 10))
        """
    )
    out = venv.run(venv.bin("python"), "-c", script, cwd=tmp_path, DEMO_KEY="demo-secret-key")
    assert out.returncode == 0, out.stderr
    broker_line, feed_line = out.stdout.splitlines()
    assert broker_line.startswith(
        "DemoVenueBrokerage filled 50000 DemoVenueBrokerage(api_key='***'"
    )
    assert "demo-secret-key" not in out.stdout + out.stderr
    assert feed_line == (
        "DemoTicksFeed [{'op': 'subscribe', 'channel': 'BTC/USDT'}] [{'price': 50001}]"
    )


@pytest.mark.parametrize(
    ("kind", "kit"), [("brokerage", BrokerageConformance), ("feed", FeedConformance)]
)
def test_pytest_in_the_generated_folder_passes_the_whole_kit(
    venv: Venv, kind: str, kit: type
) -> None:
    out = venv.run(venv.bin("pytest"), "-v", "-p", "no:cacheprovider", cwd=venv.plugins[kind])
    assert out.returncode == 0, out.stdout + out.stderr
    passed = {
        line.split("::")[-1].split()[0] for line in out.stdout.splitlines() if " PASSED" in line
    }
    cases = {name for name in dir(kit) if name.startswith("test_")}
    assert cases <= passed, f"kit cases not passed: {sorted(cases - passed)}\n{out.stdout}"
    assert "SKIPPED" not in out.stdout and "FAILED" not in out.stdout
    assert {"test_options_are_checked_before_building"} < passed  # and the plugin's own
