"""A shop's transaction export, row by row, into order events of the input contract.

This module owns the pure part of ``churnwatch import``: which columns hold what
(:class:`ImportSpec`, resolved against the header into a :class:`Layout`), how one row of
fields becomes an :class:`Order` or a :class:`RowRejected` with a reason (:func:`parse_row`),
and how the accepted rows become input events, merged and in time order
(:class:`OrderCollector`). It opens no file; :mod:`streams.importer` does.

Rules (documented in ``docs/evaluation.md``, *Importing a shop's export*):

* Times: ISO 8601 by default, or a ``strptime`` pattern. A value without a time of day gets
  a fixed one (``time_of_day``, 12:00 UTC by default); a value without an offset is UTC.
* Without an order id column every row is one order, so two purchases by one customer on one
  day stay two orders (unless ``merge_same_time``: then rows of one customer at one instant
  are one order). With one, rows sharing customer and order id are line items of one
  order: their amounts are summed and the order takes the earliest of their times.
* ``event_id`` is deterministic: a hash of the customer and order id when there is an order
  id, else of the row's fields and how many identical rows came before it. Re-importing a
  grown export gives the old rows the same ids, so the engine ignores them as repeats.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple

import orjson

from models.parse import MAX_CUSTOMER_ID_LENGTH

WHITESPACE = "whitespace"
UNKNOWN_CURRENCY = "XXX"  # ISO 4217: "no currency"; the engine does not convert amounts
DEFAULT_TIME_OF_DAY = time(12, 0)
_TIME_DIRECTIVES = re.compile(r"%[HIMSfpXc]")
_CURRENCY = re.compile(r"[A-Z]{3}")
_ID_PREFIX = "imp-"


class ImportSpecError(ValueError):
    """The options cannot describe this file (a column not in the header, ...)."""


@dataclass(frozen=True)
class ImportSpec:
    """Where each field is and how to read it.

    Columns are header names, or 1-based positions (all digits). ``currency_column`` wins
    over ``currency`` when both are given and the cell is not empty.
    """

    customer: str
    date: str
    amount: str
    order_id: str | None = None
    currency_column: str | None = None
    currency: str = UNKNOWN_CURRENCY
    date_format: str | None = None  # None: ISO 8601
    time_of_day: time = DEFAULT_TIME_OF_DAY
    delimiter: str = ","  # one character, or WHITESPACE
    header: bool = True

    def __post_init__(self) -> None:
        if not _CURRENCY.fullmatch(self.currency):
            raise ImportSpecError(f"currency {self.currency!r} is not three capital letters")
        if self.delimiter != WHITESPACE and len(self.delimiter) != 1:
            raise ImportSpecError(
                f"delimiter {self.delimiter!r} must be one character or {WHITESPACE!r}"
            )

    @property
    def date_only(self) -> bool:
        """Whether a ``date_format`` pattern reads dates without a time of day."""
        return self.date_format is not None and not _TIME_DIRECTIVES.search(self.date_format)


@dataclass(frozen=True)
class Layout:
    """0-based field indices of each column, resolved against the header (if any)."""

    customer: int
    date: int
    amount: int
    order_id: int | None
    currency: int | None

    @property
    def width(self) -> int:
        """How many fields a row needs."""
        used = [self.customer, self.date, self.amount, self.order_id, self.currency]
        return 1 + max(i for i in used if i is not None)

    @classmethod
    def resolve(cls, spec: ImportSpec, header: list[str] | None) -> Layout:
        def index(column: str | None, option: str) -> int | None:
            if column is None:
                return None
            if column.isdigit():
                if int(column) < 1:
                    raise ImportSpecError(f"{option} {column}: positions count from 1")
                return int(column) - 1
            if header is None:
                raise ImportSpecError(
                    f"{option} {column!r} is a name, but the file has no header: "
                    "give a position (1 = first column)"
                )
            names = [name.strip() for name in header]
            if column not in names:
                raise ImportSpecError(
                    f"{option} {column!r} is not in the header (columns: {', '.join(names)})"
                )
            return names.index(column)

        customer = index(spec.customer, "--customer")
        day = index(spec.date, "--date")
        amount = index(spec.amount, "--amount")
        assert customer is not None and day is not None and amount is not None
        return cls(
            customer=customer,
            date=day,
            amount=amount,
            order_id=index(spec.order_id, "--order-id"),
            currency=index(spec.currency_column, "--currency-column"),
        )


class Order(NamedTuple):
    """One accepted row: an order placed by a customer."""

    at: float  # epoch seconds
    customer_id: str
    amount: float
    currency: str
    order_id: str | None


class RowRejected(NamedTuple):
    """A row that is not an order; ``reason`` names the field and value."""

    reason: str


def parse_row(fields: list[str], layout: Layout, spec: ImportSpec) -> Order | RowRejected:
    """One row's fields into an :class:`Order`, or the reason it cannot be one."""
    if len(fields) < layout.width:
        return RowRejected(f"{len(fields)} fields, the columns asked for need {layout.width}")
    customer_id = fields[layout.customer].strip()
    if not customer_id:
        return RowRejected("empty customer id")
    if len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        return RowRejected(f"customer id longer than {MAX_CUSTOMER_ID_LENGTH} characters")
    raw_time = fields[layout.date].strip()
    try:
        at = parse_time(raw_time, spec)
    except ValueError as exc:
        return RowRejected(f"date {raw_time!r}: {exc}")
    raw_amount = fields[layout.amount].strip()
    try:
        amount = float(raw_amount)
    except ValueError:
        return RowRejected(f"amount {raw_amount!r} is not a number")
    if not math.isfinite(amount) or amount < 0:
        return RowRejected(f"amount {raw_amount!r} is not a non-negative number")
    currency = spec.currency
    if layout.currency is not None and fields[layout.currency].strip():
        currency = fields[layout.currency].strip().upper()
        if not _CURRENCY.fullmatch(currency):
            return RowRejected(f"currency {currency!r} is not three letters")
    order_id = None
    if layout.order_id is not None:
        order_id = fields[layout.order_id].strip()
        if not order_id:
            return RowRejected("empty order id")
    return Order(at, customer_id, amount, currency, order_id)


def parse_time(value: str, spec: ImportSpec) -> float:
    """Epoch seconds of one date or timestamp cell; raises ValueError saying why not."""
    if not value:
        raise ValueError("empty")
    if spec.date_format is None:
        try:
            when = datetime.combine(date.fromisoformat(value), spec.time_of_day)
        except ValueError:
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("not an ISO 8601 date or timestamp") from None
    else:
        try:
            when = datetime.strptime(value, spec.date_format)
        except ValueError:
            raise ValueError(f"does not match {spec.date_format!r}") from None
        if spec.date_only:
            when = datetime.combine(when.date(), spec.time_of_day)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not 1970 <= when.astimezone(UTC).year < 2200:
        raise ValueError("outside 1970-2199")
    return when.timestamp()


@dataclass(slots=True)
class _Pending:
    """An order being collected; line items of one order id merge into it."""

    at: float
    line: int
    event_id: str
    order: Order
    amount: float


@dataclass
class OrderCollector:
    """Accepted rows in, order events out: merged by order id, sorted by time (stable).

    ``merge_same_time``: without an order id, rows of one customer at the same instant (with
    date-only values: on the same day) are one order too. Every order is held in memory
    until :meth:`events`, which yields them one at a time.
    """

    merge_same_time: bool = False
    _pending: list[_Pending] = field(default_factory=list)
    _by_order: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    _seen_rows: dict[bytes, int] = field(default_factory=dict)
    merged: int = 0  # rows folded into an earlier row of the same order

    def add(self, order: Order, fields: list[str], line: int) -> None:
        """Keep one accepted row (``fields`` as read, ``line`` its 1-based line number)."""
        if order.order_id is not None or self.merge_same_time:
            kind, name = ("order", order.order_id) if order.order_id else ("at", rfc3339(order.at))
            key = (order.customer_id, f"{kind}:{name}")
            known = self._by_order.get(key)
            if known is not None:
                known.amount += order.amount
                known.at = min(known.at, order.at)
                self.merged += 1
                return
            event_id = _hash_id(kind, order.customer_id, name)
            pending = _Pending(order.at, line, event_id, order, order.amount)
            self._by_order[key] = pending
        else:
            row = "\x1f".join(f.strip() for f in fields).encode("utf-8", "surrogateescape")
            repeat = self._seen_rows.get(row, 0)
            self._seen_rows[row] = repeat + 1
            event_id = _hash_id("row", row.decode("utf-8", "surrogateescape"), str(repeat))
            pending = _Pending(order.at, line, event_id, order, order.amount)
        self._pending.append(pending)

    def __len__(self) -> int:
        return len(self._pending)

    def events(self) -> Iterator[dict[str, Any]]:
        """The orders as input events, in time order (rows of equal time in file order)."""
        self._pending.sort(key=lambda p: (p.at, p.line))
        for p in self._pending:
            yield order_event(p.event_id, p.order._replace(at=p.at, amount=p.amount))


def _hash_id(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=10)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\x00")
    return _ID_PREFIX + digest.hexdigest()


def order_event(event_id: str, order: Order) -> dict[str, Any]:
    """The input event (``docs/events.md``) of one order; the order id defaults to the event id."""
    return {
        "event_type": "order",
        "event_id": event_id,
        "customer_id": order.customer_id,
        "occurred_at": rfc3339(order.at),
        "order_id": order.order_id or event_id,
        "amount": round(order.amount, 6),
        "currency": order.currency,
    }


def rfc3339(at: float) -> str:
    """UTC, with milliseconds only when the time has a fraction of a second."""
    when = datetime.fromtimestamp(at, UTC)
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.isoformat(timespec=spec).replace("+00:00", "Z")


def encode(event: dict[str, Any]) -> bytes:
    """One JSON line."""
    return orjson.dumps(event) + b"\n"
