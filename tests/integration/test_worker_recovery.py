"""Exactly-once across a SIGKILL, and scale-out across two workers, on a real broker.

Both use several partitions; every partition decides with the same population model, so
its decisions, states and churn-rate gauges must equal those of one replay of the whole
file: anything lost, repeated or restored wrongly shows.

The scale-out test produces while the workers run. A year of events is then pushed in
seconds, and the producer's per-topic batches put days of event time between the input
topics of a partition, far beyond the default allowed lateness of an hour (live traffic
has seconds); there the lateness is raised to 30 days, for replay alike, and a caught-up
topic holds the watermark for 10 s (``topic_idle_seconds``).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from models.policy import Policy
from tests.integration.harness import (
    DecisionKey,
    Deployment,
    assert_churn_rate_served,
    deployment,
    replay_decisions,
    replay_states,
    simulate,
    state_differences,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# A year pushed in seconds: 30 days of event time pass in a fifth of a second of producing,
# so a topic may wait longer than the default 2 s hold for its producer's next batch when
# the machine is busy: hold for 10 s.
LATENESS_30_DAYS = {
    "DETECTION__ALLOWED_LATENESS_SECONDS": "2592000",
    "TOPIC_IDLE_SECONDS": "10",
}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=1000, days=365)


def assert_same_as_replay(
    d: Deployment, events: Path, decided: list[DecisionKey], policy: Policy
) -> None:
    repeated = [decision for decision, n in Counter(decided).items() if n > 1]
    assert repeated == []
    assert set(decided) == set(replay_decisions(d, events))
    assert d.read([d.topic("dead_letter")]) == []  # nothing late, nothing refused
    assert state_differences(d.table(), replay_states(events, policy)) == []


def test_sigkill_mid_stream_loses_and_repeats_nothing(
    kafka_broker: str, tmp_path: Path, events: Path
) -> None:
    # The RocksDB store (the default): its local state after a SIGKILL is not trusted.
    with deployment(kafka_broker, tmp_path, partitions=2, store="rocksdb://") as d:
        expected = len(replay_decisions(d, events))
        d.produce(events, advance_to_end=True)
        first = d.start_worker("first")

        def a_fifth_done() -> tuple[int, int] | None:
            done, total = d.consumed()
            return (done, total) if done > total // 5 else None

        done, total = wait_for("the worker to get a fifth of the way", a_fifth_done, 120, 0.25)
        first.stop(signal.SIGKILL)
        assert done < total, "the stream ended before the kill; use a longer one"
        partial = d.decisions()
        assert len(partial) < expected

        # Same data directory: the stale local table must be wiped and restored.
        second = d.start_worker("first")
        # A stall (no commit progress) fails at once rather than after the timeout.
        d.wait_until_consumed(timeout=180, stall_seconds=45)
        decided = d.decisions()
        assert len(decided) == expected
        assert second.process.poll() is None, second.log_text()[-3000:]
        assert "did not stop cleanly" in second.log_text()  # the RocksDB state was wiped
        assert_same_as_replay(d, events, decided, Policy())
        # The churn accounting was restored from the changelog with the customers.
        assert_churn_rate_served(d, events, second)


def test_stopping_one_of_two_workers_moves_its_customers_intact(
    kafka_broker: str, tmp_path: Path, events: Path
) -> None:
    lines = events.read_bytes().splitlines(keepends=True)
    first_half, second_half = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first_half.write_bytes(b"".join(lines[: len(lines) // 2]))
    second_half.write_bytes(b"".join(lines[len(lines) // 2 :]))
    with deployment(kafka_broker, tmp_path, partitions=4, extra=LATENESS_30_DAYS) as d:
        a, b = d.start_worker("a"), d.start_worker("b")
        wait_for("two workers in the group", lambda: d.group_members() == 2, timeout=60)
        d.produce(first_half)
        d.wait_until_consumed(timeout=120)
        assert b.stop(signal.SIGTERM) == 0, b.log_text()[-3000:]
        wait_for("one worker in the group", lambda: d.group_members() == 1, timeout=60)

        d.produce(second_half, advance_to_end=True)
        d.wait_until_consumed(timeout=180, stall_seconds=45)
        decided = d.decisions()
        assert a.process.poll() is None, a.log_text()[-3000:]
        policy = Policy(allowed_lateness_seconds=2_592_000)
        assert_same_as_replay(d, events, decided, policy)
        # b's partitions moved to a with their churn accounting: a now reports them all.
        assert_churn_rate_served(d, events, a)
