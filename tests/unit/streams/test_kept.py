"""Partition workers kept through a rebalance: reused only while their changelog partition
is unchanged, else rebuilt from the table (no broker; the table on RocksDB)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from faust.types import TP

from config.settings import Settings
from streams.kafka.app import build_app
from streams.kafka.runtime.kept import Kept, KeptWorkers, still_current
from streams.kafka.runtime.partition import PartitionWorker, Routes
from streams.kafka.runtime.restore import Restored
from streams.kafka.runtime.store import write_records
from streams.kafka.runtime.workers import PartitionWorkers
from streams.records import to_record
from tests.builders import a_customer, an_order, day

CHANGELOG = "cw-customers-changelog"
ROUTES = Routes(  # the default settings' topics
    input_types={"orders": "order", "email-events": "email", "calls": "call"},
    decision_topics={"at_risk": "churn.at-risk", "lost": "churn.lost"},
    dead_letter_topic="churnwatch.dead-letters",
    tick_topic="churnwatch.ticks",
    source="urn:test",
)


def restored(partition: int, first: int, records: int) -> Restored:
    reached = first - 1 + max(records, 1)
    return Restored(TP(CHANGELOG, partition), first, reached, records, 0.01)


def a_worker(partition: int = 0) -> PartitionWorker:
    return PartitionWorker(partition, Settings().detection, ROUTES, wall_clock=False)


@pytest.mark.parametrize(
    ("store_offset", "first", "records", "current"),
    [
        (41, 42, 0, True),  # only this worker's own commit marker (or nothing) since
        (41, 42, 3, False),  # another writer's records after this worker's last one
        (41, 30, 0, False),  # the store moved back or forth (a standby copy applied)
        (41, 50, 0, False),  # compaction removed offsets past the store's
        (None, 0, 0, False),  # a store that keeps no offsets (memory)
    ],
)
def test_a_kept_worker_is_current_only_if_nothing_was_read_after_its_offset(
    store_offset: int | None, first: int, records: int, current: bool
) -> None:
    kept = Kept(a_worker(), store_offset)
    assert still_current(kept, restored(0, first, records)) is current


def test_without_a_restore_of_the_partition_the_worker_is_not_kept() -> None:
    assert still_current(Kept(a_worker(), 41), None) is False


def test_kept_workers_are_handed_out_once_after_the_restore_of_their_partition() -> None:
    kept = KeptWorkers()
    w0, w1 = a_worker(0), a_worker(1)
    kept.keep({0: Kept(w0, 9), 1: Kept(w1, 19)})
    assert kept.take(0) is None  # before the restore: nothing is known, rebuild
    kept.keep({0: Kept(w0, 9), 1: Kept(w1, 19)})
    kept.on_restored([restored(0, 10, 0)])  # partition 1 was not assigned again
    assert kept.take(1) is None
    assert kept.take(0) is w0
    assert kept.take(0) is None  # once


def test_a_new_rebalance_forgets_the_restore_of_the_one_before() -> None:
    kept = KeptWorkers()
    w0 = a_worker(0)
    kept.keep({0: Kept(w0, 9)})
    kept.on_restored([restored(0, 10, 0)])
    kept.keep({0: Kept(w0, 9)})  # revoked again before it was used
    assert kept.take(0) is None


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[PartitionWorkers]:
    settings = Settings(store="rocksdb://", data_dir=tmp_path / "data", partitions=2)
    yield build_app(settings).workers
    gc.unfreeze()  # what a build froze (below), so that this process can collect it


def commit(workers: PartitionWorkers, partition: int, customer: str, offset: int) -> None:
    """Put a customer record into the store at changelog ``offset``, as a commit does."""
    state = a_customer(an_order(at=day(1)))
    state.customer_id = customer
    store = workers._table.data
    write_records(store, partition, [(customer.encode(), orjson.dumps(to_record(state)))])
    store.set_persisted_offset(TP(workers._table.changelog_topic_name, partition), offset)


def revoke(workers: PartitionWorkers, *partitions: int) -> None:
    workers.drop({TP(topic, p) for p in partitions for topic in ROUTES.consumed})


def test_a_partition_nobody_else_wrote_keeps_its_engine(workers: PartitionWorkers) -> None:
    commit(workers, 0, "c1", 6)
    engine_before = workers.restore(0)
    assert len(engine_before.engine.customers) == 1
    revoke(workers, 0, 1)
    assert 0 not in workers
    # The next assignment's restore: the store was at 6, the changelog ends at its marker 7.
    workers.kept.on_restored([restored(0, 7, 0)])
    assert workers.restore(0) is engine_before


def test_a_partition_another_worker_wrote_is_rebuilt_with_its_writes(
    workers: PartitionWorkers,
) -> None:
    commit(workers, 0, "c1", 6)
    engine_before = workers.restore(0)
    revoke(workers, 0)
    # Meanwhile another writer's record reached the changelog; the restore applies it.
    commit(workers, 0, "c2", 9)
    workers.kept.on_restored([restored(0, 7, 1)])
    rebuilt = workers.restore(0)
    assert rebuilt is not engine_before
    assert sorted(rebuilt.engine.customers) == ["c1", "c2"]


def test_a_partition_whose_store_moved_is_rebuilt(workers: PartitionWorkers) -> None:
    commit(workers, 1, "c1", 6)
    engine_before = workers.restore(1)
    revoke(workers, 1)
    commit(workers, 1, "c3", 8)  # a standby copy applied to the store meanwhile
    workers.kept.on_restored([restored(1, 9, 0)])
    rebuilt = workers.restore(1)
    assert rebuilt is not engine_before
    assert sorted(rebuilt.engine.customers) == ["c1", "c3"]


def test_the_first_batch_of_a_new_or_kept_worker_is_known_once(
    workers: PartitionWorkers,
) -> None:
    workers.restore(0)
    assert workers.first_batch(0) is True
    assert workers.first_batch(0) is False
    assert workers.first_batch(1) is False  # no worker
    workers.restore(1)
    revoke(workers, 1)
    assert workers.first_batch(1) is False  # revoked before its first batch


def test_the_restored_partitions_engines_are_prepared(workers: PartitionWorkers) -> None:
    commit(workers, 1, "c1", 3)
    workers.kept.on_restored([restored(1, 4, 0)])
    workers.prepare()
    assert sorted(workers) == [1]
    assert list(workers[1].engine.customers) == ["c1"]
    assert workers.first_batch(1) is True


def test_after_a_revocation_nothing_is_prepared(workers: PartitionWorkers) -> None:
    workers.kept.on_restored([restored(0, 4, 0), restored(1, 4, 0)])
    revoke(workers, 0, 1)  # a rebalance began before the recovery's end was signalled
    workers.prepare()
    assert sorted(workers) == []


def test_a_built_engine_is_frozen_out_of_collections_until_a_rebalance(
    workers: PartitionWorkers,
) -> None:
    commit(workers, 0, "c1", 6)
    gc.unfreeze()
    built = workers.restore(0)
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    revoke(workers, 0)
    assert gc.get_freeze_count() == 0
    workers.kept.on_restored([restored(0, 7, 0)])
    assert workers.restore(0) is built  # kept, and frozen again too
    assert gc.get_freeze_count() > 0
