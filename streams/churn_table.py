"""The churn-rate table (:mod:`models.churn_rate`) as text and as JSON, for every command
that reports it (``replay --churn-rate``, ``evaluate`` in both modes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.churn_rate import MEASURES, VALUE_MEASURES, MonthRow

HEADERS = (
    "month",
    "segment",
    "active at start",
    "lost at start",
    "new",
    "lost",
    "recovered",
    "churn rate",
    "recovery rate",
    "value at risk: at_risk",
    "lost",
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def cells(row: MonthRow) -> list[str]:
    """One row's cells, in :data:`HEADERS` order."""
    return [
        row.month,
        row.segment,
        f"{row.active_at_start:,}",
        f"{row.lost_at_start:,}",
        f"{row.new:,}",
        f"{row.lost:,}",
        f"{row.recovered:,}",
        _percent(row.churn_rate),
        _percent(row.recovery_rate),
        f"{row.at_risk_value:,.2f}",
        f"{row.lost_value:,.2f}",
    ]


def render(rows: Sequence[MonthRow]) -> str:
    """A fixed-width text table with a title line (month and segment left-aligned)."""
    table = [list(HEADERS), *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = ["churn rate by month (UTC, event time) and segment"]
    for line in table:
        padded = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def as_json(rows: Sequence[MonthRow]) -> list[dict[str, Any]]:
    """The rows as JSON-able objects (the same keys in every output)."""
    return [row.as_dict() for row in rows]


def from_json(rows: Sequence[dict[str, Any]]) -> list[MonthRow]:
    """Inverse of :func:`as_json` (the rates follow from the counts)."""
    return [
        MonthRow(
            row["month"],
            row["segment"],
            *(int(row[name]) for name in MEASURES),
            *(float(row.get(name, 0.0)) for name in VALUE_MEASURES),
        )
        for row in rows
    ]
