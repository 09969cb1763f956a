"""The input contract: every valid form accepted, every bad one rejected with a reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.events import EMAIL_ACTIONS, CallRecorded, EmailRecorded, OrderRecorded
from models.parse import (
    INVALID_FIELD,
    INVALID_JSON,
    INVALID_TIME,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    UNKNOWN_EVENT_TYPE,
    Rejected,
    _accept_well_formed,
    _validate,
    event_from_dict,
    parse_event,
    parse_time_argument,
)
from tests.builders import call_json, email_json, line, order_json


def parse(obj: dict[str, Any], default_type: str | None = None) -> Any:
    return parse_event(orjson.dumps(obj), default_type)


def test_a_valid_order_becomes_an_order_event() -> None:
    event = parse(order_json())
    assert event == OrderRecorded("e1", "c1", 1740830400.0, "o1", 19.99, "EUR", "placed")


def test_a_valid_email_and_call() -> None:
    assert parse(email_json(campaign_id="spring")) == EmailRecorded(
        "e2", "c1", 1740830400.0, "opened", "spring"
    )
    assert parse(call_json()) == CallRecorded(
        "e3", "c1", 1740830400.0, "inbound", "answered", "complaint", False
    )


def test_epoch_milliseconds_and_offsets_mean_the_same_instant() -> None:
    utc = parse(order_json(occurred_at="2025-03-01T12:00:00Z"))
    offset = parse(order_json(occurred_at="2025-03-01T13:00:00+01:00"))
    millis = parse(order_json(occurred_at=1740830400000))
    assert utc.at == offset.at == millis.at == 1740830400.0


def test_unknown_extra_fields_are_ignored() -> None:
    assert isinstance(parse(order_json(note="gift", nested={"a": 1})), OrderRecorded)


def test_event_type_may_come_from_the_topic() -> None:
    obj = order_json(event_type=None)
    assert parse(obj).code == MISSING_FIELD
    assert isinstance(parse(obj, default_type="order"), OrderRecorded)


def test_order_status_defaults_to_placed_and_accepts_the_others() -> None:
    assert parse(order_json()).status == "placed"
    assert parse(order_json(status="refunded")).status == "refunded"


def test_trailing_newline_is_fine() -> None:
    assert isinstance(parse_event(line(order_json())), OrderRecorded)


@pytest.mark.parametrize(
    ("raw", "code", "mentions"),
    [
        (b"not json", INVALID_JSON, "JSON"),
        (b'{"event_type": "order"', INVALID_JSON, "JSON"),
        (b"[1, 2]", NOT_AN_OBJECT, "list"),
        (b'"order"', NOT_AN_OBJECT, "str"),
        (b"\xff\xfe", INVALID_JSON, "JSON"),
    ],
)
def test_undecodable_input_is_rejected(raw: bytes, code: str, mentions: str) -> None:
    result = parse_event(raw)
    assert isinstance(result, Rejected)
    assert result.code == code
    assert mentions in result.detail


@pytest.mark.parametrize(
    ("obj", "code", "mentions"),
    [
        (order_json(event_type="refund"), UNKNOWN_EVENT_TYPE, "'refund'"),
        (order_json(event_type=7), UNKNOWN_EVENT_TYPE, "7"),
        (order_json(event_id=None), MISSING_FIELD, "event_id"),
        (order_json(event_id=""), INVALID_FIELD, "event_id"),
        (order_json(event_id=12), INVALID_FIELD, "event_id"),
        (order_json(customer_id=None), MISSING_FIELD, "customer_id"),
        (order_json(customer_id=""), INVALID_FIELD, "customer_id"),
        (order_json(customer_id="x" * 129), INVALID_FIELD, "129"),
        (order_json(occurred_at=None), MISSING_FIELD, "occurred_at"),
        (order_json(occurred_at="yesterday"), INVALID_TIME, "yesterday"),
        (order_json(occurred_at="2025-03-01T12:00:00"), INVALID_TIME, "offset"),
        (order_json(occurred_at="2025-03-01"), INVALID_TIME, "2025-03-01"),
        (order_json(occurred_at="2025-13-01T12:00:00Z"), INVALID_TIME, "2025-13-01"),
        # 1.5e12 is an integer to JSON Schema (and accepted); a fraction is not.
        (order_json(occurred_at=1.5e12 + 0.5), INVALID_TIME, "float"),
        (order_json(occurred_at=-5), INVALID_TIME, "-5"),
        (order_json(occurred_at=True), INVALID_TIME, "bool"),
        (order_json(order_id=None), MISSING_FIELD, "order_id"),
        (order_json(amount=None), MISSING_FIELD, "amount"),
        (order_json(amount="12"), INVALID_FIELD, "amount"),
        (order_json(amount=True), INVALID_FIELD, "amount"),
        (order_json(amount=-0.01), INVALID_FIELD, "negative"),
        (order_json(currency="euro"), INVALID_FIELD, "currency"),
        (order_json(currency="eur"), INVALID_FIELD, "currency"),
        (order_json(currency="EU1"), INVALID_FIELD, "currency"),
        (order_json(status="lost"), INVALID_FIELD, "status"),
        (email_json(action=None), MISSING_FIELD, "action"),
        (email_json(action="forwarded"), INVALID_FIELD, "forwarded"),
        (email_json(campaign_id=3), INVALID_FIELD, "campaign_id"),
        (call_json(direction="sideways"), INVALID_FIELD, "direction"),
        (call_json(outcome=None), MISSING_FIELD, "outcome"),
        (call_json(reason="chat"), INVALID_FIELD, "reason"),
        (call_json(resolved="yes"), INVALID_FIELD, "resolved"),
    ],
)
def test_every_contract_violation_has_a_precise_reason(
    obj: dict[str, Any], code: str, mentions: str
) -> None:
    result = parse(obj)
    assert isinstance(result, Rejected), result
    assert result.code == code
    assert mentions in result.detail
    assert str(result).startswith(f"{code}: ")


@given(st.binary(max_size=200))
def test_parsing_arbitrary_bytes_never_raises(raw: bytes) -> None:
    result = parse_event(raw)
    assert isinstance(result, Rejected | OrderRecorded | EmailRecorded | CallRecorded)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "event_type",
                "event_id",
                "customer_id",
                "occurred_at",
                "amount",
                "currency",
                "order_id",
                "action",
                "direction",
                "outcome",
                "reason",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**63), 2**63 - 1),
            st.floats(allow_nan=False),
            st.text(max_size=30),
            st.sampled_from(["order", "email", "call"]),
        ),
    )
)
def test_arbitrary_objects_are_events_or_rejections(obj: dict[str, Any]) -> None:
    result = parse(obj)
    assert isinstance(result, Rejected | OrderRecorded | EmailRecorded | CallRecorded)


def test_time_arguments_for_the_cli() -> None:
    assert parse_time_argument("2025-03-01T12:00:00Z") == 1740830400.0
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time_argument("March")


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "event_type": st.sampled_from(["order", "email", "call", "other", None]),
            "event_id": st.sampled_from(["e1", "", None, 5]),
            "customer_id": st.one_of(st.sampled_from(["c1", "", None, "x" * 129]), st.text()),
            "occurred_at": st.one_of(
                st.sampled_from(
                    [
                        "2025-03-01T12:00:00Z",
                        "2025-03-01T12:00:00",
                        "2025-03-01 12:00:00+02:00",
                        "2025-13-01T00:00:00Z",
                        "20250301T120000Z",
                        "2025-03-01",
                        "2025-03-01t12:00:00z",
                        "2025-03-01T12:00:00+0100",
                        "2025-03-01T12:00:00.5-01:30",
                        "2025-01-01T000000.0Z",
                        1.5e12,
                        None,
                        True,
                    ]
                ),
                st.integers(-5, 8_000_000_000_000),
                st.floats(allow_nan=False),
            ),
            "order_id": st.sampled_from(["o1", "", None, 3]),
            "amount": st.one_of(st.floats(allow_nan=False), st.integers(-3, 10), st.booleans()),
            "currency": st.sampled_from(["EUR", "eur", "EU1", "EURO", None, 7]),
            "status": st.sampled_from(["placed", "cancelled", "refunded", "lost", None]),
            "action": st.sampled_from([*EMAIL_ACTIONS, "forwarded", None, 1]),
            "campaign_id": st.sampled_from(["spring", None, 3]),
            "direction": st.sampled_from(["inbound", "outbound", "up", None]),
            "outcome": st.sampled_from(["answered", "missed", "voicemail", "busy", None]),
            "reason": st.sampled_from(["inquiry", "complaint", "support", "sales", "other", "x"]),
            "resolved": st.sampled_from([True, False, None, "yes", 0]),
        },
    ),
    st.sampled_from([None, "order", "email", "call"]),
)
def test_the_fast_path_agrees_with_full_validation(obj: dict[str, Any], topic: str | None) -> None:
    fast = _accept_well_formed(obj, topic)
    full = _validate(obj, topic)
    if fast is not None:
        assert fast == full
        assert type(fast) is type(full)
    assert event_from_dict(obj, topic) == full


@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("event_id", {}),
        ("customer_id", {}),
        ("order_id", {}),
        ("campaign_id", {"event_type": "email", "action": "sent"}),
    ],
)
def test_an_identifier_over_128_characters_is_refused_not_stored(
    field: str, extra: dict[str, Any]
) -> None:
    """Identifiers end up in customer state (a pending event, the changelog): a huge one
    must not get that far."""
    line = {
        "event_type": "order",
        "event_id": "e1",
        "customer_id": "c1",
        "occurred_at": "2025-03-01T12:00:00Z",
        "order_id": "o1",
        "amount": 1.0,
        "currency": "EUR",
        **extra,
    }
    assert not isinstance(parse_event(orjson.dumps({**line, field: "x" * 128})), Rejected)
    refused = parse_event(orjson.dumps({**line, field: "x" * 1_000_000}))
    assert isinstance(refused, Rejected)
    assert refused.code == "invalid_field" and field in refused.detail
    assert len(refused.detail) < 200
