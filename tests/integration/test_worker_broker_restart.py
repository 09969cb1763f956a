"""Exactly-once across a broker restart mid-stream, on a real broker of its own.

The broker is stopped (``scripts/kafka-local stop``), or killed with SIGKILL, while the
worker is a fifth of the way through a backfill, and started again on the same ports and
data directory. The worker
must ride it out, without a restart of its own, and publish exactly the decisions of one
replay of the file: none lost, none twice.

The broker is the test's own (:mod:`tests.integration.own_broker`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import deployment, replay_decisions, simulate, wait_for
from tests.integration.own_broker import OwnBroker, own_broker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    with own_broker(tmp_path_factory.mktemp("kafka-restart")) as started:
        yield started


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=1000, days=365)


@pytest.mark.parametrize("how", ["stop", "sigkill"])
def test_a_broker_restart_mid_stream_loses_and_repeats_nothing(
    broker: OwnBroker, tmp_path: Path, events: Path, how: str
) -> None:
    with deployment(broker.address, tmp_path, partitions=2, store="rocksdb://") as d:
        expected = replay_decisions(d, events)
        d.produce(events, advance_to_end=True)
        worker = d.start_worker()

        def a_fifth_done() -> tuple[int, int] | None:
            done, total = d.consumed()
            return (done, total) if done > total // 5 else None

        done, total = wait_for("the worker to get a fifth of the way", a_fifth_done, 120, 0.25)
        if how == "stop":
            broker.stop()
        else:
            broker.kill()
        time.sleep(3)  # down for a while: requests fail, connections are refused
        broker.start()
        assert done < total, "the stream ended before the restart; use a longer one"

        d.wait_until_consumed(timeout=240, stall_seconds=90)
        assert worker.process.poll() is None, worker.log_text()[-3000:]
        decided = d.decisions()
        repeated = [decision for decision, n in Counter(decided).items() if n > 1]
        assert repeated == []
        assert set(decided) == set(expected)
        assert d.read([d.topic("dead_letter")]) == []
