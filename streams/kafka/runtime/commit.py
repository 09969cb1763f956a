"""Getting each partition's output and table changes into Kafka atomically with its offsets.

Faust offers no hook before it commits, and two of its paths lose the atomicity that
``exactly_once`` promises: table writes (``table[key] = value``) go through a producer
buffer that a commit does not drain, and messages to a topic that the app does not consume
(our outputs, the dead-letter topic) are sent outside any transaction. So the worker
uses neither: the partition workers only queue (``PartitionWorker.outbox``, changed
customers), and :class:`Committer` wraps the consumer's ``_commit_offsets`` so that, right
before Faust commits, it

1. takes every partition's queued output and table records (synchronously: what the drain
   processes from then on belongs to the next commit),
2. writes the records into the local store and sends them, with the output, through the
   transactional producer of that source partition (the same ``{app_id}-{group}-{partition}``
   producer Faust commits the offsets with), or the plain producer with ``at_least_once``,
3. waits until the broker has acknowledged all of them, and only then
4. lets Faust commit.

Step 3 matters: a batch still in flight when the transaction ends was seen to fail the
broker's transaction check (Kafka >= 3.6 answers NOT_ENOUGH_REPLICAS to an older client),
be retried by aiokafka and land in the *next* transaction, or stall the next commit for
good; either loses output a crash would otherwise have kept.

Everything an offset covers is therefore in the same transaction as that offset. Work done
between Faust choosing the offsets and step 1 lands in the transaction too; if the worker
dies before the next commit those messages are delivered again and skipped by offset (the
partition's clock record, written in the same transaction, holds the last offset applied
per topic), so nothing is applied, emitted or dead-lettered twice.

With ``at_least_once`` the output goes out at once (``send_output``), and a flush waits until
it is acknowledged before it sends the table records: a restarted worker must never find a
state that says "decided" for a decision that was not delivered.

Table records are coalesced: a customer changed by many events in one commit interval is
written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust.types import TP

from streams.kafka.runtime.partition import Outbound, PartitionWorker
from streams.kafka.runtime.store import write_records


class Committer:
    """Flushes the partitions' queued work into Kafka before every offset commit."""

    def __init__(
        self,
        app: Any,
        table: Any,
        workers: Mapping[int, PartitionWorker],
        exactly_once: bool,
        group_topic: str,
        on_flush: Callable[[Mapping[int, PartitionWorker]], None] | None = None,
    ) -> None:
        self._app = app
        self._on_flush = on_flush  # sees the workers right before their work is taken
        self._table = table
        self._workers = workers
        self._exactly_once = exactly_once
        self.group_topic = group_topic  # any topic of the detector's co-partitioned group
        self._unconfirmed: list[Awaitable[Any]] = []  # at_least_once output in flight

    def install(self, consumer: Any) -> None:
        """Run :meth:`flush` before every commit of ``consumer``."""
        original: Callable[..., Awaitable[bool]] = consumer._commit_offsets

        async def commit_offsets(
            offsets: Mapping[TP, int], start_new_transaction: bool = True
        ) -> bool:
            await self.flush()
            return await original(offsets, start_new_transaction=start_new_transaction)

        consumer._commit_offsets = commit_offsets

    async def flush(self) -> None:
        """Send every partition's queued output and changed table records, and wait until
        the broker has them (so none is still in flight when the transaction commits)."""
        if self._on_flush is not None:
            self._on_flush(self._workers)
        batches = [
            (partition, worker.take_outbox(), worker.snapshot())
            for partition, worker in list(self._workers.items())
        ]
        sent: list[Awaitable[Any]] = []
        for partition, outbox, records in batches:
            if outbox or records:
                sent += await self._send(partition, outbox, records)
        if sent:
            await asyncio.gather(*sent)

    async def send_output(self, worker: PartitionWorker) -> None:
        """``at_least_once``: send a partition's output at once instead of at commit."""
        self._unconfirmed += await self._send(worker.partition, worker.take_outbox(), [])

    async def _send(
        self, partition: int, outbox: list[Outbound], records: list[tuple[bytes, bytes]]
    ) -> list[Awaitable[Any]]:
        """Hand the messages to the producer; their delivery futures."""
        producer = self._app.producer
        transactional_id = self.transactional_id(partition) if self._exactly_once else None
        sent = [
            await producer.send(
                message.topic,
                message.key,
                message.value,
                None,
                None,
                message.headers,
                transactional_id=transactional_id,
            )
            for message in outbox
        ]
        if not records:
            return sent
        if self._unconfirmed:
            unconfirmed, self._unconfirmed = self._unconfirmed, []
            await asyncio.gather(*unconfirmed)
        table = self._table
        write_records(table.data, partition, records)
        changelog = table.changelog_topic_name
        for key, value in records:
            sent.append(
                await producer.send(
                    changelog, key, value, partition, None, None, transactional_id=transactional_id
                )
            )
        sent[-1].add_done_callback(self._persisted_offset_callback(TP(changelog, partition)))
        return sent

    def transactional_id(self, partition: int) -> str:
        """The transactional id Faust uses for ``partition`` of the detector's topics."""
        group = self._app.assignor.group_for_topic(self.group_topic)
        return f"{self._app.conf.id}-{group}-{partition}"

    def _persisted_offset_callback(self, tp: TP) -> Callable[[Any], None]:
        # RocksDB remembers the changelog offset its data reaches, so a restart reads only
        # the rest. With exactly_once that offset may belong to a transaction that is then
        # aborted; but only a crash aborts one, and after an unclean stop the local store is
        # wiped anyway (streams.kafka.run) and restored from the committed changelog.
        store = self._table.data

        def persist(future: Any) -> None:
            if not future.cancelled() and future.exception() is None:
                store.set_persisted_offset(tp, future.result().offset)

        return persist
