"""The worker observer with a hand-written fake Faust app: readiness, recovery, lag, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry

from models.policy import Policy
from streams.kafka.operations.observe import WorkerObserver, lag, recovery_ratio
from streams.kafka.runtime.partition import PartitionWorker, Routes
from streams.metrics import create_metrics
from tests.builders import an_email, an_order, day

ORDERS, EMAILS, CALLS, TICKS = "orders", "email-events", "calls", "ticks"
CHANGELOG = "app-customers-changelog"
ROUTES = Routes(
    input_types={ORDERS: "order", EMAILS: "email", CALLS: "call"},
    decision_topics={"at_risk": "a", "lost": "l", "recovered": "r"},
    dead_letter_topic="dlq",
    tick_topic=TICKS,
    source="urn:test",
)
NOW = day(10)


@dataclass
class FakeEvent:
    flag: bool = False

    def is_set(self) -> bool:
        return self.flag


@dataclass
class FakeRecovery:
    completed: FakeEvent = field(default_factory=FakeEvent)
    active_tps: set[TP] = field(default_factory=set)
    active_offsets: dict[TP, int] = field(default_factory=dict)
    active_highwaters: dict[TP, int] = field(default_factory=dict)


@dataclass
class FakeTables:
    recovery: FakeRecovery = field(default_factory=FakeRecovery)


@dataclass
class FakeConsumer:
    """What the observer reads of Faust's consumer: assignment, highwaters, commits."""

    assigned: set[TP] = field(default_factory=set)
    highwaters: dict[TP, int] = field(default_factory=dict)
    _committed_offset: dict[TP, int] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return self.assigned

    def highwater(self, tp: TP) -> int | None:
        assert tp in self.assigned, "aiokafka asserts the partition is assigned"
        return self.highwaters.get(tp)


@dataclass
class FakeApp:
    rebalancing: bool = False
    tables: FakeTables = field(default_factory=FakeTables)
    consumer: FakeConsumer = field(default_factory=FakeConsumer)


class Fixture:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = create_metrics(self.registry, process_collectors=False)
        self.app = FakeApp()
        self.workers: dict[int, PartitionWorker] = {}
        self.restored: list[int] = []
        self.observer = WorkerObserver(
            self.metrics,
            self.app,
            self.workers,
            self.restore,
            [ORDERS, EMAILS, CALLS, TICKS],
            clock=lambda: NOW,
        )

    def restore(self, partition: int) -> PartitionWorker:
        self.restored.append(partition)
        worker = self.workers[partition] = PartitionWorker(partition, Policy(), ROUTES, False)
        return worker

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def assign(self, *partitions: int) -> None:
        tps = {TP(topic, p) for topic in (ORDERS, EMAILS, CALLS, TICKS) for p in partitions}
        changelog = {TP(CHANGELOG, p) for p in partitions}
        self.app.consumer.assigned = tps | changelog
        self.observer.on_assigned(tps | changelog | {TP("app-__assignor-__leader", 0)})

    def recovered(self) -> None:
        self.app.rebalancing = False
        self.app.tables.recovery.completed.flag = True


@pytest.fixture
def f() -> Fixture:
    return Fixture()


def test_recovery_ratio_and_lag() -> None:
    assert recovery_ratio(start=-1, offset=49, highwater=99) == 0.5
    assert recovery_ratio(start=-1, offset=-1, highwater=-1) == 1.0  # nothing to recover
    assert recovery_ratio(start=10, offset=None, highwater=20) == 1.0
    assert recovery_ratio(start=10, offset=30, highwater=20) == 1.0
    assert lag(highwater=100, processed_next=40) == 60
    assert lag(highwater=100, processed_next=None) == 100
    assert lag(highwater=None, processed_next=40) is None
    assert lag(highwater=5, processed_next=9) == 0


def test_ready_only_after_recovery_and_outside_rebalances(f: Fixture) -> None:
    assert f.observer.readiness().reason == "table recovery in progress"
    f.recovered()
    assert f.observer.readiness().ready
    f.app.rebalancing = True  # completed stays set from the last round: the flag decides
    assert f.observer.readiness().reason == "partitions are being reassigned"


def test_an_assignment_counts_input_partitions_only(f: Fixture) -> None:
    f.assign(0, 2)
    assert f.value("churnwatch_partitions_assigned") == 2
    assert f.value("churnwatch_rebalances_completed_total") == 1
    assert f.value("churnwatch_table_recovery_progress_ratio", partition="2") == 0


def test_recovery_progress_counts_from_where_recovery_started(f: Fixture) -> None:
    f.assign(0)
    recovery = f.app.tables.recovery
    tp = TP(CHANGELOG, 0)
    recovery.active_tps = {tp}
    recovery.active_offsets[tp], recovery.active_highwaters[tp] = 99, 199  # local store: 100
    f.observer.sample()
    assert f.value("churnwatch_table_recovery_progress_ratio", partition="0") == 0
    recovery.active_offsets[tp] = 149
    f.observer.sample()
    assert f.value("churnwatch_table_recovery_progress_ratio", partition="0") == 0.5
    assert f.value("churnwatch_table_recovery_complete") == 0
    assert f.restored == []  # nothing is built before recovery completes
    f.recovered()
    f.observer.sample()
    assert f.value("churnwatch_table_recovery_progress_ratio", partition="0") == 1
    assert f.value("churnwatch_table_recovery_complete") == 1


def test_once_ready_every_partition_is_built_and_measured(f: Fixture) -> None:
    f.assign(0, 1)
    f.recovered()
    worker = f.restore(0)
    worker.engine.process(an_order("c1", day(1)))
    worker.engine.process(an_order("c2", day(2)))
    worker.clock.offsets[ORDERS] = 6  # processed up to offset 6
    consumer = f.app.consumer
    consumer.highwaters[TP(ORDERS, 0)] = 10
    consumer.highwaters[TP(EMAILS, 1)] = 4
    consumer._committed_offset[TP(EMAILS, 1)] = 1

    f.observer.sample()

    assert f.restored == [0, 1]  # partition 1 had no worker yet
    assert f.value("churnwatch_customers_tracked", status="active") == 2
    assert f.value("churnwatch_consumer_lag_messages", topic=ORDERS, partition="0") == 3
    assert f.value("churnwatch_consumer_lag_messages", topic=EMAILS, partition="1") == 3
    assert f.value("churnwatch_consumer_lag_messages", topic=CALLS, partition="0") is None


def test_lag_skips_partitions_revoked_since_the_assignment(f: Fixture) -> None:
    f.assign(0)
    f.recovered()
    f.app.consumer.assigned = set()  # revoked, signal not yet seen
    f.observer.sample()  # the fake consumer would assert
    assert f.value("churnwatch_consumer_lag_messages", topic=ORDERS, partition="0") is None


def test_a_flush_moves_the_tallies_and_decisions_into_the_metrics(f: Fixture) -> None:
    f.assign(0)
    worker = f.restore(0)
    event = an_email("c1", day(9))
    worker.engine.process(event)
    worker.tally.accepted(EMAILS, event)
    worker.tally.refused("invalid_json")

    f.observer.on_flush(f.workers)
    f.observer.on_flush(f.workers)  # nothing new: nothing added

    assert f.value("churnwatch_events_consumed_total", topic=EMAILS, event_type="email") == 1
    assert f.value("churnwatch_events_rejected_total", reason="invalid_json") == 1
    assert f.value("churnwatch_event_time_lag_seconds_count") == 1
    assert f.value("churnwatch_event_time_lag_seconds_sum") == pytest.approx(NOW - day(9))


def test_decisions_are_counted_once_whoever_observes_first(f: Fixture) -> None:
    """A decision taken by the sampler or by the commit hook is counted exactly once."""
    f.assign(0)
    f.recovered()
    worker = f.restore(0)
    for n in range(4):
        worker.engine.process(an_order("c1", day(30 * n)))
    worker.published += worker.engine.advance(day(400))  # c1 is lost by then
    kinds = [decision.kind for decision in worker.published]
    assert "lost" in kinds

    f.observer.sample()  # first sight of the engine, its decisions with it
    f.observer.on_flush(f.workers)
    f.observer.sample()

    for kind in ("at_risk", "lost", "recovered"):
        assert f.value("churnwatch_decisions_published_total", type=kind) == kinds.count(kind)
    assert f.value("churnwatch_customers_tracked", status="lost") == 1
    assert f.value("churnwatch_customers_tracked", status="active") == 0
