"""Decisions and views: deterministic ids, customer views, suggested actions and value."""

from __future__ import annotations

import uuid

import pytest

from models.decisions import ID_NAMESPACE, decision_id, format_time
from models.engine import Engine
from models.policy import Policy
from tests.builders import a_call, an_email, an_order, day, decisions_of_a_lapsed_customer
from tests.schemas import assert_valid


def test_ids_are_deterministic_and_distinct_per_decision() -> None:
    first = [d.id for d in decisions_of_a_lapsed_customer()]
    second = [d.id for d in decisions_of_a_lapsed_customer()]
    assert first == second
    assert len(set(first)) == 3
    assert decision_id("c1", "lost", 1) != decision_id("c1", "lost", 2)
    assert decision_id("c1", "lost", 1) == str(uuid.uuid5(ID_NAMESPACE, "c1\x1flost\x1f1"))
    assert decision_id("c1", "lost", 1) != decision_id("c2", "lost", 1)


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
    decisions = decisions_of_a_lapsed_customer()
    at_risk, lost, recovered = decisions
    # Unsubscribed: the likely cause is disengagement; the defaults remind, then win back.
    assert at_risk.view["cause"] == lost.view["cause"] == "disengagement"
    assert at_risk.view["suggested_action"] == "remind"
    assert lost.view["suggested_action"] == "win_back"
    assert (at_risk.previous_action, lost.previous_action) == (None, "remind")
    assert recovered.view["suggested_action"] is None
    assert recovered.previous_action == "win_back"


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
