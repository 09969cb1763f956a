"""The evaluation pipeline: detector replay, method scoring, the bar, and the report files."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from evaluation.alerts import Alerts
from evaluation.evaluate import (
    DETECTOR,
    Evaluation,
    EvaluationSpec,
    Method,
    Timing,
    bar_check,
    detector_method,
    fit_sample,
    flag_metrics,
    matched_operating_points,
    method_metrics,
    run_detector,
)
from evaluation.population import Population
from evaluation.report import metrics_json, render_html, render_table, write_report
from models.churn_rate import MonthRow
from models.decisions import format_time
from models.policy import Policy
from streams import churn_table
from streams.replay import InputFile
from tests.builders import day, line, order_json


def population(churned: list[bool], no_order: list[bool] | None = None) -> Population:
    """One order per customer on day 0; churners churned on day 50; cutoff day 100."""
    n = len(churned)
    return Population(
        cutoff=day(100),
        horizon_days=30.0,
        ids=[f"c{i}" for i in range(n)],
        churned_at=np.array([day(50) if c else math.inf for c in churned]),
        causes=["habit_lapse" if c else None for c in churned],
        kinds=["regular"] * n,
        interval_days=np.full(n, 10.0),
        order_times=np.full(n, day(0)),
        offsets=np.arange(n + 1, dtype=np.int64),
        no_order=np.array(no_order if no_order is not None else churned, dtype=np.bool_),
    )


def method(key: str, score: list[float], lost: list[bool], probability: bool = True) -> Method:
    return Method(
        key=key,
        label=key,
        description=f"{key} for tests",
        score=np.array(score, dtype=np.float64),
        lost=np.array(lost, dtype=np.bool_),
        at_risk=np.array(lost, dtype=np.bool_) if key == DETECTOR else None,
        alerts=Alerts.empty(),
        probability=probability,
    )


def test_flag_metrics_by_hand() -> None:
    pop = population([True, True, False, False], no_order=[True, True, True, False])
    result = flag_metrics(np.array([True, False, True, False]), pop)
    assert result["flagged"] == 2
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    assert result["f1"] == pytest.approx(0.5)
    assert result["precision_no_order"] == 1.0
    assert result["recall_no_order"] == pytest.approx(2 / 3)


def test_method_metrics_has_every_block_and_recall_per_cause() -> None:
    pop = population([True, True, False, False])
    m = method(DETECTOR, [0.9, 0.2, 0.4, 0.1], [True, False, False, False])
    timing = Timing(np.full(4, np.nan), np.full(4, np.nan))
    result = method_metrics(m, pop, timing, exposure=10.0)
    assert result["auc_churned"] == pytest.approx(0.75)
    assert result["recall_by_cause"]["lost"] == {"habit_lapse": {"recall": 0.5, "support": 2}}
    assert result["false_alarms"]["per_1000_per_month"] == 0.0
    assert result["calibration"]["churned"][0]["n_customers"] >= 1
    assert set(result) >= {"delay_days", "delay_intervals", "lead_days", "by_kind"}


def test_matched_operating_points_find_the_best_risk_threshold() -> None:
    pop = population([True, True, True, False, False])
    detector = method(DETECTOR, [0.9, 0.8, 0.3, 0.5, 0.1], [True, True, False, False, False])
    results = {
        DETECTOR: {},
        "base": {"lost": {"precision": 0.6, "recall": 1.0}},
        "sharp": {"lost": {"precision": 1.0, "recall": 1.0}},
    }
    matched = matched_operating_points(detector, results, pop.churned)
    # Recall 1 needs risk >= 0.3: 3 churners of 4 flagged -> precision 0.75 >= 0.6.
    assert matched["base"]["precision_at_recall"] == pytest.approx(0.75)
    assert matched["base"]["dominated"] is True
    # Precision 1 is reached at risk >= 0.8 (recall 2/3), never with recall 1.
    assert matched["sharp"]["recall_at_precision"] == pytest.approx(2 / 3)
    assert matched["sharp"]["dominated"] is False


def _result(auc: float, precision: float, recall: float, delay: float) -> dict[str, Any]:
    return {
        "auc_churned": auc,
        "auc_no_order": auc,
        "lost": {"precision": precision, "recall": recall},
        "delay_intervals": {"median": delay},
        "matched": {},
    }


def test_bar_needs_the_detector_ahead_of_every_baseline() -> None:
    results = {
        DETECTOR: _result(0.9, 0.9, 0.8, 1.5),
        "a": _result(0.8, 0.85, 0.7, 3.0),
        "b": _result(0.85, 0.95, 0.6, 3.0),
    }
    bar = bar_check(results)
    assert bar["checks"]["auc_churned"] is True
    assert bar["checks"]["lost_precision"] is False  # b is more precise
    assert bar["checks"]["median_delay_at_most_2_intervals"] is True
    assert bar["passed"] is False
    results[DETECTOR]["delay_intervals"]["median"] = float("nan")
    assert bar_check(results)["checks"]["median_delay_at_most_2_intervals"] is False


def test_fit_sample_is_everyone_or_a_fixed_sorted_sample() -> None:
    assert fit_sample(5, 10).tolist() == [0, 1, 2, 3, 4]
    sample = fit_sample(1000, 100)
    assert sample.size == 100 and np.all(np.diff(sample) > 0)
    assert sample.tolist() == fit_sample(1000, 100).tolist()


def test_spec_rejects_unusable_knobs() -> None:
    with pytest.raises(ValueError, match="horizon"):
        EvaluationSpec(cutoff=0.0, horizon_days=0)
    with pytest.raises(ValueError, match="P\\(alive\\)"):
        EvaluationSpec(cutoff=0.0, p_alive_threshold=1.0)


def _orders(customer: str, days: list[int]) -> list[bytes]:
    return [
        line(
            order_json(
                event_id=f"{customer}-{d}",
                customer_id=customer,
                order_id=f"{customer}-o{d}",
                occurred_at=format_time(day(d)),
            )
        )
        for d in days
    ]


def test_run_detector_replays_to_the_cutoff_and_keeps_alert_decisions() -> None:
    # "quits" orders every 7 days, then stops after day 70; "stays" keeps ordering.
    quits = _orders("quits", list(range(0, 71, 7)))
    stays = _orders("stays", list(range(0, 200, 7)))
    in_time_order: list[bytes] = sorted(
        quits + stays, key=lambda raw: orjson.loads(raw)["occurred_at"]
    )
    events = b"".join(in_time_order)
    spec = EvaluationSpec(cutoff=day(150), horizon_days=30)
    run = run_detector([InputFile("events", io.BytesIO(events))], Policy(), spec)

    assert run.status["quits"] == "lost"
    assert run.status["stays"] == "active"
    kinds = [(cid, kind) for cid, kind, _ in run.decisions]
    assert ("quits", "at_risk") in kinds and ("quits", "lost") in kinds
    assert all(day(70) < at <= day(150) for _, _, at in run.decisions)
    assert run.orders.in_horizon == {"stays"}
    assert len(run.orders.before["quits"]) == 11

    pop = Population(
        cutoff=day(150),
        horizon_days=30,
        ids=["quits", "stays"],
        churned_at=np.array([day(72), math.inf]),
        causes=["habit_lapse", None],
        kinds=["regular", "regular"],
        interval_days=np.array([7.0, 7.0]),
        order_times=np.array([day(70), day(147)]),
        offsets=np.array([0, 1, 2]),
        no_order=np.array([True, False]),
    )
    detector = detector_method(run, pop, Policy())
    assert detector.lost.tolist() == [True, False]
    assert detector.score[0] > 0.9 > detector.score[1]
    assert set(detector.alerts.customer.tolist()) == {0}


def _tiny_evaluation() -> Evaluation:
    pop = population([True, True, False, False, False])
    methods = [
        method(DETECTOR, [0.95, 0.6, 0.3, 0.2, 0.1], [True, False, False, False, False]),
        method("recency_90d", [120, 40, 60, 10, 5], [True, False, False, False, False], False),
    ]
    timings = {m.key: Timing(np.full(5, np.nan), np.full(5, np.nan)) for m in methods}
    results = {m.key: method_metrics(m, pop, timings[m.key], 10.0) for m in methods}
    results[DETECTOR]["matched"] = matched_operating_points(methods[0], results, pop.churned)
    metrics = {
        "run": {"cutoff": "2025-04-11T00:00:00Z", "horizon_days": 30.0, "policy": {}},
        "population": {"evaluated": 5, "churned_by_cutoff": 2, "no_order_in_horizon": 2},
        "methods": results,
        "bar": bar_check(results),
        # February: 40 active at its start, 2 lost (5 %); 1 won back of 4 + 2 lost (1/6).
        "churn_rate": churn_table.as_json([MonthRow("2025-02", "all", 40, 4, 3, 2, 1)]),
    }
    return Evaluation(metrics, pop, methods, timings, Policy())


def test_table_puts_methods_side_by_side_and_states_the_bar() -> None:
    table = render_table(_tiny_evaluation())
    header = table.splitlines()[1]
    assert "detector" in header and "recency_90d" in header
    assert "AUC, churned by cutoff" in table
    assert "bar NOT passed" in table or "bar passed" in table
    churn = table.splitlines()[-1].split()
    # ... churn rate, recovery rate, then the value flagged at_risk and lost (none here)
    assert churn[:2] == ["2025-02", "all"]
    assert churn[-6:] == ["5.00", "%", "16.67", "%", "0.00", "0.00"]


def test_metrics_json_writes_undefined_ratios_as_null() -> None:
    decoded = orjson.loads(metrics_json({"x": float("nan"), "y": np.float64(0.5)}))
    assert decoded == {"x": None, "y": 0.5}


def test_report_is_self_contained_with_embedded_images(tmp_path: Path) -> None:
    evaluation = _tiny_evaluation()
    page = render_html(evaluation)
    assert page.count("src='data:image/png;base64,") == 4
    assert "<h2>Churn rate by month and segment</h2>" in page and "16.67 %" in page
    assert "http://" not in page and "https://" not in page
    write_report(evaluation, tmp_path)
    assert orjson.loads((tmp_path / "metrics.json").read_bytes())["population"]["evaluated"] == 5
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == page
