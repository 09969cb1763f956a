"""A real Prometheus scrapes a real worker; its HTTP API must show what the feed implies.

Prometheus is Debian's package (``/usr/bin/prometheus``; ``scripts/setup`` installs it); if
it is missing the test fails, it never skips. It runs on loopback with a scrape interval of
one second, loads the real ``deploy/prometheus/alerts.yml``, and is stopped by PID.

The feed is a simulated file plus messages with known defects. Expected values come from
the file itself (events per type, customers, newest event time) and from the output topics
(decisions per type, read back with read_committed).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from tests.integration.harness import (
    Deployment,
    deployment,
    free_port,
    replay_churn_rate,
    simulate,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "churnwatch.json"
DECISION_TYPES = {
    "churnwatch.customer.at_risk": "at_risk",
    "churnwatch.customer.lost": "lost",
    "churnwatch.customer.recovered": "recovered",
}


class Prometheus:
    """A Prometheus server on loopback, and its query API."""

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            pytest.fail(
                "prometheus not found: install Debian's prometheus package "
                "(apt-get install -y prometheus, or scripts/setup)",
                pytrace=False,
            )
        shutil.copy(ALERTS, workdir / "alerts.yml")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [
                {"job_name": "churnwatch", "static_configs": [{"targets": targets}]}
            ],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.port = free_port()
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Instant query: labels (without __name__, job, instance) -> value."""
        result = self.api("query", query=expr)["result"]
        skip = {"__name__", "job", "instance"}
        return {
            tuple(sorted((k, v) for k, v in series["metric"].items() if k not in skip)): float(
                series["value"][1]
            )
            for series in result
        }

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/-/ready"
            with urllib.request.urlopen(url, timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited:\n{self.log.read_text()[-3000:]}"
                ) from None
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Path:
    path = tmp_path / "prometheus"
    path.mkdir()
    return path


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def feed_defects(d: Deployment, broker: str) -> Counter[str]:
    """Send messages the worker must dead-letter; their reasons."""
    defects = [
        (d.topic("orders"), b"x1", b'{"event_type": "order"'),  # invalid_json
        (d.topic("orders"), b"x2", b"[1, 2]"),  # not_an_object
        (d.topic("calls"), b"nobody", orjson.dumps({"customer_id": "x3"})),  # missing_field
    ]
    producer = KafkaProducer(bootstrap_servers=broker)
    try:
        for topic, key, value in defects:
            producer.send(topic, key=key, value=value).get(30)
    finally:
        producer.close()
    return Counter({"invalid_json": 1, "not_an_object": 1, "missing_field": 1})


def expectations(events: Path) -> tuple[Counter[str], int, float]:
    """Events per type, customers, newest event time (epoch s) of a JSON Lines file."""
    per_type: Counter[str] = Counter()
    customers: set[str] = set()
    newest = 0.0
    for raw in events.read_bytes().splitlines():
        event = orjson.loads(raw)
        per_type[event["event_type"]] += 1
        customers.add(event["customer_id"])
        at = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).timestamp()
        newest = max(newest, at)
    return per_type, len(customers), newest


@pytest.fixture
def running_prometheus() -> Iterator[list[Prometheus]]:
    """Prometheus servers a test starts, stopped by PID at its end."""
    started: list[Prometheus] = []
    yield started
    for server in started:
        server.stop()


def test_prometheus_scrapes_the_worker_and_sees_the_feed(
    kafka_broker: str, tmp_path: Path, prometheus_dir: Path, running_prometheus: list[Prometheus]
) -> None:
    events = simulate(tmp_path, customers=80, days=90, seed=5)
    with deployment(kafka_broker, tmp_path, partitions=2) as d:
        per_type, customers, newest = expectations(events)
        # The feed first, then the worker (a backfill read while it is produced would
        # make some events late: docs/worker.md, "Backfill caveat").
        rejected = feed_defects(d, kafka_broker)
        d.produce(events, advance_to_end=True)
        worker = d.start_worker()
        d.wait_until_consumed(timeout=120)
        decisions = Counter(DECISION_TYPES[kind] for _, kind, *_ in d.decisions())

        prometheus = Prometheus(prometheus_dir, [f"127.0.0.1:{worker.web_port}"])
        running_prometheus.append(prometheus)
        wait_for("prometheus to start", prometheus.ready, timeout=60)
        wait_for(
            "a successful scrape of the worker",
            lambda: prometheus.query('up{job="churnwatch"}') == {(): 1.0},
            timeout=60,
        )

        def settled() -> dict[str, Any] | None:
            """Everything the feed implies, once Prometheus has scraped it all."""
            seen = {
                "consumed": prometheus.query("churnwatch_events_consumed_total"),
                "rejected": prometheus.query("churnwatch_events_rejected_total"),
                "decisions": prometheus.query("churnwatch_decisions_published_total"),
                "customers": prometheus.query("sum(churnwatch_customers_tracked)"),
                "lag": prometheus.query("churnwatch_consumer_lag_messages"),
            }
            done = (
                sum(seen["consumed"].values()) == sum(per_type.values())
                and seen["customers"] == {(): float(customers)}
                and len(seen["lag"]) == 8
                and sum(seen["lag"].values()) == 0
            )
            return seen if done else None

        seen = wait_for("the feed in prometheus", settled, timeout=60, every=1.0)
        topics = {"order": d.topic("orders"), "email": d.topic("emails"), "call": d.topic("calls")}
        for event_type, topic in topics.items():
            for other in topics:
                key = labels(topic=topic, event_type=other)
                wanted = float(per_type[event_type]) if other == event_type else 0.0
                assert seen["consumed"][key] == wanted, (key, seen["consumed"])
        by_reason = {dict(key)["reason"]: value for key, value in seen["rejected"].items()}
        assert len(by_reason) >= 9  # every reason exists, at zero if unused
        assert {reason: n for reason, n in by_reason.items() if n} == rejected
        assert {dict(key)["type"]: n for key, n in seen["decisions"].items()} == {
            kind: float(decisions[kind]) for kind in ("at_risk", "lost", "recovered")
        }
        assert sum(decisions.values()) > 0

        # Per-partition gauges, and how the worker runs.
        watermarks = prometheus.query("churnwatch_watermark_timestamp_seconds")
        assert watermarks == {labels(partition="0"): newest, labels(partition="1"): newest}
        assert prometheus.query("churnwatch_partitions_assigned") == {(): 2.0}
        assert prometheus.query("churnwatch_table_recovery_complete") == {(): 1.0}
        assert set(prometheus.query("churnwatch_table_recovery_progress_ratio").values()) == {1.0}
        (info,) = prometheus.query("churnwatch_worker_info")
        assert dict(info)["clock"] == "event"
        assert dict(info)["processing_guarantee"] == "exactly_once"
        lag_observed = prometheus.query("churnwatch_event_time_lag_seconds_count")
        assert lag_observed == {(): float(sum(per_type.values()))}
        assert prometheus.query("churnwatch_commit_duration_seconds_count")[()] > 0
        assert prometheus.query("process_resident_memory_bytes")[()] > 0

        # The real alert rules load in the real server, and none fires on a healthy worker.
        def evaluated() -> dict[str, Any] | None:
            groups = prometheus.api("rules")["groups"]
            rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
            return rules if all(r["health"] != "unknown" for r in rules.values()) else None

        rules = wait_for("the alert rules to be evaluated", evaluated, timeout=30)
        assert len(rules) == ALERTS.read_text().count("- alert: ")
        assert all(rule["health"] == "ok" for rule in rules.values()), rules

        # An absence alert evaluated before the first scrape may stand pending for a moment;
        # on a healthy worker every alert clears (and none ever fires: each waits minutes).
        def quiet() -> bool | None:
            alerts = prometheus.api("alerts")["alerts"]
            assert all(alert["state"] != "firing" for alert in alerts), alerts
            return True if alerts == [] else None

        wait_for("no alert on a healthy worker", quiet, timeout=30)
        assert_churn_panels_show_replays_table(prometheus, replay_churn_rate(d, events))
        assert worker.process.poll() is None


def panel_query(title: str, month: str) -> str:
    """The dashboard panel's query as Grafana sends it for ``month``."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    (panel,) = [p for p in panels if p["title"] == title]
    (target,) = panel["targets"]
    return str(target["expr"]).replace("$job", "churnwatch").replace("$month", month)


def assert_churn_panels_show_replays_table(
    prometheus: Prometheus, table: dict[tuple[str, str, str], float]
) -> None:
    """Every month's churn and recovery rate panels, per segment and in all, from a real
    Prometheus, are the rates of ``churnwatch replay --churn-rate``."""
    months = sorted({month for month, _, _ in table})
    assert len(months) >= 3
    shown_months = prometheus.query("count by (month) (churnwatch_customers_lost_in_month)")
    assert sorted(dict(key)["month"] for key in shown_months) == months
    rates = (  # panel title, numerator and denominator measures
        ("Churn rate by segment, $month", ("lost",), ("active_at_start",)),
        ("Recovery rate by segment, $month", ("recovered",), ("lost_at_start", "lost")),
        ("Churn rate, $month", ("lost",), ("active_at_start",)),
        ("Recovery rate, $month", ("recovered",), ("lost_at_start", "lost")),
    )
    for month in months:
        segments = sorted({segment for m, segment, _ in table if m == month})
        for title, numerator, denominator in rates:
            shown = prometheus.query(panel_query(title, month))
            per_segment = "by segment" in title
            for segment in segments if per_segment else ["all"]:
                chosen = segments if segment == "all" else [segment]
                above = sum(table[month, s, m] for s in chosen for m in numerator)
                below = sum(table[month, s, m] for s in chosen for m in denominator)
                value = shown[labels(segment=segment) if per_segment else ()]
                if below:
                    assert value == pytest.approx(above / below), (title, month, segment)
                else:
                    assert not math.isfinite(value), (title, month, segment)  # 0/0, x/0
        # The value flagged, per segment and status, is replay's to the cent.
        shown = prometheus.query(panel_query("Value at risk flagged by segment, $month", month))
        for segment in segments:
            for status in ("at_risk", "lost"):
                expected = table[month, segment, f"{status}_value"]
                value = shown[labels(segment=segment, status=status)]
                assert value == pytest.approx(expected, abs=0.011), (month, segment, status)
