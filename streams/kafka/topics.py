"""Broker administration for the worker: reachability, and the topics it needs.

``churnwatch topics create`` creates the input, output, dead-letter and tick topics with the
configured partition count (idempotently); the table's changelog topic is Faust's and is
created by the worker itself. The worker checks before it starts that the broker answers
within ``broker_timeout_seconds`` and that every topic exists with matching partitions,
so a typo or a missing ``topics create`` fails with a message instead of a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from config.settings import Settings
from streams.kafka.security import client_options


class BrokerError(Exception):
    """The broker cannot be used; the message says what to do."""


@dataclass(frozen=True)
class TopicsReport:
    created: list[str]
    existing: list[str]


def bootstrap_servers(settings: Settings) -> list[str]:
    """``kafka://a:1,b:2`` -> ``["a:1", "b:2"]``."""
    return settings.broker.removeprefix("kafka://").split(",")


@contextmanager
def admin_client(settings: Settings) -> Iterator[KafkaAdminClient]:
    timeout_ms = int(settings.broker_timeout_seconds * 1000)
    try:
        client = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers(settings),
            client_id=f"{settings.app_id}-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=max(timeout_ms, 1000),
            **client_options(settings),
        )
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach the Kafka broker at {settings.broker} within "
            f"{settings.broker_timeout_seconds:g} s ({type(exc).__name__}); is it running? "
            "(scripts/kafka-local start, or set CHURNWATCH_BROKER)" + _login_hint(settings)
        ) from None
    try:
        yield client
    finally:
        client.close()


def partition_counts(client: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each of ``names`` that exists."""
    counts: dict[str, int] = {}
    for topic in client.describe_topics(names):
        if topic.get("error_code", 0) == 0 and topic.get("partitions"):
            counts[topic["name"]] = len(topic["partitions"])
    return counts


def create_topics(settings: Settings) -> TopicsReport:
    """Create every missing topic; existing ones must have the configured partitions."""
    names = list(settings.topic_names())
    with admin_client(settings) as client:
        existing = partition_counts(client, names)
        _check_partitions(settings, existing)
        missing = [name for name in names if name not in existing]
        if missing:
            try:
                client.create_topics(
                    {
                        name: {
                            "num_partitions": settings.partitions,
                            "replication_factor": settings.replication_factor,
                        }
                        for name in missing
                    },
                    timeout_ms=int(settings.broker_timeout_seconds * 1000),
                    wait_for_metadata=True,
                )
            except KafkaError as exc:
                raise BrokerError(f"could not create topics {', '.join(missing)}: {exc}") from None
    return TopicsReport(created=missing, existing=[n for n in names if n in existing])


def check_topics(settings: Settings) -> None:
    """Fail with a message unless the broker answers and every topic is there."""
    names = list(settings.topic_names())
    with admin_client(settings) as client:
        try:
            existing = partition_counts(client, names)
        except KafkaError as exc:
            raise BrokerError(f"the broker at {settings.broker} did not answer: {exc}") from None
    missing = [name for name in names if name not in existing]
    if missing:
        raise BrokerError(
            f"topics {', '.join(missing)} do not exist on {settings.broker}; "
            "create them with: churnwatch topics create"
        )
    _check_partitions(settings, existing)


def _check_partitions(settings: Settings, existing: dict[str, int]) -> None:
    # The drain reads the inputs and the ticks together, partition by partition.
    co_partitioned = (
        settings.orders_topic,
        settings.emails_topic,
        settings.calls_topic,
        settings.tick_topic,
    )
    wrong = {
        name: n
        for name, n in existing.items()
        if name in co_partitioned and n != settings.partitions
    }
    if wrong:
        listed = ", ".join(f"{name} has {n}" for name, n in sorted(wrong.items()))
        raise BrokerError(
            f"input and tick topics need partitions = {settings.partitions} "
            f"(co-partitioned), but {listed}"
        )


# What to check when a secured connection fails (kafka-python reports a refused login or
# an untrusted certificate as the same timeout as an unreachable broker).
_SECURITY_SETTINGS = {
    "SSL": "ssl_cafile",
    "SASL_PLAINTEXT": "sasl_username, sasl_password and sasl_mechanism",
    "SASL_SSL": "sasl_username, sasl_password, sasl_mechanism and ssl_cafile",
}


def _login_hint(settings: Settings) -> str:
    protocol = settings.security_protocol
    check = _SECURITY_SETTINGS.get(protocol)
    if check is None:
        return ""
    return f"; with {protocol} a refused login or certificate looks the same: check {check}"
