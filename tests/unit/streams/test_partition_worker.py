"""The per-partition detector without Kafka: decoding, dead letters, clock, snapshots."""

from __future__ import annotations

import math
from typing import Any

import orjson

from models.policy import DAY, Policy
from streams.kafka import wire
from streams.kafka.runtime.partition import Inbound, PartitionWorker, Routes
from streams.records import from_record, to_record
from tests.builders import EPOCH, call_json, email_json, order_json

ORDERS, EMAILS, CALLS, TICKS = "orders", "email-events", "calls", "ticks"
ROUTES = Routes(
    input_types={ORDERS: "order", EMAILS: "email", CALLS: "call"},
    decision_topics={
        "at_risk": "churn.at-risk",
        "lost": "churn.lost",
        "recovered": "churn.recovered",
    },
    dead_letter_topic="dlq",
    tick_topic=TICKS,
    source="urn:test",
)


def iso(days: float) -> str:
    return wire_time(EPOCH + days * DAY)


def wire_time(t: float) -> str:
    from models.decisions import format_time

    stamp = format_time(t)
    assert stamp is not None
    return stamp


class Feed:
    """Messages for one partition with per-topic offsets, and a highwater per topic."""

    def __init__(self, worker: PartitionWorker) -> None:
        self.worker = worker
        self.offsets: dict[str, int] = {}
        self.ends: dict[str, int] = {}

    def send(
        self, topic: str, obj: dict[str, Any] | bytes, key: bytes | str | None = "auto"
    ) -> int:
        value = obj if isinstance(obj, bytes) else orjson.dumps(obj)
        if key == "auto":
            key = obj["customer_id"].encode() if isinstance(obj, dict) else None
        offset = self.offsets.get(topic, -1) + 1
        self.offsets[topic] = offset
        message = Inbound(topic, 0, offset, key, value, [("origin", b"test")])  # type: ignore[arg-type]
        self.worker.handle(message, lambda t: self.ends.get(t))
        return offset


def new_worker(wall_clock: bool = False, policy: Policy | None = None) -> PartitionWorker:
    return PartitionWorker(0, policy or Policy(), ROUTES, wall_clock=wall_clock)


def complaint(customer: str, days: float, event_id: str) -> dict[str, Any]:
    return call_json(customer_id=customer, occurred_at=iso(days), event_id=event_id)


def test_a_decision_goes_to_its_topic_as_a_cloudevent_keyed_by_customer() -> None:
    worker = new_worker()
    feed = Feed(worker)
    feed.send(CALLS, complaint("c1", 0, "e1"))
    offset = feed.send(CALLS, complaint("c2", 3, "e2"))  # moves event time past the grace
    feed.worker.handle(
        Inbound(
            TICKS,
            0,
            0,
            None,
            wire.encode_tick(wire.AdvanceTick(EPOCH + 3 * DAY, {CALLS: offset})),
            [],
        ),
        lambda t: None,
    )
    out = [m for m in worker.take_outbox() if m.topic == "churn.at-risk"]
    assert [m.key for m in out] == [b"c1"]
    event = orjson.loads(out[0].value)
    assert event["type"] == "churnwatch.customer.at_risk" and event["subject"] == "c1"
    assert out[0].headers == [("content-type", b"application/cloudevents+json")]


def test_bad_messages_become_dead_letters_with_their_bytes_and_where_they_came_from() -> None:
    worker = new_worker()
    feed = Feed(worker)
    feed.send(ORDERS, b"{not json", key=b"c1")
    feed.send(ORDERS, order_json(amount=-5), key=b"c1")
    feed.send(ORDERS, order_json(customer_id="c1"), key=b"someone-else")
    feed.send(EMAILS, email_json(), key=None)
    feed.send(TICKS, b"[]", key=None)
    dead = worker.take_outbox()
    codes = [dict(m.headers)[wire.HEADER_CODE] for m in dead]
    assert codes == [
        b"invalid_json",
        b"invalid_field",
        b"key_mismatch",
        b"key_mismatch",
        b"invalid_tick",
    ]
    first = dict(dead[0].headers)
    assert dead[0].topic == "dlq" and dead[0].value == b"{not json" and dead[0].key == b"c1"
    assert first["origin"] == b"test"  # the original headers are kept
    assert (first[wire.HEADER_TOPIC], first[wire.HEADER_PARTITION], first[wire.HEADER_OFFSET]) == (
        b"orders",
        b"0",
        b"0",
    )
    assert b"not valid JSON" in first[wire.HEADER_REASON]
    assert worker.engine.customers == {}


def test_a_topic_that_lags_in_event_time_holds_the_watermark_back() -> None:
    # Faust reads the topics round-robin: here all orders (months of them) arrive before
    # the emails of the same period. Those emails must not be late.
    worker = new_worker()
    feed = Feed(worker)
    feed.ends = {ORDERS: 3, EMAILS: 3, CALLS: 0}
    for n in range(3):
        feed.send(ORDERS, order_json(event_id=f"o{n}", order_id=f"o{n}", occurred_at=iso(30 * n)))
    assert worker.engine.watermark == -math.inf  # emails not read yet: hold
    for n in range(3):
        feed.send(EMAILS, email_json(event_id=f"m{n}", occurred_at=iso(30 * n + 1)))
    assert not any(m.topic == "dlq" for m in worker.outbox)
    assert sum(worker.tally.consumed.values()) == 6
    # All caught up: the newest event time minus the allowed lateness.
    assert worker.engine.watermark == EPOCH + 61 * DAY - Policy().allowed_lateness_seconds


def test_an_advance_waits_for_the_offsets_it_names() -> None:
    worker = new_worker()
    feed = Feed(worker)
    tick = wire.AdvanceTick(EPOCH + 10 * DAY, {CALLS: 1})
    feed.send(CALLS, complaint("c1", 0, "e1"))
    feed.send(TICKS, wire.encode_tick(tick), key=None)
    assert worker.engine.watermark < EPOCH and worker.clock.advance == tick
    feed.send(CALLS, complaint("c2", 0.5, "e2"))
    assert worker.engine.watermark == EPOCH + 10 * DAY and worker.clock.advance is None
    assert sorted(m.key for m in worker.take_outbox()) == [b"c1", b"c2"]


def test_wall_ticks_move_the_clock_only_with_the_wall_clock() -> None:
    tick = wire.encode_tick(wire.WallTick(EPOCH + 5 * DAY))
    for wall_clock, fired in ((False, 0), (True, 1)):
        worker = new_worker(wall_clock=wall_clock)
        feed = Feed(worker)
        feed.send(CALLS, complaint("c1", 0, "e1"))
        feed.send(TICKS, tick, key=None)
        assert sum(m.topic == "churn.at-risk" for m in worker.take_outbox()) == fired


def test_snapshot_writes_each_changed_customer_once_and_rebuilds_the_same_worker() -> None:
    worker = new_worker()
    feed = Feed(worker)
    for n in range(5):
        feed.send(ORDERS, order_json(event_id=f"a{n}", order_id=f"a{n}", occurred_at=iso(7 * n)))
    feed.send(ORDERS, order_json(customer_id="c2", event_id="b", order_id="b", occurred_at=iso(30)))
    records = worker.snapshot()
    keys = [key for key, _ in records]
    assert sorted(keys) == sorted([b"c1", b"c2", wire.partition_key(0), wire.churn_rate_key(0)])
    values = dict(records)
    assert orjson.loads(values[b"c1"]) == to_record(worker.engine.customers["c1"])
    assert worker.snapshot() == []  # nothing changed since

    rebuilt = PartitionWorker.from_records(0, records, Policy(), ROUTES, wall_clock=False)
    assert rebuilt.engine.watermark == worker.engine.watermark
    assert rebuilt.clock == worker.clock
    assert rebuilt.engine.customers == worker.engine.customers
    assert from_record(orjson.loads(values[b"c2"])) == worker.engine.customers["c2"]
    assert rebuilt.engine.ledger is not None and worker.engine.ledger is not None
    assert rebuilt.engine.ledger.rows() == worker.engine.ledger.rows()
    # Both continue identically: the same late complaint decides the same.
    for w in (worker, rebuilt):
        Feed(w).send(CALLS, complaint("c1", 40, "late-call"))
        w.engine.advance(EPOCH + 60 * DAY)
    assert rebuilt.engine.customers == worker.engine.customers
    assert rebuilt.engine.ledger.rows() == worker.engine.ledger.rows()


def test_a_redelivered_message_is_skipped_by_its_offset() -> None:
    worker = new_worker()
    feed = Feed(worker)
    feed.send(CALLS, complaint("c1", 0, "e1"))
    feed.send(CALLS, complaint("c2", 3, "e2"))
    records = worker.snapshot()
    rebuilt = PartitionWorker.from_records(0, records, Policy(), ROUTES, wall_clock=False)
    again = Feed(rebuilt)  # the same offsets from 0: delivered again after a crash
    again.send(CALLS, complaint("c1", 0, "e1"))
    again.send(CALLS, complaint("c2", 3, "e2"))
    assert rebuilt.stats["redelivered"] == 2
    assert rebuilt.take_outbox() == [] and rebuilt.snapshot() == []
    # The same event under a new offset (a producer retry) is the engine's duplicate.
    again.send(CALLS, complaint("c2", 3, "e2"))
    assert rebuilt.engine.duplicates == 1


def test_a_refused_last_message_does_not_leave_its_topic_lagging() -> None:
    worker = new_worker()
    feed = Feed(worker)
    feed.ends = {ORDERS: 2, EMAILS: 1, CALLS: 0}
    feed.send(EMAILS, email_json(event_id="m0", occurred_at=iso(10)))
    feed.send(ORDERS, order_json(event_id="o0", order_id="o0", occurred_at=iso(0)))
    lateness = Policy().allowed_lateness_seconds
    assert worker.engine.watermark == EPOCH - lateness  # orders has an unread message: hold
    feed.send(ORDERS, b"garbage", key=b"c1")  # the last order is refused...
    # ...but read: nothing lags any more, and event time moves on.
    assert worker.engine.watermark == EPOCH + 10 * DAY - lateness


def message(topic: str, offset: int, obj: dict[str, Any]) -> Inbound:
    return Inbound(topic, 0, offset, obj["customer_id"].encode(), orjson.dumps(obj), [])


def test_a_fetch_is_applied_in_event_time_order_across_topics() -> None:
    # All caught up after this fetch, so nothing holds the watermark between its events:
    # topic by topic, the emails (days 1-40) would move it past the orders of days 5-30.
    worker = new_worker()
    emails = [email_json(event_id=f"m{d}", occurred_at=iso(d)) for d in (1, 10, 20, 40)]
    orders = [order_json(event_id=f"o{d}", order_id=f"o{d}", occurred_at=iso(d)) for d in (5, 30)]
    ends = {EMAILS: len(emails), ORDERS: len(orders), CALLS: 0}
    worker.handle_fetch(
        {
            EMAILS: [message(EMAILS, i, m) for i, m in enumerate(emails)],
            ORDERS: [message(ORDERS, i, o) for i, o in enumerate(orders)],
        },
        ends.get,
    )
    assert not [m for m in worker.take_outbox() if m.topic == "dlq"]
    assert worker.engine.customers["c1"].orders == 2
    assert worker.engine.watermark == EPOCH + 40 * DAY - Policy().allowed_lateness_seconds


def test_a_caught_up_topic_holds_the_watermark_for_its_idle_time() -> None:
    worker = PartitionWorker(0, Policy(), ROUTES, wall_clock=False, topic_idle_seconds=2.0)
    lateness = Policy().allowed_lateness_seconds
    ends = {EMAILS: 1, ORDERS: 1, CALLS: 1}
    order = order_json(event_id="o0", order_id="o0", occurred_at=iso(0))
    call = complaint("c1", 0, "k0")
    fetched = {ORDERS: [message(ORDERS, 0, order)], CALLS: [message(CALLS, 0, call)]}
    worker.handle_fetch(fetched, ends.get, now=100.0)
    email = email_json(event_id="m0", occurred_at=iso(10))
    worker.handle_fetch({EMAILS: [message(EMAILS, 0, email)]}, ends.get, now=101.0)
    # Orders and calls caught up a second ago: they may be waiting for their next batch.
    assert worker.engine.watermark == EPOCH - lateness
    late_order = order_json(event_id="o1", order_id="o1", occurred_at=iso(5))
    ends[ORDERS] = 2
    worker.handle_fetch({ORDERS: [message(ORDERS, 1, late_order)]}, ends.get, now=101.5)
    assert not [m for m in worker.take_outbox() if m.topic == "dlq"]  # not late
    assert worker.engine.watermark == EPOCH - lateness  # calls still hold it
    tick = Inbound(TICKS, 0, 0, None, wire.encode_tick(wire.WallTick(EPOCH)), [])
    worker.handle_fetch({TICKS: [tick]}, ends.get, now=104.0)  # all quiet for over 2 s
    assert worker.engine.watermark == EPOCH + 10 * DAY - lateness
    assert worker.engine.customers["c1"].orders == 2
