"""Metrics set-up: qmtl.yml validation, the endpoint a config starts, the missing extra,
lazy import, any plugin manager, scrape-time gauges and the dashboard's queries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from qmtl_core import ConfigError, enable_metrics, load_connectors
from qmtl_core.config import parse_connectors
from qmtl_core.errors import ConfigErrors
from qmtl_core.events import OrderEvent
from qmtl_core.metrics_observer import METRIC_NAMES, MetricsObserver
from qmtl_core.plugins import make_plugin_manager
from qmtl_core.registry import Registry

DOCS = Path(__file__).resolve().parents[1] / "docs"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def write(tmp_path: Path, metrics: str) -> Path:
    path = tmp_path / "qmtl.yml"
    path.write_text(f"connectors:\n  execution_domain: dryrun\n  metrics:\n{metrics}")
    return path


@pytest.mark.parametrize(
    ("metrics", "key", "line", "says"),
    [
        ("    port: 99999\n", "connectors.metrics.port", 4, "TCP port 0-65535"),
        ("    port: nine\n", "connectors.metrics.port", 4, "TCP port"),
        ("    prot: 9464\n", "connectors.metrics.prot", 4, "did you mean 'port'"),
        ("    address: localhost\n", "connectors.metrics.address", 4, "'host:port'"),
        ("    port: 1\n    address: a:2\n", "connectors.metrics.address", 5, "not both"),
    ],
)
def test_a_wrong_metrics_section_names_file_line_and_key(
    tmp_path: Path, metrics: str, key: str, line: int, says: str
) -> None:
    path = write(tmp_path, metrics)
    with pytest.raises(ConfigError) as info:
        parse_connectors(path)
    errors = info.value.errors if isinstance(info.value, ConfigErrors) else [info.value]
    assert (errors[0].key, errors[0].file, errors[0].line) == (key, str(path), line)
    assert says in str(errors[0])


def test_check_cli_accepts_and_prints_the_metrics_section(tmp_path: Path) -> None:
    path = write(tmp_path, "    address: 127.0.0.1:9555\n")
    cli = Path(sys.executable).with_name("qmtl-connectors")
    done = subprocess.run([cli, "check", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "address: 127.0.0.1:9555" in done.stdout
    bad = subprocess.run(
        [cli, "check", str(write(tmp_path, "    port: -1\n"))], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "qmtl.yml:4, key 'connectors.metrics.port'" in bad.stderr


def test_a_config_with_metrics_serves_them_once_connectors_are_built() -> None:
    connectors = load_connectors({"connectors": {"metrics": {"port": 0}}})
    assert connectors.metrics is None  # validating or loading serves nothing
    broker = connectors.brokerage
    exporter = connectors.metrics
    assert exporter is not None and exporter.url is not None
    try:
        broker.post_order({"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": 1})
        text = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
        assert 'qmtl_orders_total{connector="FakeBrokerageClient",outcome="acknowledged"} 1.0' in (
            text
        )
        assert connectors.with_domain("dryrun").start_metrics() is exporter
    finally:
        exporter.close()


def test_a_port_in_use_is_a_config_error_not_a_traceback() -> None:
    with enable_metrics(port=0) as first, pytest.raises(ConfigError) as info:
        enable_metrics(port=first.port)
    assert "cannot serve metrics" in str(info.value) and "pick another port" in str(info.value)


def test_without_the_extra_the_error_says_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None  # as if the extra were not installed
        from qmtl_core import ConfigError, enable_metrics
        try:
            enable_metrics(port=0)
        except ConfigError as exc:
            print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'qmtl-core[metrics]'" in done.stdout


def test_listing_plugins_and_loading_a_config_never_import_prometheus_client() -> None:
    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from qmtl_core.cli import main
        from qmtl_core import load_connectors
        with contextlib.redirect_stdout(io.StringIO()):
            main(["plugins"])
        load_connectors({"connectors": {"metrics": {"port": 9464}}})
        print("prometheus_client" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_observer_works_on_any_plugin_manager() -> None:
    registry = Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "none"}))
    with enable_metrics(registry=registry, serve=False) as metrics:
        assert metrics.url is None
        hook = registry.plugin_manager.hook
        hook.qmtl_order_event(event=OrderEvent("unknown", "DeskClient", "coid-1"))
        hook.qmtl_order_event(event=OrderEvent("sent", "DeskClient", "coid-1"))
        values = metrics.observer.registry
        assert values.get_sample_value("qmtl_orders_unknown_total", {"connector": "DeskClient"})
        assert values.get_sample_value("qmtl_order_attempts_total", {"connector": "DeskClient"})
    assert not registry.plugin_manager.get_plugins() & {metrics.observer}


def test_unwired_state_gauges_export_no_sample() -> None:
    observer = MetricsObserver()
    families = {f.name: f for f in observer.registry.collect()}
    assert families["qmtl_journal_unresolved"].samples == []
    assert families["qmtl_rate_budget_used"].samples == []


def test_the_dashboard_only_queries_metrics_the_observer_exports() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    families = list(MetricsObserver().registry.collect())
    names = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert names == set(METRIC_NAMES)
    scraped = {  # every sample name a scrape can contain
        name + suffix
        for f in families
        for name, suffixes in [(f.name, SUFFIXES.get(f.type, ("",)))]
        for suffix in suffixes
    }
    used = {name for expr in exprs for name in re.findall(r"\bqmtl_\w+", expr)}
    assert used <= scraped, f"the dashboard queries unknown metrics: {used - scraped}"
    # Every panel's PromQL is written out in docs/metrics.md.
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert [e for e in exprs if f"`{e}`" not in text] == []
