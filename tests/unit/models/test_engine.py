"""The engine's business rules and its time semantics, end to end on plain events."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.customer import Status
from models.decisions import Decision
from models.engine import Engine
from models.events import Event
from models.parse import LATE_EVENT, Rejected
from models.policy import DAY, Policy
from models.population import PopulationModel
from streams.records import from_record, to_record
from tests.builders import a_call, an_email, an_order, day


def run(
    events: Iterable[Event],
    until: float | None = None,
    policy: Policy | None = None,
    engine: Engine | None = None,
) -> list[Decision]:
    engine = engine or Engine(policy)
    decisions: list[Decision] = []
    for event in events:
        outcome = engine.process(event)
        assert not isinstance(outcome, Rejected), outcome
        decisions += outcome
    if until is not None:
        decisions += engine.advance(until)
    return decisions


def kinds(decisions: list[Decision], customer: str | None = None) -> list[str]:
    return [d.kind for d in decisions if customer is None or d.customer_id == customer]


def regular_orders(customer: str, every: float, count: int, start: float = 0.0) -> list[Event]:
    return [an_order(customer, day(start + i * every)) for i in range(count)]


def test_a_regular_customer_who_stops_becomes_at_risk_then_lost() -> None:
    decisions = run(regular_orders("c1", 30, 10), until=day(270 + 400))
    assert kinds(decisions) == ["at_risk", "lost"]
    at_risk, lost = decisions
    last_order = day(270)
    assert last_order + 30 * DAY < at_risk.at < last_order + 60 * DAY
    assert at_risk.at < lost.at < last_order + 120 * DAY
    assert at_risk.view["reasons"][0]["code"] == "overdue_order"
    assert at_risk.view["cause"] == "habit_lapse"
    assert lost.previous_status is Status.AT_RISK and str(lost.previous_status) == "at_risk"


def test_an_order_after_at_risk_recovers_and_opens_a_new_episode() -> None:
    events = regular_orders("c1", 30, 6)
    engine = Engine()
    decisions = run(events, until=day(150 + 48.8), engine=engine)  # at risk, not lost yet
    assert kinds(decisions) == ["at_risk"]
    decisions = run([an_order("c1", day(198.9))], engine=engine, until=day(202))
    assert kinds(decisions) == ["recovered"]
    recovered = decisions[0]
    assert (str(recovered.previous_status), str(recovered.status), recovered.episode) == (
        "at_risk",
        "active",
        1,
    )
    assert engine.customers["c1"].episode == 2
    later = run([], until=day(201 + 400), engine=engine)
    assert [(d.kind, d.episode) for d in later] == [("at_risk", 2), ("lost", 2)]


def test_a_one_order_customer_silent_far_beyond_the_population_ends_lost() -> None:
    others = [e for i in range(30) for e in regular_orders(f"p{i}", 20 + i, 5)]
    others.sort(key=lambda e: e.at)
    decisions = run([an_order("once", day(0)), *others], until=day(600))
    assert kinds(decisions, "once") == ["at_risk", "lost"]


def test_an_unresolved_complaint_makes_a_customer_at_risk_promptly() -> None:
    events = [*regular_orders("c1", 30, 5), a_call("c1", day(125), reason="complaint")]
    decisions = run(events, until=day(128))
    assert kinds(decisions) == ["at_risk"]
    at_risk = decisions[0]
    assert at_risk.at == day(125) + 24 * 3600  # the default grace period
    assert at_risk.view["cause"] == "service_failure"
    assert "complaint_unresolved" in [r["code"] for r in at_risk.view["reasons"]]


def test_a_complaint_resolved_within_the_grace_period_flags_nothing() -> None:
    events = [
        *regular_orders("c1", 30, 5),
        a_call("c1", day(125), reason="complaint"),
        a_call("c1", day(125.5), direction="outbound", reason="complaint", resolved=True),
    ]
    assert run(events, until=day(140)) == []


def test_each_reason_that_holds_is_listed_with_a_detail() -> None:
    events: list[Event] = [*regular_orders("c1", 10, 6)]
    # Reads about half of the mail (sent at midnight, opened at noon), then stops reading.
    events += [an_email("c1", day(i), "sent") for i in range(0, 52, 2)]
    events += [an_email("c1", day(i + 0.5), "opened") for i in range(0, 52, 4)]
    events += [an_email("c1", day(i), "sent") for i in range(52, 120, 2)]
    events += [a_call("c1", day(58 + i), "outbound", "missed", "sales") for i in range(3)]
    events += [a_call("c1", day(53), "inbound", "answered", "inquiry")]
    events += [a_call("c1", day(61.5), "outbound", "missed", "sales") for _ in range(1)]
    events += [a_call("c1", day(61.6 + i / 10), "outbound", "voicemail", "sales") for i in range(2)]
    events.sort(key=lambda e: e.at)
    engine = Engine()
    decisions = run(events, until=day(120), engine=engine)
    assert kinds(decisions) == ["at_risk", "lost"]
    assert {r["code"] for r in decisions[0].view["reasons"]} >= {
        "overdue_order",
        "email_disengaged",
        "calls_unanswered",
    }
    view = engine.view("c1")
    assert view is not None
    assert {r["code"] for r in view["reasons"]} == {
        "overdue_order",
        "email_disengaged",
        "calls_unanswered",
        "inquiry_without_order",
    }
    assert all(r["detail"] for r in view["reasons"])


def test_unsubscribing_is_a_reason_and_disengagement_the_cause() -> None:
    events = [*regular_orders("c1", 10, 6), an_email("c1", day(52), "unsubscribed")]
    decisions = run(events, until=day(100))
    assert decisions[0].view["cause"] == "disengagement"
    assert "email_unsubscribed" in [r["code"] for r in decisions[0].view["reasons"]]


def test_falling_order_value_is_declining_orders() -> None:
    events = [an_order("c1", day(i * 10), amount=100.0 if i < 5 else 10.0) for i in range(8)]
    decisions = run(events, until=day(200))
    assert decisions[0].view["cause"] == "declining_value"


def test_cancelled_and_refunded_orders_are_not_purchases() -> None:
    engine = Engine()
    events = [*regular_orders("c1", 30, 3), an_order("c1", day(61), amount=25.0, status="refunded")]
    run(events, engine=engine, until=day(62))
    view = engine.view("c1")
    assert view is not None
    assert view["order_count"] == 3
    assert view["total_spend"] == 50.0


def test_value_fields_and_segment() -> None:
    engine = Engine()
    run(
        [an_order("c1", day(0), 200.0), an_order("c1", day(30), 100.0)],
        engine=engine,
        until=day(31),
    )
    view = engine.view("c1")
    assert view is not None
    assert (
        view["order_count"],
        view["total_spend"],
        view["average_order_value"],
        view["segment"],
    ) == (2, 300.0, 150.0, "silver")
    assert view["expected_next_order_at"] > view["last_order_at"]


def test_events_older_than_the_lateness_are_rejected() -> None:
    engine = Engine(Policy(allowed_lateness_seconds=3600))
    assert engine.process(an_order("c1", day(10))) == []
    assert engine.process(an_order("c2", day(10) - 1800)) == []
    late = engine.process(an_order("c3", day(10) - 7200))
    assert isinstance(late, Rejected)
    assert late.code == LATE_EVENT


def test_an_external_watermark_moves_only_when_advanced() -> None:
    engine = Engine(external_watermark=True)
    run([an_order("c1", day(0)), an_order("c1", day(10)), an_order("c1", day(400))], engine=engine)
    assert engine.watermark == -float("inf")
    assert engine.pending_events() == 3  # filed, waiting for the caller's watermark
    assert engine.process(an_order("c2", day(-100))) == []  # nothing is late yet
    engine.advance(day(20))
    assert engine.pending_events() == 1  # only the order at day 400 waits
    late = engine.process(an_order("c3", day(19)))
    assert isinstance(late, Rejected)
    assert late.code == LATE_EVENT


def test_duplicate_event_ids_are_ignored_and_counted() -> None:
    engine = Engine()
    first = an_order("c1", day(0), event_id="same")
    run([first, first, an_order("c1", day(30), event_id="same")], engine=engine, until=day(31))
    assert engine.duplicates == 2
    assert engine.customers["c1"].orders == 1


def test_customers_without_orders_are_never_lost() -> None:
    events = [an_email("p", day(i * 7), "sent") for i in range(30)]
    assert run(events, until=day(800)) == []


def test_advancing_only_touches_customers_that_are_due() -> None:
    engine = Engine()
    run([an_order(f"c{i}", day(0)) for i in range(2000)], engine=engine)
    run([an_order("soon", day(0)), an_order("soon", day(1))], engine=engine)
    popped_before = engine.scheduled_wakes()
    decisions = engine.advance(day(15))  # at risk, not lost yet
    assert kinds(decisions) == ["at_risk"]
    assert decisions[0].customer_id == "soon"
    assert popped_before - engine.scheduled_wakes() <= 2  # only "soon" was touched


def test_state_survives_a_record_round_trip_and_restores_the_engine() -> None:
    events = [
        *regular_orders("c1", 12, 6),
        a_call("c1", day(61), reason="complaint"),
        *regular_orders("c2", 40, 3),
    ]
    events.sort(key=lambda e: e.at)
    straight = Engine()
    expected = run(events, engine=straight) + straight.advance(day(400))
    partial = Engine()
    head = run(events[:5], engine=partial)
    restored = Engine()
    restored.restore(
        [from_record(to_record(s)) for s in partial.customers.values()], partial.watermark
    )
    tail = run(events[5:], engine=restored) + restored.advance(day(400))
    assert [(d.kind, d.customer_id, d.at) for d in head + tail] == [
        (d.kind, d.customer_id, d.at) for d in expected
    ]


# -- properties -------------------------------------------------------------------------

rhythms = st.tuples(
    st.floats(min_value=3, max_value=120),  # usual interval, days
    st.lists(st.floats(min_value=-0.1, max_value=0.1), min_size=3, max_size=25),  # jitter
)


@given(rhythms)
def test_a_customer_ordering_on_their_usual_rhythm_is_never_flagged(rhythm) -> None:
    """Once three orders have shown the rhythm, keeping to it (within 10 %) flags nothing."""
    every, jitters = rhythm
    t, events = 0.0, [an_order("c1", day(0))]
    for jitter in jitters:
        t += every * (1 + jitter)
        events.append(an_order("c1", day(t)))
    established = events[2].at
    flagged = [d for d in run(events, until=day(t)) if d.at > established]
    assert flagged == []


random_streams = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.floats(min_value=0, max_value=400),
        st.sampled_from(["order", "sent", "opened", "complaint", "resolved", "missed"]),
    ),
    max_size=40,
)


mail_heavy_streams = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.floats(min_value=0, max_value=400),
        st.sampled_from(["order", "order", "sent", "sent", "sent", "sent", "sent", "opened"]),
    ),
    max_size=80,
)


def to_events(spec: list[tuple[str, float, str]]) -> list[Event]:
    events: list[Event] = []
    for i, (customer, when, kind) in enumerate(sorted(spec, key=lambda s: s[1])):
        eid = f"r{i}"
        at = day(when)
        if kind == "order":
            events.append(an_order(customer, at, event_id=eid))
        elif kind in ("sent", "opened"):
            events.append(an_email(customer, at, kind, event_id=eid))
        elif kind == "missed":
            events.append(a_call(customer, at, "outbound", "missed", "sales", event_id=eid))
        else:
            events.append(
                a_call(customer, at, reason="complaint", resolved=kind == "resolved", event_id=eid)
            )
    return events


@given(st.one_of(random_streams, mail_heavy_streams))
def test_statuses_alternate_and_each_step_is_justified(spec) -> None:
    # Each decision starts from the status the one before left; within an episode statuses
    # only go up, so it holds at most one at_risk and one lost (a sign of life after lost
    # lowers the risk but publishes nothing, and no reason says sign_of_life any more);
    # every decision has its own id, and only recovered (an order) ends an episode.
    decisions = run(to_events(spec), until=day(900))
    status: dict[str, str] = {}
    episode: dict[str, int] = {}
    for d in decisions:
        assert str(d.previous_status) == status.get(d.customer_id, "active")
        assert d.episode == episode.get(d.customer_id, 1)
        assert (str(d.previous_status), str(d.status)) in {
            ("active", "at_risk"),
            ("active", "lost"),
            ("at_risk", "lost"),
            ("at_risk", "active"),
            ("lost", "active"),
        }
        assert "sign_of_life" not in {r["code"] for r in d.view["reasons"]}
        status[d.customer_id] = str(d.status)
        if d.kind == "recovered":
            episode[d.customer_id] = d.episode + 1
    per_episode = Counter((d.customer_id, d.episode, d.kind) for d in decisions)
    assert all(count == 1 for count in per_episode.values())
    ids = [d.id for d in decisions]
    assert len(ids) == len(set(ids))


def test_a_sign_of_life_lowers_a_lost_customers_risk_but_does_not_rearm_lost() -> None:
    events = [*regular_orders("c1", 10, 6)]  # every 10 days, last order on day 50
    engine = Engine()
    decisions = run(events, until=day(200), engine=engine)
    assert kinds(decisions) == ["at_risk", "lost"]
    before = engine.view("c1")
    assert before is not None and before["status"] == "lost"
    # A click and an inbound call: signs of life, but one silence gets one lost.
    later: list[Event] = [
        an_email("c1", day(201), "clicked"),
        a_call("c1", day(230), reason="inquiry"),
    ]
    assert run(later, until=day(400), engine=engine) == []
    after = engine.view("c1")
    assert after is not None and after["status"] == "lost"
    # An order still ends the episode with recovered, and the next silence starts afresh.
    ended = run([an_order("c1", day(403))], until=day(403) + 3600, engine=engine)
    assert [(d.kind, str(d.previous_status), d.episode) for d in ended] == [
        ("recovered", "lost", 1)
    ]
    assert kinds(engine.advance(day(800))) == ["at_risk", "lost"]


def test_the_lookup_risk_falls_after_a_sign_of_life() -> None:
    events = [*regular_orders("c1", 10, 6), an_email("c1", day(120), "sent")]
    silent, alive = Engine(), Engine()
    run(events, until=day(121), engine=silent)
    run([*events, an_email("c1", day(120.5), "clicked")], until=day(121), engine=alive)
    quiet, clicked = silent.view("c1"), alive.view("c1")
    assert quiet is not None and clicked is not None
    assert clicked["risk"] < quiet["risk"]
    assert clicked["status"] == quiet["status"] == "lost"


@given(random_streams, st.randoms(use_true_random=False))
def test_reordering_within_the_lateness_gives_the_same_decisions(spec, rnd) -> None:
    lateness = 3 * DAY
    policy = Policy(allowed_lateness_seconds=lateness)
    events = to_events(spec)
    shuffled = list(events)
    # Swap neighbours whose times are within the lateness: arrival order changes only there.
    for i in range(len(shuffled) - 1):
        if shuffled[i + 1].at - shuffled[i].at < lateness / 2 and rnd.random() < 0.5:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    in_order = run(events, until=day(900), policy=policy)
    out_of_order = run(shuffled, until=day(900), policy=policy)
    assert [(d.kind, d.customer_id, d.at, d.episode) for d in out_of_order] == [
        (d.kind, d.customer_id, d.at, d.episode) for d in in_order
    ]


@given(random_streams, st.lists(st.floats(min_value=-2, max_value=30), max_size=80))
def test_a_watermark_passed_with_an_event_is_an_advance_after_it(spec, behind) -> None:
    """process(event, then) is process(event) then advance(then), refusals included."""
    events = to_events(spec)
    duplicated = [e for event in events for e in (event, event)]  # a repeat moves time too
    marks = [
        e.at - d * DAY for e, d in zip(duplicated, behind + [1.0] * len(duplicated), strict=False)
    ]
    one_call, two_calls = Engine(external_watermark=True), Engine(external_watermark=True)
    first: list[object] = []
    second: list[object] = []
    for event, mark in zip(duplicated, marks, strict=True):
        outcome = one_call.process(event, mark)
        first.append(
            (outcome.code if isinstance(outcome, Rejected) else outcome, one_call.watermark)
        )
        outcome = two_calls.process(event)
        if not isinstance(outcome, Rejected):
            outcome = [*outcome, *two_calls.advance(mark)]
        second.append(
            (outcome.code if isinstance(outcome, Rejected) else outcome, two_calls.watermark)
        )
    assert first == second
    assert [to_record(s) for s in one_call.customers.values()] == [
        to_record(s) for s in two_calls.customers.values()
    ]


@given(random_streams, st.lists(st.floats(min_value=0, max_value=500), min_size=2, max_size=8))
def test_risk_never_falls_while_a_customer_stays_silent(spec, offsets) -> None:
    engine = Engine()
    events = to_events(spec)
    run(events, engine=engine)
    last = max((e.at for e in events), default=day(0))
    risks: dict[str, list[float]] = {}
    for offset in sorted(offsets):
        engine.advance(last + offset * DAY)
        for customer in engine.customers:
            view = engine.view(customer)
            assert view is not None
            assert 0.0 <= view["risk"] <= 1.0
            risks.setdefault(customer, []).append(view["risk"])
    for series in risks.values():
        assert series == sorted(series)


@given(st.one_of(random_streams, mail_heavy_streams), st.sampled_from([1, 2, 4, 8]))
def test_planning_ahead_for_mail_never_changes_a_decision(spec, ahead) -> None:
    # The engine skips re-planning at sends its last plan looked ahead for; planning
    # exactly at every event (ahead = 0) must give the very same decisions.
    events = to_events(spec)
    exact = Engine()
    exact.plan_ahead = 0
    lazy = Engine()
    lazy.plan_ahead = ahead
    assert run(events, until=day(900), engine=lazy) == run(events, until=day(900), engine=exact)


@pytest.mark.parametrize("lateness", [0.0, 3600.0])
def test_decisions_do_not_depend_on_how_time_is_advanced(lateness: float) -> None:
    events = [*regular_orders("a", 14, 8), *regular_orders("b", 45, 4, start=3)]
    events.sort(key=lambda e: e.at)
    policy = Policy(allowed_lateness_seconds=lateness)
    at_once = run(events, until=day(700), policy=policy)
    engine = Engine(policy)
    stepwise = run(events, engine=engine)
    for step in range(100, 701, 7):
        stepwise += engine.advance(day(step))
    assert [(d.kind, d.customer_id, d.at) for d in stepwise] == [
        (d.kind, d.customer_id, d.at) for d in at_once
    ]


population_models = st.builds(
    PopulationModel,
    interval_mean=st.floats(min_value=0.0, max_value=6.0),
    interval_between_sd=st.floats(min_value=0.1, max_value=2.0),
    interval_within_sd=st.floats(min_value=0.1, max_value=2.5),
    interval_distribution=st.sampled_from(["weibull", "lognormal"]),
    dropout_shape=st.floats(min_value=0.05, max_value=5.0),
    dropout_rate_days=st.floats(min_value=1e-3, max_value=5000.0),
)


@given(random_streams, population_models, st.floats(min_value=0, max_value=900))
def test_the_status_reached_through_deadlines_agrees_with_the_risk_shown(spec, model, extra):
    """Whatever the population model: once a customer is overdue (past their expected
    order, before which silence alone flags nobody), a customer still active or at risk
    shows a risk below lost_risk: the deadlines fired when it was crossed."""
    policy = Policy()
    engine = Engine(policy, model)
    events = to_events(spec)
    run(events, engine=engine)
    last = max((e.at for e in events), default=day(0))
    engine.advance(last + extra * DAY)
    now = engine.watermark
    for customer, state in engine.customers.items():
        view = engine.view(customer)
        assert view is not None
        if state.last_order_at is None or view["status"] == "lost":
            continue
        if now >= state.last_order_at + math.exp(state.mu) * DAY:
            assert view["risk"] < policy.lost_risk + 0.01, view
