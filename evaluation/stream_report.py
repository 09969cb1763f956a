"""Presenting the stream metrics (``metrics.json``'s ``methods.<key>.stream`` and ``stream``):
a second table, beside the snapshot one, for the terminal and for the HTML report."""

from __future__ import annotations

import html
import math
from typing import Any

from evaluation.tables import table_html, text_table

# (row label, path to the value in a method's stream metrics, format)
STREAM_ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("at_risk: events", ("at_risk", "events"), "{:,}"),
    ("at_risk: precision", ("at_risk", "precision"), "{:.3f}"),
    ("at_risk: followed by order", ("at_risk", "followed_by_order"), "{:.3f}"),
    ("at_risk: repeats", ("at_risk", "repeats"), "{:,}"),
    ("at_risk: wrong /1000 act. months", ("at_risk", "wrong_per_1000_active_months"), "{:.1f}"),
    ("lost: events", ("lost", "events"), "{:,}"),
    ("lost: precision", ("lost", "precision"), "{:.3f}"),
    ("lost: followed by order", ("lost", "followed_by_order"), "{:.3f}"),
    ("lost: repeats", ("lost", "repeats"), "{:,}"),
    ("lost: wrong /1000 act. months", ("lost", "wrong_per_1000_active_months"), "{:.1f}"),
    ("churners flagged", ("churners", "churners_flagged"), "{:.3f}"),
    ("delay, median intervals", ("churners", "delay_intervals", "median"), "{:.2f}"),
    ("delay, p90 intervals", ("churners", "delay_intervals", "p90"), "{:.2f}"),
    ("delay, median days", ("churners", "delay_days", "median"), "{:.1f}"),
    ("delay, p90 days", ("churners", "delay_days", "p90"), "{:.1f}"),
    ("at_risk lead, median days", ("at_risk_lead", "days", "median"), "{:.1f}"),
    ("at_risk lead, median intervals", ("at_risk_lead", "intervals", "median"), "{:.2f}"),
    ("at_risk lead under 1 day", ("at_risk_lead", "share_under_1_day"), "{:.3f}"),
    ("lost without at_risk", ("at_risk_lead", "share_without_at_risk"), "{:.3f}"),
)


def _dig(block: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = block
    for key in path:
        value = value[key]
    return value


def _format(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)


def stream_columns(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, stream metrics) of every method that has them, then the oracle's if any."""
    columns = [(m["label"], m["stream"]) for m in metrics["methods"].values() if "stream" in m]
    oracle = metrics.get("stream", {}).get("oracle")
    if oracle is not None:
        columns.append((oracle["label"], oracle))
    return columns


def stream_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column headers and one row of formatted cells per stream metric."""
    columns = stream_columns(metrics)
    rows = [
        [label] + [_format(_dig(stream, path), pattern) for _, stream in columns]
        for label, path, pattern in STREAM_ROWS
    ]
    return [label for label, _ in columns], rows


def stream_headline(metrics: dict[str, Any]) -> str:
    section = metrics["stream"]
    window = section["window"]
    churners = metrics["methods"]["detector"]["stream"]["churners"]["eligible"]
    return (
        f"the stream, every decision judged at its own time, {window['from']} to {window['to']}, "
        f"orders followed within {section['horizon_days']:g} d; churners: {churners:,} churned "
        f"in the window at least {section['churner_min_intervals']:g} own intervals before its end"
    )


def stream_verdict(metrics: dict[str, Any]) -> str:
    bar = metrics["bar"]["stream"]
    checks = ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in bar["checks"].items())
    oracle = "" if metrics["stream"]["oracle"] else f"\n({metrics['stream']['oracle_note']})"
    return f"stream bar {'passed' if bar['passed'] else 'NOT passed'}: {checks}{oracle}"


def render_stream_table(metrics: dict[str, Any]) -> str:
    """The stream table for a terminal (empty when the run has no stream section)."""
    if "stream" not in metrics:
        return ""
    headers, rows = stream_rows(metrics)
    lines = text_table(headers, rows)
    return "\n".join([stream_headline(metrics), *lines, stream_verdict(metrics)])


def stream_html(metrics: dict[str, Any]) -> str:
    """The stream section of the HTML report (empty when the run has none)."""
    if "stream" not in metrics:
        return ""
    headers, rows = stream_rows(metrics)
    bar = metrics["bar"]["stream"]
    checks = "".join(
        f"<li class='{'pass' if ok else 'fail'}'>{html.escape(name)}: {'yes' if ok else 'no'}</li>"
        for name, ok in bar["checks"].items()
    )
    verdict = "passed" if bar["passed"] else "not passed"
    return (
        "<h2>The stream: every decision judged at its own time</h2>"
        f"<p>{html.escape(stream_headline(metrics))}. "
        f"Oracle: {html.escape(metrics['stream']['oracle_note'])}.</p>"
        + table_html(["metric", *headers], rows)
        + f"<p>The issue's bar on the stream is <b>{verdict}</b> (it reports, it does not fail "
        f"the run):</p><ul>{checks}</ul>"
    )
