"""The parser accepts exactly the ``occurred_at`` values that the input contract
(schemas/input-event.schema.json) accepts, with JSON Schema's date-time format checked."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from jsonschema import FormatChecker

from models.parse import INVALID_TIME, MISSING_FIELD, Rejected, event_from_dict
from tests.schemas import validator


def test_the_format_checker_really_checks_date_time() -> None:
    # Without rfc3339-validator jsonschema silently accepts any string as a date-time.
    checker = FormatChecker()
    assert checker.conforms("2025-03-01T12:00:00Z", "date-time")
    assert not checker.conforms("2025-03-01T12:00:00", "date-time")
    assert not checker.conforms("2025-02-30T12:00:00Z", "date-time")


def _digits(value: int, width: int) -> str:
    return str(value).zfill(width)


# Timestamps built from parts, each part sometimes out of range or in a wrong shape.
_timestamps = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, off, tail: (
        f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{off}{tail}"
    ),
    st.one_of(st.integers(0, 9999).map(lambda v: _digits(v, 4)), st.sampled_from(["25", "+2025"])),
    st.one_of(st.integers(0, 13).map(lambda v: _digits(v, 2)), st.just("1")),
    st.one_of(st.integers(0, 32).map(lambda v: _digits(v, 2)), st.sampled_from(["1", "٠١"])),
    st.sampled_from(["T", "t", " ", "_", "TT"]),
    st.one_of(st.integers(0, 25).map(lambda v: _digits(v, 2)), st.just("1")),
    st.integers(0, 61).map(lambda v: _digits(v, 2)),
    st.one_of(st.integers(0, 61).map(lambda v: _digits(v, 2)), st.just("6")),
    st.one_of(
        st.just(""),
        st.text("0123456789", min_size=1, max_size=12).map(lambda v: "." + v),
        st.sampled_from([".", ",5", ".５"]),
    ),
    st.one_of(
        st.sampled_from(["Z", "z", "", "+0100", "+01", "-00:00", "+01:00:30", "UTC", "Zz"]),
        st.builds(
            lambda sign, h, m: f"{sign}{h}:{m}",
            st.sampled_from("+-"),
            st.integers(0, 25).map(lambda v: _digits(v, 2)),
            st.integers(0, 61).map(lambda v: _digits(v, 2)),
        ),
    ),
    st.sampled_from(["", "", "", "\n", " ", "x"]),
)

_occurred_at: st.SearchStrategy[Any] = st.one_of(
    _timestamps,
    st.text(max_size=30),
    st.integers(-5, 8_000_000_000_000),
    st.floats(-1e3, 1e14),
    st.sampled_from([1.7e12, 2.5, True, None, [], {}]),
)


def _order(occurred_at: Any) -> dict[str, Any]:
    return {
        "event_type": "order",
        "event_id": "e1",
        "customer_id": "c1",
        "occurred_at": occurred_at,
        "order_id": "o1",
        "amount": 10.5,
        "currency": "EUR",
    }


@given(_occurred_at)
@example("2025-03-01t12:00:00z")
@example("2025-03-01T12:00:00z")
@example("2025-03-01 12:00:00Z")
@example("2025-03-01T12:00:00+0100")
@example("2025-03-01T12:00:00Z\n")
@example("2024-02-29T23:59:59.123456789-23:59")
@example("2025-02-29T00:00:00Z")
@example("2025-03-01T12:00:60Z")
@example("0000-01-01T00:00:00Z")
@example(1_700_000_000_000.0)
def test_the_parser_accepts_exactly_what_the_schema_accepts(occurred_at: Any) -> None:
    event = _order(occurred_at)
    schema_accepts = validator("input-event").is_valid(event)
    parsed = event_from_dict(event)
    if schema_accepts:
        assert not isinstance(parsed, Rejected), f"schema accepts, parser rejects: {parsed}"
    else:
        assert isinstance(parsed, Rejected), "schema rejects, parser accepts"
        assert parsed.code == (MISSING_FIELD if occurred_at is None else INVALID_TIME)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2025-03-01T12:00:00Z", 1740830400.0),
        ("2025-03-01t12:00:00z", 1740830400.0),
        ("2025-03-01T13:00:00+01:00", 1740830400.0),
        ("2025-03-01T12:00:00.250Z", 1740830400.25),
    ],
)
def test_accepted_forms_mean_the_same_instant(text: str, seconds: float) -> None:
    parsed = event_from_dict(_order(text))
    assert not isinstance(parsed, Rejected)
    assert parsed.at == seconds
