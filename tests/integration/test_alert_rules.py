"""The alerting rules and Prometheus config, checked by the real promtool.

promtool comes with Debian's ``prometheus`` package (``apt-get install prometheus``). If it
is missing these tests fail, they never skip: alerts nobody has tested are worse than none.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streams.metrics import BatchTally, create_metrics, exposition
from tests.builders import an_order, day

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "churnwatch.json"
SEVERITIES = {"critical", "warning"}
# Absolute runbook links: Prometheus's external label runbook_base_url, else a default.
RUNBOOK_BASE = (
    "{{ with $externalLabels.runbook_base_url }}{{ . }}"
    "{{ else }}https://churnwatch.example/docs/operations.md{{ end }}"
)


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install Debian's prometheus package "
            "(apt-get install -y prometheus)",
            pytrace=False,
        )
    return subprocess.run(
        [path, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rules() -> dict[str, str]:
    """Alert name -> the text of its rule in alerts.yml."""
    chunks = re.split(r"^\s+- alert: ", ALERTS.read_text(), flags=re.M)[1:]
    return {chunk.split("\n", 1)[0].strip(): chunk for chunk in chunks}


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub generates for the headings of a Markdown document."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_is_tested_firing_and_not_firing() -> None:
    tests = ALERTS_TEST.read_text()
    cases = re.findall(r"alertname: (\w+)\n\s+exp_alerts:(.*)\n", tests)
    quiet = {name for name, rest in cases if rest.strip() == "[]"}
    firing = {name for name, rest in cases if rest.strip() == ""}
    assert rules(), "no rules found in alerts.yml"
    for name in rules():
        assert name in firing, f"{name} has no firing test"
        assert name in quiet, f"{name} has no not-firing test"
    assert {name for name, _ in cases} <= set(rules()), "test of a rule that does not exist"


def test_every_rule_has_a_duration_severity_annotations_and_a_runbook() -> None:
    anchors = github_anchors(OPERATIONS_DOC.read_text())
    for name, rule in rules().items():
        assert re.search(r"^\s+for: \d+[smh]$", rule, flags=re.M), f"{name}: no for:"
        severity = re.search(r"^\s+severity: (\w+)$", rule, flags=re.M)
        assert severity and severity.group(1) in SEVERITIES, f"{name}: severity"
        assert re.search(r"^\s+summary: \S", rule, flags=re.M), f"{name}: summary"
        assert re.search(r"^\s+description: \S", rule, flags=re.M), f"{name}: description"
        runbook = re.search(r'runbook_url: "' + re.escape(RUNBOOK_BASE) + r'#([\w-]+)"', rule)
        assert runbook, f"{name}: runbook_url"
        assert runbook.group(1) == name.lower(), f"{name}: runbook anchor"
        assert runbook.group(1) in anchors, f"{name}: no such heading in docs/operations.md"


def test_prometheus_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    base = re.search(r"^\s+runbook_base_url: (https://\S+)$", PROMETHEUS_CONFIG.read_text(), re.M)
    assert base, "prometheus.yml sets no runbook_base_url external label"


def test_a_missing_worker_target_alerts() -> None:
    assert 'absent(up{job="churnwatch"})' in rules()["ChurnwatchWorkerAbsent"]


def test_exposition_passes_promtool_lint() -> None:
    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    metrics.assign([0])
    metrics.set_consumer_lag("orders", 0, 7)
    metrics.set_recovery_progress(0, 0.5)
    metrics.observe_processing(0.01)
    tally = BatchTally()
    tally.accepted("orders", an_order(at=day(0)))
    metrics.flush(tally, now=day(1))
    body, _ = exposition(registry)

    result = promtool("check", "metrics", stdin=body)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", ())]
    assert queries
    # promtool parses PromQL in rule files: one recording rule per query, with Grafana's
    # variables filled in (JSON strings are valid YAML scalars).
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for number, query in enumerate(queries):
        expr = query.replace("$__rate_interval", "5m").replace("$job", "churnwatch")
        lines += [f"      - record: dashboard:query{number}", f"        expr: {json.dumps(expr)}"]
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text("\n".join(lines) + "\n")

    result = promtool("check", "rules", str(rules_file))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout
