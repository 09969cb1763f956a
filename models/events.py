"""Input events: the three things that happen to a customer, as the engine sees them.

Each type is an immutable, slot-free ``NamedTuple`` (cheap to build on the hot path).
Times are event time, float seconds since the Unix epoch (UTC). The wire format and its
validation live in :mod:`models.parse`; the contract is written down in ``docs/events.md``.
"""

from __future__ import annotations

from typing import NamedTuple

ORDER_STATUSES = frozenset({"placed", "cancelled", "refunded"})
EMAIL_ACTIONS = frozenset({"sent", "opened", "clicked", "unsubscribed", "bounced"})
CALL_DIRECTIONS = frozenset({"inbound", "outbound"})
CALL_OUTCOMES = frozenset({"answered", "missed", "voicemail"})
CALL_REASONS = frozenset({"inquiry", "complaint", "support", "sales", "other"})


class OrderRecorded(NamedTuple):
    """An order the shop recorded: placed, or later cancelled or refunded."""

    event_id: str
    customer_id: str
    at: float
    order_id: str
    amount: float
    currency: str
    status: str = "placed"


class EmailRecorded(NamedTuple):
    """Something that happened to a marketing email: sent, opened, clicked, ..."""

    event_id: str
    customer_id: str
    at: float
    action: str
    campaign_id: str | None = None


class CallRecorded(NamedTuple):
    """A phone call with the customer, inbound or outbound."""

    event_id: str
    customer_id: str
    at: float
    direction: str
    outcome: str
    reason: str
    resolved: bool | None = None


Event = OrderRecorded | EmailRecorded | CallRecorded

# Same-instant events of one customer are applied in this order (then by event_id),
# so the outcome never depends on arrival order.
KIND_RANK: dict[type, int] = {OrderRecorded: 0, CallRecorded: 1, EmailRecorded: 2}
