"""Decisions as subscribers receive them: CloudEvents 1.0 structured JSON, valid against
the contract's schema, with the data of the decision's view."""

from __future__ import annotations

import uuid

from models.decisions import ID_NAMESPACE, Decision, format_time
from models.engine import Engine
from models.events import Event
from streams.cloudevents import to_cloudevent
from tests.builders import a_call, an_order, day, decisions_of_a_lapsed_customer
from tests.schemas import assert_valid


def test_every_decision_is_a_valid_cloudevent() -> None:
    decisions = decisions_of_a_lapsed_customer()
    assert [d.kind for d in decisions] == ["at_risk", "lost", "recovered"]
    for decision in decisions:
        event = to_cloudevent(decision, "urn:test")
        assert_valid("decision.cloudevent", event)
        assert event["type"] == f"churnwatch.customer.{decision.kind}"
        assert event["subject"] == "c1"
        assert event["time"] == format_time(decision.at)
        assert event["data"]["previous_status"] == str(decision.previous_status)
    recovered = to_cloudevent(decisions[-1], "urn:test")["data"]
    assert recovered["previous_action"] == "win_back" and recovered["suggested_action"] is None


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
