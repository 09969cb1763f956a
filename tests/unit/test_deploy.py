"""docker-compose mounts the deploy files that exist, and Prometheus scrapes its worker.

Text checks (no YAML parser is a dependency); promtool checks the Prometheus files
themselves (tests/integration/test_alert_rules.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE = (REPO / "docker-compose.yml").read_text()


def service(name: str) -> str:
    """The text of one service of docker-compose.yml."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)+)", COMPOSE, flags=re.M)
    assert match, f"no service {name}"
    return match.group(1)


def test_every_mounted_deploy_path_exists() -> None:
    mounts = re.findall(r"- \./(deploy/[^:]+):", COMPOSE)
    assert {"deploy/prometheus", "deploy/grafana/provisioning", "deploy/grafana/dashboards"} <= set(
        mounts
    )
    for path in mounts:
        assert (REPO / path).exists(), path


def test_prometheus_scrapes_the_worker_service_on_its_web_port() -> None:
    config = (REPO / "deploy" / "prometheus" / "prometheus.yml").read_text()
    assert 'targets: ["worker:6066"]' in config
    worker = service("worker")
    assert '"worker"]' in worker  # runs churnwatch worker
    assert "CHURNWATCH_WEB_HOST: 0.0.0.0" in worker
    assert "CHURNWATCH_WEB_CANONICAL_URL: http://worker:6066" in worker
    assert '"6066:6066"' in worker
    assert "--config.file=/etc/prometheus/prometheus.yml" in service("prometheus")


def test_grafana_gets_the_provisioned_data_source_and_dashboard() -> None:
    grafana = service("grafana")
    assert "/etc/grafana/provisioning" in grafana
    assert "/var/lib/grafana/dashboards" in grafana
    provider = (REPO / "deploy/grafana/provisioning/dashboards/churnwatch.yml").read_text()
    assert "path: /var/lib/grafana/dashboards" in provider
    datasource = (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    assert "url: http://prometheus:9090" in datasource


def _datasources(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [d for value in node.values() for d in _datasources(value)]
    if isinstance(node, list):
        return [d for value in node for d in _datasources(value)]
    return []


def test_the_dashboard_works_with_any_prometheus_data_source() -> None:
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/churnwatch.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    references = _datasources(dashboard["panels"]) + _datasources(variables["job"])
    assert references
    for reference in references:
        assert reference == {"type": "prometheus", "uid": "${datasource}"}
