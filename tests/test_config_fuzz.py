"""Hostile and careless ``qmtl.yml`` files: only typed errors, bounded time, no traceback.

The invariant a user relies on: whatever the file holds, ``load_connectors`` raises a
``ConfigError`` (or succeeds) and ``qmtl-connectors check`` prints a message, never a
traceback, in bounded time.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmtl_core.cli import main
from qmtl_core.config import parse_connectors
from qmtl_core.errors import ConfigError

from .test_cli import run

FAN_OUT = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
connectors:
  execution_domain: dryrun
  feed: {name: fake, subscribe: *g}
"""

HOSTILE: dict[str, bytes] = {
    "not-utf8": b"connectors:\n  broker_url: \xff\xfe\n",
    "deep-nesting": b"connectors: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep-mapping": b"connectors:\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 3000)),
    "alias-fan-out": FAN_OUT.encode(),
    "merge-key": b"base: &b {name: http}\nconnectors:\n  brokerage:\n    <<: *b\n    <<: *b\n",
    "merge-non-mapping": b"connectors:\n  <<: [1, 2]\n",
    "odd-keys": b"connectors:\n  ? [a, b]\n  : 1\n  ? {x: 1}\n  : 2\n  3: 4\n  null: 5\n",
    "huge-scalar": b"connectors:\n  trade_max_retries: " + b"9" * 20000 + b"\n",
    "huge-float": b"connectors:\n  trade_backoff: 1e999999\n",
    "tab": b"connectors:\n\texecution_domain: live\n",
    "empty": b"",
    "list-top": b"- connectors\n",
    "secret-number": (
        b"connectors:\n  brokerage: {name: ccxt, exchange: binance, api_key: 12345678}\n"
    ),
}


def check_cli(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(["check", str(path)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_give_config_errors_fast(name: str, tmp_path: Path) -> None:
    path = tmp_path / "qmtl.yml"
    path.write_bytes(HOSTILE[name])
    start = time.monotonic()
    try:
        parse_connectors(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
    assert time.monotonic() - start < 5
    _, text = check_cli(path)
    assert "Traceback" not in text
    assert "12345678" not in text
    assert time.monotonic() - start < 10


def test_check_on_hostile_files_as_a_process(tmp_path: Path) -> None:
    for name in ("not-utf8", "deep-nesting", "alias-fan-out"):
        path = tmp_path / f"{name}.yml"
        path.write_bytes(HOSTILE[name])
        result = run("check", str(path), timeout=60)
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        assert str(path) in result.stderr


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**200),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["${HOME}", "${NOPE}", "${X:-3}", "&a", "*a", "<<", "ws://u:p@h/x"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            "execution_domain",
            "brokerage",
            "feed",
            "broker_url",
            "ws_url",
            "trade_max_retries",
            "trade_backoff",
            "name",
            "url",
            "token",
            "<<",
        ]
    ),
    st.text(max_size=8),
    st.integers(),
)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=200)
@given(st.dictionaries(keys, documents, max_size=6))
def test_generated_mappings_give_only_config_errors(section: dict[object, object]) -> None:
    try:
        parse_connectors({"connectors": section})
    except ConfigError:
        pass


yaml_text = st.lists(
    st.sampled_from(
        [
            "connectors:",
            "  brokerage:",
            "    name: http",
            "    url: http://127.0.0.1:1/o",
            "    <<: *a",
            "  feed: &a {name: fake}",
            "  execution_domain: live",
            "  broker_url: ${URL:-http://127.0.0.1:2/o}",
            "  trade_max_retries: ${R:-x}",
            "  ? [1, 2]",
            "  : 3",
            "\t- x",
            "  - 1",
            "- 2",
            "  ws_url: !!python/object:os.system ls",
            "  token: !!binary aGVsbG8=",
            "---",
            "...",
            "%YAML 1.1",
            "  x: [",
            "  y: '",
        ]
    ),
    max_size=10,
).map("\n".join)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=200)
@given(yaml_text)
def test_generated_yaml_files_give_only_config_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "qmtl.yml"
    path.write_text(text)
    try:
        parse_connectors(path)
    except ConfigError:
        pass
    _, output = check_cli(path)
    assert "Traceback" not in output


@pytest.mark.parametrize("value", ["1e999999", ".inf", "-.inf", ".nan"])
def test_non_finite_numbers_are_refused_by_check(value: str, tmp_path: Path) -> None:
    path = tmp_path / "qmtl.yml"
    path.write_text(f"connectors:\n  broker_url: http://127.0.0.1:1/o\n  trade_backoff: {value}\n")
    with pytest.raises(ConfigError) as info:
        parse_connectors(path)
    assert info.value.key == "connectors.trade_backoff"
    assert "finite" in str(info.value)
