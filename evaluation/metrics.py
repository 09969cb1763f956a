"""Scoring functions for ``churnwatch evaluate``: detector and baselines versus ground truth.

This module owns the pure, numpy-only metrics that compare per-customer flags or risk scores
with the simulator's ground truth: ROC AUC and ROC curve, precision/recall (single cut-off and
by threshold), calibration by risk decile, the false-alarm rate per 1,000 active customers per
month, detection-delay summaries and recall per churn cause. It does no I/O, knows nothing of
events or Kafka, and is never imported by the worker.

Conventions shared by every function:

* ``labels`` are the ground truth, ``True``/``1`` meaning the customer truly churned; they may
  be booleans or the integers 0/1, anything else raises ``ValueError``.
* ``scores`` are real numbers where larger means "more likely churned"; NaN raises
  ``ValueError``.
* A customer is flagged at threshold ``t`` when ``score >= t`` (scikit-learn's convention).
* A ratio whose denominator is zero (AUC with a single class, precision with no flag, recall
  with no churner, a rate with no exposure) is ``nan``, never an exception and never 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import NamedTuple, TypedDict, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAYS_PER_MONTH = 365.25 / 12
"""Length of the average calendar month, used to turn observed days into months."""

K = TypeVar("K", bound=Hashable)


class CalibrationBin(NamedTuple):
    """One risk bin of a calibration table."""

    mean_score: float
    observed_rate: float
    n_customers: int


class GroupRecall(NamedTuple):
    """Recall within one group of true churners, with the number of churners in it."""

    recall: float
    support: int


class DelaySummary(TypedDict):
    """Distribution of detection delays (same unit as the input, usually days)."""

    count: int
    median: float
    p25: float
    p75: float
    p90: float
    mean: float


def _as_labels(labels: npt.ArrayLike) -> BoolArray:
    """Validate binary ground truth and return it as a 1-D boolean array."""
    arr = np.asarray(labels).ravel()
    if arr.dtype == np.bool_:
        return arr
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError("labels must be booleans or 0/1")
    return arr.astype(np.bool_)


def _as_flags(flags: npt.ArrayLike) -> BoolArray:
    """Flags follow the same rules as labels (booleans or 0/1)."""
    return _as_labels(flags)


def _as_scores(scores: npt.ArrayLike) -> FloatArray:
    """Validate real-valued scores and return them as a 1-D float array."""
    arr = np.asarray(scores, dtype=np.float64).ravel()
    if np.isnan(arr).any():
        raise ValueError("scores must not contain NaN")
    return arr


def _check_same_length(*arrays: npt.NDArray[np.generic]) -> None:
    if len({a.shape[0] for a in arrays}) > 1:
        raise ValueError(f"inputs differ in length: {[a.shape[0] for a in arrays]}")


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or nan when the denominator is zero."""
    return float(numerator) / float(denominator) if denominator else float("nan")


def average_ranks(values: npt.ArrayLike) -> FloatArray:
    """Ranks 1..n of ``values``, tied values sharing the average of their ranks.

    Same result as ``scipy.stats.rankdata(values, method="average")``, in numpy only.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    n = arr.size
    order = np.argsort(arr, kind="mergesort")
    ordered = arr[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group_of = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], n]
    group_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = group_rank[group_of]
    return ranks


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve, ties counted as half (Mann-Whitney U with average ranks).

    Equals ``sklearn.metrics.roc_auc_score``. Returns nan when ``labels`` hold a single class
    (scikit-learn raises instead) or are empty.
    """
    y = _as_labels(labels)
    s = _as_scores(scores)
    _check_same_length(y, s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(average_ranks(s)[y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _cumulative_counts(y: BoolArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """True and false positives when flagging at each distinct score, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted, dtype=np.float64)[last_of_value]
    fps = (1.0 + last_of_value) - tps
    return fps, tps, s_sorted[last_of_value]


def roc_curve(
    labels: npt.ArrayLike, scores: npt.ArrayLike, *, drop_intermediate: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ROC curve as ``(fpr, tpr, thresholds)``, thresholds decreasing, the first being ``inf``.

    Same points as ``sklearn.metrics.roc_curve`` (including ``drop_intermediate``, which removes
    points lying on a straight segment). ``fpr`` is all nan when there is no negative, ``tpr``
    all nan when there is no positive; empty input raises ``ValueError``.
    """
    y = _as_labels(labels)
    s = _as_scores(scores)
    _check_same_length(y, s)
    if y.size == 0:
        raise ValueError("roc_curve needs at least one sample")
    fps, tps, thresholds = _cumulative_counts(y, s)
    if drop_intermediate and fps.size > 2:
        bends = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.flatnonzero(np.r_[True, bends, True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.r_[0.0, fps]
    tps = np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full_like(fps, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full_like(tps, np.nan)
    return fpr, tpr, thresholds


def precision_recall(flags: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """Precision and recall of boolean ``flags`` against ``labels``.

    Precision is nan when nothing is flagged; recall is nan when nobody churned. This equals
    scikit-learn's ``precision_score``/``recall_score`` with ``zero_division=np.nan``.
    """
    f = _as_flags(flags)
    y = _as_labels(labels)
    _check_same_length(f, y)
    true_pos = int(np.count_nonzero(f & y))
    return _ratio(true_pos, int(f.sum())), _ratio(true_pos, int(y.sum()))


def precision_recall_by_threshold(
    scores: npt.ArrayLike, labels: npt.ArrayLike, thresholds: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Precision and recall when flagging ``score >= threshold``, one value per threshold.

    Returned arrays follow the order of ``thresholds``; undefined entries are nan as in
    :func:`precision_recall`.
    """
    s = _as_scores(scores)
    y = _as_labels(labels)
    _check_same_length(s, y)
    th = np.asarray(thresholds, dtype=np.float64).ravel()
    all_sorted = np.sort(s)
    pos_sorted = np.sort(s[y])
    flagged = (all_sorted.size - np.searchsorted(all_sorted, th, side="left")).astype(np.float64)
    true_pos = (pos_sorted.size - np.searchsorted(pos_sorted, th, side="left")).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(flagged > 0, true_pos / flagged, np.nan)
        recall = true_pos / pos_sorted.size if pos_sorted.size else np.full_like(th, np.nan)
    return precision, recall


def calibration_by_decile(
    scores: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10
) -> list[CalibrationBin]:
    """Mean predicted risk versus observed churn rate in quantile bins of the score.

    Bin edges are the ``n_bins``-quantiles of ``scores``. Tied scores always fall in the same
    bin, so with many ties (e.g. a mass of customers at risk 0) some quantiles coincide and
    fewer, larger bins are returned; empty bins are omitted. Bins are ordered by score.
    """
    s = _as_scores(scores)
    y = _as_labels(labels)
    _check_same_length(s, y)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if s.size == 0:
        return []
    inner_edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    # side="right": a score equal to an edge joins the upper bin, so ties never straddle bins.
    bin_of = np.searchsorted(inner_edges, s, side="right")
    counts = np.bincount(bin_of, minlength=inner_edges.size + 1)
    score_sums = np.bincount(bin_of, weights=s, minlength=inner_edges.size + 1)
    churn_sums = np.bincount(bin_of, weights=y.astype(np.float64), minlength=inner_edges.size + 1)
    return [
        CalibrationBin(float(score_sums[i] / counts[i]), float(churn_sums[i] / counts[i]), int(n))
        for i, n in enumerate(counts)
        if n > 0
    ]


def active_customer_months(active_days: npt.ArrayLike) -> float:
    """Total exposure, in customer-months, from the days each customer was observed truly active.

    ``active_days[i]`` is how long customer ``i`` was watched while not (yet) churned, i.e. from
    the start of observation to ``min(churned_at, cutoff)``.
    """
    days = np.asarray(active_days, dtype=np.float64).ravel()
    if (days < 0).any() or np.isnan(days).any():
        raise ValueError("active_days must be non-negative numbers")
    return float(days.sum() / DAYS_PER_MONTH)


def false_alarms_per_1000_per_month(false_alarms: int, active_customer_months: float) -> float:
    """False alarms per 1,000 truly active customers per month.

    ``false_alarms`` counts the ``at_risk``/``lost`` flags raised on customers while they were
    truly active (never churned, or before their ``churned_at``); ``active_customer_months`` is
    the exposure in which those flags could have been raised (see
    :func:`active_customer_months`). Returns nan when there is no exposure.
    """
    if false_alarms < 0 or active_customer_months < 0:
        raise ValueError("false_alarms and active_customer_months must be non-negative")
    return _ratio(1000.0 * false_alarms, active_customer_months)


def delay_summary(delays: npt.ArrayLike) -> DelaySummary:
    """Count, quartiles, 90th percentile and mean of detection delays.

    NaN entries (churners never detected) are left out and not counted; report them separately
    through recall. With no finite delay, ``count`` is 0 and every statistic is nan.
    """
    d = np.asarray(delays, dtype=np.float64).ravel()
    d = d[~np.isnan(d)]
    if d.size == 0:
        nan = float("nan")
        return DelaySummary(count=0, median=nan, p25=nan, p75=nan, p90=nan, mean=nan)
    p25, median, p75, p90 = (float(v) for v in np.percentile(d, [25, 50, 75, 90]))
    return DelaySummary(
        count=int(d.size), median=median, p25=p25, p75=p75, p90=p90, mean=float(d.mean())
    )


def recall_by_group(
    flags: npt.ArrayLike, labels: npt.ArrayLike, groups: Iterable[K]
) -> dict[K, GroupRecall]:
    """Recall of ``flags`` among true churners, per group (typically the churn cause).

    Only churners (``labels`` true) are counted, so the groups of non-churners are ignored and
    may be anything (e.g. ``None``). ``support`` is the number of churners in the group. Keys
    appear in order of first occurrence among churners.
    """
    f = _as_flags(flags)
    y = _as_labels(labels)
    keys: list[K] = groups.tolist() if isinstance(groups, np.ndarray) else list(groups)
    if not f.size == y.size == len(keys):
        raise ValueError(f"inputs differ in length: {[f.size, y.size, len(keys)]}")
    churner_keys = [key for key, churned in zip(keys, y.tolist(), strict=True) if churned]
    detected: dict[K, int] = {}
    support: dict[K, int] = {}
    for key, flagged in zip(churner_keys, f[y].tolist(), strict=True):
        support[key] = support.get(key, 0) + 1
        detected[key] = detected.get(key, 0) + int(flagged)
    return {key: GroupRecall(detected[key] / n, n) for key, n in support.items()}
