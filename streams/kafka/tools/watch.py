"""``churnwatch watch``: print the churn events as the worker publishes them.

Reads the three output topics with ``read_committed`` (what a subscribing service sees:
with ``exactly_once``, a decision appears when the transaction that made it commits), one
line per CloudEvent: time, type, customer, risk, reasons, expected next order and spend. With
``--output`` every CloudEvent is also written whole, one JSON object per line. No consumer
group: nothing is committed, so watching never disturbs a subscriber.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from config.settings import Settings
from streams.kafka.security import client_options
from streams.kafka.topics import BrokerError, bootstrap_servers


def summary_line(event: dict[str, Any]) -> str:
    """One line a person can scan: when, what, who, why, and what the customer is worth."""
    data = event.get("data") or {}
    kind = str(event.get("type", "")).rsplit(".", 1)[-1]
    reasons = ",".join(r.get("code", "?") for r in data.get("reasons") or []) or "-"
    expected = data.get("expected_next_order_at") or "-"
    spend = data.get("total_spend")
    worth = f"{spend:,.2f}" if isinstance(spend, int | float) else "-"
    return (
        f"{event.get('time', '-')}  {kind:<9}  {event.get('subject', '-'):<12}  "
        f"risk {data.get('risk', 0):.2f}  reasons {reasons}  next order {expected}  "
        f"spend {worth}"
    )


def watch(
    settings: Settings,
    out: IO[str],
    from_beginning: bool = True,
    idle_seconds: float | None = None,
    output: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Counter[str]:
    """Print decisions until ``idle_seconds`` pass without one (None: until interrupted)."""
    topics = [settings.at_risk_topic, settings.lost_topic, settings.recovered_topic]
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings),
            isolation_level="read_committed",
            enable_auto_commit=False,
            request_timeout_ms=int(max(settings.broker_timeout_seconds, 1) * 1000) + 1000,
            **client_options(settings),
        )
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach the Kafka broker at {settings.broker} ({type(exc).__name__})"
        ) from None
    counts: Counter[str] = Counter()
    sink = output.open("wb") if output is not None else None
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            raise BrokerError(f"no output topics {topics}; create them: churnwatch topics create")
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
        last = clock()
        while idle_seconds is None or clock() - last < idle_seconds:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    event = orjson.loads(record.value)
                    counts[str(event.get("type", "?")).rsplit(".", 1)[-1]] += 1
                    print(summary_line(event), file=out, flush=True)
                    if sink is not None:
                        sink.write(record.value + b"\n")
                    last = clock()
    finally:
        consumer.close()
        if sink is not None:
            sink.close()
    return counts
