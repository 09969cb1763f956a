"""Rebalances while the input flows: a second worker joins, then leaves, on a real broker.

The first worker keeps some partitions through both rebalances. Nothing may be lost or
published twice, and the rebalances must not log Faust's failed attempt to begin a
transaction that is already open (``streams.kafka.runtime.fixes.begin_only_outside_transactions``).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.harness import deployment, replay_decisions, simulate, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# Produced while the workers run: days of event time may lie between a partition's input
# topics (see test_worker_recovery.py), so the lateness is 30 days, for replay alike.
EXTRA = {
    "DETECTION__ALLOWED_LATENESS_SECONDS": "2592000",
    "TOPIC_IDLE_SECONDS": "10",
}


def test_a_worker_joining_and_leaving_loses_repeats_and_warns_nothing(
    kafka_broker: str, tmp_path: Path
) -> None:
    events = simulate(tmp_path, customers=300, days=240)
    lines = events.read_bytes().splitlines(keepends=True)
    thirds = [tmp_path / f"part{i}.jsonl" for i in range(3)]
    size = len(lines) // 3 + 1
    for i, path in enumerate(thirds):
        path.write_bytes(b"".join(lines[i * size : (i + 1) * size]))

    with deployment(kafka_broker, tmp_path, partitions=4, extra=EXTRA) as d:
        expected = replay_decisions(d, events)
        a = d.start_worker("a")
        wait_for("one worker in the group", lambda: d.group_members() == 1, timeout=60)
        d.produce(thirds[0])
        d.wait_until_consumed(timeout=120)

        b = d.start_worker("b")
        wait_for("two workers in the group", lambda: d.group_members() == 2, timeout=60)
        d.produce(thirds[1])
        d.wait_until_consumed(timeout=120, stall_seconds=60)

        assert b.stop(signal.SIGTERM) == 0, b.log_text()[-3000:]
        wait_for("one worker in the group", lambda: d.group_members() == 1, timeout=60)
        d.produce(thirds[2], advance_to_end=True)
        d.wait_until_consumed(timeout=120, stall_seconds=60)

        assert a.process.poll() is None, a.log_text()[-3000:]
        decided = d.decisions()
        assert [k for k, n in Counter(decided).items() if n > 1] == []
        assert set(decided) == set(expected)
        for worker in (a, b):
            log = worker.log_text()
            assert "Joined group" in log  # the log is the worker's
            assert "Exception in begin_transaction" not in log
            assert "Invalid state transition" not in log
