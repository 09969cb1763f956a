"""Rows of a transaction export into order events: columns, times, rejections, ids, order."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.events import OrderRecorded
from models.parse import parse_event
from streams.transactions import (
    ImportSpec,
    ImportSpecError,
    Layout,
    Order,
    OrderCollector,
    RowRejected,
    encode,
    parse_row,
    parse_time,
)
from tests.schemas import assert_valid

HEADER = ["Customer", "Date", "Total", "Invoice", "Cur"]
SPEC = ImportSpec(customer="Customer", date="Date", amount="Total")


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def accepted(result: Order | RowRejected) -> Order:
    assert isinstance(result, Order), result
    return result


def rejected(result: Order | RowRejected) -> str:
    assert isinstance(result, RowRejected), result
    return result.reason


def test_columns_resolve_by_header_name_or_by_position() -> None:
    by_name = Layout.resolve(
        ImportSpec(customer="Customer", date="Date", amount="Total", order_id="Invoice"), HEADER
    )
    assert (by_name.customer, by_name.date, by_name.amount, by_name.order_id) == (0, 1, 2, 3)
    assert by_name.currency is None and by_name.width == 4
    by_position = Layout.resolve(ImportSpec(customer="2", date="1", amount="5"), None)
    assert (by_position.customer, by_position.date, by_position.amount) == (1, 0, 4)


@pytest.mark.parametrize(
    ("spec", "header", "message"),
    [
        (ImportSpec(customer="Client", date="Date", amount="Total"), HEADER, "not in the header"),
        (ImportSpec(customer="Customer", date="2", amount="3"), None, "no header"),
        (ImportSpec(customer="0", date="2", amount="3"), None, "count from 1"),
    ],
)
def test_columns_that_do_not_fit_the_file_are_refused(
    spec: ImportSpec, header: list[str] | None, message: str
) -> None:
    with pytest.raises(ImportSpecError, match=message):
        Layout.resolve(spec, header)


def test_spec_refuses_a_bad_currency_or_delimiter() -> None:
    with pytest.raises(ImportSpecError, match="currency"):
        ImportSpec(customer="1", date="2", amount="3", currency="euro")
    with pytest.raises(ImportSpecError, match="delimiter"):
        ImportSpec(customer="1", date="2", amount="3", delimiter=";;")


def test_a_good_row_becomes_an_order() -> None:
    layout = Layout.resolve(SPEC, HEADER)
    order = accepted(parse_row([" c-7 ", "2025-03-01", "34.90", "", ""], layout, SPEC))
    assert order == Order(epoch(2025, 3, 1, 12), "c-7", 34.9, "XXX", None)


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("2025-03-01", SPEC, epoch(2025, 3, 1, 12)),
        ("2025-03-01T08:30:00Z", SPEC, epoch(2025, 3, 1, 8, 30)),
        ("2025-03-01T08:30:00+02:00", SPEC, epoch(2025, 3, 1, 6, 30)),
        ("2025-03-01 08:30", SPEC, epoch(2025, 3, 1, 8, 30)),  # no offset: UTC
        ("19970101", ImportSpec("1", "2", "3", date_format="%Y%m%d"), epoch(1997, 1, 1, 12)),
        (
            "01/12/2010 08:26",
            ImportSpec("1", "2", "3", date_format="%d/%m/%Y %H:%M"),
            epoch(2010, 12, 1, 8, 26),
        ),
        (
            "2025-03-01",
            ImportSpec("1", "2", "3", time_of_day=time(0, 0)),
            epoch(2025, 3, 1),
        ),
    ],
)
def test_times_iso_or_strptime_date_only_at_the_fixed_time_of_day(
    value: str, spec: ImportSpec, expected: float
) -> None:
    assert parse_time(value, spec) == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["c1", "2025-03-01"], "2 fields, the columns asked for need 3"),
        (["", "2025-03-01", "5"], "empty customer id"),
        (["c" * 129, "2025-03-01", "5"], "longer than 128"),
        (["c1", "yesterday", "5"], "date 'yesterday': not an ISO 8601"),
        (["c1", "", "5"], "date '': empty"),
        (["c1", "2025-03-01", "5,00"], "amount '5,00' is not a number"),
        (["c1", "2025-03-01", "-3"], "amount '-3' is not a non-negative number"),
        (["c1", "2025-03-01", "nan"], "not a non-negative number"),
        (["c1", "1900-01-01", "5"], "outside 1970-2199"),
    ],
)
def test_bad_rows_are_rejected_with_the_reason(fields: list[str], reason: str) -> None:
    layout = Layout.resolve(ImportSpec("1", "2", "3"), None)
    assert reason in rejected(parse_row(fields, layout, ImportSpec("1", "2", "3")))


def test_currency_from_a_column_or_the_default_and_order_id_required_when_asked() -> None:
    spec = ImportSpec("1", "2", "3", order_id="4", currency_column="5", currency="EUR")
    layout = Layout.resolve(spec, None)
    assert accepted(parse_row(["c", "2025-01-01", "1", "o", "gbp"], layout, spec)).currency == "GBP"
    assert accepted(parse_row(["c", "2025-01-01", "1", "o", ""], layout, spec)).currency == "EUR"
    assert "currency" in rejected(parse_row(["c", "2025-01-01", "1", "o1", "£"], layout, spec))
    assert rejected(parse_row(["c", "2025-01-01", "1", " ", "EUR"], layout, spec)) == (
        "empty order id"
    )


def collect(
    rows: list[list[str]], spec: ImportSpec, merge_same_time: bool = False
) -> tuple[list[dict[str, object]], int]:
    layout = Layout.resolve(spec, None)
    collector = OrderCollector(merge_same_time=merge_same_time)
    for line, fields in enumerate(rows, 1):
        collector.add(accepted(parse_row(fields, layout, spec)), fields, line)
    return list(collector.events()), collector.merged


def test_events_are_sorted_by_time_stable_and_keep_same_day_purchases_apart() -> None:
    spec = ImportSpec("1", "2", "3")
    rows = [
        ["b", "2025-01-05", "10"],
        ["b", "2025-01-05", "10"],  # the same purchase twice on one day: two orders
        ["a", "2025-01-02", "7"],
        ["a", "2025-01-05", "3"],
    ]
    events, merged = collect(rows, spec)
    assert merged == 0
    assert [(e["customer_id"], e["amount"]) for e in events] == [
        ("a", 7.0),
        ("b", 10.0),
        ("b", 10.0),
        ("a", 3.0),
    ]
    assert len({e["event_id"] for e in events}) == 4


def test_same_day_purchases_merge_when_asked() -> None:
    spec = ImportSpec("1", "2", "3")
    rows = [
        ["b", "2025-01-05", "10"],
        ["a", "2025-01-05", "1"],
        ["b", "2025-01-05", "2.5"],
        ["b", "2025-01-06", "4"],
    ]
    events, merged = collect(rows, spec, merge_same_time=True)
    assert merged == 1
    assert [(e["customer_id"], e["occurred_at"], e["amount"]) for e in events] == [
        ("b", "2025-01-05T12:00:00Z", 12.5),
        ("a", "2025-01-05T12:00:00Z", 1.0),
        ("b", "2025-01-06T12:00:00Z", 4.0),
    ]
    assert len({e["event_id"] for e in events}) == 3


def test_line_items_of_one_order_merge_into_one_event() -> None:
    spec = ImportSpec("1", "2", "3", order_id="4")
    rows = [
        ["a", "2025-01-02T10:05:00Z", "7.5", "INV1"],
        ["a", "2025-01-02T10:00:00Z", "2.5", "INV1"],
        ["b", "2025-01-01T00:00:00Z", "1", "INV1"],  # another customer's order with that id
    ]
    events, merged = collect(rows, spec)
    assert merged == 1
    assert [(e["customer_id"], e["order_id"], e["amount"]) for e in events] == [
        ("b", "INV1", 1.0),
        ("a", "INV1", 10.0),
    ]
    assert events[1]["occurred_at"] == "2025-01-02T10:00:00Z"


def test_ids_are_deterministic_and_stable_when_the_export_grows() -> None:
    spec = ImportSpec("1", "2", "3")
    rows = [["a", "2025-01-02", "7"], ["a", "2025-01-02", "7"], ["b", "2025-01-03", "1"]]
    first, _ = collect(rows, spec)
    again, _ = collect([["z", "2024-12-01", "1"], *rows, ["a", "2025-01-02", "7"]], spec)
    ids = [e["event_id"] for e in first]
    assert ids == [e["event_id"] for e in collect(rows, spec)[0]]
    assert set(ids) <= {e["event_id"] for e in again}
    assert len({e["event_id"] for e in again}) == 5


def test_events_follow_the_input_contract() -> None:
    spec = ImportSpec("1", "2", "3", order_id="4", currency="USD")
    events, _ = collect([["c-1", "2025-03-01T12:00:00.250Z", "34.9", "981"]], spec)
    event = events[0]
    assert_valid("input-event", event)
    parsed = parse_event(encode(event))
    assert isinstance(parsed, OrderRecorded)
    assert (parsed.customer_id, parsed.order_id, parsed.amount, parsed.currency) == (
        "c-1",
        "981",
        34.9,
        "USD",
    )
    assert parsed.at == epoch(2025, 3, 1, 12) + 0.25


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 60),
            st.integers(0, 500),
        ),
        max_size=30,
    )
)
def test_output_is_time_ordered_and_every_row_is_one_order(
    rows: list[tuple[str, int, int]],
) -> None:
    spec = ImportSpec("1", "2", "3")
    fields = [[c, f"2025-{1 + d // 28:02d}-{1 + d % 28:02d}", str(a)] for c, d, a in rows]
    events, _ = collect(fields, spec)
    times = [parse_time(str(e["occurred_at"]), spec) for e in events]
    assert times == sorted(times)
    assert len(events) == len(rows) == len({e["event_id"] for e in events})
    assert sorted(float(e["amount"]) for e in events) == sorted(float(a) for _, _, a in rows)  # type: ignore[arg-type]
