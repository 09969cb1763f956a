"""Exactly-once across a broker restart mid-stream, on a real broker of its own.

The broker is stopped (``scripts/kafka-local stop``) while the worker is a fifth of the way
through a backfill, and started again on the same ports and data directory. The worker
must ride it out, without a restart of its own, and publish exactly the decisions of one
replay of the file: none lost, none twice.

This test starts its own broker (the session's is shared by the other tests, which must
not see it go away); like the session's, it fails, never skips, if it cannot start.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.worker_harness import deployment, replay_decisions, simulate, wait_for
from tests.integration.conftest import START_TIMEOUT_S, STOP_TIMEOUT_S, _free_port, _log_tail, _run

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PRIOR_FIXED = {"DETECTION__PRIOR_WEIGHT_CUSTOMERS": "1e12"}


@dataclass
class OwnBroker:
    """A broker this test may stop and start; its data survives a restart."""

    home: Path
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, keep_data: bool = True) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HOME_DIR": str(self.home),
            "KAFKA_KEEP_DATA": "1" if keep_data else "0",
            "KAFKA_EXIT_WITH_PID": str(os.getpid()),
        }

    def start(self) -> None:
        started = _run("start", self.env(), START_TIMEOUT_S)
        if started.returncode != 0:
            pytest.fail(
                f"scripts/kafka-local start exited {started.returncode}\n{started.stdout}"
                f"{started.stderr}\n{_log_tail(self.home)}",
                pytrace=False,
            )

    def stop(self, keep_data: bool = True) -> None:
        stopped = _run("stop", self.env(keep_data), STOP_TIMEOUT_S)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    port = _free_port()
    broker = OwnBroker(tmp_path_factory.mktemp("kafka-restart"), port, _free_port({port}))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop(keep_data=False)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=1000, days=365)


def test_a_broker_restart_mid_stream_loses_and_repeats_nothing(
    own_broker: OwnBroker, tmp_path: Path, events: Path
) -> None:
    with deployment(
        own_broker.address, tmp_path, partitions=2, store="rocksdb://", extra=PRIOR_FIXED
    ) as d:
        expected = replay_decisions(d, events)
        d.produce(events, advance_to_end=True)
        worker = d.start_worker()

        def a_fifth_done() -> tuple[int, int] | None:
            done, total = d.consumed()
            return (done, total) if done > total // 5 else None

        done, total = wait_for("the worker to get a fifth of the way", a_fifth_done, 120, 0.25)
        own_broker.stop()
        time.sleep(3)  # down for a while: requests fail, connections are refused
        own_broker.start()
        assert done < total, "the stream ended before the restart; use a longer one"

        d.wait_until_consumed(timeout=240, stall_seconds=90)
        assert worker.process.poll() is None, worker.log_text()[-3000:]
        decided = d.decisions()
        repeated = [decision for decision, n in Counter(decided).items() if n > 1]
        assert repeated == []
        assert set(decided) == set(expected)
        assert d.read([d.topic("dead_letter")]) == []
