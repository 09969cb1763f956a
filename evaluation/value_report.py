"""The value section of ``evaluate``'s outputs: expected spend against realised spend."""

from __future__ import annotations

import html
import math
from typing import Any

from evaluation.tables import table_html, text_table

_ROWS = (
    ("customers", "customers", "{:,.0f}"),
    ("mean absolute error", "mean_absolute_error", "{:.2f}"),
    ("root mean squared error", "root_mean_squared_error", "{:.2f}"),
    ("rank correlation (Spearman)", "rank_correlation", "{:.3f}"),
    ("predicted total", "predicted_total", "{:,.0f}"),
    ("realised total", "realised_total", "{:,.0f}"),
)
_TITLE = "Spend in the horizon: expected (value model) against past spend rate"


def value_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers (one per prediction) and one row per measure."""
    block = metrics.get("value") or {}
    headers = list(block)
    rows = [
        [label, *(_format(block[name].get(key), pattern) for name in headers)]
        for label, key, pattern in _ROWS
    ]
    return headers, rows


def render_value_table(metrics: dict[str, Any]) -> str:
    """The value table for a terminal (empty when the run has no value section)."""
    headers, rows = value_rows(metrics)
    if not headers:
        return ""
    lines = text_table(headers, rows)
    return "\n".join([_TITLE, *lines])


def value_html(metrics: dict[str, Any]) -> str:
    """The value section of the HTML report (empty when the run has none)."""
    headers, rows = value_rows(metrics)
    if not headers:
        return ""
    return f"<h2>{html.escape(_TITLE)}</h2>" + table_html(["measure", *headers], rows)


def _format(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)
