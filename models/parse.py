"""The input contract: raw bytes in, an event or a precise rejection out.

Parsing never raises on bad input. It returns :class:`Rejected` with a stable ``code``
(counted in metrics and summaries) and a human ``detail`` naming the field and value.
The contract itself is documented in ``docs/events.md`` and ``schemas/input-event.schema.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from models.events import (
    CALL_DIRECTIONS,
    CALL_OUTCOMES,
    CALL_REASONS,
    EMAIL_ACTIONS,
    ORDER_STATUSES,
    CallRecorded,
    EmailRecorded,
    Event,
    OrderRecorded,
)

# Identifiers (event, customer, order and campaign ids) are at most this long: they are
# kept in customer state, so an oversized one must be refused, not stored.
MAX_ID_LENGTH = 128
MAX_CUSTOMER_ID_LENGTH = MAX_ID_LENGTH
# Epoch milliseconds must fall between 1970 and 2200: anything else is a unit mistake.
_MAX_EPOCH_MS = 7_258_118_400_000

# Rejection codes, part of the contract (metrics and dead letters carry them).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
INVALID_FIELD = "invalid_field"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
INVALID_TIME = "invalid_time"
LATE_EVENT = "late_event"
FUTURE_EVENT = "future_event"
REJECTION_CODES = (
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    INVALID_FIELD,
    UNKNOWN_EVENT_TYPE,
    INVALID_TIME,
    LATE_EVENT,
    FUTURE_EVENT,
)


class Rejected(NamedTuple):
    """Why an input was refused; ``str()`` of it is what a dead letter says."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class _InvalidError(Exception):
    """Internal: carries a rejection out of the field helpers."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejected(code, detail)


def parse_event(raw: bytes | str, default_type: str | None = None) -> Event | Rejected:
    """Decode one JSON event; ``default_type`` fills a missing ``event_type`` (per topic)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected(INVALID_JSON, f"not valid JSON ({exc})")
    if not isinstance(obj, dict):
        return Rejected(NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}")
    return event_from_dict(obj, default_type)


def event_from_dict(obj: dict[str, Any], default_type: str | None = None) -> Event | Rejected:
    """Validate an already decoded JSON object against the contract."""
    event = _accept_well_formed(obj, default_type)
    if event is not None:
        return event
    return _validate(obj, default_type)


def _accept_well_formed(obj: dict[str, Any], default_type: str | None) -> Event | None:
    """The hot path: build the event if every field is plainly valid, else None.

    It accepts only what :func:`_validate` accepts, with the same result (a property test
    holds them together); anything unusual goes to :func:`_validate` for a precise reason.
    """
    get = obj.get
    event_id, customer_id = get("event_id"), get("customer_id")
    if (
        type(event_id) is not str
        or not event_id
        or len(event_id) > MAX_ID_LENGTH
        or type(customer_id) is not str
        or not customer_id
        or len(customer_id) > MAX_ID_LENGTH
    ):
        return None
    occurred = get("occurred_at")
    if type(occurred) is str:
        seconds = _rfc3339_seconds(occurred)
        if seconds is None:
            return None
        at = seconds
    elif type(occurred) is int and 0 <= occurred <= _MAX_EPOCH_MS:
        at = occurred / 1000.0
    else:
        return None
    event_type = get("event_type", default_type)
    if event_type == "email":
        action, campaign = get("action"), get("campaign_id")
        if (
            type(action) is str
            and action in EMAIL_ACTIONS
            and (campaign is None or (type(campaign) is str and len(campaign) <= MAX_ID_LENGTH))
        ):
            return EmailRecorded(event_id, customer_id, at, action, campaign)
    elif event_type == "order":
        order_id, amount, currency = get("order_id"), get("amount"), get("currency")
        status = get("status", "placed")
        if (
            type(order_id) is str
            and order_id
            and len(order_id) <= MAX_ID_LENGTH
            and (type(amount) is float or type(amount) is int)
            and amount >= 0
            and type(currency) is str
            and _is_currency(currency)
            and type(status) is str
            and status in ORDER_STATUSES
        ):
            return OrderRecorded(
                event_id, customer_id, at, order_id, float(amount), currency, status
            )
    elif event_type == "call":
        direction, outcome, reason = get("direction"), get("outcome"), get("reason")
        resolved = get("resolved")
        if (
            type(direction) is str
            and direction in CALL_DIRECTIONS
            and type(outcome) is str
            and outcome in CALL_OUTCOMES
            and type(reason) is str
            and reason in CALL_REASONS
            and (resolved is None or type(resolved) is bool)
        ):
            return CallRecorded(event_id, customer_id, at, direction, outcome, reason, resolved)
    return None


def _is_currency(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def _validate(obj: dict[str, Any], default_type: str | None) -> Event | Rejected:
    """Every check in turn, so a refusal names exactly what is wrong."""
    try:
        event_type = obj.get("event_type", default_type)
        if event_type is None:
            raise _InvalidError(MISSING_FIELD, "missing field 'event_type'")
        builder = _BUILDERS.get(event_type) if isinstance(event_type, str) else None
        if builder is None:
            raise _InvalidError(
                UNKNOWN_EVENT_TYPE,
                f"event_type {event_type!r} is not one of 'order', 'email', 'call'",
            )
        event_id = _identifier(obj, "event_id")
        customer_id = _identifier(obj, "customer_id")
        at = parse_time(obj.get("occurred_at", _MISSING), "occurred_at")
        return builder(obj, event_id, customer_id, at)
    except _InvalidError as invalid:
        return invalid.rejection


_MISSING: Any = object()


# RFC 3339 date-time (section 5.6), exactly as JSON Schema's format "date-time" checks it
# (schemas/input-event.schema.json): 'T' and 'Z' in either case, seconds required, offsets
# as +hh:mm, ASCII digits, no leap second. fromisoformat alone is laxer (+0100, a space).
_RFC3339 = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-[0-9]{2}[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)


def _rfc3339_seconds(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 date-time, or None when it is not one."""
    # The common shape, 2025-03-01T12:00:00Z, skips the regex: with these separators in
    # place fromisoformat accepts exactly what the regex would (ASCII digits, ranges).
    if not (len(text) == 20 and text[4::3] == "--T::Z"):  # the characters at 4, 7, ... 19
        if _RFC3339.match(text) is None:
            return None
        if text[-1] == "z":
            text = text[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # a day its month lacks, or year 0
        return None
    return parsed.timestamp()


def parse_time(value: Any, field: str = "time") -> float:
    """RFC 3339 with an offset, or integer epoch milliseconds -> epoch seconds."""
    if value is _MISSING or value is None:
        raise _InvalidError(MISSING_FIELD, f"missing field {field!r}")
    if isinstance(value, str):
        seconds = _rfc3339_seconds(value)
        if seconds is None:
            raise _InvalidError(
                INVALID_TIME,
                f"{field} {value!r} is not an RFC 3339 timestamp with offset "
                "(e.g. 2025-03-01T12:00:00Z or 2025-03-01T13:00:00+01:00)",
            )
        return seconds
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1.7e12 is an integer to JSON Schema (and to the contract)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= _MAX_EPOCH_MS:
            raise _InvalidError(
                INVALID_TIME, f"{field} {value} is outside 1970..2200 in epoch milliseconds"
            )
        return value / 1000.0
    raise _InvalidError(
        INVALID_TIME,
        f"{field} must be an RFC 3339 string or integer epoch milliseconds, "
        f"got {type(value).__name__}",
    )


def parse_time_argument(value: str) -> float:
    """Parse a user-supplied RFC 3339 time (CLI flags); raises ValueError with a message."""
    try:
        return parse_time(value, "time")
    except _InvalidError as invalid:
        raise ValueError(invalid.rejection.detail) from None


def _required_string(obj: dict[str, Any], field: str) -> str:
    value = obj.get(field)
    if value is None:
        raise _InvalidError(MISSING_FIELD, f"missing field {field!r}")
    if not isinstance(value, str):
        raise _InvalidError(INVALID_FIELD, f"{field} must be a string, got {type(value).__name__}")
    if not value:
        raise _InvalidError(INVALID_FIELD, f"{field} must not be empty")
    return value


def _identifier(obj: dict[str, Any], field: str) -> str:
    value = _required_string(obj, field)
    if len(value) > MAX_ID_LENGTH:
        raise _InvalidError(
            INVALID_FIELD, f"{field} is {len(value)} characters, at most {MAX_ID_LENGTH} allowed"
        )
    return value


def _choice(obj: dict[str, Any], field: str, allowed: frozenset[str], default: str | None) -> str:
    value = obj.get(field, default)
    if value is None:
        raise _InvalidError(MISSING_FIELD, f"missing field {field!r}")
    if value not in allowed or not isinstance(value, str):
        raise _InvalidError(
            INVALID_FIELD, f"{field} {value!r} is not one of {', '.join(sorted(allowed))}"
        )
    return value


def _order(obj: dict[str, Any], event_id: str, customer_id: str, at: float) -> OrderRecorded:
    order_id = _identifier(obj, "order_id")
    amount = obj.get("amount")
    if amount is None:
        raise _InvalidError(MISSING_FIELD, "missing field 'amount'")
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        raise _InvalidError(INVALID_FIELD, f"amount must be a number, got {type(amount).__name__}")
    if amount < 0:
        raise _InvalidError(INVALID_FIELD, f"amount {amount} is negative")
    currency = _required_string(obj, "currency")
    if not _is_currency(currency):
        raise _InvalidError(INVALID_FIELD, f"currency {currency!r} is not a 3-letter code")
    status = _choice(obj, "status", ORDER_STATUSES, "placed")
    return OrderRecorded(event_id, customer_id, at, order_id, float(amount), currency, status)


def _email(obj: dict[str, Any], event_id: str, customer_id: str, at: float) -> EmailRecorded:
    action = _choice(obj, "action", EMAIL_ACTIONS, None)
    campaign = obj.get("campaign_id")
    if campaign is not None and not isinstance(campaign, str):
        raise _InvalidError(
            INVALID_FIELD, f"campaign_id must be a string, got {type(campaign).__name__}"
        )
    if campaign is not None and len(campaign) > MAX_ID_LENGTH:
        raise _InvalidError(
            INVALID_FIELD,
            f"campaign_id is {len(campaign)} characters, at most {MAX_ID_LENGTH} allowed",
        )
    return EmailRecorded(event_id, customer_id, at, action, campaign)


def _call(obj: dict[str, Any], event_id: str, customer_id: str, at: float) -> CallRecorded:
    direction = _choice(obj, "direction", CALL_DIRECTIONS, None)
    outcome = _choice(obj, "outcome", CALL_OUTCOMES, None)
    reason = _choice(obj, "reason", CALL_REASONS, None)
    resolved = obj.get("resolved")
    if resolved is not None and not isinstance(resolved, bool):
        raise _InvalidError(INVALID_FIELD, f"resolved must be true or false, got {resolved!r}")
    return CallRecorded(event_id, customer_id, at, direction, outcome, reason, resolved)


_BUILDERS: dict[str, Callable[[dict[str, Any], str, str, float], Event]] = {
    "order": _order,
    "email": _email,
    "call": _call,
}
