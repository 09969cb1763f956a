"""The changelog's segments close, so compaction shortens the restore, on a real broker.

Kafka compacts only closed segments. The worker creates the table's changelog with
``segment.bytes`` and ``segment.ms`` from the settings (``changelog_segment_bytes``,
``changelog_segment_seconds``); here a segment closes after a second, so that the
broker's log cleaner compacts within seconds. The input arrives in rounds, each rewriting
the customers it touches, so the changelog holds several records per customer; after
compaction, a worker restarted after SIGKILL (whose local store is wiped) restores far
fewer records than were written, and still decides exactly as replay does.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from models.policy import Policy
from tests.integration.harness import Deployment, deployment, simulate, wait_for
from tests.integration.test_worker_recovery import LATENESS_30_DAYS, assert_same_as_replay

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RESTORED = re.compile(r"restored: (?P<records>\d+) changelog records")
# The smallest segments allowed (a segment must hold the largest batch), closed after 1 s.
SEGMENTS = {"CHANGELOG_SEGMENT_BYTES": "1048576", "CHANGELOG_SEGMENT_SECONDS": "1"}
ROUNDS = 6


def changelog_configs(d: Deployment) -> dict[str, str]:
    resource = ConfigResource(ConfigResourceType.TOPIC, d.changelog_topic)
    described = d._admin.describe_configs([resource])  # kafka-python 3: by type, then name
    entries: dict[str, dict[str, str]] = described["topic"][d.changelog_topic]
    return {name: entry["value"] for name, entry in entries.items()}


def changelog_end(d: Deployment) -> int:
    consumer = KafkaConsumer(bootstrap_servers=d.broker, isolation_level="read_committed")
    try:
        tp = TopicPartition(d.changelog_topic, 0)
        return int(consumer.end_offsets([tp])[tp])
    finally:
        consumer.close()


def test_a_compacted_changelog_restores_fewer_records_than_were_written(
    kafka_broker: str, tmp_path: Path
) -> None:
    events = simulate(tmp_path, customers=200, days=240)
    lines = events.read_bytes().splitlines(keepends=True)
    size = len(lines) // ROUNDS + 1
    rounds = [tmp_path / f"round{i}.jsonl" for i in range(ROUNDS)]
    for i, path in enumerate(rounds):
        path.write_bytes(b"".join(lines[i * size : (i + 1) * size]))
    extra = {**LATENESS_30_DAYS, **SEGMENTS}
    with deployment(kafka_broker, tmp_path, store="rocksdb://", extra=extra) as d:
        worker = d.start_worker("w")
        for i, path in enumerate(rounds):
            d.produce(path, advance_to_end=i == ROUNDS - 1)
            d.wait_until_consumed(timeout=120, stall_seconds=60)
        configs = changelog_configs(d)
        assert (configs["segment.bytes"], configs["segment.ms"]) == ("1048576", "1000")
        assert configs["cleanup.policy"] == "compact"

        # Offsets ever written (records and the commits' markers); compaction keeps offsets.
        written = changelog_end(d)
        customers = len({r.key for r in d.read([d.changelog_topic])})
        assert written > 3 * customers, "each customer should have been written many times"
        wait_for(
            "the log cleaner to compact the changelog",
            lambda: len(d.read([d.changelog_topic])) < written // 2,
            timeout=120,
            every=2.0,
        )

        mark = worker.log.stat().st_size
        log = worker.log  # the restarted worker's too (same name)

        def restore_report() -> re.Match[str] | None:
            return RESTORED.search(log.read_bytes()[mark:].decode(errors="replace"))

        worker.stop(signal.SIGKILL)
        worker = d.start_worker("w")  # same data directory: wiped, the stop was unclean
        d.wait_until_consumed(timeout=120, stall_seconds=60)
        report = wait_for("the restore's report", restore_report, 60)
        restored = int(report["records"])
        print(f"changelog: {written} offsets written, {customers} keys; restored {restored}")
        assert restored < written // 2, (restored, written, customers)
        assert_same_as_replay(d, events, d.decisions(), Policy(allowed_lateness_seconds=2_592_000))
