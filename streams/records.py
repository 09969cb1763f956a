"""The stored forms of the engine's state: what the streaming worker's changelogged table
holds, and what a restored or upgraded worker reads back.

* A customer (:func:`to_record`, :func:`from_record`): a flat JSON-able list. Each version
  appends fields to the one before, so a record's length tells its version and every older
  record still loads.
* A partition's churn account (:func:`ledger_to_record`, :func:`ledger_from_record`): its
  latest census month and its counts per month and segment; a record saved before the value
  measures existed loads with zeros for them.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from models.churn_rate import MEASURES, VALUE_MEASURES, ChurnLedger, empty_counts
from models.customer import CustomerState, Status
from models.events import CallRecorded, EmailRecorded, OrderRecorded
from models.policy import Policy

# Record layout, version 1: the fields before email engagement was modelled.
_V1_FIELDS = (
    "customer_id",
    "due_at",
    "episode",
    "first_order_at",
    "intervals",
    "issue_opened_at",
    "last_engaged_at",
    "last_inquiry_at",
    "last_order_at",
    "mu",
    "open_issues",
    "orders",
    "pending",
    "recent_amount",
    "recent_ids",
    "sd",
    "sends_since_engaged",
    "status",
    "total_spend",
    "unanswered_calls",
    "unsubscribed",
)
# Version 2 appends these; a version-1 record loads with their defaults (see from_record).
_V2_FIELDS = (
    "alive_at",
    "delivered_mails",
    "engaged_mails",
    "last_opened_at",
    "last_sent_at",
    "open_rate",
)
# Version 3 appends this; older records load with 0 (no lost customer revived yet).
_V3_FIELDS = ("revivals",)
# Version 4 appends the plan's mail budget, so a restored engine plans exactly as one that
# never stopped (older records load with -1: the engine re-plans at the next mail).
_V4_FIELDS = ("plan_covers",)
# Version 5 appends the action the last decision suggested, so a recovery can say which
# action preceded it (older records load with None: none known).
_V5_FIELDS = ("last_action",)

# The record's fields in order (the state's slots are kept sorted by name). Pending events
# are stored as lists, recent event-id fingerprints as hex.
FIELDS = _V1_FIELDS + _V2_FIELDS + _V3_FIELDS + _V4_FIELDS + _V5_FIELDS
_V1_LENGTH = len(_V1_FIELDS)
_V2_LENGTH = _V1_LENGTH + len(_V2_FIELDS)
_V3_LENGTH = _V2_LENGTH + len(_V3_FIELDS)
_V4_LENGTH = _V3_LENGTH + len(_V4_FIELDS)
_LENGTHS = (_V1_LENGTH, _V2_LENGTH, _V3_LENGTH, _V4_LENGTH, len(FIELDS))
_RECENT_IDS, _STATUS, _INTERVALS, _PENDING = (
    FIELDS.index(name) for name in ("recent_ids", "status", "intervals", "pending")
)
_STATUSES = {status.value: status for status in Status}


_field_values = operator.attrgetter(*FIELDS)


def to_record(state: CustomerState) -> list[Any]:
    """The state as a JSON-able list (``bytes`` as hex, events as lists, a float that is
    not finite as None). The worker writes one per changed customer at every commit."""
    isfinite = math.isfinite
    out: list[Any] = [
        None if value.__class__ is float and not isfinite(value) else value
        for value in _field_values(state)
    ]
    out[_RECENT_IDS] = out[_RECENT_IDS].hex()
    pending = out[_PENDING]
    if pending is not None:
        out[_PENDING] = [[type(e).__name__, *e] for e in pending]
    out[_INTERVALS] = list(out[_INTERVALS])
    return out


_EVENT_KINDS: dict[str, Any] = {
    "OrderRecorded": OrderRecorded,
    "EmailRecorded": EmailRecorded,
    "CallRecorded": CallRecorded,
}


def from_record(values: list[Any]) -> CustomerState:
    """Inverse of :func:`to_record`; also loads version-1 records (before email engagement
    was modelled: their new fields keep the defaults, the last sign of life being the last
    order), version-2 records (before lost customers could be revived: none was),
    version-3 records (before the plan's mail budget was kept: none) and version-4 records
    (before the suggested action was kept: none)."""
    length = len(values)
    if length == len(FIELDS):
        # Every slot is in the record: no defaults to set first (a worker's recovery loads
        # millions of these; docs/performance.md).
        state = CustomerState.__new__(CustomerState)
    elif length in _LENGTHS:
        state = CustomerState(values[0])
    else:
        raise ValueError(f"a customer record has {', '.join(map(str, _LENGTHS))} fields")
    for name, value in zip(FIELDS, values, strict=False):
        setattr(state, name, value)
    # The fields stored in another form than the state's.
    state.recent_ids = bytes.fromhex(values[_RECENT_IDS])
    status = values[_STATUS]
    state.status = _STATUSES.get(status) or Status(status)
    state.intervals = tuple(values[_INTERVALS])
    pending = values[_PENDING]
    if pending is not None:
        kinds = _EVENT_KINDS
        state.pending = [kinds[kind](*fields) for kind, *fields in pending]
    if length == _V1_LENGTH:
        state.alive_at = state.last_order_at
    return state


def ledger_to_record(ledger: ChurnLedger) -> dict[str, Any]:
    """The churn account as a JSON-able object."""
    return {
        "month": ledger.month,
        "months": {month: dict(by_segment) for month, by_segment in ledger.months.items()},
    }


def ledger_from_record(
    record: dict[str, Any], policy: Policy, keep_months: int | None = None
) -> ChurnLedger:
    """Inverse of :func:`ledger_to_record`, for the segments ``policy`` has now."""
    months = {
        month: {segment: _ledger_counts(counts) for segment, counts in by_segment.items()}
        for month, by_segment in record["months"].items()
    }
    return ChurnLedger.resume(policy, record["month"], months, keep_months)


def _ledger_counts(saved: list[Any]) -> list[Any]:
    out = empty_counts()
    for i, value in enumerate(saved[: len(MEASURES) + len(VALUE_MEASURES)]):
        out[i] = int(value) if i < len(MEASURES) else float(value)
    return out
