"""How well customers' expected value predicts what they then spend.

At the cutoff, each customer who has ordered gets the detector's expected spend over the
evaluation horizon (:func:`models.value.value_at`, with the value horizon set to the
evaluation's), and a naive baseline: their **past spend rate**, the spend they placed from
the log's first order to the cutoff, scaled to the horizon. Both are compared with the spend
each customer really placed in ``(cutoff, cutoff + horizon]``: mean absolute error, root
mean squared error, Spearman's rank correlation (ties at their average rank: many customers
spend nothing), and the ratio of the totals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from evaluation.metrics import average_ranks
from models.assessment import risk_at
from models.customer import CustomerState
from models.policy import DAY, Policy
from models.population import PopulationModel
from models.value import value_at

DETECTOR = "detector"
PAST_SPEND_RATE = "past_spend_rate"


def predicted_spend(
    states: Mapping[str, CustomerState],
    cutoff: float,
    horizon_days: float,
    policy: Policy,
    model: PopulationModel,
) -> dict[str, float]:
    """The detector's expected spend in the ``horizon_days`` after ``cutoff``, per buyer."""
    over = dataclasses.replace(policy, value_horizon_days=horizon_days)
    out = {}
    for cid, state in states.items():
        if state.orders > 0:
            risk = risk_at(state, cutoff, over, model)
            out[cid] = value_at(state, cutoff, risk, over, model).expected_spend
    return out


def past_spend_rate(
    states: Mapping[str, CustomerState], since: float, cutoff: float, horizon_days: float
) -> dict[str, float]:
    """Each buyer's spend from ``since`` (the log's first order) to ``cutoff``, scaled to
    the horizon."""
    scale = horizon_days / max((cutoff - since) / DAY, 1.0)
    return {cid: s.total_spend * scale for cid, s in states.items() if s.orders > 0}


def value_metrics(
    predictions: Mapping[str, Mapping[str, float]], realised: Mapping[str, float]
) -> dict[str, Any]:
    """Each prediction's errors against the realised spend of the customers it covers."""
    out: dict[str, Any] = {}
    for name, predicted in predictions.items():
        ids = sorted(predicted)
        p = np.array([predicted[c] for c in ids], dtype=np.float64)
        r = np.array([realised.get(c, 0.0) for c in ids], dtype=np.float64)
        out[name] = {
            "customers": len(ids),
            "mean_absolute_error": float(np.mean(np.abs(p - r))) if ids else math.nan,
            "root_mean_squared_error": float(np.sqrt(np.mean((p - r) ** 2))) if ids else math.nan,
            "rank_correlation": spearman(p, r),
            "predicted_total": float(p.sum()),
            "realised_total": float(r.sum()),
        }
    return out


def spearman(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """Spearman's rank correlation, ties at their average rank; nan if either is constant."""
    if a.size < 2:
        return math.nan
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum()) * float((rb * rb).sum()))
    return float((ra * rb).sum()) / denominator if denominator > 0 else math.nan
