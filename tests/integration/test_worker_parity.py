"""The worker decides what ``churnwatch replay`` decides, on a real broker (clock = event).

One partition: the partition's engine sees the whole population, exactly as replay does.
Several partitions: each partition's engine learns the population prior from its own
customers only, so decisions may legitimately differ from replay's; with the prior's weight
made overwhelming (``detection.prior_weight_customers``) the population does not matter and
the decisions must be the same again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.worker_harness import deployment, replay_decisions, simulate

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=200, days=200)


@pytest.mark.parametrize(
    ("partitions", "extra"),
    [(1, {}), (3, {"DETECTION__PRIOR_WEIGHT_CUSTOMERS": "1e12"})],
    ids=["one-partition", "three-partitions-prior-fixed"],
)
def test_worker_and_replay_make_the_same_decisions(
    kafka_broker: str, tmp_path: Path, events: Path, partitions: int, extra: dict[str, str]
) -> None:
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
