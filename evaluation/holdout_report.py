"""Presenting a :class:`evaluation.holdout.HoldoutEvaluation`: table, metrics.json, HTML.

The same three outputs as the truth mode (:mod:`evaluation.report`), with the rows that mean
something without truth: AUC, Brier score and calibration against the no-order label, and
the precision and recall of the flags. The page is self-contained (PNG plots as data URIs).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.evaluate import DETECTOR
from evaluation.holdout import ORDER_GROUPS, HoldoutEvaluation
from evaluation.metrics import precision_recall_by_threshold, roc_curve
from evaluation.report import (
    churn_rate_html,
    figure_png,
    format_cell,
    image_html,
    methods_html,
    metrics_json,
    new_figure,
    render_churn_rate,
)
from evaluation.tables import table_html, text_table
from evaluation.value_report import render_value_table, value_html

Getter = Callable[[dict[str, Any]], Any]


def _p0(metrics: dict[str, Any], *path: str) -> Any:
    block: Any = metrics.get("p_no_order")
    for key in path:
        if block is None:
            return None
        block = block[key]
    return block


def _inner(metrics: dict[str, Any], key: str, inner: str) -> Any:
    block = metrics.get(key)
    return None if block is None else block[inner]


def _one_order(metrics: dict[str, Any], inner: str) -> Any:
    group = metrics["by_orders"].get("1")
    return None if group is None else group[inner]


# (row label, how to read the value from a method's metrics, format)
ROWS: tuple[tuple[str, Getter, str], ...] = (
    ("AUC, score (risk, 1 - P(alive))", lambda m: m["auc_no_order"], "{:.3f}"),
    ("AUC, -expected orders in horizon", lambda m: m.get("auc_no_order_expected_orders"), "{:.3f}"),
    ("AUC, P(no order in horizon)", lambda m: _p0(m, "auc"), "{:.3f}"),
    ("Brier, score as probability", lambda m: m["brier"], "{:.3f}"),
    ("Brier, P(no order in horizon)", lambda m: _p0(m, "brier"), "{:.3f}"),
    ("calibration error, score", lambda m: _inner(m, "calibration", "error"), "{:.3f}"),
    ("calibration error, P(no order)", lambda m: _p0(m, "calibration", "error"), "{:.3f}"),
    ("lost: flagged", lambda m: m["lost"]["flagged"], "{:,}"),
    ("lost: precision", lambda m: m["lost"]["precision"], "{:.3f}"),
    ("lost: recall", lambda m: m["lost"]["recall"], "{:.3f}"),
    ("at_risk+lost: precision", lambda m: _inner(m, "at_risk", "precision"), "{:.3f}"),
    ("at_risk+lost: recall", lambda m: _inner(m, "at_risk", "recall"), "{:.3f}"),
    ("one-order customers: AUC", lambda m: _one_order(m, "auc_no_order"), "{:.3f}"),
    ("one-order: median score", lambda m: _one_order(m, "median_score"), "{:.3f}"),
    ("one-order: lost recall", lambda m: _one_order(m, "lost_recall"), "{:.3f}"),
)


def table_rows(evaluation: HoldoutEvaluation) -> tuple[list[str], list[list[str]]]:
    """Column headers (method labels) and one row of formatted cells per metric."""
    methods = evaluation.metrics["methods"]
    headers = [m["label"] for m in methods.values()]
    rows = [
        [label] + [format_cell(get(m), pattern) for m in methods.values()]
        for label, get, pattern in ROWS
    ]
    return headers, rows


def headline(evaluation: HoldoutEvaluation) -> str:
    run, pop = evaluation.metrics["run"], evaluation.metrics["population"]
    return (
        f"cutoff {run['cutoff']}, horizon {run['horizon_days']:g} d, no ground truth: "
        f"{pop['evaluated']:,} customers with an order by the cutoff "
        f"({pop['one_order_customers']:,} with one), {pop['no_order_in_horizon']:,} "
        f"({pop['no_order_rate']:.3f}) without an order in the horizon; "
        f"Brier of the base rate {pop['brier_base_rate']:.3f}"
    )


def render_table(evaluation: HoldoutEvaluation) -> str:
    """The side-by-side table with its headline, for a terminal."""
    headers, rows = table_rows(evaluation)
    lines = text_table(headers, rows)
    return "\n".join(
        [
            headline(evaluation),
            *lines,
            render_value_table(evaluation.metrics),
            render_churn_rate(evaluation.metrics),
        ]
    )


def write_report(evaluation: HoldoutEvaluation, directory: Path) -> None:
    """Write ``metrics.json`` and ``index.html`` into ``directory`` (which must exist)."""
    (directory / "metrics.json").write_bytes(metrics_json(evaluation.metrics))
    (directory / "index.html").write_text(render_html(evaluation), encoding="utf-8")


# --- HTML --------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}
thead th{border-bottom:2px solid #444}img{max-width:100%}code{background:#f0f0f0;padding:0 .2rem}
"""


def render_html(evaluation: HoldoutEvaluation) -> str:
    """The whole self-contained page."""
    metrics = evaluation.metrics
    headers, rows = table_rows(evaluation)
    sections = [
        "<h1>Churnwatch evaluation on a purchase log (no ground truth)</h1>"
        f"<p>{html.escape(headline(evaluation))}</p>"
        "<p>Label: no placed order in <code>(cutoff, cutoff + horizon]</code>, read from the "
        "events file itself.</p>",
        "<h2>Metrics</h2>" + table_html(["metric", *headers], rows),
        "<h2>Matched operating points</h2>" + _matched_html(metrics),
        "<h2>By number of orders before the cutoff</h2>" + _groups_html(metrics),
        "<h2>ROC curves</h2>" + image_html(plot_roc(evaluation)),
        "<h2>Precision and recall against the label</h2>"
        + image_html(plot_precision_recall(evaluation)),
        "<h2>Calibration</h2>"
        + image_html(plot_calibration(evaluation))
        + _reliability_html(metrics),
        value_html(metrics),
        "<h2>Methods</h2>" + methods_html(metrics),
        churn_rate_html(metrics),
        "<h2>Run</h2><pre>" + html.escape(_run_text(metrics)) + "</pre>",
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Churnwatch evaluation (no truth)</title><style>{_STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _matched_html(metrics: dict[str, Any]) -> str:
    methods = metrics["methods"]
    rows = [
        [
            methods[key]["label"],
            format_cell(m["baseline_precision"], "{:.3f}"),
            format_cell(m["baseline_recall"], "{:.3f}"),
            format_cell(m["precision_at_recall"], "{:.3f}"),
            format_cell(m["recall_at_precision"], "{:.3f}"),
            "yes" if m["dominated"] else "no",
        ]
        for key, m in methods[DETECTOR]["matched"].items()
    ]
    headers = [
        "baseline flag",
        "its precision",
        "its recall",
        "detector precision at its recall",
        "detector recall at its precision",
        "beaten on both",
    ]
    return table_html(headers, rows)


def _groups_html(metrics: dict[str, Any]) -> str:
    methods = metrics["methods"]
    groups = [name for name, _, _ in ORDER_GROUPS if name in methods[DETECTOR]["by_orders"]]
    rows = []
    for name in groups:
        first = methods[DETECTOR]["by_orders"][name]
        label = f"{name} ({first['customers']:,}, no-order rate {first['no_order_rate']:.3f})"
        cells = [
            f"{format_cell(m['by_orders'][name]['auc_no_order'], '{:.3f}')} / "
            f"{format_cell(m['by_orders'][name]['lost_precision'], '{:.2f}')} / "
            f"{format_cell(m['by_orders'][name]['lost_recall'], '{:.2f}')}"
            for m in methods.values()
        ]
        rows.append([label, *cells])
    note = "<p>Per cell: AUC / lost precision / lost recall within the group.</p>"
    return note + table_html(["orders (customers)", *[m["label"] for m in methods.values()]], rows)


def _reliability_html(metrics: dict[str, Any]) -> str:
    parts = []
    for m in metrics["methods"].values():
        for title, block in (("score", m["calibration"]), ("P(no order)", _p0(m, "calibration"))):
            if block is None:
                continue
            rows = [
                [f"{d['mean_score']:.3f}", f"{d['observed_rate']:.3f}", f"{d['n_customers']:,}"]
                for d in block["deciles"]
            ]
            parts.append(
                f"<h3>{html.escape(m['label'])}, {title}</h3>"
                + table_html(["mean probability", "observed rate", "customers"], rows)
            )
    return "".join(parts)


def _run_text(metrics: dict[str, Any]) -> str:
    return metrics_json({"run": metrics["run"], "population": metrics["population"]}).decode()


# --- plots -------------------------------------------------------------------------------------


def plot_roc(evaluation: HoldoutEvaluation) -> bytes:
    label = evaluation.population.no_order
    figure, (ax,) = new_figure(1)
    if label.any() and not label.all():
        for method in evaluation.methods:
            fpr, tpr, _ = roc_curve(label, method.score)
            auc = evaluation.metrics["methods"][method.key]["auc_no_order"]
            ax.plot(fpr, tpr, label=f"{method.label} ({auc:.3f})", lw=_width(method.key))
    ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="no order in horizon")
    ax.legend(loc="lower right", fontsize=8)
    return figure_png(figure)


def _width(key: str) -> float:
    return 2.4 if key == DETECTOR else 1.2


def plot_precision_recall(evaluation: HoldoutEvaluation) -> bytes:
    """The detector's precision-recall curve over risk thresholds, and every method's flag."""
    detector = evaluation.methods[0]
    label = evaluation.population.no_order
    thresholds = np.linspace(0.0, 1.0, 201)
    precision, recall = precision_recall_by_threshold(detector.score, label, thresholds)
    figure, (ax,) = new_figure(1)
    ax.plot(recall, precision, color="#555", lw=1, label="risk >= threshold")
    for method in evaluation.methods:
        flags = evaluation.metrics["methods"][method.key]["lost"]
        ax.plot(flags["recall"], flags["precision"], "o", label=f"{method.label} lost flag")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.set_title("against no order in the horizon")
    ax.legend(fontsize=8, loc="lower left")
    return figure_png(figure)


def plot_calibration(evaluation: HoldoutEvaluation) -> bytes:
    """Mean probability against the observed no-order rate per decile."""
    figure, (ax,) = new_figure(1)
    for method in evaluation.methods:
        block = evaluation.metrics["methods"][method.key]
        for name, data in (("", block["calibration"]), (" P(no order)", _p0(block, "calibration"))):
            if data is None:
                continue
            ax.plot(
                [d["mean_score"] for d in data["deciles"]],
                [d["observed_rate"] for d in data["deciles"]],
                "o-" if not name else "s:",
                label=method.label + name,
                lw=_width(method.key),
            )
    ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, ls="--")
    ax.set(xlabel="mean probability in the decile", ylabel="observed no-order rate")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    return figure_png(figure)
