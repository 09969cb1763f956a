"""Table recovery of the worker's active partitions: the changelog read in large batches.

Faust restores a changelog partition one record at a time: each record goes through the
consumer's per-message path, the conductor, a queue and Faust's recovery loop, about
11,000 records/s on a 2-core machine (docs/performance.md). And with exactly_once the last
offset of a partition is the marker that commits its last transaction, which never arrives
as a record: Faust's loop notices it only after two 5-second timeouts of its queue.

So the worker restores its active partitions itself, in Faust's recovery, by replacing the
two steps that say where each changelog partition's restore starts and ends
(``Recovery._build_highwaters`` and ``Recovery._build_offsets``, :func:`install_fast_restore`):

* the end is asked of the broker (``end_offsets``: with read_committed, the last stable
  offset, now). Faust would take it from aiokafka's ``last_stable_offset``, which aiokafka
  knows only from its latest fetch of that partition: unknown (read as "empty") for a
  partition this worker never fetched, which left a joining worker with an empty table, and
  stale for a standby, which left a worker taking over without the last commits of the one
  that left;
* the start is Faust's: the offset the local store holds, or just before the partition's
  first offset if compaction removed more;
* both through a consumer of the restore's own: through Faust's consumer thread each of
  these requests took 1.5 s in 4 of 6 restarts after a SIGKILL on this machine (a few ms
  in the others); both together take about 0.2 s this way, new consumer included;
* then :class:`ChangelogRestore` reads each active partition from the start up to the end
  with that consumer (same isolation level as Faust's: read_committed with exactly_once,
  so records of aborted transactions are skipped, as Faust's loop skips them), writes every
  fetched batch into the store in one write, and records how far it got, as Faust's loop
  would: in the store's persisted offset and in Faust's offsets.

When it returns, Faust finds nothing left to read and completes the recovery at once; a
partition it could not finish is left to Faust's own loop, from where it stopped.

Standby partitions are left to Faust: they are followed continuously in the background,
and a standby that becomes active needs only the tail it had not yet read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, MutableMapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from config.settings import Settings
from streams.kafka.runtime.store import restore_records
from streams.kafka.security import client_options
from streams.kafka.topics import bootstrap_servers

log = logging.getLogger(__name__)

FETCH_BYTES = 32 * 1024 * 1024  # per partition and per fetch: thousands of records a batch
IDLE_SECONDS = 30.0  # no record and no progress for this long: leave the rest to Faust


@dataclass(frozen=True)
class Restored:
    """What the restore of one changelog partition read."""

    tp: TP
    first: int  # the first offset asked for
    reached: int  # the last offset now in the store (the highwater when complete)
    records: int  # changelog records written to the store
    seconds: float

    def describe(self) -> str:
        where = f"table partition {self.tp.topic}[{self.tp.partition}]"
        if self.reached < self.first:
            return f"{where}: local store up to date (offset {self.reached})"
        rate = self.records / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"{where} restored: {self.records} changelog records, offsets "
            f"{self.first}..{self.reached}, in {self.seconds:.2f} s ({rate:,.0f} records/s)"
        )


class ChangelogRestore:
    """Reads changelog partitions into the local store, whole fetched batches at a time."""

    def __init__(
        self, store: Any, new_consumer: Callable[[], AIOKafkaConsumer], idle_seconds: float
    ) -> None:
        self._store = store
        self._new_consumer = new_consumer
        self._idle_seconds = idle_seconds

    async def restore(
        self, tps: Collection[TP], offsets: MutableMapping[TP, int], highwaters: dict[TP, int]
    ) -> list[Restored]:
        """Bring every partition of ``tps`` from ``offsets[tp]`` (the last offset the store
        holds, -1 for none) to ``highwaters[tp]``, updating ``offsets`` as it goes; what
        was read, per partition (nothing for a partition whose store is up to date)."""
        started = time.monotonic()
        first = {tp: offsets.get(tp, -1) + 1 for tp in tps}
        counts = dict.fromkeys(first, 0)
        todo = {
            tp: highwaters[tp]
            for tp in tps
            if highwaters.get(tp) is not None and highwaters[tp] >= first[tp]
        }
        if todo:
            await self._read(todo, first, counts, offsets)
        seconds = time.monotonic() - started
        return [Restored(tp, first[tp], offsets.get(tp, -1), counts[tp], seconds) for tp in first]

    async def _read(
        self,
        todo: dict[TP, int],
        first: dict[TP, int],
        counts: dict[TP, int],
        offsets: MutableMapping[TP, int],
    ) -> None:
        consumer = self._new_consumer()
        await consumer.start()
        try:
            kafka = {tp: TopicPartition(tp.topic, tp.partition) for tp in todo}
            consumer.assign(list(kafka.values()))
            for tp, ktp in kafka.items():
                consumer.seek(ktp, first[tp])
            idle_since = time.monotonic()
            while todo:
                fetched = await consumer.getmany(*(kafka[tp] for tp in todo), timeout_ms=100)
                for ktp, batch in fetched.items():
                    tp = TP(ktp.topic, ktp.partition)
                    highwater = todo.get(tp)
                    if highwater is None:
                        continue
                    records = [(r.key, r.value) for r in batch if r.offset <= highwater and r.key]
                    restore_records(self._store, tp.partition, records)
                    counts[tp] += len(records)
                    last = min(batch[-1].offset, highwater)
                    self._reached(tp, last, offsets)
                progressed = bool(fetched)
                for tp in list(todo):
                    # The position passes transaction markers, which are never returned.
                    if await consumer.position(kafka[tp]) > todo[tp]:
                        self._reached(tp, todo.pop(tp), offsets)
                        progressed = True
                now = time.monotonic()
                if progressed:
                    idle_since = now
                elif now - idle_since > self._idle_seconds:
                    log.warning(
                        "table restore made no progress for %.0f s; Faust's recovery reads "
                        "the rest of %s",
                        self._idle_seconds,
                        sorted(todo),
                    )
                    break
        finally:
            await consumer.stop()

    async def end_offsets(self, tps: Collection[TP]) -> dict[TP, int | None]:
        """The end of each partition: with read_committed, the last stable offset."""
        return await self._list_offsets(tps, last=True)

    async def beginning_offsets(self, tps: Collection[TP]) -> dict[TP, int | None]:
        return await self._list_offsets(tps, last=False)

    async def _list_offsets(self, tps: Collection[TP], last: bool) -> dict[TP, int | None]:
        if not tps:
            return {}
        consumer = self._new_consumer()
        await consumer.start()
        try:
            kafka = [TopicPartition(tp.topic, tp.partition) for tp in tps]
            found = await (consumer.end_offsets if last else consumer.beginning_offsets)(kafka)
        finally:
            await consumer.stop()
        return {tp: found.get(TopicPartition(tp.topic, tp.partition)) for tp in tps}

    def _reached(self, tp: TP, offset: int, offsets: MutableMapping[TP, int]) -> None:
        if offset > offsets.get(tp, -1):
            offsets[tp] = offset
            self._store.set_persisted_offset(tp, offset)


def changelog_consumer(settings: Settings) -> Callable[[], AIOKafkaConsumer]:
    """A factory of consumers for the restore: no group, Faust's isolation level, big fetches."""
    exactly_once = settings.processing_guarantee == "exactly_once"

    def new_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # the start of a compacted partition
            isolation_level="read_committed" if exactly_once else "read_uncommitted",
            max_partition_fetch_bytes=FETCH_BYTES,
            fetch_max_bytes=2 * FETCH_BYTES,
            request_timeout_ms=int(settings.broker_timeout_seconds * 1000),
            **client_options(settings),
        )

    return new_consumer


def last_offset(end: int | None) -> int:
    """Faust's highwater: the last offset, the end (last stable) offset minus one."""
    return end - 1 if end is not None else -1


def start_offset(stored: int | None, earliest: int | None) -> int:
    """The last offset already applied: what the store holds, or just before the start of
    the partition if that is later (compacted away), -1 for nothing; Faust's own rule."""
    before_earliest = earliest - 1 if earliest is not None else None
    if stored is None:
        return -1 if before_earliest is None else before_earliest
    return stored if before_earliest is None else max(stored, before_earliest)


def install_fast_restore(
    recovery: Any,
    table: Any,
    new_consumer: Callable[[], AIOKafkaConsumer],
    on_restored: Callable[[list[Restored]], None] | None = None,
) -> None:
    """Make Faust's ``recovery`` find where ``table``'s changelog partitions start and end
    through :class:`ChangelogRestore`, which then restores the active ones (see the module
    docstring); ``on_restored`` is told what each active recovery read."""
    restore = ChangelogRestore(table.data, new_consumer, IDLE_SECONDS)
    changelog = table.changelog_topic_name

    async def build_highwaters(consumer: Any, tps: set[TP], destination: Any, title: str) -> None:
        ends = await restore.end_offsets(tps)
        destination.clear()
        destination.update({tp: last_offset(ends.get(tp)) for tp in tps})

    async def build_offsets_then_restore(
        consumer: Any, tps: set[TP], destination: Any, title: str
    ) -> None:
        earliest = await restore.beginning_offsets(tps)
        for tp in tps:
            destination[tp] = start_offset(destination.get(tp), earliest.get(tp))
        if title != "active":
            return
        mine = [tp for tp in tps if tp.topic == changelog]
        highwaters = dict(recovery.active_highwaters)
        done = await restore.restore(mine, destination, highwaters)
        for restored in done:
            log.info(restored.describe())
        if on_restored is not None:
            on_restored(done)

    recovery._build_highwaters = build_highwaters
    recovery._build_offsets = build_offsets_then_restore
