"""The qmtl-connectors CLI, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("qmtl-connectors"))
MakeDist = Callable[..., None]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_plugins_lists_connectors_and_failed_plugins(make_dist: MakeDist, site_dir: Path) -> None:
    make_dist(
        "thirdparty-broken",
        {"thirdparty_broken": "raise ImportError('no such sdk')\n"},
        {"broken": "thirdparty_broken"},
    )
    done = run("plugins", env={"PYTHONPATH": str(site_dir)})
    assert done.returncode == 0, done.stderr
    rows = {tuple(line.split()[:5]) for line in done.stdout.splitlines()}
    assert ("brokerage", "fake", "qmtl-plugin-fake", "0.1.0", "emulated") in rows
    assert ("brokerage", "http", "qmtl-plugin-http", "0.1.0", "manual") in rows
    assert ("feed", "websocket", "qmtl-plugin-websocket", "0.1.0", "-") in rows
    assert "plugins that failed to load:" in done.stdout
    assert "broken (thirdparty_broken, thirdparty-broken): ImportError: no such sdk" in done.stdout


def test_strict_plugins_makes_the_cli_fail(make_dist: MakeDist, site_dir: Path) -> None:
    make_dist(
        "thirdparty-broken",
        {"thirdparty_broken": "raise ImportError('no such sdk')\n"},
        {"broken": "thirdparty_broken"},
    )
    done = run("plugins", env={"PYTHONPATH": str(site_dir), "QMTL_STRICT_PLUGINS": "1"})
    assert done.returncode == 2
    assert "no such sdk" in done.stderr


def test_check_the_example_config() -> None:
    done = run("check", "examples/qmtl.yml")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines[0] == "examples/qmtl.yml: OK"
    assert "execution_domain: live" in lines
    assert {
        "name: http",
        "url: https://broker/api/orders",
        "max_retries: 3",
        "backoff: 0.1",
    } <= set(lines)
    assert {"name: websocket", "url: wss://gateway/ws"} <= set(lines)


def test_demo_tells_the_oco_story_end_to_end() -> None:
    done = run("demo")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    dryrun = out[out.index("=== dryrun") :]
    assert "[dryrun] entry" in dryrun and "filled" in dryrun
    assert "[dryrun] OCO    take-profit" in dryrun
    assert "OCO done:" in dryrun and "cancelled" in dryrun
    live = out[out.index("=== live") :]
    assert "[live] entry" in live and "(manual)" in live
    assert "[live] feed reconnected" in live
    assert "[live] OCO done:" in live
    assert "broker saw 3 order POSTs" in live
    assert "broker holds 3 orders for the 3 the strategy placed" in live
    assert "kind=retried" in done.stderr and "502" in done.stderr
    crash = out[out.index("=== crash and restart") :]
    assert "killed the strategy (SIGKILL)" in crash
    assert "outcome duplicate; journal: demo-crash-1 acknowledged" in crash
    assert "broker holds 1 order, saw 1 order POST" in crash
    assert "demo OK" in out
