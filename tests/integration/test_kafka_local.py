"""Smoke tests of the local Kafka broker from scripts/kafka-local (fixture: ``kafka_broker``).

They check what the Churnwatch worker relies on: explicit topic creation with several partitions,
keyed produce/consume through a consumer group (``__consumer_offsets`` on a single node), and
idempotent + transactional producers (``__transaction_state`` on a single node), which Faust's
exactly-once processing guarantee needs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

pytestmark = pytest.mark.kafka

TIMEOUT_S = 20.0


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(kafka_broker: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_broker, client_id="kafka-local-test")
    try:
        yield client
    finally:
        client.close()


def _create_topic(admin: KafkaAdminClient, name: str, partitions: int) -> None:
    admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        timeout_ms=10_000,
    )
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        described = admin.describe_topics([name])
        if described and described[0]["error_code"] == 0 and described[0]["partitions"]:
            assert len(described[0]["partitions"]) == partitions
            return
        time.sleep(0.2)
    pytest.fail(f"topic {name} did not become visible within {TIMEOUT_S}s")


def _consume(consumer: KafkaConsumer, expected: int) -> list[tuple[str, str, int]]:
    """(key, value, partition) of records until ``expected`` arrived or the timeout."""
    records: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend((r.key.decode(), r.value.decode(), r.partition) for r in batch)
    return records


def test_keyed_roundtrip_on_three_partitions(kafka_broker: str, admin: KafkaAdminClient) -> None:
    topic = _unique("kafka-local-smoke")
    _create_topic(admin, topic, partitions=3)

    messages = {f"customer-{i}": f'{{"event": "order", "n": {i}}}' for i in range(12)}
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all", linger_ms=5)
    try:
        sent_partition: dict[str, int] = {}
        futures = [
            (key, producer.send(topic, key=key.encode(), value=value.encode()))
            for key, value in messages.items()
        ]
        producer.flush(timeout=TIMEOUT_S)
        for key, future in futures:
            sent_partition[key] = future.get(timeout=TIMEOUT_S).partition
        # Same key -> same partition, as the default partitioner guarantees.
        again = producer.send(topic, key=b"customer-0", value=b"again").get(timeout=TIMEOUT_S)
        assert again.partition == sent_partition["customer-0"]
    finally:
        producer.close(timeout=5)
    assert len(set(sent_partition.values())) > 1, "12 keys should spread over the 3 partitions"

    group = _unique("kafka-local-group")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        records = _consume(consumer, expected=len(messages) + 1)
        consumer.commit()
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)}
    finally:
        consumer.close()

    assert len(records) == len(messages) + 1
    received = {k: v for k, v, _ in records if v != "again"}
    assert received == messages
    for key, _value, partition in records:
        assert partition == sent_partition[key]
    # Offsets committed to __consumer_offsets (replication factor 1 on this single node).
    assert sum(offset or 0 for offset in committed.values()) == len(messages) + 1


def test_idempotent_and_transactional_producers(kafka_broker: str, admin: KafkaAdminClient) -> None:
    topic = _unique("kafka-local-eos")
    _create_topic(admin, topic, partitions=3)

    idempotent = KafkaProducer(bootstrap_servers=kafka_broker, enable_idempotence=True, acks="all")
    try:
        for i in range(3):
            idempotent.send(topic, key=f"idem-{i}".encode(), value=b"plain").get(timeout=TIMEOUT_S)
    finally:
        idempotent.close(timeout=5)

    # Needs the transaction coordinator and __transaction_state with RF 1 / min ISR 1;
    # with the multi-broker defaults init_transactions() would hang on one node.
    transactional = KafkaProducer(
        bootstrap_servers=kafka_broker,
        transactional_id=_unique("kafka-local-txn"),
        enable_idempotence=True,
    )
    try:
        transactional.init_transactions()
        transactional.begin_transaction()
        for i in range(3):
            transactional.send(topic, key=f"committed-{i}".encode(), value=b"txn")
        transactional.commit_transaction()

        transactional.begin_transaction()
        transactional.send(topic, key=b"aborted-0", value=b"txn")
        transactional.abort_transaction()

        # A committed transaction after the aborted one makes sure the consumer has read past it.
        transactional.begin_transaction()
        transactional.send(topic, key=b"marker", value=b"txn")
        transactional.commit_transaction()
    finally:
        transactional.close(timeout=5)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        keys = {key for key, _, _ in _consume(consumer, expected=7)}
    finally:
        consumer.close()

    expected = {f"idem-{i}" for i in range(3)} | {f"committed-{i}" for i in range(3)} | {"marker"}
    assert keys == expected  # nothing from the aborted transaction
