"""The detector agent: one per worker, concurrency 1, over all input topics and the ticks.

Thin by design: take the raw message, find its partition's worker (rebuilt from the table
on first use after a rebalance), let it decode and process, and with ``at_least_once`` send
its output at once. Table records and (with ``exactly_once``) output are sent by the
committer, see :mod:`streams.kafka.commit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.types import TP

from streams.kafka.commit import Committer
from streams.kafka.partition import Highwater, Inbound, PartitionWorker

AGENT_NAME = "churnwatch.detector"


def install_detector(
    app: Any,
    channel: Any,
    workers: dict[int, PartitionWorker],
    restore: Callable[[int], PartitionWorker],
    committer: Committer,
    send_at_once: bool,
) -> None:
    """Declare the detector agent on ``app`` reading ``channel``."""
    highwaters: dict[int, Highwater] = {}

    def highwater_of(partition: int) -> Highwater:
        found = highwaters.get(partition)
        if found is None:
            consumer = app.consumer

            def found(topic: str) -> int | None:
                return consumer.highwater(TP(topic, partition))  # type: ignore[no-any-return]

            highwaters[partition] = found
        return found

    async def detect(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            partition = message.partition
            worker = workers.get(partition)
            if worker is None:
                worker = restore(partition)
            headers = message.headers
            inbound = Inbound(
                message.topic,
                partition,
                message.offset,
                message.key,
                message.value,
                list(headers.items() if isinstance(headers, dict) else headers or ()),
            )
            worker.handle(inbound, highwater_of(partition))
            if send_at_once and worker.outbox:
                await committer.send_output(worker)

    app.agent(channel, name=AGENT_NAME, concurrency=1, sink=None)(detect)
