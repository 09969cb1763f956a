"""The output contract: CloudEvents shape, deterministic ids, customer views."""

from __future__ import annotations

import uuid

import pytest

from models.decisions import ID_NAMESPACE, Decision, decision_id, format_time, to_cloudevent
from models.engine import Engine
from models.events import Event
from models.policy import Policy
from tests.builders import a_call, an_email, an_order, day
from tests.schemas import assert_valid


def decisions_for_a_lapsed_customer() -> list[Decision]:
    engine = Engine()
    out: list[Decision] = []
    events: list[Event] = [an_order("c1", day(i * 20)) for i in range(6)]
    events.append(an_email("c1", day(101), "unsubscribed"))
    for event in events:
        outcome = engine.process(event)
        assert isinstance(outcome, list)
        out += outcome
    out += engine.advance(day(300))
    outcome = engine.process(an_order("c1", day(301)))
    assert isinstance(outcome, list)
    out += outcome + engine.advance(day(302))
    return out


def test_every_decision_is_a_valid_cloudevent() -> None:
    decisions = decisions_for_a_lapsed_customer()
    assert [d.kind for d in decisions] == ["at_risk", "lost", "recovered"]
    for decision in decisions:
        event = to_cloudevent(decision, "urn:test")
        assert_valid("decision.cloudevent", event)
        assert event["type"] == f"churnwatch.customer.{decision.kind}"
        assert event["subject"] == "c1"
        assert event["time"] == format_time(decision.at)
        assert event["data"]["previous_status"] == str(decision.previous_status)


def test_ids_are_deterministic_and_distinct_per_decision() -> None:
    first = [to_cloudevent(d, "urn:a")["id"] for d in decisions_for_a_lapsed_customer()]
    second = [to_cloudevent(d, "urn:b")["id"] for d in decisions_for_a_lapsed_customer()]
    assert first == second
    assert len(set(first)) == 3
    assert decision_id("c1", "lost", 1) != decision_id("c1", "lost", 2)
    assert decision_id("c1", "lost", 1) == str(uuid.uuid5(ID_NAMESPACE, "c1\x1flost\x1f1"))
    assert decision_id("c1", "lost", 1) != decision_id("c2", "lost", 1)


def test_every_decision_of_two_episodes_is_a_valid_cloudevent_with_its_own_id() -> None:
    engine = Engine()
    out: list[Decision] = []
    events: list[Event] = [*(an_order("c1", day(i * 10)) for i in range(6))]
    events += [a_call("c1", day(201), reason="inquiry"), an_order("c1", day(300))]
    for event in events:
        outcome = engine.process(event)
        assert isinstance(outcome, list)
        out += outcome
    out += engine.advance(day(1000))
    assert [(d.kind, str(d.previous_status), d.episode) for d in out] == [
        ("at_risk", "active", 1),
        ("lost", "at_risk", 1),
        ("recovered", "lost", 1),
        ("at_risk", "active", 2),
        ("lost", "at_risk", 2),
    ]
    for decision in out:
        assert_valid("decision.cloudevent", to_cloudevent(decision, "urn:test"))
    assert [d.revival for d in out] == [0] * 5
    assert len({d.id for d in out}) == 5
    assert out[3].id == str(uuid.uuid5(ID_NAMESPACE, "c1\x1fat_risk\x1f2"))


def test_customer_views_validate_for_every_kind_of_customer() -> None:
    engine = Engine()
    engine.process(an_email("prospect", day(0), "opened"))
    engine.process(a_call("caller", day(0), reason="complaint"))
    for i in range(4):
        engine.process(an_order("buyer", day(i * 7), amount=1400.0))
    engine.advance(day(60))
    views = {v["customer_id"]: v for v in engine.views()}
    for view in views.values():
        assert_valid("customer-view", view)
    assert views["prospect"]["last_order_at"] is None
    assert views["caller"]["status"] == "at_risk"
    assert views["buyer"]["segment"] == "platinum"


def test_time_format_is_rfc3339_utc_with_milliseconds() -> None:
    assert format_time(day(0)) == "2025-01-01T00:00:00.000Z"
    assert format_time(None) is None


@pytest.mark.parametrize("spend", [0.0, 249.99, 250.0, 999.0, 1000.0, 10_000.0])
def test_segments_follow_the_configured_tiers(spend: float) -> None:
    expected = (
        "platinum"
        if spend >= 5000
        else "gold"
        if spend >= 1000
        else "silver"
        if spend >= 250
        else "bronze"
    )
    assert Policy().segment_for(spend) == expected


def test_each_decision_suggests_an_action_and_a_recovery_names_the_one_before_it() -> None:
    decisions = decisions_for_a_lapsed_customer()
    at_risk, lost, recovered = decisions
    # Unsubscribed: the likely cause is disengagement; the defaults remind, then win back.
    assert at_risk.view["cause"] == lost.view["cause"] == "disengagement"
    assert at_risk.view["suggested_action"] == "remind"
    assert lost.view["suggested_action"] == "win_back"
    assert (at_risk.previous_action, lost.previous_action) == (None, "remind")
    assert recovered.view["suggested_action"] is None
    assert recovered.previous_action == "win_back"
    data = to_cloudevent(recovered, "urn:test")["data"]
    assert data["previous_action"] == "win_back"


def test_a_lost_customer_below_the_win_back_cost_gets_none() -> None:
    engine = Engine(Policy(win_back_cost=1e9))
    for i in range(6):
        engine.process(an_order("c1", day(i * 20)))
    lost = [d for d in engine.advance(day(400)) if d.kind == "lost"]
    assert len(lost) == 1
    assert lost[0].view["suggested_action"] == "none"


def test_every_view_carries_the_value_fields() -> None:
    engine = Engine()
    engine.process(an_order("c1", day(0), amount=30.0))
    engine.process(an_order("c1", day(20), amount=50.0))
    engine.advance(day(25))
    view = engine.view("c1")
    assert view is not None
    assert view["value_horizon_days"] == 365.0
    assert view["expected_orders"] > 0 and view["expected_spend"] > 0
    assert view["expected_order_value"] > 0
    assert view["value_at_risk"] >= 0
    assert view["suggested_action"] is None  # active
    assert_valid("customer-view", view)
