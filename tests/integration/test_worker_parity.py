"""The worker decides what ``churnwatch replay`` decides, on a real broker (clock = event).

Every engine decides with the same population model (the policy's starting prior, or a
fitted one given by the ``model`` setting), so however the customers are spread over
partitions, the worker's decisions are replay's; and the churn-rate gauges it serves at
``/metrics``, summed over its partitions, are the table ``replay --churn-rate`` writes.
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.worker_harness import Deployment, deployment, replay_decisions, simulate, wait_for
from models.churn_rate import ALL_SEGMENTS, MEASURES
from streams.metrics import CHURN_RATE_GAUGES
from tests.integration.test_replay_cli import churnwatch

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=300, days=200)


ChurnTable = dict[tuple[str, str, str], float]  # (month, segment, measure) -> count


def replay_churn_rate(d: Deployment, events: Path) -> ChurnTable:
    """``churnwatch replay --churn-rate`` with the deployment's settings, per segment."""
    path = d.workdir / f"{d.prefix}-churn-rate.jsonl"
    d.churnwatch("replay", str(events), "--output", os.devnull, "--churn-rate", str(path))
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return {
        (row["month"], row["segment"], measure): float(row[measure])
        for row in rows
        if row["segment"] != ALL_SEGMENTS
        for measure in MEASURES
    }


def served_churn_rate(port: int) -> ChurnTable:
    """The worker's churn-rate gauges, from its ``/metrics`` page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    measure_of = {f"churnwatch_{name}": m for m, (name, _) in CHURN_RATE_GAUGES.items()}
    return {
        (sample.labels["month"], sample.labels["segment"], measure_of[sample.name]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in measure_of
    }


@pytest.mark.parametrize(
    ("partitions", "fitted"),
    [(1, False), (3, True)],
    ids=["one-partition", "three-partitions-fitted-model"],
)
def test_worker_and_replay_make_the_same_decisions(
    kafka_broker: str, tmp_path: Path, events: Path, partitions: int, fitted: bool
) -> None:
    extra: dict[str, str] = {}
    if fitted:
        model = tmp_path / "model.json"
        done = churnwatch("fit", str(events), "--output", str(model))
        assert done.returncode == 0, done.stderr
        extra["MODEL"] = str(model)
    with deployment(kafka_broker, tmp_path, partitions=partitions, extra=extra) as d:
        expected = replay_decisions(d, events)
        assert len(expected) > 100  # a meaningful sample: all three kinds, many customers
        assert {kind for _, kind, *_ in expected} == {
            "churnwatch.customer.at_risk",
            "churnwatch.customer.lost",
            "churnwatch.customer.recovered",
        }
        d.produce(events, advance_to_end=True)
        worker = d.start_worker()
        d.wait_until_consumed(timeout=90)
        decided = d.decisions()
        assert worker.process.poll() is None, worker.log_text()[-3000:]
        assert Counter(decided).most_common(1)[0][1] == 1  # none twice
        assert set(decided) == set(expected)
        assert d.read([d.topic("dead_letter")]) == []

        table = replay_churn_rate(d, events)
        assert sum(n for (_, _, measure), n in table.items() if measure == "lost") > 10
        assert sum(n for (_, _, measure), n in table.items() if measure == "recovered") > 0
        served: list[ChurnTable] = []

        def gauges_match() -> bool:
            served[:] = [served_churn_rate(worker.web_port)]
            return served[0] == table

        with contextlib.suppress(TimeoutError):  # the assertion below shows the difference
            wait_for("the churn-rate gauges to show replay's table", gauges_match, timeout=30)
        assert served[0] == table
