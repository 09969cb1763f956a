"""Presenting an :class:`evaluation.evaluate.Evaluation`: terminal table, metrics.json, HTML.

* :func:`render_table`: the compact side-by-side table printed on every run;
* :func:`write_report`: ``metrics.json`` (every number; undefined ratios are ``null``) and a
  self-contained ``index.html`` (no external assets: the plots are PNG images drawn with
  matplotlib's Agg backend and embedded as base64 data URIs).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from evaluation.evaluate import DETECTOR, Evaluation, Method
from evaluation.inputs import DAY
from evaluation.metrics import precision_recall_by_threshold, roc_curve
from evaluation.stream_report import render_stream_table, stream_html
from evaluation.tables import table_html, text_table
from evaluation.value_report import render_value_table, value_html
from streams import churn_table

Getter = Callable[[dict[str, Any]], Any]

# (row label, how to read the value from a method's metrics, format)
ROWS: tuple[tuple[str, Getter, str], ...] = (
    ("AUC, churned by cutoff", lambda m: m["auc_churned"], "{:.3f}"),
    ("AUC, no order in horizon", lambda m: m["auc_no_order"], "{:.3f}"),
    ("lost: flagged", lambda m: m["lost"]["flagged"], "{:,}"),
    ("lost: precision", lambda m: m["lost"]["precision"], "{:.3f}"),
    ("lost: recall", lambda m: m["lost"]["recall"], "{:.3f}"),
    ("at_risk+lost: precision", lambda m: _get(m, "at_risk", "precision"), "{:.3f}"),
    ("at_risk+lost: recall", lambda m: _get(m, "at_risk", "recall"), "{:.3f}"),
    ("delay to lost, median days", lambda m: m["delay_days"]["median"], "{:.1f}"),
    ("delay to lost, median intervals", lambda m: m["delay_intervals"]["median"], "{:.2f}"),
    ("lost within 2 intervals", lambda m: m["lost_within_2_intervals"]["share"], "{:.3f}"),
    ("lead of 1st alert, median days", lambda m: m["lead_days"]["median"], "{:.1f}"),
    ("warned before the missed order", lambda m: m["alerted_before_missed_order"], "{:.3f}"),
    ("false alarms /1000 cust./month", lambda m: m["false_alarms"]["per_1000_per_month"], "{:.1f}"),
    ("  of which lost", lambda m: m["false_alarms"]["lost_per_1000_per_month"], "{:.1f}"),
    ("calibration error, churned", lambda m: _get(m, "calibration", "error_churned"), "{:.3f}"),
    ("calibration error, no order", lambda m: _get(m, "calibration", "error_no_order"), "{:.3f}"),
)


def _get(metrics: dict[str, Any], key: str, inner: str) -> Any:
    block = metrics.get(key)
    return None if block is None else block[inner]


def format_cell(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)


def table_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    """Column headers (method labels) and one row of formatted cells per metric."""
    methods = evaluation.metrics["methods"]
    headers = [m["label"] for m in methods.values()]
    rows = [
        [label] + [format_cell(get(m), pattern) for m in methods.values()]
        for label, get, pattern in ROWS
    ]
    return headers, rows


def render_table(evaluation: Evaluation) -> str:
    """The side-by-side table, a population line and the bar's verdict, for a terminal."""
    headers, rows = table_rows(evaluation)
    lines = text_table(headers, rows)
    parts = [_headline(evaluation), *lines, _verdict(evaluation)]
    for section in (render_stream_table, render_value_table):
        text = section(evaluation.metrics)
        if text:
            parts.append(text)
    parts.append(render_churn_rate(evaluation.metrics))
    return "\n".join(parts)


def render_churn_rate(metrics: dict[str, Any]) -> str:
    """The detector's monthly churn-rate table, for a terminal (both evaluation modes)."""
    return churn_table.render(churn_table.from_json(metrics["churn_rate"]))


def churn_rate_html(metrics: dict[str, Any]) -> str:
    """The monthly churn-rate section of an HTML report (both evaluation modes)."""
    rows = churn_table.from_json(metrics["churn_rate"])
    return (
        "<h2>Churn rate by month and segment</h2><p>From the detector's decisions up to the "
        "cutoff, by event time (UTC months). Churn rate: <code>lost</code> decisions in the "
        "month / customers active at its start; recovery rate: win-backs from "
        "<code>lost</code> / customers lost at its start or during it "
        "(docs/evaluation.md).</p>"
        + table_html(list(churn_table.HEADERS), [churn_table.cells(row) for row in rows])
    )


def _headline(evaluation: Evaluation) -> str:
    run, pop = evaluation.metrics["run"], evaluation.metrics["population"]
    return (
        f"cutoff {run['cutoff']}, horizon {run['horizon_days']:g} d: {pop['evaluated']:,} "
        f"customers, {pop['churned_by_cutoff']:,} churned by the cutoff, "
        f"{pop['no_order_in_horizon']:,} without an order in the horizon"
    )


def _verdict(evaluation: Evaluation) -> str:
    bar = evaluation.metrics["bar"]
    checks = ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in bar["checks"].items())
    dominance = "yes" if bar["risk_dominates_every_baseline_flag"] else "no"
    return (
        f"bar {'passed' if bar['passed'] else 'NOT passed'}: {checks}\n"
        f"some risk threshold beats each baseline's flag on precision and recall: {dominance}"
    )


# --- files -----------------------------------------------------------------------------------


def write_report(evaluation: Evaluation, directory: Path) -> None:
    """Write ``metrics.json`` and ``index.html`` into ``directory`` (which must exist)."""
    (directory / "metrics.json").write_bytes(metrics_json(evaluation.metrics))
    (directory / "index.html").write_text(render_html(evaluation), encoding="utf-8")


def metrics_json(metrics: dict[str, Any]) -> bytes:
    """Pretty JSON; nan (an undefined ratio) becomes null."""
    return orjson.dumps(
        metrics, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    )


# --- HTML --------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}
thead th{border-bottom:2px solid #444}img{max-width:100%}.pass{color:#186a18}.fail{color:#a11}
code{background:#f0f0f0;padding:0 .2rem}
"""


def render_html(evaluation: Evaluation) -> str:
    """The whole self-contained page."""
    metrics = evaluation.metrics
    headers, rows = table_rows(evaluation)
    sections = [
        f"<h1>Churnwatch evaluation</h1><p>{html.escape(_headline(evaluation))}</p>",
        _bar_html(metrics["bar"]),
        "<h2>Metrics</h2>" + table_html(["metric", *headers], rows),
        stream_html(metrics),
        "<h2>Matched operating points</h2>" + _matched_html(metrics),
        "<h2>Recall of <code>lost</code> by churn cause</h2>" + _cause_table(metrics),
        "<h2>ROC curves</h2>" + image_html(plot_roc(evaluation)),
        "<h2>Precision and recall of <code>lost</code> by risk threshold</h2>"
        + image_html(plot_precision_recall(evaluation)),
        "<h2>Delay from churn to <code>lost</code></h2>" + image_html(plot_delays(evaluation)),
        "<h2>Calibration</h2>" + image_html(plot_calibration(evaluation)),
        value_html(metrics),
        "<h2>Methods</h2>" + methods_html(metrics),
        churn_rate_html(metrics),
        "<h2>Run</h2><pre>" + html.escape(_run_text(metrics)) + "</pre>",
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Churnwatch evaluation</title><style>{_STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _bar_html(bar: dict[str, Any]) -> str:
    items = "".join(
        f"<li class='{'pass' if ok else 'fail'}'>{html.escape(name)}: {'yes' if ok else 'no'}</li>"
        for name, ok in bar["checks"].items()
    )
    verdict = "passed" if bar["passed"] else "not passed"
    dominance = "yes" if bar["risk_dominates_every_baseline_flag"] else "no"
    return (
        f"<p>The issue's bar is <b>{verdict}</b>:</p><ul>{items}</ul>"
        f"<p>For each baseline, some threshold on risk beats its flag on precision and recall "
        f"at once: <b>{dominance}</b> (see the matched operating points below).</p>"
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
    note = (
        "<p>Over every threshold on the detector's risk: the best precision reaching at least "
        "the baseline's recall, and the best recall reaching at least its precision.</p>"
    )
    return note + table_html(headers, rows)


def _cause_table(metrics: dict[str, Any]) -> str:
    methods = metrics["methods"]
    support = {c: r["support"] for c, r in methods[DETECTOR]["recall_by_cause"]["lost"].items()}
    rows = [
        [f"{cause} ({n:,})"]
        + [
            format_cell(m["recall_by_cause"]["lost"][cause]["recall"], "{:.3f}")
            for m in methods.values()
        ]
        for cause, n in support.items()
    ]
    return table_html(["cause (churners)", *[m["label"] for m in methods.values()]], rows)


def methods_html(metrics: dict[str, Any]) -> str:
    items = "".join(
        f"<li><b>{html.escape(m['label'])}</b>: {html.escape(m['description'])}</li>"
        for m in metrics["methods"].values()
    )
    return f"<ul>{items}</ul>"


def _run_text(metrics: dict[str, Any]) -> str:
    run = {k: v for k, v in metrics["run"].items() if k != "policy"}
    return (
        orjson.dumps(
            {"run": run, "population": metrics["population"], "policy": metrics["run"]["policy"]},
            option=orjson.OPT_INDENT_2,
        )
    ).decode()


def image_html(png: bytes) -> str:
    return f"<img alt='plot' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


# --- plots -------------------------------------------------------------------------------------


def new_figure(columns: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, columns, figsize=(6.2 * columns, 4.6), squeeze=False)
    return figure, axes[0]


def figure_png(figure: Any) -> bytes:
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def plot_roc(evaluation: Evaluation) -> bytes:
    population = evaluation.population
    figure, axes = new_figure(2)
    labels = (("churned by the cutoff", population.churned), ("no order in horizon", None))
    for ax, (title, truth) in zip(axes, labels, strict=True):
        y = population.no_order if truth is None else truth
        for method in evaluation.methods:
            if y.all() or not y.any():
                continue
            fpr, tpr, _ = roc_curve(y, method.score)
            auc = evaluation.metrics["methods"][method.key][
                "auc_no_order" if truth is None else "auc_churned"
            ]
            ax.plot(fpr, tpr, label=f"{method.label} ({auc:.3f})", lw=_width(method))
        ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, ls="--")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
        ax.legend(loc="lower right", fontsize=8)
    return figure_png(figure)


def _width(method: Method) -> float:
    return 2.4 if method.key == DETECTOR else 1.2


def plot_precision_recall(evaluation: Evaluation) -> bytes:
    """Left: the detector's precision and recall by risk threshold; right: PR plane."""
    population, policy = evaluation.population, evaluation.policy
    detector = evaluation.methods[0]
    thresholds = np.linspace(0.0, 1.0, 201)
    precision, recall = precision_recall_by_threshold(
        detector.score, population.churned, thresholds
    )
    figure, (left, right) = new_figure(2)
    left.plot(thresholds, precision, label="precision")
    left.plot(thresholds, recall, label="recall")
    left.axvline(policy.lost_risk, color="#a11", lw=0.8, ls="--", label="lost_risk")
    left.axvline(policy.at_risk_risk, color="#888", lw=0.8, ls=":", label="at_risk_risk")
    left.set(xlabel="risk threshold", ylabel="vs churned by the cutoff", ylim=(0, 1.02))
    left.set_title("flag = risk >= threshold")
    left.legend(fontsize=8)
    right.plot(recall, precision, color="#555", lw=1, label="risk >= threshold")
    for method in evaluation.methods:
        flags = evaluation.metrics["methods"][method.key]["lost"]
        right.plot(flags["recall"], flags["precision"], "o", label=f"{method.label} lost flag")
    right.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    right.set_title("flags at the cutoff")
    right.legend(fontsize=8, loc="lower left")
    return figure_png(figure)


def plot_delays(evaluation: Evaluation) -> bytes:
    """Histogram of churn-to-lost delays in own intervals (and days), per method."""
    population = evaluation.population
    churned = population.churned
    figure, (left, right) = new_figure(2)
    for method in evaluation.methods:
        lost_at = evaluation.timings[method.key].first_lost
        delay = (lost_at - population.churned_at)[churned]
        found = ~np.isnan(delay)
        intervals = delay[found] / (population.interval_days[churned][found] * DAY)
        style = {
            "histtype": "stepfilled" if method.key == DETECTOR else "step",
            "alpha": 0.35 if method.key == DETECTOR else 1.0,
            "label": method.label,
        }
        left.hist(np.clip(intervals, -1, 8), bins=np.linspace(-1, 8, 46), **style)
        right.hist(np.clip(delay[found] / DAY, -30, 300), bins=np.linspace(-30, 300, 45), **style)
    left.axvline(2.0, color="#a11", lw=0.8, ls="--")
    left.set(xlabel="delay (own mean intervals, clipped to [-1, 8])", ylabel="churners")
    right.set(xlabel="delay (days, clipped to [-30, 300])", ylabel="churners")
    left.legend(fontsize=8)
    return figure_png(figure)


def plot_calibration(evaluation: Evaluation) -> bytes:
    """Mean score against the observed rate per decile, for the probabilistic methods."""
    figure, axes = new_figure(2)
    for ax, name, title in zip(
        axes, ("churned", "no_order"), ("churned by the cutoff", "no order in horizon"), strict=True
    ):
        for method in evaluation.methods:
            block = evaluation.metrics["methods"][method.key]["calibration"]
            if block is None:
                continue
            bins = block[name]
            ax.plot(
                [b["mean_score"] for b in bins],
                [b["observed_rate"] for b in bins],
                "o-",
                label=method.label,
                lw=_width(method),
            )
        ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, ls="--")
        ax.set(xlabel="mean score in the decile", ylabel="observed rate", title=title)
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=8)
    return figure_png(figure)
