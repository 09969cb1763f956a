"""What a running worker knows about itself: metrics from its parts, and its readiness.

:class:`WorkerObserver` is the bridge between the worker and :mod:`streams.metrics`. It
never runs per message; it is fed at three moments:

* before every flush of the committer (``on_flush``, about once per commit interval, and
  always before partitions are revoked, so nothing counted is lost): each partition's
  :class:`~streams.metrics.BatchTally` and the engine's counters, gauges and decisions;
* on every partition assignment (``on_assigned``): the input partitions this worker now
  owns, which resets per-partition series and table recovery;
* every ``SAMPLE_SECONDS`` from a Faust timer (``sample``): consumer lag per input and
  tick partition, table recovery progress per partition, and whether recovery is complete;
  once recovery is complete, also what ``on_flush`` does (so the gauges are right while no
  commit happens, e.g. after a restart with no new input).

Once the table recovery of an assignment is complete, the sampler builds the worker of
every assigned partition that has none yet (the same ``restore`` the detector calls on a
partition's first message), so that customers by status, watermarks and lookups describe
the recovered table at once rather than after the partition's next message.

Every call pairs an engine's state with the decisions taken from its worker in that same
call (the event loop runs one thing at a time), which is what keeps the status counts of
:meth:`~streams.metrics.ChurnwatchMetrics.observe_engine` exact.

Readiness (:meth:`WorkerObserver.readiness`) is Faust's own view: the table recovery of
the latest assignment has completed and no rebalance is in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from faust.types import TP

from streams.kafka.runtime.partition import PartitionWorker
from streams.metrics import ChurnwatchMetrics

SAMPLE_SECONDS = 1.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""


def recovery_ratio(start: int, offset: int | None, highwater: int | None) -> float:
    """Share of a changelog partition restored: ``start`` .. ``highwater`` (last offsets)."""
    if highwater is None or offset is None or highwater <= start:
        return 1.0
    return min(1.0, max(0.0, (offset - start) / (highwater - start)))


def lag(highwater: int | None, processed_next: int | None) -> int | None:
    """Messages from ``processed_next`` (next offset to process) to the end, if known."""
    if highwater is None:
        return None
    return max(0, highwater - (processed_next or 0))


class WorkerObserver:
    """Feeds the metrics from the app, its consumer and the partition workers."""

    def __init__(
        self,
        metrics: ChurnwatchMetrics,
        app: Any,
        workers: Mapping[int, PartitionWorker],
        restore: Callable[[int], PartitionWorker],
        topics: Iterable[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self._app = app
        self._workers = workers
        self._restore = restore
        self._topics = tuple(topics)  # the inputs and the tick topic (co-partitioned)
        self._clock = clock
        self._assigned: frozenset[int] = frozenset()
        self._recovery_start: dict[TP, int] = {}

    # -- fed by the committer and by Faust's signals ----------------------------------------

    def on_flush(self, workers: Mapping[int, PartitionWorker]) -> None:
        """Move what the partitions counted since the last flush into the metrics."""
        now = self._clock()
        metrics = self.metrics
        for partition, worker in list(workers.items()):
            metrics.flush(worker.tally, now)
            metrics.observe_engine(partition, worker.engine, worker.take_published())

    def on_assigned(self, assigned: Collection[TP]) -> None:
        """A new assignment: the input partitions among ``assigned`` are this worker's."""
        partitions = frozenset(tp.partition for tp in assigned if tp.topic in self._topics)
        self._assigned = partitions
        self._recovery_start.clear()
        self.metrics.assign(partitions)

    # -- sampled ----------------------------------------------------------------------------

    def readiness(self) -> Readiness:
        app = self._app
        if getattr(app, "rebalancing", False):
            return Readiness(False, "partitions are being reassigned")
        if not app.tables.recovery.completed.is_set():
            return Readiness(False, "table recovery in progress")
        return Readiness(True)

    def sample(self) -> None:
        """Consumer lag, table recovery progress and completeness, now."""
        ready = self.readiness().ready
        self._sample_recovery(ready)
        self.metrics.set_recovery_complete(ready)
        if ready and self._assigned:  # the consumer has its assignment and has started
            for partition in self._assigned - self._workers.keys():
                self._restore(partition)
            self.on_flush(self._workers)
            self._sample_lag()

    def _sample_recovery(self, ready: bool) -> None:
        if ready:
            for partition in self._assigned:
                self.metrics.set_recovery_progress(partition, 1.0)
            return
        recovery = self._app.tables.recovery
        offsets, highwaters = recovery.active_offsets, recovery.active_highwaters
        for tp in list(recovery.active_tps):
            if tp.partition not in self._assigned:
                continue
            offset = offsets.get(tp)
            start = self._recovery_start.setdefault(tp, offset if offset is not None else -1)
            ratio = recovery_ratio(start, offset, highwaters.get(tp))
            self.metrics.set_recovery_progress(tp.partition, ratio)

    def _sample_lag(self) -> None:
        consumer = self._app.consumer
        committed = consumer._committed_offset  # next offset to read, per partition
        assignment = consumer.assignment()
        for partition in self._assigned:
            worker = self._workers.get(partition)
            for topic in self._topics:
                tp = TP(topic, partition)
                if tp not in assignment:  # revoked since the last assignment signal
                    continue
                processed_next = committed.get(tp)
                if worker is not None and topic in worker.clock.offsets:
                    processed_next = worker.clock.offsets[topic] + 1
                messages = lag(consumer.highwater(tp), processed_next)
                if messages is not None:
                    self.metrics.set_consumer_lag(topic, partition, messages)
