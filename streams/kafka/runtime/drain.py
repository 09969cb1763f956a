"""The detector loop: Faust fetches, the partition workers process whole fetched batches.

Faust's own path takes every consumed message, one at a time, through its drain loop (two
tasks and an ``asyncio.wait`` per message), the conductor, a stream queue and an agent; on
this machine that machinery cost about 100 µs per message, five times the detector's own
work (docs/performance.md). The detector needs none of it: its state is per partition and
its processing is synchronous. So the worker replaces the consumer's drain loop
(``Consumer._drain_messages``, run by Faust's Fetcher service) with :class:`BatchDrain`,
which, for every batch the consumer fetches:

* hands the records of each partition of the input and tick topics in one call to the
  :class:`~streams.kafka.runtime.partition.PartitionWorker` of that partition (which applies them
  in event-time order across the topics), then acknowledges
  their offsets in bulk in Faust's own bookkeeping (read offset, gaps left by transaction
  markers, acked offsets), so that Faust's commits, and the commit hook in front of them
  (:mod:`streams.kafka.runtime.commit`), work exactly as before;
* passes the records of any other topic (the table's changelog during recovery and on
  standbys) through Faust's own per-message path, as Faust's loop would.

Everything else stays Faust's: group membership and the co-partitioned assignment, flow
control during rebalances, table recovery, transactions and offset commits, the web server.
The loop mirrors ``faust.transport.consumer.Consumer._drain_messages`` (faust-streaming
0.11+), step for step, apart from the batching.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from faust.types import TP

from streams.kafka.runtime.commit import Committer
from streams.kafka.runtime.partition import PartitionWorker, Routes

# aiokafka ConsumerRecords of one topic-partition, in offset order.
Records = Sequence[Any]

# The longest wait for records. Faust's loop waits up to 1 s, for the partitions that were
# active when the wait began, and sleeps 1 s when none is: after a rebalance the partitions
# resumed meanwhile waited up to that long for their first fetch (failover,
# docs/performance.md). An idle worker now asks the consumer's thread ten times a second.
WAIT_SECONDS = 0.1


class BatchDrain:
    """Replaces a Faust consumer's drain loop; see the module docstring."""

    def __init__(
        self,
        app: Any,
        consumer: Any,
        workers: Mapping[int, PartitionWorker],
        restore: Callable[[int], PartitionWorker],
        committer: Committer,
        routes: Routes,
        send_at_once: bool,
        on_batch: Callable[[float], None] | None = None,
        first_batch: Callable[[int], bool] | None = None,
    ) -> None:
        self._app = app
        self._consumer = consumer
        self._workers = workers
        self._restore = restore
        self._committer = committer
        self._topics = frozenset(routes.consumed)
        self._input_topics = tuple(routes.input_types)
        self._send_at_once = send_at_once
        self._on_batch = on_batch  # seconds each partition's batch took (a metric)
        # Whether a partition's batch was the first since its worker was built or kept: the
        # drain then commits at once rather than at the next commit interval.
        self._first_batch = first_batch

    def install(self) -> None:
        """Make the consumer's Fetcher run this loop instead of Faust's."""
        self._consumer._drain_messages = self.run

    async def run(self, fetcher: Any) -> None:
        consumer = self._consumer
        consumer_stopped = consumer._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await self._next_records()
                generation = self._app.consumer_generation_id
                await asyncio.sleep(0)
                if records is None or consumer.should_stop:
                    continue
                if not consumer.flow_active:
                    await self._seek_back()
                    continue
                await self._drain(records, active, generation)
        except consumer.consumer_stopped_errors:
            if self._app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self._app.should_stop:
                return
            raise

    async def _next_records(self) -> tuple[Mapping[TP, Records] | None, set[TP] | None]:
        """Faust's wait for the next records, with :data:`WAIT_SECONDS` instead of 1 s."""
        consumer = self._consumer
        if not consumer.flow_active:
            await consumer.wait(consumer.can_resume_flow)
        if not consumer._get_active_partitions():
            await asyncio.sleep(WAIT_SECONDS)
            return None, None
        records, active = await consumer._wait_next_records(WAIT_SECONDS)
        return records, active

    async def _seek_back(self) -> None:
        # As Faust's getmany: fetched while flow was stopped: back to the committed offsets.
        try:
            await self._consumer.perform_seek()
        except Exception as exc:  # Faust logs and carries on here, so do we
            self._consumer.log.warning("exception performing seek when flow not active %r", exc)

    async def _drain(
        self, records: Mapping[TP, Records], active: set[TP] | None, generation: int
    ) -> None:
        consumer = self._consumer
        buffered = consumer._buffered_partitions
        owned = self._app.assignor.assigned_actives()
        detector: dict[int, dict[TP, Records]] = {}
        for tp, batch in records.items():
            if not self._flowing(generation):
                return  # a rebalance began: what is left is fetched again after it
            if active is not None and tp not in active and tp not in buffered:
                continue
            if tp.topic in self._topics:
                if tp in owned:  # else fetched before the partition was revoked
                    fresh = await self._unread(tp, batch)
                    if fresh:
                        detector.setdefault(tp.partition, {})[tp] = fresh
            else:
                await self._deliver(tp, await self._unread(tp, batch))
        for partition, fetched in detector.items():
            if not self._flowing(generation):
                return
            self._process(partition, fetched)
            await self._maybe_send(partition)
            await self._maybe_commit(partition)
            await asyncio.sleep(0)  # commits, heartbeats and web requests between batches

    def _flowing(self, generation: int) -> bool:
        """Still the generation the batch was fetched in, and no rebalance under way (the
        checks Faust's streams make per message)."""
        app = self._app
        return bool(
            self._consumer.flow_active
            and app.flow_control.is_active()
            and app.consumer_generation_id == generation
        )

    async def _unread(self, tp: TP, batch: Records) -> Records:
        """The records at or after the read offset; gaps between offsets (transaction
        markers, compacted records) recorded as Faust records them, so commits can pass."""
        consumer = self._consumer
        read = consumer._read_offset[tp]
        fresh = batch if read is None else [record for record in batch if record.offset >= read]
        if fresh and consumer.app.topics.acks_enabled_for(tp.topic):
            previous = read
            for record in fresh:
                offset = record.offset
                if previous and offset - previous > 1:
                    await consumer._add_gap(tp, previous + 1, offset)
                previous = offset
        return fresh

    def _process(self, partition: int, fetched: Mapping[TP, Records]) -> None:
        """One partition's records of this fetch, all topics at once, then their acks."""
        worker = self._workers.get(partition)
        if worker is None:
            worker = self._restore(partition)
        started = time.perf_counter()
        worker.handle_fetch(
            {tp.topic: fresh for tp, fresh in fetched.items()},
            self._highwaters(partition),
            time.monotonic(),
        )
        if self._on_batch is not None:
            self._on_batch(time.perf_counter() - started)
        read_offset = self._consumer._read_offset
        for tp, fresh in fetched.items():
            read_offset[tp] = fresh[-1].offset
            self._ack(tp, fresh)

    def _highwaters(self, partition: int) -> Callable[[str], int | None]:
        highwater = self._consumer.highwater
        marks = {topic: highwater(TP(topic, partition)) for topic in self._input_topics}
        return marks.get

    def _ack(self, tp: TP, fresh: Records) -> None:
        """Mark the batch acknowledged, as ``Consumer.ack`` does per message."""
        consumer = self._consumer
        committed = consumer._committed_offset[tp]
        index = consumer._acked_index[tp]
        offsets = [
            record.offset
            for record in fresh
            if (committed is None or record.offset >= committed) and record.offset not in index
        ]
        index.update(offsets)
        consumer._acked[tp].extend(offsets)
        consumer._n_acked += len(offsets)

    async def _maybe_send(self, partition: int) -> None:
        if self._send_at_once:
            worker = self._workers.get(partition)
            if worker is not None and worker.outbox:
                await self._committer.send_output(worker)

    async def _deliver(self, tp: TP, fresh: Records) -> None:
        """Faust's per-message path (conductor → streams, e.g. table recovery)."""
        consumer = self._consumer
        callback = consumer.callback
        suspended = consumer.suspend_flow.wait
        for record in fresh:
            await consumer.wait_first(callback(consumer._to_message(tp, record)), suspended())
            consumer._read_offset[tp] = record.offset

    async def _maybe_commit(self, partition: int) -> None:
        """Commit every ``broker_commit_every`` messages, as Faust does, and right after the
        first batch of a partition's new worker: after a rebalance its output then appears
        without waiting for the commit interval. A commit is the same transactional commit
        whenever it happens (:mod:`streams.kafka.runtime.commit`)."""
        consumer = self._consumer
        every = consumer._commit_every
        first = self._first_batch is not None and self._first_batch(partition)
        if first or (every is not None and consumer._n_acked >= every):
            consumer._n_acked = 0
            await consumer.commit()
