"""Tests for evaluation.metrics: agreement with scikit-learn, hand-computed cases, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from evaluation.metrics import (
    DAYS_PER_MONTH,
    CalibrationBin,
    GroupRecall,
    active_customer_months,
    average_ranks,
    calibration_by_decile,
    delay_summary,
    false_alarms_per_1000_per_month,
    precision_recall,
    precision_recall_by_threshold,
    recall_by_group,
    roc_auc,
    roc_curve,
)


def _random_case(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels with both classes and scores rounded to one decimal so ties are common."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    labels[:2] = [True, False]
    scores = np.round(rng.random(n) + 0.3 * labels, 1)
    return labels, scores


# --- ROC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_roc_auc_matches_sklearn_with_ties(seed: int) -> None:
    labels, scores = _random_case(seed)
    assert roc_auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)


def test_roc_auc_hand_computed() -> None:
    # Pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, *) two wins -> 3 / 4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_counts_ties_as_half() -> None:
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)


def test_roc_auc_accepts_integer_labels_and_lists() -> None:
    assert roc_auc([1, 0], [0.9, 0.1]) == 1.0
    assert roc_auc(np.array([True, False]), np.array([0.1, 0.9])) == 0.0


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0], []])
def test_roc_auc_is_nan_without_both_classes(labels: list[int]) -> None:
    assert math.isnan(roc_auc(labels, np.linspace(0, 1, len(labels))))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("drop_intermediate", [True, False])
def test_roc_curve_matches_sklearn(seed: int, drop_intermediate: bool) -> None:
    labels, scores = _random_case(seed)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=drop_intermediate)
    sk_fpr, sk_tpr, sk_thresholds = skm.roc_curve(
        labels, scores, drop_intermediate=drop_intermediate
    )
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_array_equal(thresholds, sk_thresholds)


def test_roc_curve_hand_computed() -> None:
    fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], drop_intermediate=False)
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])


def test_roc_curve_area_equals_roc_auc() -> None:
    labels, scores = _random_case(42, n=200)
    fpr, tpr, _ = roc_curve(labels, scores)
    # The trapezoidal rule written out: np.trapezoid is numpy >= 2, the eval extra allows 1.26.
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(roc_auc(labels, scores))


def test_roc_curve_single_class_gives_nan_rates() -> None:
    fpr, tpr, _ = roc_curve([1, 1, 1], [0.2, 0.5, 0.9], drop_intermediate=False)
    assert np.isnan(fpr).all()
    np.testing.assert_allclose(tpr, [0.0, 1 / 3, 2 / 3, 1.0])


# --- precision / recall -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_precision_recall_matches_sklearn(seed: int) -> None:
    labels, scores = _random_case(seed)
    flags = scores >= 0.6
    precision, recall = precision_recall(flags, labels)
    assert precision == pytest.approx(skm.precision_score(labels, flags, zero_division=np.nan))
    assert recall == pytest.approx(skm.recall_score(labels, flags, zero_division=np.nan))


def test_precision_recall_hand_computed() -> None:
    # TP = 2 (indices 0, 1), FP = 1 (index 2), FN = 1 (index 3).
    precision, recall = precision_recall([1, 1, 1, 0, 0], [1, 1, 0, 1, 0])
    assert precision == pytest.approx(2 / 3)
    assert recall == pytest.approx(2 / 3)


def test_precision_is_nan_without_flags_and_recall_nan_without_churners() -> None:
    precision, recall = precision_recall([0, 0, 0], [1, 0, 1])
    assert math.isnan(precision)
    assert recall == 0.0
    precision, recall = precision_recall([1, 0, 0], [0, 0, 0])
    assert precision == 0.0
    assert math.isnan(recall)


def test_precision_recall_by_threshold_equals_pointwise_flags() -> None:
    labels, scores = _random_case(3)
    thresholds = np.array([1.5, 0.9, 0.5, 0.45, 0.0, -1.0])
    precision, recall = precision_recall_by_threshold(scores, labels, thresholds)
    expected = [precision_recall(scores >= t, labels) for t in thresholds]
    np.testing.assert_allclose(precision, [p for p, _ in expected])
    np.testing.assert_allclose(recall, [r for _, r in expected])


def test_precision_recall_by_threshold_hand_computed() -> None:
    precision, recall = precision_recall_by_threshold(
        [0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], [0.85, 0.3, 0.95]
    )
    np.testing.assert_allclose(precision, [1.0, 2 / 3, np.nan])
    np.testing.assert_allclose(recall, [0.5, 1.0, 0.0])


# --- calibration --------------------------------------------------------------------------------


def test_calibration_by_decile_distinct_scores() -> None:
    scores = np.arange(100) / 100.0
    labels = np.arange(100) >= 80
    bins = calibration_by_decile(scores, labels)
    assert [b.n_customers for b in bins] == [10] * 10
    assert bins[0].mean_score == pytest.approx(0.045)
    assert bins[0][1:] == (0.0, 10)
    assert [b.observed_rate for b in bins[-2:]] == [1.0, 1.0]


def test_calibration_by_decile_keeps_ties_together() -> None:
    # 60 customers tied at 0 and 40 with distinct scores: the ties fill one bin.
    scores = np.r_[np.zeros(60), np.linspace(0.5, 1.0, 40)]
    labels = np.r_[np.zeros(60, dtype=bool), np.ones(40, dtype=bool)]
    bins = calibration_by_decile(scores, labels)
    assert bins[0] == CalibrationBin(0.0, 0.0, 60)
    assert sum(b.n_customers for b in bins) == 100
    assert len(bins) == 5
    assert all(b.observed_rate == 1.0 for b in bins[1:])


def test_calibration_by_decile_all_tied_and_empty() -> None:
    (only_bin,) = calibration_by_decile([0.3] * 7, [1, 0, 0, 0, 0, 0, 1])
    assert only_bin == pytest.approx(CalibrationBin(0.3, 2 / 7, 7))
    assert calibration_by_decile([], []) == []


# --- false alarms -------------------------------------------------------------------------------


def test_false_alarms_per_1000_per_month_hand_computed() -> None:
    assert false_alarms_per_1000_per_month(3, 1500.0) == pytest.approx(2.0)


def test_active_customer_months_from_days() -> None:
    months = active_customer_months([DAYS_PER_MONTH * 12, DAYS_PER_MONTH * 6, 0.0])
    assert months == pytest.approx(18.0)
    # One false alarm over 1,000 customers watched for a full year each: 1/12 per 1,000 per month.
    rate = false_alarms_per_1000_per_month(1, active_customer_months(np.full(1000, 365.25)))
    assert rate == pytest.approx(1 / 12)


def test_false_alarms_edge_cases() -> None:
    assert math.isnan(false_alarms_per_1000_per_month(0, 0.0))
    with pytest.raises(ValueError):
        false_alarms_per_1000_per_month(-1, 10.0)
    with pytest.raises(ValueError):
        active_customer_months([1.0, -2.0])


# --- delays and groups --------------------------------------------------------------------------


def test_delay_summary_hand_computed_ignores_nan() -> None:
    summary = delay_summary([5.0, 1.0, np.nan, 3.0, 2.0, 4.0])
    assert summary == {
        "count": 5,
        "median": 3.0,
        "p25": 2.0,
        "p75": 4.0,
        "p90": pytest.approx(4.6),
        "mean": 3.0,
    }


def test_delay_summary_empty() -> None:
    for empty in ([], [np.nan]):
        summary = delay_summary(empty)
        assert summary["count"] == 0
        assert all(math.isnan(summary[k]) for k in ("median", "p25", "p75", "p90", "mean"))


def test_recall_by_group_hand_computed() -> None:
    flags = [1, 0, 1, 1, 0, 1]
    labels = [1, 1, 1, 0, 1, 0]
    causes = ["price", "price", "service", None, "moved", "price"]
    assert recall_by_group(flags, labels, causes) == {
        "price": GroupRecall(0.5, 2),
        "service": GroupRecall(1.0, 1),
        "moved": GroupRecall(0.0, 1),
    }


def test_recall_by_group_numpy_groups_give_plain_keys() -> None:
    result = recall_by_group(np.array([True]), np.array([True]), np.array(["price"]))
    assert result == {"price": GroupRecall(1.0, 1)}
    assert type(next(iter(result))) is str


# --- input validation ---------------------------------------------------------------------------


def test_average_ranks_matches_hand_ranks() -> None:
    np.testing.assert_array_equal(average_ranks([10, 20, 10, 30, 20]), [1.5, 3.5, 1.5, 5, 3.5])


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="labels"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="length"):
        precision_recall([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="length"):
        recall_by_group([1, 0], [1, 0], ["a"])
