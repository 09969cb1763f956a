"""``churnwatch import``: a shop's transaction export (CSV or whitespace-separated) to events.

This module reads the file, hands each row to :mod:`streams.transactions` and writes the
order events (JSON Lines, the input contract) in time order, the rejected rows to
``--rejects`` and a summary to stderr. A bad row is never fatal; a file in which no row at
all is usable is (exit 2), as are options that do not fit the file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import IO, Any

import orjson

from streams.errors import EXIT_OK, UsageError
from streams.transactions import (
    DEFAULT_TIME_OF_DAY,
    UNKNOWN_CURRENCY,
    WHITESPACE,
    ImportSpec,
    ImportSpecError,
    Layout,
    OrderCollector,
    RowRejected,
    encode,
    parse_row,
)

_EXAMPLES_ON_STDERR = 3


def register(commands: Any) -> None:
    """Add ``import`` to the ``churnwatch`` parser."""
    cmd = commands.add_parser(
        "import",
        help="turn a shop's transaction export (CSV) into order events",
        description="Read a transaction export (one row per purchase or order line) and "
        "write order events in the input contract, sorted by time, ready for replay and "
        "evaluate. Columns are header names or 1-based positions. Rows that are not usable "
        "are reported, never fatal.",
    )
    cmd.add_argument("file", metavar="FILE", help="the export; '-' reads stdin")
    cmd.add_argument("--customer", required=True, metavar="COL", help="customer id column")
    cmd.add_argument("--date", required=True, metavar="COL", help="date or timestamp column")
    cmd.add_argument("--amount", required=True, metavar="COL", help="order value column")
    cmd.add_argument(
        "--order-id",
        metavar="COL",
        help="order id column: rows sharing customer and order id are one order (amounts "
        "summed); without it every row is an order",
    )
    cmd.add_argument(
        "--merge-same-time",
        action="store_true",
        help="without --order-id: rows of one customer at the same instant (date-only "
        "values: on the same day) are one order, amounts summed",
    )
    cmd.add_argument("--currency-column", metavar="COL", help="ISO 4217 currency column")
    cmd.add_argument(
        "--currency",
        default=UNKNOWN_CURRENCY,
        metavar="CODE",
        help=f"currency when there is no column or the cell is empty (default "
        f"{UNKNOWN_CURRENCY}, ISO 4217 for none)",
    )
    cmd.add_argument(
        "--date-format",
        metavar="PATTERN",
        help="strptime pattern, e.g. %%Y%%m%%d or '%%d/%%m/%%Y %%H:%%M' (default: ISO 8601)",
    )
    cmd.add_argument(
        "--time-of-day",
        default=DEFAULT_TIME_OF_DAY.isoformat(),
        metavar="HH:MM[:SS]",
        help="UTC time given to date-only values (default 12:00:00)",
    )
    cmd.add_argument(
        "--delimiter",
        default=",",
        metavar="CHAR",
        help=f"field separator: one character, 'tab', or '{WHITESPACE}' (runs of spaces and "
        "tabs, no quoting; default ',')",
    )
    cmd.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the first non-blank line names the columns (default: yes)",
    )
    cmd.add_argument("--output", metavar="PATH", help="events, JSON Lines ('-' or none: stdout)")
    cmd.add_argument("--rejects", metavar="PATH", help="one JSON line per rejected row")
    cmd.set_defaults(run=run_import)


@dataclass
class ImportSummary:
    """What one import read, kept and refused."""

    rows: int = 0
    orders: int = 0
    merged: int = 0
    customers: int = 0
    first: str | None = None
    last: str | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def render(self, name: str) -> str:
        span = f", {self.first} to {self.last}" if self.first else ""
        merged = f" ({_rows_text(self.merged)} merged into an order)" if self.merged else ""
        return (
            f"imported {name}: {self.rows:,} rows, {self.orders:,} orders of "
            f"{self.customers:,} customers{span}{merged}; {_rows_text(len(self.rejected))} "
            "rejected"
        )


def _rows_text(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def run_import(args: argparse.Namespace) -> int:
    spec = _spec(args)
    with contextlib.ExitStack() as stack:
        source = _open_source(args.file, stack)
        collector, summary = import_rows(_rows(source, spec.delimiter), spec, args.merge_same_time)
        name = "<stdin>" if args.file == "-" else args.file
        if args.rejects:
            rejects = _open_output(args.rejects, stack)
            for record in summary.rejected:
                rejects.write(orjson.dumps(record) + b"\n")
        if summary.rows and not summary.orders:
            raise UsageError(
                f"no row of {name} could be imported; line {summary.rejected[0]['line']}: "
                f"{summary.rejected[0]['reason']} (check the column and date options)"
            )
        output = _open_output(args.output, stack)
        write_events(collector, output, summary)
        output.flush()
    print(summary.render(name), file=sys.stderr)
    if summary.rejected and not args.rejects:
        for record in summary.rejected[:_EXAMPLES_ON_STDERR]:
            print(f"  line {record['line']}: {record['reason']}", file=sys.stderr)
        print("  (--rejects PATH writes every rejected row)", file=sys.stderr)
    return EXIT_OK


def import_rows(
    rows: Iterator[tuple[int, list[str]]], spec: ImportSpec, merge_same_time: bool = False
) -> tuple[OrderCollector, ImportSummary]:
    """The accepted orders and the summary so far, from ``(line number, fields)`` rows."""
    summary = ImportSummary()
    header: list[str] | None = None
    if spec.header:
        first = next(rows, None)
        if first is None:
            raise UsageError("the file is empty: no header line (use --no-header if it has none)")
        header = first[1]
    try:
        layout = Layout.resolve(spec, header)
    except ImportSpecError as exc:
        raise UsageError(str(exc)) from None
    collector = OrderCollector(merge_same_time=merge_same_time)
    for line, fields in rows:
        summary.rows += 1
        if any("\udc80" <= ch <= "\udcff" for f in fields for ch in f):
            parsed: Any = RowRejected("not UTF-8")
        else:
            parsed = parse_row(fields, layout, spec)
        if isinstance(parsed, RowRejected):
            summary.rejected.append({"line": line, "reason": parsed.reason, "fields": fields})
        else:
            collector.add(parsed, fields, line)
    summary.orders, summary.merged = len(collector), collector.merged
    for record in summary.rejected:  # keep undecodable bytes readable in the rejects file
        record["fields"] = [f.encode("utf-8", "replace").decode() for f in record["fields"]]
    return collector, summary


def write_events(collector: OrderCollector, output: IO[bytes], summary: ImportSummary) -> None:
    """Write the events in time order; note the customers and the time span in ``summary``."""
    customers: set[str] = set()
    for event in collector.events():
        output.write(encode(event))
        customers.add(event["customer_id"])
        summary.first = summary.first or event["occurred_at"]
        summary.last = event["occurred_at"]
    summary.customers = len(customers)


def _rows(handle: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with their 1-based line numbers (a quoted CSV row: its last line)."""
    if delimiter == WHITESPACE:
        for number, text in enumerate(handle, 1):
            fields = text.split()
            if fields:
                yield number, fields
        return
    reader = csv.reader(handle, delimiter=delimiter)
    for fields in reader:
        if any(f.strip() for f in fields):
            yield reader.line_num, fields


def _spec(args: argparse.Namespace) -> ImportSpec:
    try:
        time_of_day = time.fromisoformat(args.time_of_day)
    except ValueError:
        raise UsageError(f"--time-of-day {args.time_of_day!r} is not HH:MM[:SS]") from None
    if time_of_day.tzinfo is not None:
        raise UsageError("--time-of-day is UTC: give it without an offset")
    delimiter = "\t" if args.delimiter == "tab" else args.delimiter
    try:
        return ImportSpec(
            customer=args.customer,
            date=args.date,
            amount=args.amount,
            order_id=args.order_id,
            currency_column=args.currency_column,
            currency=args.currency,
            date_format=args.date_format,
            time_of_day=time_of_day,
            delimiter=delimiter,
            header=args.header,
        )
    except ImportSpecError as exc:
        raise UsageError(str(exc)) from None


def _open_source(name: str, stack: contextlib.ExitStack) -> IO[str]:
    # utf-8-sig drops the byte-order mark spreadsheet exports start with; undecodable bytes
    # survive as surrogates so that their row, not the whole file, is rejected.
    if name == "-":
        return io.TextIOWrapper(
            sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
    if Path(name).is_dir():
        raise UsageError(f"cannot read {name}: it is a directory")
    try:
        return stack.enter_context(
            open(name, encoding="utf-8-sig", errors="surrogateescape", newline="")
        )
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None


def _open_output(name: str | None, stack: contextlib.ExitStack) -> IO[bytes]:
    if name is None or name == "-":
        return sys.stdout.buffer
    try:
        return stack.enter_context(open(name, "wb", buffering=1 << 20))
    except OSError as exc:
        raise UsageError(f"cannot write {name}: {exc.strerror}") from None
