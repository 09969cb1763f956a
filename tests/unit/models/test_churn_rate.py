"""The monthly churn accounting: hand-computed figures, and what holds for any stream."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.churn_rate import (
    ALL_SEGMENTS,
    MEASURES,
    VALUE_MEASURES,
    ChurnLedger,
    MonthRow,
    month_of,
    month_start,
    next_month,
)
from models.customer import ACTIVE, AT_RISK, LOST, CustomerState, Status
from models.decisions import Decision
from models.engine import Engine
from models.events import Event
from models.policy import Policy
from streams.records import from_record, ledger_from_record, ledger_to_record, to_record
from tests.builders import a_call, an_email, an_order, day

POLICY = Policy()  # segments: bronze from 0, silver from 250, gold from 1000, platinum 5000


def at(text: str) -> float:
    """Epoch seconds of an ISO date at 12:00 UTC."""
    year, month, dom = (int(p) for p in text.split("-"))
    return month_start(f"{year:04d}-{month:02d}") + (dom - 1) * 86_400.0 + 43_200.0


def customer(cid: str, orders: int, spend: float, status: Status = ACTIVE) -> CustomerState:
    state = CustomerState(cid)
    state.orders, state.total_spend, state.status = orders, spend, status
    return state


def row(ledger: ChurnLedger, month: str, segment: str) -> dict[str, int]:
    found = [r for r in ledger.rows(totals=True) if (r.month, r.segment) == (month, segment)]
    assert len(found) == 1
    return {name: getattr(found[0], name) for name in MEASURES}


def test_the_value_flagged_in_a_month_by_hand() -> None:
    ledger = ChurnLedger(POLICY)
    a, b, z = customer("a", 2, 100.0), customer("b", 3, 400.0), customer("z", 0, 0.0)
    ledger.census([a, b, z], at("2025-01-01"))
    a.status = AT_RISK
    ledger.decided("at_risk", ACTIVE, a, at("2025-01-05"), 30.25)  # bronze, at_risk
    b.status = AT_RISK
    ledger.decided("at_risk", ACTIVE, b, at("2025-01-06"), 120.5)  # silver, at_risk
    a.status = LOST
    ledger.decided("lost", AT_RISK, a, at("2025-01-20"), 70.0)  # bronze, lost
    z.status = LOST
    ledger.decided("lost", ACTIVE, z, at("2025-01-21"), 50.0)  # never ordered: not counted
    b.status, b.orders = ACTIVE, 4
    ledger.decided("recovered", AT_RISK, b, at("2025-02-02"), 0.0)  # no value flagged
    values = dict(ledger.values())
    assert values[("2025-01", "bronze", "at_risk")] == 30.25
    assert values[("2025-01", "bronze", "lost")] == 70.0
    assert values[("2025-01", "silver", "at_risk")] == 120.5
    assert values[("2025-01", "silver", "lost")] == 0.0
    assert not any(month == "2025-02" for month, _, _ in values)  # nothing counted then
    totals = {r.month: r for r in ledger.rows(totals=True) if r.segment == ALL_SEGMENTS}
    # 30.25 + 120.5 at risk, 70 lost (z's 50 is not a customer's).
    assert (totals["2025-01"].at_risk_value, totals["2025-01"].lost_value) == (150.75, 70.0)
    assert set(VALUE_MEASURES) <= set(totals["2025-01"].as_dict())
    # The saved form keeps them; a record saved without them restores them as zero.
    restored = ledger_from_record(ledger_to_record(ledger), POLICY)
    assert dict(restored.values()) == values
    old = ledger_to_record(ledger)
    old["months"] = {m: {s: c[:5] for s, c in seg.items()} for m, seg in old["months"].items()}
    assert set(dict(ledger_from_record(old, POLICY).values()).values()) == {0.0}


def test_months_are_utc_calendar_months() -> None:
    assert month_of(month_start("2025-03")) == "2025-03"
    assert month_of(month_start("2025-03") - 0.001) == "2025-02"
    assert next_month("2025-12") == "2026-01"
    assert month_start("2026-01") - month_start("2025-12") == 31 * 86_400.0


def test_a_hand_computed_quarter() -> None:
    ledger = ChurnLedger(POLICY)
    a, b, c, z = (
        customer("a", 1, 100.0),
        customer("b", 1, 300.0),
        customer("c", 1, 50.0),
        customer("z", 0, 0.0),
    )
    # January: the first census finds nobody who has ordered.
    assert ledger.census([], at("2025-01-10")) == month_start("2025-02")
    ledger.first_order(at("2025-01-10"), 100.0)  # a: bronze
    ledger.first_order(at("2025-01-11"), 300.0)  # b: silver (>= 250)
    ledger.first_order(at("2025-01-12"), 50.0)  # c: bronze
    c.status = LOST
    ledger.decided("lost", ACTIVE, c, at("2025-01-20"))  # c lost, bronze
    z.status = LOST
    ledger.decided("lost", ACTIVE, z, at("2025-01-21"))  # z never ordered: not counted
    # February's census: a active bronze, b at_risk silver (not lost), c lost bronze;
    # z has no order and counts nowhere.
    b.status, b.orders = AT_RISK, 2
    ledger.census([a, b, c, z], at("2025-02-03"))
    c.status, c.orders, c.total_spend = ACTIVE, 2, 80.0
    ledger.decided("recovered", LOST, c, at("2025-02-05"))  # a win-back, bronze
    z.status, z.orders, z.total_spend = ACTIVE, 1, 40.0
    ledger.first_order(at("2025-02-06"), 40.0)  # z's first order: new, bronze
    ledger.decided("recovered", LOST, z, at("2025-02-06"))  # ... not a win-back
    b.status = ACTIVE
    ledger.decided("recovered", AT_RISK, b, at("2025-02-10"))  # from at_risk: not counted
    a.status = LOST
    ledger.decided("lost", ACTIVE, a, at("2025-02-20"))  # a lost, bronze
    c.status = LOST
    ledger.decided("lost", AT_RISK, c, at("2025-02-25"))  # c lost again, bronze
    # Nothing happens in March; the next census comes in April and opens March too.
    assert ledger.census([a, b, c, z], at("2025-04-02")) == month_start("2025-05")

    zero = dict.fromkeys(MEASURES, 0)
    # January: no stocks; new 2 bronze (a, c) + 1 silver (b); lost 1 bronze (c).
    assert row(ledger, "2025-01", "bronze") == zero | {"new": 2, "lost": 1}
    assert row(ledger, "2025-01", "silver") == zero | {"new": 1}
    assert row(ledger, "2025-01", ALL_SEGMENTS) == zero | {"new": 3, "lost": 1}
    # February: active at start bronze 1 (a), silver 1 (b); lost at start bronze 1 (c);
    # new bronze 1 (z); lost bronze 2 (a, c again); recovered bronze 1 (c).
    february = row(ledger, "2025-02", "bronze")
    assert february == {
        "active_at_start": 1,
        "lost_at_start": 1,
        "new": 1,
        "lost": 2,
        "recovered": 1,
    }
    assert row(ledger, "2025-02", "silver") == zero | {"active_at_start": 1}
    # Totals roll over: active 2 + new 1 - lost 2 + recovered 1 = 2 (b silver, z bronze);
    # lost 1 + lost 2 - recovered 1 = 2 (a, c).
    for month in ("2025-03", "2025-04"):
        assert row(ledger, month, "bronze") == zero | {"active_at_start": 1, "lost_at_start": 2}
        assert row(ledger, month, "silver") == zero | {"active_at_start": 1}
        assert row(ledger, month, "gold") == zero
    rates = {r.segment: r for r in ledger.rows(totals=True) if r.month == "2025-02"}
    # Churn rate: lost 2 / active at start 1 (c counts twice: won back, then lost again).
    assert rates["bronze"].churn_rate == 2.0
    # Recovery rate: recovered 1 / (lost at start 1 + lost 2) = 1/3.
    assert rates["bronze"].recovery_rate == pytest.approx(1 / 3)
    assert rates["silver"].churn_rate == 0.0 and rates["silver"].recovery_rate is None
    assert rates["gold"].churn_rate is None
    # All segments: 2 / 2 and 1 / 3.
    assert rates[ALL_SEGMENTS].churn_rate == 1.0
    assert rates[ALL_SEGMENTS].as_dict()["recovery_rate"] == round(1 / 3, 6)


def test_the_record_restores_the_ledger_and_its_next_census() -> None:
    ledger = ChurnLedger(POLICY)
    ledger.census([customer("a", 1, 10.0)], at("2025-01-02"))
    ledger.first_order(at("2025-01-05"), 2_000.0)
    restored = ledger_from_record(ledger_to_record(ledger), POLICY)
    assert restored.rows() == ledger.rows()
    assert restored.next_census == ledger.next_census == month_start("2025-02")


def test_keep_months_bounds_the_ledger() -> None:
    ledger = ChurnLedger(POLICY, keep_months=2)
    ledger.census([], at("2025-01-02"))
    ledger.census([], at("2025-04-02"))  # opens February, March, April
    assert sorted({r.month for r in ledger.rows()}) == ["2025-03", "2025-04"]
    with pytest.raises(ValueError, match="keep_months"):
        ChurnLedger(POLICY, keep_months=0)


def test_the_engine_counts_a_lapse_and_a_win_back_in_their_months() -> None:
    engine = Engine(POLICY)
    engine.ledger = ChurnLedger(POLICY)
    decisions: list[Decision] = []
    # c1 orders every 10 days in January, falls silent, then orders again on day 200.
    for n in range(4):
        outcome = engine.process(an_order("c1", day(10 * n), amount=100.0, event_id=f"o{n}"))
        assert isinstance(outcome, list)
        decisions += outcome
    decisions += engine.advance(day(199))
    outcome = engine.process(an_order("c1", day(200), amount=100.0, event_id="back"))
    assert isinstance(outcome, list)
    decisions += outcome + engine.advance(day(201))
    lost = [d for d in decisions if d.kind == "lost"]
    back = [d for d in decisions if d.kind == "recovered" and d.previous_status is LOST]
    assert len(lost) == 1 and len(back) == 1
    rows = {(r.month, r.segment): r for r in engine.ledger.rows()}
    lost_month, back_month = month_of(lost[0].at), month_of(back[0].at)
    assert lost_month < back_month
    # 400 spent before the lapse: silver from 250; 500 after the win-back, still silver.
    assert rows[lost_month, "silver"].lost == 1
    assert rows[back_month, "silver"].recovered == 1
    assert rows["2025-01", "bronze"].new == 1
    # Between the lapse and the win-back c1 is counted lost at every month start.
    for month in sorted({m for m, _ in rows}):
        expected = 1 if lost_month < month <= back_month else 0
        assert rows[month, "silver"].lost_at_start == expected, month
    # The clock went to day 201 (2025-07-21): months up to July exist, none after.
    assert max(m for m, _ in rows) == "2025-07"


# -- any stream -----------------------------------------------------------------------------

streams = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.floats(min_value=0, max_value=300),
        st.sampled_from(["order", "big", "sent", "complaint", "refund", "call"]),
    ),
    max_size=40,
)


def to_events(spec: list[tuple[str, float, str]]) -> list[Event]:
    events: list[Event] = []
    for i, (cid, when, kind) in enumerate(sorted(spec, key=lambda s: s[1])):
        eid, t = f"e{i}", day(when)
        if kind in ("order", "big"):
            events.append(an_order(cid, t, 40.0 if kind == "order" else 400.0, event_id=eid))
        elif kind == "refund":
            events.append(an_order(cid, t, 300.0, status="refunded", event_id=eid))
        elif kind == "sent":
            events.append(an_email(cid, t, "sent", event_id=eid))
        elif kind == "complaint":
            events.append(a_call(cid, t, reason="complaint", event_id=eid))
        else:
            events.append(a_call(cid, t, "outbound", "missed", "sales", event_id=eid))
    return events


def run(events: list[Event], until: float, chunks: int = 1) -> tuple[Engine, list[Decision]]:
    """Replay ``events``; the clock then goes to ``until`` in ``chunks`` steps."""
    engine = Engine(POLICY)
    engine.ledger = ChurnLedger(POLICY)
    decisions: list[Decision] = []
    for event in events:
        outcome = engine.process(event)
        assert isinstance(outcome, list)
        decisions += outcome
    start = engine.watermark if math.isfinite(engine.watermark) else until
    for step in range(1, chunks):
        decisions += engine.advance(start + (until - start) * step / chunks)
    decisions += engine.advance(until)
    return engine, decisions


def totals(rows: list[MonthRow]) -> dict[str, MonthRow]:
    return {r.month: r for r in rows if r.segment == ALL_SEGMENTS}


@settings(max_examples=150, deadline=None)
@given(streams)
def test_counts_add_up_for_any_stream(spec) -> None:
    engine, decisions = run(to_events(spec), until=day(400))
    assert engine.ledger is not None
    rows = engine.ledger.rows(totals=True)
    for r in rows:
        assert all(getattr(r, name) >= 0 for name in MEASURES), r
    by_month = totals(rows)
    months = sorted(by_month)
    assert months == sorted(set(months))
    for r in by_month.values():
        assert r.lost <= r.active_at_start + r.new + r.recovered, r
        assert r.recovered <= r.lost_at_start + r.lost, r
    for this, following in itertools.pairwise(months):
        assert following == next_month(this)  # no month is skipped
        a, b = by_month[this], by_month[following]
        assert b.active_at_start == a.active_at_start + a.new - a.lost + a.recovered
        assert b.lost_at_start == a.lost_at_start + a.lost - a.recovered
    # Flows are the decisions' own, month by month.
    lost = Counter(month_of(d.at) for d in decisions if d.kind == "lost" and d.view["order_count"])
    assert lost == Counter({m: r.lost for m, r in by_month.items() if r.lost})
    # The last month's stocks plus its flows are the customers as they end.
    if months:
        last = by_month[months[-1]]
        ordered = [s for s in engine.customers.values() if s.orders]
        assert last.active_at_start + last.new - last.lost + last.recovered == sum(
            s.status != LOST for s in ordered
        )


@settings(max_examples=100, deadline=None)
@given(streams, st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=40))
def test_the_ledger_does_not_depend_on_how_time_advances_or_on_a_restart(spec, chunks, cut) -> None:
    events = to_events(spec)
    whole, _ = run(events, until=day(400))
    stepped, _ = run(events, until=day(400), chunks=chunks)
    assert whole.ledger is not None and stepped.ledger is not None
    assert stepped.ledger.rows() == whole.ledger.rows()
    # A restart after ``cut`` events: customers and ledger from their records, as the
    # worker restores them, then the rest of the stream.
    first, rest = events[:cut], events[cut:]
    before, _ = run(first, until=-math.inf)
    assert before.ledger is not None
    restored = Engine(POLICY)
    restored.restore(
        [from_record(to_record(s)) for s in before.customers.values()], before.watermark
    )
    restored.ledger = ledger_from_record(ledger_to_record(before.ledger), POLICY)
    for event in rest:
        restored.process(event)
    restored.advance(day(400))
    assert restored.ledger.rows() == whole.ledger.rows()
