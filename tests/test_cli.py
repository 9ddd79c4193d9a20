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


SAME_NAME = """
from qmtl_core.hookspecs import hookimpl

@hookimpl
def register_connectors(register):
    register("brokerage", "fake", "qmtl_plugin_fake.brokerage:FakeBrokerageClient")
"""


def test_two_plugins_with_one_name_make_check_fail_without_a_traceback(
    make_dist: MakeDist, site_dir: Path, tmp_path: Path
) -> None:
    make_dist("thirdparty-twin", {"thirdparty_twin": SAME_NAME}, {"twin": "thirdparty_twin"})
    config = tmp_path / "qmtl.yml"
    config.write_text("connectors:\n  brokerage: {name: fake}\n")
    done = run("check", str(config), env={"PYTHONPATH": str(site_dir)})
    assert done.returncode != 0
    assert "registered by both qmtl-plugin-fake and thirdparty-twin" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_plugin_that_failed_to_load_is_named_where_its_connector_is_missing(
    make_dist: MakeDist, site_dir: Path, tmp_path: Path
) -> None:
    make_dist(
        "thirdparty-paperclip",
        {"thirdparty_paperclip": "import paperclip_sdk_not_installed\n"},
        {"paperclip": "thirdparty_paperclip"},
    )
    config = tmp_path / "qmtl.yml"
    config.write_text("connectors:\n  brokerage: {name: paperclip}\n")
    done = run("check", str(config), env={"PYTHONPATH": str(site_dir)})
    assert done.returncode == 1
    assert "no brokerage connector named 'paperclip'" in done.stderr
    assert (
        "paperclip (thirdparty-paperclip): ModuleNotFoundError: "
        "No module named 'paperclip_sdk_not_installed'"
    ) in done.stderr


def test_check_into_a_closed_pipe_ends_quietly() -> None:
    # `qmtl-connectors check examples/qmtl.yml | head -1`: the reader leaves early.
    with subprocess.Popen(
        [CLI, "check", "examples/qmtl.yml"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().strip() == "examples/qmtl.yml: OK"
        proc.stdout.close()  # before the rest is written: the next writes hit EPIPE
        stderr = proc.stderr.read()
        proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_verbose_is_accepted_after_the_command_too() -> None:
    done = run("check", "-v", "examples/qmtl.yml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("examples/qmtl.yml: OK")


def test_help_is_plain_text_and_every_command_describes_itself() -> None:
    top = run("--help")
    assert "``" not in top.stdout and ":class:" not in top.stdout
    for command in ("plugins", "check", "serve-broker", "serve-gateway"):
        usage, _, rest = run(command, "--help").stdout.partition("\n\n")
        assert usage.startswith(f"usage: qmtl-connectors {command}")
        assert not rest.startswith(("positional arguments:", "options:")), command


def test_serve_broker_help_shows_its_default_port_and_token_option() -> None:
    out = run("serve-broker", "--help").stdout
    assert "default: 8080" in out
    assert "--token" in out and "QMTL_BROKER_TOKEN" in out


def test_demo_outside_the_checkout_says_where_the_examples_are(tmp_path: Path) -> None:
    done = run("demo", "--examples", str(tmp_path))
    assert done.returncode != 0
    assert "source checkout" in done.stderr and "--examples DIR" in done.stderr
    assert "Traceback" not in done.stderr
