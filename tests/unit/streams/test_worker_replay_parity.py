"""The worker and replay decide alike, without a broker, in seconds.

Both drive :class:`streams.partition.Partition`, replay with one in-memory topic of its
lines, the worker with three input topics fetched apart and merged by event time. Random
streams of one partition's orders, emails and calls (in time order, as a file or a topic
holds them) go through :func:`streams.replay.replay` and through a :class:`PartitionWorker`
fed in random fetches of its three topics; both must publish the same decisions and end
with the same customers and churn accounting. Cut anywhere, snapshot the worker's table
records, rebuild a worker from them (a restore) and go on: nothing changes. The real-broker
tests keep what only Kafka can show (transactions, rebalances, kills).
"""

from __future__ import annotations

import io
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from models.churn_rate import ChurnLedger
from models.engine import Engine
from models.parse import parse_time
from models.policy import DAY, Policy
from streams.cloudevents import to_cloudevent
from streams.kafka import wire
from streams.kafka.runtime.partition import Inbound, PartitionWorker
from streams.records import FIELDS, to_record
from streams.replay import InputFile, replay
from tests.builders import EPOCH, call_json, email_json, order_json
from tests.unit.streams.test_partition_worker import CALLS, EMAILS, ORDERS, ROUTES, TICKS, iso

POLICY = Policy()
TOPIC_OF = {"order": ORDERS, "email": EMAILS, "call": CALLS}
DECISION_TOPICS = set(ROUTES.decision_topics.values())


def _event(kind: str, customer: int, day: float, n: int, detail: str) -> dict[str, Any]:
    common = {"customer_id": f"c{customer}", "occurred_at": iso(day), "event_id": f"e{n}"}
    if kind == "order":
        return order_json(**common, order_id=f"o{n}", amount=10.0 + n % 40)
    if kind == "email":
        return email_json(**common, action=detail)
    return call_json(**common, direction="outbound", outcome=detail, reason="sales")


def _streams() -> st.SearchStrategy[list[dict[str, Any]]]:
    one = st.tuples(
        st.sampled_from(["order", "order", "email", "call"]),
        st.integers(0, 5),
        st.floats(0, 400, allow_nan=False),
        st.sampled_from(["sent", "opened", "answered", "missed"]),
    )

    def build(items: list[tuple[str, int, float, str]]) -> list[dict[str, Any]]:
        items = sorted(items, key=lambda item: item[2])
        out = []
        for n, (kind, customer, day, detail) in enumerate(items):
            if kind == "email" and detail not in ("sent", "opened"):
                detail = "sent"
            if kind == "call" and detail not in ("answered", "missed"):
                detail = "missed"
            out.append(_event(kind, customer, day, n, detail))
        return out

    return st.lists(one, min_size=1, max_size=60).map(build)


def replayed(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Engine]:
    engine = Engine(POLICY)
    engine.ledger = ChurnLedger(POLICY)
    decisions: list[dict[str, Any]] = []
    lines = b"".join(orjson.dumps(e) + b"\n" for e in events)
    replay(
        [InputFile("events", io.BytesIO(lines))],
        engine,
        emit=lambda d: decisions.append(to_cloudevent(d, ROUTES.source)),
        dead_letter=lambda _: None,
    )
    return decisions, engine


class Partition:
    """One partition's topics, fed to a worker in fetches; highwaters known up front."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.messages: list[Inbound] = []
        offsets: dict[str, int] = {}
        for event in events:
            topic = TOPIC_OF[event["event_type"]]
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            key = event["customer_id"].encode()
            self.messages.append(Inbound(topic, 0, offset, key, orjson.dumps(event), []))
        self.ends = {topic: offsets.get(topic, -1) + 1 for topic in TOPIC_OF.values()}
        newest = max(orjson.loads(m.value or b"{}")["occurred_at"] for m in self.messages)
        last = {topic: end - 1 for topic, end in self.ends.items() if end}
        tick = wire.AdvanceTick(_epoch(newest), last)
        self.messages.append(Inbound(TICKS, 0, 0, None, wire.encode_tick(tick), []))
        self.ends[TICKS] = 1

    def feed(self, worker: PartitionWorker, start: int, stop: int, sizes: list[int]) -> None:
        """Messages ``start:stop`` in fetches of the given sizes (cycled)."""
        at, n = start, 0
        while at < stop:
            size = max(1, sizes[n % len(sizes)]) if sizes else stop - at
            fetch: dict[str, list[Inbound]] = {}
            for message in self.messages[at : min(stop, at + size)]:
                fetch.setdefault(message.topic, []).append(message)
            worker.handle_fetch(fetch, self.ends.get)
            at, n = at + size, n + 1


def _epoch(stamp: str) -> float:
    return parse_time(stamp)


def published(worker: PartitionWorker) -> list[dict[str, Any]]:
    return [orjson.loads(m.value) for m in worker.take_outbox() if m.topic in DECISION_TOPICS]


def states(engine: Engine) -> dict[str, list[Any]]:
    """Every customer's record but for ``recent_ids``: the fingerprints of recent event ids
    are kept in arrival order, and the worker receives a partition's topics interleaved
    otherwise than the file (same events, so the same duplicates are recognised)."""
    skip = FIELDS.index("recent_ids")
    return {
        cid: [v for i, v in enumerate(to_record(state)) if i != skip]
        for cid, state in engine.customers.items()
    }


def ordered(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(decisions, key=lambda d: (d["time"], d["subject"], d["type"]))


@settings(max_examples=200, deadline=None)
@given(_streams(), st.lists(st.integers(1, 12), max_size=5))
def test_the_worker_publishes_what_replay_publishes(
    events: list[dict[str, Any]], sizes: list[int]
) -> None:
    expected, engine = replayed(events)
    worker = PartitionWorker(0, POLICY, ROUTES, wall_clock=False)
    partition = Partition(events)
    partition.feed(worker, 0, len(partition.messages), sizes)
    assert ordered(published(worker)) == ordered(expected)
    assert states(worker.engine) == states(engine)
    assert worker.engine.ledger is not None and engine.ledger is not None
    # The worker keeps its newest 13 months of churn accounting; replay keeps them all.
    kept = worker.engine.ledger.rows(totals=True)
    months = {row.month for row in kept}
    assert kept == [row for row in engine.ledger.rows(totals=True) if row.month in months]


@settings(max_examples=200, deadline=None)
@given(_streams(), st.data())
def test_a_worker_restored_from_its_table_anywhere_goes_on_as_one_that_never_stopped(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    partition = Partition(events)
    total = len(partition.messages)
    cut = data.draw(st.integers(0, total), label="cut")
    sizes = data.draw(st.lists(st.integers(1, 12), max_size=4), label="sizes")

    straight = PartitionWorker(0, POLICY, ROUTES, wall_clock=False)
    partition.feed(straight, 0, total, sizes)

    first = PartitionWorker(0, POLICY, ROUTES, wall_clock=False)
    partition.feed(first, 0, cut, sizes)
    before = published(first)
    table: dict[bytes, bytes] = dict(first.snapshot())  # what the changelog holds
    restored = PartitionWorker.from_records(0, table.items(), POLICY, ROUTES, wall_clock=False)
    # Redelivery from the last committed offsets: everything after the cut (and nothing
    # before it is applied twice: the clock record knows the offsets).
    partition.feed(restored, 0, total, sizes)
    after = published(restored)
    assert ordered(before + after) == ordered(published(straight))
    assert states(restored.engine) == states(straight.engine)
    assert restored.engine.ledger is not None and straight.engine.ledger is not None
    assert restored.engine.ledger.rows(totals=True) == straight.engine.ledger.rows(totals=True)
    assert restored.engine.watermark < EPOCH + 400 * DAY + 1
