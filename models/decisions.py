"""What Churnwatch says about a customer: decisions, their ids, and views.

A :class:`Decision` is a past-tense fact (the customer *became* at risk, lost or
recovered) with everything a subscriber needs to act on it, and a deterministic id;
:func:`customer_view` is the same picture for any customer at any moment (snapshots and
the lookup API). The output contract's wire form (CloudEvents 1.0) is the adapters' job:
:mod:`streams.cloudevents`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

from models.assessment import expected_next_order_at, likely_cause, reasons_at, risk_at
from models.customer import ACTIVE, CustomerState, Status
from models.policy import Policy
from models.population import PopulationModel
from models.rhythm import Rhythm
from models.value import value_at

AT_RISK = "at_risk"
LOST = "lost"
RECOVERED = "recovered"
DECISION_TYPES = (AT_RISK, LOST, RECOVERED)

# Fixed namespace so decision ids are the same in every run and every deployment.
ID_NAMESPACE = uuid.UUID("5b0f3c2e-1f7a-5c55-9d5e-6a1c0c7e2d11")
_NAMESPACE_BYTES = ID_NAMESPACE.bytes


class Decision(NamedTuple):
    """A customer became at risk, lost, or recovered, at event time ``at``."""

    kind: str
    customer_id: str
    at: float
    status: Status
    previous_status: Status
    episode: int
    view: dict[str, Any]
    # How many times this episode a sign of life had taken the customer from lost back to
    # at_risk when this decision was made. Earlier versions did that; this one never does,
    # so it is 0 except in an episode carried over from such a version's record.
    revival: int = 0
    # The action the customer's previous decision in this episode suggested (for a
    # recovery: what preceded it), if any.
    previous_action: str | None = None

    @property
    def id(self) -> str:
        return decision_id(self.customer_id, self.kind, self.episode, self.revival)


def decision_id(customer_id: str, kind: str, episode: int, revival: int = 0) -> str:
    """Deterministic: one customer, decision type, episode and revival always get the same id.

    A UUIDv5 (RFC 9562) of ``customer \x1f kind \x1f episode`` in a fixed namespace, with
    ``\x1f revival`` appended after the first revival of the episode (so the ids of decisions
    before any revival are those of earlier versions); built by hand because ``uuid.uuid5``
    costs three times as much on this path.
    """
    name = f"{customer_id}\x1f{kind}\x1f{episode}".encode()
    if revival:
        name += f"\x1f{revival}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def customer_view(
    state: CustomerState,
    t: float,
    policy: Policy,
    model: PopulationModel,
    rhythm: Rhythm | None = None,
) -> dict[str, Any]:
    """Status, risk, reasons, suggested action, rhythm and value of a customer as judged
    at ``t``.

    ``rhythm`` defaults to the one the customer was last planned with.
    """
    reasons = reasons_at(state, t, policy, rhythm)
    average = state.total_spend / state.orders if state.orders else 0.0
    risk = risk_at(state, t, policy, model, rhythm)
    cause = likely_cause({r.code for r in reasons})
    value = value_at(state, t, risk, policy, model)
    status = str(state.status)
    action = None
    if state.status != ACTIVE:
        action = policy.action_for(status, cause, value.retained)
    return {
        "customer_id": state.customer_id,
        "status": status,
        "risk": round(risk, 4),
        "reasons": [{"code": r.code, "detail": r.detail} for r in reasons],
        "cause": cause,
        "suggested_action": action,
        "last_order_at": format_time(state.last_order_at),
        "expected_next_order_at": format_time(expected_next_order_at(state, rhythm)),
        "order_count": state.orders,
        "total_spend": round(state.total_spend, 2),
        "average_order_value": round(average, 2),
        "segment": policy.segment_for(state.total_spend),
        "value_horizon_days": policy.value_horizon_days,
        "expected_orders": round(value.expected_orders, 3),
        "expected_order_value": round(value.order_value, 2),
        "expected_spend": round(value.expected_spend, 2),
        "value_at_risk": round(value.at_risk, 2),
        "episode": state.episode,
    }


def format_time(t: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, or None."""
    if t is None:
        return None
    # "2025-03-01T12:00:00.123+00:00" -> "2025-03-01T12:00:00.123Z"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")[:23] + "Z"
