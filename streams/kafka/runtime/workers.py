"""The partition workers this process owns: built from the table, kept through rebalances.

:class:`PartitionWorkers` maps each assigned partition of the input topics to its
:class:`~streams.kafka.runtime.partition.PartitionWorker`. A worker is made on first use
(the partition's first batch, the metrics sampler, or :meth:`PartitionWorkers.prepare` when
a table recovery completes): the one the process had before the rebalance if its changelog
partition is unchanged (:mod:`streams.kafka.runtime.kept`), else one built from the
partition's table records.

Building a partition of a million customers makes millions of objects that all live as long
as the partition. Python's cyclic garbage collector would scan them again and again, during
the build (which can free none of them) and in every full collection after it: it is
paused while a partition is built, and what exists then is frozen out of later collections
(``gc.freeze``); a rebalance unfreezes it, so the engines let go of can be collected.
Measured in docs/performance.md ("Recovery at 1,000,000 customers").
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.types import TP

from config.settings import Settings
from streams.kafka.runtime.kept import Kept, KeptWorkers
from streams.kafka.runtime.partition import Limits, PartitionWorker, Routes
from streams.kafka.runtime.store import partition_records
from streams.model_file import load_model

log = logging.getLogger(__name__)


def limits_for(settings: Settings) -> Limits:
    return Limits(
        max_ahead_seconds=settings.max_event_ahead_seconds,
        max_message_bytes=settings.max_message_bytes,
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while the block runs (it makes objects that all stay)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class PartitionWorkers(dict[int, PartitionWorker]):
    """The partition workers this process owns, rebuilt lazily from the table, or kept
    through a rebalance when nothing changed their partition (:mod:`streams.kafka.runtime.kept`)."""

    def __init__(self, settings: Settings, routes: Routes, table: Any) -> None:
        super().__init__()
        self._settings = settings
        self._model = load_model(settings.model)
        self._routes = routes
        self._table = table
        self._topics = set(routes.consumed)
        self.kept = KeptWorkers()
        self._unconfirmed: set[int] = set()  # built, no batch committed yet

    def restore(self, partition: int) -> PartitionWorker:
        """The worker of ``partition``: the one kept through the rebalance if it is still
        current, else built from its table records; on first use."""
        started = time.perf_counter()
        worker = self.kept.take(partition)
        if worker is not None:
            how = "kept through the rebalance (its changelog partition is unchanged)"
        else:
            with collector_paused():
                worker = PartitionWorker.from_records(
                    partition,
                    partition_records(self._table.data, partition),
                    self._settings.detection,
                    self._routes,
                    wall_clock=self._settings.clock == "wall",
                    topic_idle_seconds=self._settings.topic_idle_seconds,
                    limits=limits_for(self._settings),
                    model=self._model,
                )
            how = "rebuilt from the table"
        gc.freeze()  # the engine lives as long as the partition: out of later collections
        log.info(
            "partition %d: engine of %d customers %s in %.3f s",
            partition,
            len(worker.engine.customers),
            how,
            time.perf_counter() - started,
        )
        self[partition] = worker
        self._unconfirmed.add(partition)
        return worker

    def first_batch(self, partition: int) -> bool:
        """Whether the batch just processed is the first of ``partition``'s worker since it
        was built or kept (the drain then commits at once instead of at the next interval)."""
        if partition in self._unconfirmed:
            self._unconfirmed.discard(partition)
            return True
        return False

    def drop(self, revoked: set[TP]) -> None:
        """Forget revoked partitions (their work was committed before revocation), keeping
        their workers aside with the store's changelog offset, for the next assignment."""
        changelog = self._table.changelog_topic_name
        kept: dict[int, Kept] = {}
        for tp in revoked:
            if tp.topic in self._topics:
                worker = self.pop(tp.partition, None)
                if worker is not None:
                    offset = self._table.data.persisted_offset(TP(changelog, tp.partition))
                    kept[tp.partition] = Kept(worker, offset)
                self._unconfirmed.discard(tp.partition)
        self.kept.keep(kept)
        # Engines let go of may now be garbage: let the collector see them again (the kept
        # and rebuilt ones are frozen again when they are taken up).
        gc.unfreeze()

    def prepare(self) -> None:
        """Build the worker of every partition the latest table recovery restored that has
        none (none if a rebalance began since). Called when the recovery is complete, so
        that a partition's first batch after a rebalance does not wait for it."""
        for partition in self.kept.restored():
            if partition not in self:
                self.restore(partition)
