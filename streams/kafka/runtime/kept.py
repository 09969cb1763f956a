"""Partition workers kept through a rebalance: when one may go on without a rebuild.

Faust's rebalancing is eager: every rebalance revokes all of a worker's partitions and
assigns them again, the ones it keeps included. Rebuilding a partition's engine from the
table costs seconds per million customers (docs/performance.md), spent while the partition
(and, on one event loop, every other) waits. A partition worker this process had before the
rebalance may carry on instead, but only if its engine still is what the table holds:

* at revocation the worker committed everything it had processed (the app's revoke
  handler), so its engine equals its partition of the local store, and the store's
  changelog offset is that of the last record it wrote (:class:`Kept`);
* nothing may have changed that partition since: no other worker may have written its
  changelog (it may have owned the partition between two rebalances), and no standby copy
  may have been applied to the store.

Both show in the table recovery of the new assignment (:class:`~streams.kafka.runtime.
restore.Restored`): the restore started right after the offset the worker left the store
at, and read no changelog record up to the partition's last stable offset (only the
marker of the worker's own last transaction, or nothing). Anything else (a record of
another writer, a store moved by a standby, compaction past the store's offset, a store
that keeps no offsets, as the memory store) rebuilds the engine from the table, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streams.kafka.runtime.partition import PartitionWorker
from streams.kafka.runtime.restore import Restored


@dataclass(frozen=True)
class Kept:
    """A revoked partition's worker, and the changelog offset its store stood at then."""

    worker: PartitionWorker
    store_offset: int | None  # the local store's persisted changelog offset (None: unknown)


def still_current(kept: Kept, restored: Restored | None) -> bool:
    """Whether ``kept`` may go on: the new assignment's restore of its changelog partition
    began right after the store's offset at revocation and found no record to apply."""
    return (
        restored is not None
        and kept.store_offset is not None
        and restored.first == kept.store_offset + 1
        and restored.records == 0
    )


class KeptWorkers:
    """The workers revoked at the latest rebalance, until the next restore decides on them."""

    def __init__(self) -> None:
        self._kept: dict[int, Kept] = {}
        self._restored: dict[int, Restored] = {}

    def keep(self, kept: dict[int, Kept]) -> None:
        """A rebalance began: these are the workers just revoked (earlier ones are stale)."""
        self._kept = dict(kept)
        self._restored.clear()

    def on_restored(self, restored: Iterable[Restored]) -> None:
        """The table recovery of the new assignment: what it read per active partition.
        Kept workers of partitions not assigned again are let go."""
        self._restored = {r.tp.partition: r for r in restored}
        self._kept = {p: k for p, k in self._kept.items() if p in self._restored}

    def restored(self) -> list[int]:
        """The partitions the latest recovery restored, if no rebalance began since."""
        return sorted(self._restored)

    def take(self, partition: int) -> PartitionWorker | None:
        """The kept worker of ``partition`` if it may go on, else None (rebuild it)."""
        kept = self._kept.pop(partition, None)
        if kept is not None and still_current(kept, self._restored.get(partition)):
            return kept.worker
        return None
