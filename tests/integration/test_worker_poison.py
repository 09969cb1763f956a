"""Poison input on a real broker: the worker dead-letters it, keeps running, and decides as
replay decides on the good events alone.

Each poison is one that stopped or misled the worker before: a value of about 1 MB that is
not JSON (its dead letter exceeded the producer's limit: the worker exited, and again after
every restart), an ``occurred_at`` of 900 KB (the reason repeated it), and an event dated
2199 (it moved its partition's clock there: deadlines fired up to 2040, later events were
refused as late). They arrive in the middle of a backfill and again after it, live.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from streams.kafka import wire
from tests.builders import order_json
from tests.integration.harness import Deployment, deployment, replay_decisions, simulate

pytestmark = pytest.mark.kafka

HUGE_VALUE = 1_048_400  # bytes: what the default producer and broker still accept
FUTURE = "2199-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("events"), customers=200, days=200)


def poisons(customer: str, tag: str) -> list[bytes]:
    """The three poisons for ``customer`` (its key keeps them on its partition)."""
    not_json = b"\x00not json " * (HUGE_VALUE // 10)
    huge_time = order_json(
        customer_id=customer, event_id=f"{tag}-t", occurred_at="2025-03-01T" + "9" * 900_000
    )
    future = order_json(customer_id=customer, event_id=f"{tag}-f", occurred_at=FUTURE)
    return [not_json, orjson.dumps(huge_time), orjson.dumps(future)]


def send(d: Deployment, customer: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=d.broker, max_request_size=2_000_000)
    try:
        for value in values:
            producer.send(d.topic("orders"), key=customer.encode(), value=value).get(60)
    finally:
        producer.close()


def test_poison_is_dead_lettered_and_the_worker_decides_as_replay_of_the_good_events(
    kafka_broker: str, tmp_path: Path, events: Path
) -> None:
    lines = events.read_bytes().splitlines(keepends=True)
    customer = orjson.loads(lines[0])["customer_id"]
    half = len(lines) // 2
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[:half]))
    # `produce` sends the 2199 event too, but does not advance the clock to it.
    future_line = orjson.dumps(
        order_json(customer_id=customer, event_id="produced-f", occurred_at=FUTURE)
    )
    second.write_bytes(
        b"".join([*lines[half : half + 10], future_line + b"\n", *lines[half + 10 :]])
    )

    with deployment(kafka_broker, tmp_path, partitions=1) as d:
        expected = replay_decisions(d, events)
        assert len(expected) > 100
        d.produce(first)
        send(d, customer, poisons(customer, "backfill"))
        d.produce(second, advance_to_end=True)
        worker = d.start_worker()
        d.wait_until_consumed(timeout=120, stall_seconds=60)
        assert worker.process.poll() is None, worker.log_text()[-3000:]

        # Live, after catch-up: the caught-up topics' hold (2 s) and a tick pass, which is
        # when a 2199 event used to move the clock.
        send(d, customer, poisons(customer, "live"))
        d.wait_until_consumed(timeout=60, stall_seconds=30)
        time.sleep(8)
        d.wait_until_consumed(timeout=60, stall_seconds=30)
        assert worker.process.poll() is None, worker.log_text()[-3000:]

        decided = d.decisions()
        assert Counter(decided).most_common(1)[0][1] == 1  # none twice
        assert set(decided) == set(expected)

        dead = d.read([d.topic("dead_letter")])
        codes = Counter(r.headers[wire.HEADER_CODE] for r in dead)
        assert codes == {b"invalid_json": 2, b"invalid_time": 2, b"future_event": 3}
        for record in dead:
            size = wire.record_size(record.key, record.value, list(record.headers.items()))
            assert size <= 1_000_000
            assert record.key == customer.encode()
            if record.headers[wire.HEADER_CODE] == b"invalid_json":
                assert record.headers[wire.HEADER_TRUNCATED] == b"value"
                original = int(record.headers[wire.HEADER_ORIGINAL_SIZE])
                assert original == len(customer) + len(poisons(customer, "x")[0])
                assert poisons(customer, "x")[0].startswith(record.value or b"")
            elif record.headers[wire.HEADER_CODE] == b"invalid_time":
                assert record.headers[wire.HEADER_TRUNCATED] == b"reason"
            else:
                assert orjson.loads(record.value or b"")["occurred_at"] == FUTURE
        assert "MessageSizeTooLarge" not in worker.log_text()
