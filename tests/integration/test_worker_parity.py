"""The worker decides what ``churnwatch replay`` decides, on a real broker (clock = event).

Every engine decides with the same population model (the policy's starting prior, or a
fitted one given by the ``model`` setting), so however the customers are spread over
partitions, the worker's decisions are replay's; and the churn-rate gauges it serves at
``/metrics``, summed over its partitions, are the table ``replay --churn-rate`` writes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.integration.harness import (
    assert_churn_rate_served,
    deployment,
    replay_decisions,
    simulate,
)
from tests.integration.test_replay_cli import churnwatch

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=300, days=200)


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

        assert_churn_rate_served(d, events, worker)
