"""Input that must neither stop nor mislead the detector: future events, oversized messages."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.decisions import Decision
from models.engine import Engine
from models.parse import FUTURE_EVENT, Rejected
from models.policy import DAY, Policy
from streams.kafka import wire
from streams.kafka.runtime.partition import Inbound, Limits, PartitionWorker
from streams.replay import InputFile, replay
from tests.builders import EPOCH, email_json, line, order_json
from tests.unit.streams.test_partition_worker import CALLS, EMAILS, ORDERS, ROUTES, TICKS, iso

HOUR = 3600.0
# Kafka record timestamps are epoch milliseconds.
PRODUCED_MS = int((EPOCH + 30 * DAY) * 1000)


def worker(max_ahead: float = HOUR, max_bytes: int = 1_000_000) -> PartitionWorker:
    limits = Limits(max_ahead_seconds=max_ahead, max_message_bytes=max_bytes)
    return PartitionWorker(0, Policy(), ROUTES, wall_clock=True, limits=limits)


def inbound(topic: str, offset: int, obj: dict[str, Any] | bytes, stamp: int) -> Inbound:
    value = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    key = obj["customer_id"].encode() if isinstance(obj, dict) else b"c1"
    return Inbound(topic, 0, offset, key, value, [], stamp)


def dead_letters(w: PartitionWorker) -> list[dict[str, bytes]]:
    return [dict(m.headers) for m in w.take_outbox() if m.topic == ROUTES.dead_letter_topic]


# -- future events in the worker ------------------------------------------------------------


def test_an_event_far_after_its_record_timestamp_is_refused_and_never_moves_time() -> None:
    w = worker()
    ends = {ORDERS: 3, EMAILS: 0, CALLS: 0}
    orders = [
        order_json(event_id="o1", order_id="o1", occurred_at=iso(1)),
        order_json(event_id="o2", order_id="o2", occurred_at="2199-01-01T00:00:00Z"),
        order_json(event_id="o3", order_id="o3", occurred_at=iso(2)),
    ]
    w.handle_fetch(
        {ORDERS: [inbound(ORDERS, i, o, PRODUCED_MS) for i, o in enumerate(orders)]}, ends.get
    )
    (letter,) = dead_letters(w)
    assert letter[wire.HEADER_CODE] == FUTURE_EVENT.encode()
    assert b"2199-01-01T00:00:00.000Z" in letter[wire.HEADER_REASON]
    assert b"the message's timestamp" in letter[wire.HEADER_REASON]
    # Time is the newest good event's, and the event after the poison was taken (applied
    # once the watermark passes it, as any event).
    assert w.clock.newest[ORDERS] == EPOCH + 2 * DAY
    assert w.engine.watermark == EPOCH + 2 * DAY - Policy().allowed_lateness_seconds
    customer = w.engine.customers["c1"]
    assert customer.orders == 1 and [e.event_id for e in customer.pending or []] == ["o3"]
    assert w.tally.rejected[FUTURE_EVENT] == 1


@pytest.mark.parametrize(("ahead", "refused"), [(HOUR - 1, False), (HOUR, False), (HOUR + 1, True)])
def test_the_bound_is_the_setting_exactly(ahead: float, refused: bool) -> None:
    w = worker()
    at = PRODUCED_MS / 1000 + ahead
    order = order_json(occurred_at=int(at * 1000))
    w.handle(inbound(ORDERS, 0, order, PRODUCED_MS), {ORDERS: 1}.get)
    assert bool(dead_letters(w)) is refused
    assert ("c1" in w.engine.customers) is not refused


def test_a_record_without_timestamp_is_not_compared() -> None:
    w = worker()
    order = order_json(occurred_at="2199-01-01T00:00:00Z")
    w.handle(inbound(ORDERS, 0, order, -1), {ORDERS: 1}.get)
    assert dead_letters(w) == []


def test_ticks_from_the_future_are_refused_too() -> None:
    w = worker()
    w.handle(inbound(ORDERS, 0, order_json(occurred_at=iso(1)), PRODUCED_MS), {ORDERS: 1}.get)
    before = w.engine.watermark
    far = PRODUCED_MS / 1000 + 2 * HOUR
    ticks = [
        wire.encode_tick(wire.WallTick(far)),
        wire.encode_tick(wire.AdvanceTick(far, {ORDERS: 0})),
    ]
    for offset, tick in enumerate(ticks):
        w.handle(Inbound(TICKS, 0, offset, None, tick, [], PRODUCED_MS), {ORDERS: 1}.get)
    letters = dead_letters(w)
    assert [h[wire.HEADER_CODE] for h in letters] == [FUTURE_EVENT.encode()] * 2
    assert all(b"tick time" in h[wire.HEADER_REASON] for h in letters)
    assert w.engine.watermark == before
    assert w.clock.advance is None


def test_a_tick_on_time_still_moves_the_clock() -> None:
    w = worker()
    now = PRODUCED_MS / 1000
    tick = wire.encode_tick(wire.WallTick(now))
    nothing_unread: dict[str, int] = {}
    w.handle(Inbound(TICKS, 0, 0, None, tick, [], PRODUCED_MS), nothing_unread.get)
    assert dead_letters(w) == []
    assert w.engine.watermark == now - Policy().allowed_lateness_seconds


# -- dead letters always fit ------------------------------------------------------------------


def test_a_huge_non_json_value_becomes_a_dead_letter_that_fits() -> None:
    limit = 100_000
    w = worker(max_bytes=limit)
    value = b"\x00garbage" * 131_050  # 1,048,400 bytes
    w.handle(inbound(ORDERS, 0, value, PRODUCED_MS), {ORDERS: 1}.get)
    (out,) = w.take_outbox()
    headers = dict(out.headers)
    assert wire.record_size(out.key, out.value, out.headers) <= limit
    assert headers[wire.HEADER_CODE] == b"invalid_json"
    assert headers[wire.HEADER_TRUNCATED] == b"value"
    assert headers[wire.HEADER_ORIGINAL_SIZE] == str(len(value) + len(b"c1")).encode()
    assert out.key == b"c1"
    assert value.startswith(out.value) and len(out.value) > limit - 2_000  # kept what fits


def test_a_huge_field_quoted_in_the_reason_is_cut_in_the_reason() -> None:
    w = worker()
    huge = "9" * 900_000
    value = orjson.dumps(order_json(occurred_at=huge))
    w.handle(inbound(ORDERS, 0, value, PRODUCED_MS), {ORDERS: 1}.get)
    (out,) = w.take_outbox()
    headers = dict(out.headers)
    assert wire.record_size(out.key, out.value, out.headers) <= 1_000_000
    assert headers[wire.HEADER_CODE] == b"invalid_time"
    assert len(headers[wire.HEADER_REASON]) == wire.MAX_REASON_BYTES
    assert headers[wire.HEADER_TRUNCATED] == b"reason"
    assert out.value == value  # the message itself fits: it stays whole


def test_a_small_dead_letter_is_whole_and_unmarked() -> None:
    w = worker()
    w.handle(inbound(ORDERS, 0, b"{not json", PRODUCED_MS), {ORDERS: 1}.get)
    (out,) = w.take_outbox()
    assert out.value == b"{not json"
    assert wire.HEADER_TRUNCATED not in dict(out.headers)
    assert wire.HEADER_ORIGINAL_SIZE not in dict(out.headers)


def test_a_huge_key_and_headers_are_cut_and_the_value_kept_when_it_then_fits() -> None:
    key, value = b"k" * 600_000, b"{not json"
    original = [("big", b"h" * 600_000), ("trace", b"t-1")]
    rejection = Rejected("invalid_json", "not valid JSON")
    out_key, out_value, headers = wire.dead_letter(
        key, value, original, rejection, ("orders", 0, 7), 1_000_000
    )
    found = dict(headers)
    assert out_key == key[: wire.MAX_PART_BYTES] and out_value == value
    assert found[wire.HEADER_TRUNCATED] == b"key,headers"
    assert found["big"] == b"h" * wire.MAX_PART_BYTES and found["trace"] == b"t-1"
    assert (
        found[wire.HEADER_ORIGINAL_SIZE]
        == str(600_000 + len(value) + len("big") + 600_000 + len("trace") + 3).encode()
    )
    assert found[wire.HEADER_OFFSET] == b"7"


@given(
    key=st.one_of(st.none(), st.binary(max_size=40_000)),
    value=st.binary(max_size=60_000),
    headers=st.lists(st.tuples(st.text(max_size=300), st.binary(max_size=20_000)), max_size=6),
    reason=st.text(max_size=5_000),
    limit=st.integers(min_value=16_384, max_value=80_000),
)
def test_every_dead_letter_fits_whatever_arrives(
    key: bytes | None,
    value: bytes,
    headers: list[tuple[str, bytes]],
    reason: str,
    limit: int,
) -> None:
    out_key, out_value, out_headers = wire.dead_letter(
        key, value, headers, Rejected("invalid_json", reason), ("t" * 249, 9_999, 2**62), limit
    )
    assert wire.record_size(out_key, out_value, out_headers) <= limit
    found = dict(out_headers)
    assert found[wire.HEADER_CODE] == b"invalid_json"
    assert value.startswith(out_value)
    if out_value != value or out_key != key:
        assert wire.HEADER_ORIGINAL_SIZE in found


# -- future events in replay ------------------------------------------------------------------


def run_replay(lines: list[bytes], max_jump: float | None) -> tuple[list[Decision], list[Any]]:
    decisions: list[Decision] = []
    dead: list[dict[str, Any]] = []
    replay(
        [InputFile("in", io.BytesIO(b"".join(lines)))],
        Engine(Policy()),
        decisions.append,
        dead.append,
        max_jump=max_jump,
    )
    return decisions, dead


def history() -> list[bytes]:
    """A monthly buyer who stops, and emails that go on."""
    orders = [
        line(order_json(event_id=f"o{d}", order_id=f"o{d}", occurred_at=iso(d)))
        for d in (0, 30, 60, 90)
    ]
    emails = [
        line(email_json(event_id=f"m{d}", action="sent", occurred_at=iso(d)))
        for d in range(91, 240, 7)
    ]
    return orders + emails


def test_replay_refuses_an_event_far_after_the_newest_and_decides_as_without_it() -> None:
    good = history()
    poison = line(order_json(event_id="x", order_id="x", occurred_at="2199-01-01T00:00:00Z"))
    expected, none = run_replay(good, max_jump=365 * DAY)
    assert none == [] and expected  # the buyer is decided on
    decided, dead = run_replay([*good[:3], poison, *good[3:]], max_jump=365 * DAY)
    assert [d.id for d in decided] == [d.id for d in expected]
    assert [(r["code"], r["line"]) for r in dead] == [(FUTURE_EVENT, 4)]
    assert "the newest event applied" in dead[0]["error"]


def test_replay_without_a_bound_lets_the_future_event_poison_the_rest() -> None:
    good = history()
    poison = line(order_json(event_id="x", order_id="x", occurred_at="2199-01-01T00:00:00Z"))
    _, dead = run_replay([*good[:3], poison, *good[3:]], max_jump=None)
    assert len(dead) == len(good) - 3  # every later event is late: why the bound exists
    assert {r["code"] for r in dead} == {"late_event"}


def test_replay_bound_counts_from_the_newest_event_applied() -> None:
    first = line(order_json(event_id="a", order_id="a", occurred_at=iso(0)))
    within = line(order_json(event_id="b", order_id="b", occurred_at=iso(10)))
    beyond = line(order_json(event_id="c", order_id="c", occurred_at=iso(21)))
    _, dead = run_replay([first, within, beyond], max_jump=10 * DAY)
    assert [r["line"] for r in dead] == [3]
