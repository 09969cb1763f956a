"""Engines kept through a rebalance only while nobody else wrote their changelog partition,
on a real broker (streams/kafka/runtime/kept.py).

One worker owns both partitions (RocksDB store). A record of a customer it never saw is
then written to each changelog partition by another producer, as another writer would,
and a second worker joins. The first worker keeps one partition: it must rebuild that
partition's engine from the table, with the other writer's customer in it, not go on with
the engine it had. When the second worker leaves, nobody has written the first worker's
partition since, so its engine goes on without a rebuild.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from streams.kafka import wire
from tests.integration.harness import Deployment, Worker, deployment, simulate, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ENGINE = re.compile(
    r"partition (?P<partition>\d+): engine of (?P<customers>\d+) customers "
    r"(?P<how>kept|rebuilt)"
)
EXTRA = {"DETECTION__ALLOWED_LATENESS_SECONDS": "2592000", "TOPIC_IDLE_SECONDS": "10"}


def engines_since(worker: Worker, mark: int) -> dict[int, tuple[str, int]]:
    """How each partition's engine was made after log offset ``mark`` (the first time)."""
    made: dict[int, tuple[str, int]] = {}
    for m in ENGINE.finditer(worker.log.read_bytes()[mark:].decode(errors="replace")):
        made.setdefault(int(m["partition"]), (m["how"], int(m["customers"])))
    return made


def two_engines(worker: Worker, mark: int) -> dict[int, tuple[str, int]] | None:
    made = engines_since(worker, mark)
    return made if len(made) == 2 else None


def customers_in_changelog(d: Deployment, partition: int) -> set[bytes]:
    return {
        r.key
        for r in d.read([d.changelog_topic])
        if r.partition == partition and r.key is not None and not wire.is_partition_key(r.key)
    }


def write_intruders(d: Deployment) -> None:
    """Per changelog partition, a copy of one of its customers under a new id."""
    latest = {
        (r.partition, r.key): r.value
        for r in d.read([d.changelog_topic])
        if r.key is not None and r.value is not None
    }
    producer = KafkaProducer(bootstrap_servers=d.broker)
    try:
        for partition in range(d.partitions):
            key = next(k for (p, k) in latest if p == partition and not wire.is_partition_key(k))
            record = orjson.loads(latest[(partition, key)] or b"")
            record[0] = f"intruder-{partition}"
            producer.send(
                d.changelog_topic,
                key=record[0].encode(),
                value=orjson.dumps(record),
                partition=partition,
            )
        producer.flush()
    finally:
        producer.close()


def test_an_engine_is_kept_only_while_nobody_else_wrote_its_partition(
    kafka_broker: str, tmp_path: Path
) -> None:
    events = simulate(tmp_path, customers=300, days=120)
    with deployment(kafka_broker, tmp_path, partitions=2, store="rocksdb://", extra=EXTRA) as d:
        a = d.start_worker("a")
        wait_for("one worker in the group", lambda: d.group_members() == 1, timeout=60)
        d.produce(events, advance_to_end=True)
        d.wait_until_consumed(timeout=120, stall_seconds=60)

        write_intruders(d)
        mark = a.log.stat().st_size
        b = d.start_worker("b")
        wait_for("two workers in the group", lambda: d.group_members() == 2, timeout=60)
        joined = wait_for("a's engine after b joined", lambda: engines_since(a, mark), 60)
        ((partition, (how, customers)),) = joined.items()
        assert how == "rebuilt", a.log_text()[-3000:]
        expected = customers_in_changelog(d, partition)
        assert f"intruder-{partition}".encode() in expected
        assert customers == len(expected)

        mark = a.log.stat().st_size
        assert b.stop(signal.SIGTERM) == 0, b.log_text()[-3000:]
        wait_for("one worker in the group", lambda: d.group_members() == 1, timeout=60)
        both = wait_for("a's two engines after b left", lambda: two_engines(a, mark), 60)
        assert both[partition] == ("kept", customers)
        assert both[1 - partition][0] == "rebuilt"
        assert a.process.poll() is None, a.log_text()[-3000:]
