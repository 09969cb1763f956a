"""Test data builders: readable events at readable times (days after a fixed epoch)."""

from __future__ import annotations

from itertools import count
from typing import Any

import orjson

from models.customer import CustomerState, record
from models.decisions import Decision
from models.engine import Engine
from models.events import CallRecorded, EmailRecorded, Event, OrderRecorded
from models.policy import DAY, Policy

EPOCH = 1_735_689_600.0  # 2025-01-01T00:00:00Z
_ids = count(1)


def day(n: float) -> float:
    """Event time ``n`` days after 2025-01-01."""
    return EPOCH + n * DAY


def _event_id(event_id: str | None) -> str:
    return event_id or f"e{next(_ids)}"


def an_order(
    customer: str = "c1",
    at: float = EPOCH,
    amount: float = 25.0,
    status: str = "placed",
    event_id: str | None = None,
    order_id: str | None = None,
) -> OrderRecorded:
    eid = _event_id(event_id)
    return OrderRecorded(eid, customer, at, order_id or f"o-{eid}", amount, "EUR", status)


def an_email(
    customer: str = "c1", at: float = EPOCH, action: str = "sent", event_id: str | None = None
) -> EmailRecorded:
    return EmailRecorded(_event_id(event_id), customer, at, action, "weekly")


def a_call(
    customer: str = "c1",
    at: float = EPOCH,
    direction: str = "inbound",
    outcome: str = "answered",
    reason: str = "other",
    resolved: bool | None = None,
    event_id: str | None = None,
) -> CallRecorded:
    return CallRecorded(_event_id(event_id), customer, at, direction, outcome, reason, resolved)


def order_json(**overrides: Any) -> dict[str, Any]:
    """A valid wire-format order; override or delete (value None) any field."""
    base: dict[str, Any] = {
        "event_type": "order",
        "event_id": "e1",
        "customer_id": "c1",
        "occurred_at": "2025-03-01T12:00:00Z",
        "order_id": "o1",
        "amount": 19.99,
        "currency": "EUR",
    }
    return _merge(base, overrides)


def email_json(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "email",
        "event_id": "e2",
        "customer_id": "c1",
        "occurred_at": "2025-03-01T12:00:00Z",
        "action": "opened",
    }
    return _merge(base, overrides)


def call_json(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "call",
        "event_id": "e3",
        "customer_id": "c1",
        "occurred_at": "2025-03-01T12:00:00Z",
        "direction": "inbound",
        "outcome": "answered",
        "reason": "complaint",
        "resolved": False,
    }
    return _merge(base, overrides)


def line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {key: value for key, value in merged.items() if value is not None}


def decisions_of_a_lapsed_customer() -> list[Decision]:
    """Six orders 20 days apart, an unsubscription, silence to day 300, then an order:
    at_risk, lost, recovered."""
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


def a_customer(*events: Event, policy: Policy | None = None) -> CustomerState:
    """Customer c1's state after ``events``, folded in the given order."""
    state = CustomerState("c1")
    for event in events:
        record(state, event, policy or Policy())
    return state
