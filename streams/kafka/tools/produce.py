"""``churnwatch produce FILE``: contract events from JSON Lines onto the input topics.

Each line is validated with the input contract (:func:`models.parse.parse_event`); a good
line goes, byte for byte, to the topic of its ``event_type``, keyed by its customer id in
UTF-8 (so the default murmur2 partitioner puts all of a customer's events on the same
partition of every input topic). Bad lines are reported on stderr with their line number
and counted, never sent.

``advance_to_end``: after the file, one :class:`~streams.kafka.wire.AdvanceTick` per
partition of the tick topic declares that event time reached the newest event of the
file, gated on the offsets just written (so the worker applies it only after it has
processed them). That is what ``churnwatch replay`` does at the end of its input, and
what a backfill with ``clock = "event"`` needs to fire the deadlines at the end. An event
dated more than ``max_event_ahead_seconds`` from now is sent (the worker refuses it as
``future_event``) but does not count as the newest.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from config.settings import Settings
from models.events import CallRecorded, EmailRecorded, Event, OrderRecorded
from models.parse import Rejected, parse_event
from streams.kafka import wire
from streams.kafka.security import client_options
from streams.kafka.topics import BrokerError, bootstrap_servers
from streams.progress import Progress


@dataclass
class ProduceSummary:
    lines: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # per topic
    rejected: Counter[str] = field(default_factory=Counter)  # per rejection code
    advanced_to: float | None = None

    def render(self) -> str:
        rows = [f"lines read      {self.lines:>12,}"]
        rows += [f"sent to {topic:<20}{n:>10,}" for topic, n in sorted(self.sent.items())]
        rows.append(f"rejected        {sum(self.rejected.values()):>12,}   (not sent)")
        rows += [f"  {code:<18}{n:>10,}" for code, n in sorted(self.rejected.items())]
        if self.advanced_to is not None:
            rows.append(f"advance tick    event time {self.advanced_to:.3f} to every partition")
        return "\n".join(rows)


def produce(
    lines: Iterable[bytes],
    settings: Settings,
    name: str = "<input>",
    report: IO[str] | None = None,
    progress: Progress | None = None,
    advance_to_end: bool = False,
) -> ProduceSummary:
    """Send every valid line to its input topic; report and count the others."""
    return asyncio.run(
        _produce(lines, settings, name, report or sys.stderr, progress, advance_to_end)
    )


async def _produce(
    lines: Iterable[bytes],
    settings: Settings,
    name: str,
    report: IO[str],
    progress: Progress | None,
    advance_to_end: bool,
) -> ProduceSummary:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings),
        acks="all",
        linger_ms=20,
        max_batch_size=256 * 1024,
        request_timeout_ms=int(settings.broker_timeout_seconds * 1000),
        **client_options(settings),
    )
    try:
        await asyncio.wait_for(producer.start(), settings.broker_timeout_seconds)
    except (TimeoutError, KafkaError, OSError) as exc:
        await producer.stop()
        raise BrokerError(
            f"cannot reach the Kafka broker at {settings.broker} within "
            f"{settings.broker_timeout_seconds:g} s ({type(exc).__name__})"
        ) from None
    try:
        return await _send_lines(lines, settings, producer, name, report, progress, advance_to_end)
    finally:
        await producer.stop()


async def _send_lines(
    lines: Iterable[bytes],
    settings: Settings,
    producer: AIOKafkaProducer,
    name: str,
    report: IO[str],
    progress: Progress | None,
    advance_to_end: bool,
) -> ProduceSummary:
    topics = {
        OrderRecorded: settings.orders_topic,
        EmailRecorded: settings.emails_topic,
        CallRecorded: settings.calls_topic,
    }
    summary = ProduceSummary()
    newest = -math.inf
    # Last offset written per (partition, topic), for the advance ticks; send errors.
    last: dict[int, dict[str, int]] = defaultdict(dict)
    errors: list[BaseException] = []
    # The worker compares event times with the record's timestamp: about now.
    horizon = time.time() + settings.max_event_ahead_seconds

    def written(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            errors.append(future.exception() or asyncio.CancelledError())
            return
        meta = future.result()
        offsets = last[meta.partition]
        if meta.offset > offsets.get(meta.topic, -1):
            offsets[meta.topic] = meta.offset

    for number, line in enumerate(lines, 1):
        summary.lines = number
        if not line.strip():
            continue
        parsed = parse_event(line)
        if type(parsed) is Rejected:
            summary.rejected[parsed.code] += 1
            print(f"{name}:{number}: {parsed}", file=report)
            continue
        event: Event = parsed  # type: ignore[assignment]
        topic = topics[type(event)]
        future = await producer.send(topic, line.rstrip(b"\r\n"), key=event.customer_id.encode())
        future.add_done_callback(written)
        summary.sent[topic] += 1
        if newest < event.at <= horizon:
            newest = event.at
        if progress is not None and number & 0x3FFF == 0:
            progress.update(number)
    await producer.flush()
    await asyncio.sleep(0)  # let the last delivery callbacks run
    if progress is not None:
        progress.update(summary.lines)
        progress.finish()
    if errors:
        raise BrokerError(f"{len(errors)} events could not be sent, first: {errors[0]!r}")
    if advance_to_end and math.isfinite(newest):
        for partition in range(settings.partitions):
            tick = wire.AdvanceTick(newest, last.get(partition, {}))
            await producer.send_and_wait(
                settings.tick_topic, wire.encode_tick(tick), partition=partition
            )
        summary.advanced_to = newest
    return summary
