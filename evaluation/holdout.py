"""``churnwatch evaluate`` without ground truth: judged by what happened after the cutoff.

Real purchase logs carry no truth about who churned; what they do show is who ordered again.
So the label is **no placed order in** ``(cutoff, cutoff + horizon]``, taken from the events
file itself, and the population is every customer with at least one placed order up to the
cutoff. The detector is replayed up to the cutoff exactly as in the truth mode
(:func:`evaluation.evaluate.run_detector`); recency rules, the own-interval rule, BG/NBD and
Pareto/NBD, and MBG/CNBD-k (:mod:`evaluation.cnbd`, which knows regular buyers) are computed
or fitted on the same orders in the same run.

Per method (keys of ``metrics.json``, defined in ``docs/evaluation.md``): AUC of its score,
the Brier score and a reliability table per decile when the score is a probability, and the
precision and recall of its ``lost`` flag (and the detector's ``at_risk`` flag) against the
label. The BTYD models are scored three ways, each labelled: ``1 - P(alive)`` (their churn
probability, the main score), minus the expected number of orders in the horizon (what
:class:`evaluation.evaluate.Method` calls ``horizon_score``), and ``P(no order in the
horizon)`` (the probability of the label itself, see :func:`p_no_order`). MBG/CNBD-k has
no closed-form expected orders; it is scored by ``1 - P(alive)`` and ``P(no order)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation import baselines, cnbd
from evaluation.alerts import Alerts
from evaluation.evaluate import (
    DETECTOR,
    FALLBACK_INTERVAL_DAYS,
    DetectorRun,
    EvaluationSpec,
    Method,
    detector_method,
    fit_btyd,
    matched_operating_points,
    run_detector,
)
from evaluation.inputs import DAY, InputError, OrderLog
from evaluation.metrics import (
    calibration_by_decile,
    precision_recall,
    roc_auc,
)
from evaluation.population import BoolArray, FloatArray, Population
from models.policy import Policy
from models.population import PopulationModel
from streams import churn_table
from streams.progress import Progress
from streams.replay import InputFile

CNBD = "mbg_cnbd_k"
RULE_DAYS = 182.0  # "26 weeks without an order", the rule of thumb shops use
# Real logs vary in dropout across customers, so the BTYD likelihood is not flat the way it is
# on the simulator (see evaluation.evaluate.BTYD_FIT_CUSTOMERS): fit on every customer up to
# this many, a fixed-seed sample beyond.
HOLDOUT_FIT_CUSTOMERS = 100_000
_QUADRATURE_NODES = 64
ORDER_GROUPS = (("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5+", 5, math.inf))


@dataclass(frozen=True)
class HoldoutEvaluation:
    """What the run found: ``metrics`` (the JSON document) and the data behind it."""

    metrics: dict[str, Any]
    population: Population
    methods: list[Method]
    p_no_order: dict[str, FloatArray]  # BTYD: P(no order in the horizon) per customer
    policy: Policy


def evaluate_holdout(
    events: Sequence[InputFile],
    spec: EvaluationSpec,
    policy: Policy,
    progress: Progress | None = None,
    model: PopulationModel | None = None,
) -> HoldoutEvaluation:
    """Replay up to the cutoff, fit and run the baselines, score all against the label."""
    started = time.perf_counter()
    run = run_detector(events, policy, spec, progress, model)
    population = holdout_population(run.orders, spec.horizon_days)
    if population.size == 0:
        raise InputError("no customer placed an order at or before the cutoff")
    p_no_order: dict[str, FloatArray] = {
        DETECTOR: np.array([run.no_order.get(cid, 1.0) for cid in population.ids])
    }
    methods = [
        detector_method(run, population, policy),
        recency_method(population, spec.recency_days),
        recency_method(population, RULE_DAYS),
        own_interval_method(population, spec.own_interval_multiple),
    ]
    for which in ("bg_nbd", "pareto_nbd"):
        method, p_zero = btyd_method(population, spec, which)
        methods.append(method)
        p_no_order[which] = p_zero
    method, p_no_order[CNBD] = cnbd_method(population, spec)
    methods.append(method)
    results = {m.key: method_metrics(m, population, p_no_order.get(m.key)) for m in methods}
    results[DETECTOR]["matched"] = matched_operating_points(
        methods[0], results, population.no_order
    )
    metrics = {
        "run": _run_info(events, spec, policy, run, time.perf_counter() - started, model),
        "population": _population_info(population),
        "methods": results,
        "value": run.value,
        "churn_rate": churn_table.as_json(run.churn_rate),
    }
    return HoldoutEvaluation(metrics, population, methods, p_no_order, policy)


def holdout_population(orders: OrderLog, horizon_days: float) -> Population:
    """Everyone who ordered up to the cutoff, in customer-id order; truth fields left empty."""
    before = orders.sorted_before()
    ids = sorted(before)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(before[cid]) for cid in ids], out=offsets[1:])
    n = len(ids)
    return Population(
        cutoff=orders.cutoff,
        horizon_days=horizon_days,
        ids=ids,
        churned_at=np.full(n, np.inf),
        causes=[None] * n,
        kinds=[None] * n,
        interval_days=np.full(n, np.nan),
        order_times=np.array([t for cid in ids for t in before[cid]], dtype=np.float64),
        offsets=offsets,
        no_order=np.array([cid not in orders.in_horizon for cid in ids], dtype=np.bool_),
    )


# --- the baselines -----------------------------------------------------------------------------


def recency_method(population: Population, days: float) -> Method:
    recency = population.recency_days()
    label = f"{days / 7:g} weeks silent" if days == RULE_DAYS else f"Recency > {days:g} d"
    return Method(
        key=f"recency_{days:g}d",
        label=label,
        description=f"flag: no order for more than {days:g} days; score = days since last order",
        score=baselines.recency_score(recency),
        lost=baselines.recency_threshold_flags(recency, days),
        at_risk=None,
        alerts=Alerts.empty(),
        probability=False,
        params={"threshold_days": days},
    )


def own_interval_method(population: Population, multiple: float) -> Method:
    """Silence against the customer's own mean interval; one-order customers get the median."""
    recency = population.recency_days()
    mean = population.observed_mean_interval_days()
    usable = np.isfinite(mean) & (mean > 0)
    if not usable.any():  # nobody has an interval yet: everyone gets the truth mode's fallback
        mean = np.full_like(recency, FALLBACK_INTERVAL_DAYS)
        usable = np.ones_like(usable)
    fallback = float(np.median(mean[usable]))
    return Method(
        key=f"own_interval_{multiple:g}x",
        label=f"{multiple:g} x own interval",
        description=f"flag: silence longer than {multiple:g} x the customer's mean interval "
        f"(with one order: the median, {fallback:.1f} d); score = silence / mean interval",
        score=baselines.own_interval_score(recency, mean),
        lost=baselines.own_interval_flags(recency, mean, multiple),
        at_risk=None,
        alerts=Alerts.empty(),
        probability=False,
        params={"multiple": multiple, "fallback_interval_days": fallback},
    )


def btyd_method(
    population: Population, spec: EvaluationSpec, which: str
) -> tuple[Method, FloatArray]:
    """BG/NBD or Pareto/NBD fitted on the orders up to the cutoff; score = 1 - P(alive)."""
    x, t_x, age = population.rfm()
    model, label, sample_size, fit_seconds = fit_btyd(population, which, HOLDOUT_FIT_CUSTOMERS)
    p_alive = model.p_alive(x, t_x, age)
    expected = model.expected_purchases(spec.horizon_days, x, t_x, age)
    threshold = spec.p_alive_threshold
    method = Method(
        key=which,
        label=label,
        description=f"{label} by maximum likelihood on the orders up to the cutoff "
        f"({sample_size:,} customers); flag: P(alive) < {threshold:g}; score = 1 - P(alive)",
        score=np.asarray(1.0 - p_alive, dtype=np.float64),
        lost=np.asarray(p_alive < threshold, dtype=np.bool_),
        at_risk=None,
        alerts=Alerts.empty(),
        probability=True,
        horizon_score=np.asarray(-expected, dtype=np.float64),
        params=dataclasses.asdict(model) | {"fit_seconds": round(fit_seconds, 2)},
    )
    return method, p_no_order(model, spec.horizon_days, x, t_x, age)


def cnbd_method(population: Population, spec: EvaluationSpec) -> tuple[Method, FloatArray]:
    """MBG/CNBD-k, k chosen by likelihood; score = 1 - P(alive)."""
    data = cnbd.Customers.of(population)
    started = time.perf_counter()
    model = cnbd.fit_mbgcnbd(data)
    fit_seconds = time.perf_counter() - started
    p_alive = model.p_alive(data)
    threshold = spec.p_alive_threshold
    method = Method(
        key=CNBD,
        label="MBG/CNBD-k",
        description=f"MBG/CNBD-k (Erlang-{model.k} intervals, k by likelihood) by maximum "
        f"likelihood on the orders up to the cutoff; flag: P(alive) < {threshold:g}; "
        "score = 1 - P(alive)",
        score=np.asarray(1.0 - p_alive, dtype=np.float64),
        lost=np.asarray(p_alive < threshold, dtype=np.bool_),
        at_risk=None,
        alerts=Alerts.empty(),
        probability=True,
        params=dataclasses.asdict(model) | {"fit_seconds": round(fit_seconds, 2)},
    )
    return method, model.p_no_purchase(spec.horizon_days, data)


def p_no_order(
    model: baselines.BGNBD | baselines.ParetoNBD,
    horizon_days: float,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """P(no purchase in ``(T, T + t]``) given each customer's history.

    Gone customers buy nothing; an alive one's rate given the history is
    Gamma(r + x, alpha + T). BG/NBD customers drop out only after a purchase, so an alive one
    makes none with probability ``((alpha+T) / (alpha+T+t))^(r+x)``. A Pareto/NBD customer
    alive at T lives on for a Lomax(s, beta + T) time ``u`` (memoryless given the posterior
    dropout rate), and makes no purchase in ``min(u, t)`` with probability
    ``((alpha+T) / (alpha+T+min(u, t)))^(r+x)``; that expectation over ``u`` is integrated by
    Gauss-Legendre quadrature on ``[0, t]`` plus the mass beyond ``t``.
    """
    xa = np.asarray(x, dtype=np.float64)
    ta = np.asarray(t_x, dtype=np.float64)
    age_a = np.asarray(age, dtype=np.float64)
    alive = model.p_alive(xa, ta, age_a)
    shape, scale = model.r + xa, model.alpha + age_a

    def silent(span: FloatArray) -> FloatArray:
        return np.asarray(np.exp(-shape * np.log1p(span / scale)), dtype=np.float64)

    t = float(horizon_days)
    if isinstance(model, baselines.BGNBD):
        quiet = silent(np.full_like(xa, t))
    else:
        s, beta = model.s, model.beta + age_a
        nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
        u = (nodes[:, None] + 1.0) * t / 2.0  # nodes x customers
        density = s / beta * np.exp(-(s + 1.0) * np.log1p(u / beta))
        shape2, scale2 = shape[None, :], scale[None, :]
        quiet_u = np.exp(-shape2 * np.log1p(u / scale2))
        integral = t / 2.0 * np.einsum("n,nc->c", weights, quiet_u * density)
        survives = np.exp(-s * np.log1p(t / beta))
        quiet = integral + survives * silent(np.full_like(xa, t))
    return np.asarray((1.0 - alive) + alive * quiet, dtype=np.float64)


# --- scoring -----------------------------------------------------------------------------------


def method_metrics(
    method: Method, population: Population, p_zero: FloatArray | None
) -> dict[str, Any]:
    """Every metric of one method against the no-order label, as in ``metrics.json``."""
    label = population.no_order
    result: dict[str, Any] = {
        "label": method.label,
        "description": method.description,
        "auc_no_order": roc_auc(label, method.score),
        "lost": flag_metrics(method.lost, label),
        "at_risk": None if method.at_risk is None else flag_metrics(method.at_risk, label),
        "brier": brier_score(method.score, label) if method.probability else None,
        "calibration": calibration(method.score, label) if method.probability else None,
        "by_orders": by_orders(method, population),
    }
    if method.horizon_score is not None:
        result["auc_no_order_expected_orders"] = roc_auc(label, method.horizon_score)
    if p_zero is not None:
        result["p_no_order"] = {
            "auc": roc_auc(label, p_zero),
            "brier": brier_score(p_zero, label),
            "calibration": calibration(p_zero, label),
        }
    if method.params:
        result["params"] = method.params
    return result


def flag_metrics(flags: BoolArray, label: BoolArray) -> dict[str, Any]:
    precision, recall = precision_recall(flags, label)
    return {"flagged": int(flags.sum()), "precision": precision, "recall": recall}


def brier_score(probability: npt.ArrayLike, label: npt.ArrayLike) -> float:
    """Mean squared gap between a probability and the 0/1 outcome (nan with no customer)."""
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


def calibration(probability: FloatArray, label: BoolArray) -> dict[str, Any]:
    """Reliability per decile of the probability, and the customer-weighted mean gap."""
    bins = calibration_by_decile(probability, label)
    total = sum(b.n_customers for b in bins)
    error = sum(b.n_customers * abs(b.mean_score - b.observed_rate) for b in bins)
    return {
        "deciles": [b._asdict() for b in bins],
        "error": error / total if total else float("nan"),
    }


def by_orders(method: Method, population: Population) -> dict[str, Any]:
    """Within groups by number of orders up to the cutoff: AUC, lost precision and recall."""
    counts = population.order_counts
    label = population.no_order
    out: dict[str, Any] = {}
    for name, low, high in ORDER_GROUPS:
        member = (counts >= low) & (counts <= high)
        if not member.any():
            continue
        precision, recall = precision_recall(method.lost[member], label[member])
        out[name] = {
            "customers": int(member.sum()),
            "no_order_rate": float(label[member].mean()),
            "auc_no_order": roc_auc(label[member], method.score[member]),
            "median_score": float(np.median(method.score[member])),
            "lost_flagged": int(method.lost[member].sum()),
            "lost_precision": precision,
            "lost_recall": recall,
        }
    return out


# --- context -----------------------------------------------------------------------------------


def _run_info(
    events: Sequence[InputFile],
    spec: EvaluationSpec,
    policy: Policy,
    run: DetectorRun,
    seconds: float,
    model: PopulationModel | None = None,
) -> dict[str, Any]:
    horizon_end = spec.cutoff + spec.horizon_days * DAY
    summary = run.summary
    return {
        "mode": "holdout",
        "label": "no placed order in (cutoff, cutoff + horizon]",
        "events": [f.name for f in events],
        "cutoff": _iso(spec.cutoff),
        "horizon_days": spec.horizon_days,
        "horizon_end": _iso(horizon_end),
        # The label needs orders up to the horizon's end; allow a day of quiet at the end.
        "horizon_complete": run.orders.newest_order_at >= horizon_end - DAY,
        "lines": summary.lines,
        "events_applied": summary.applied,
        "rejected": sum(summary.rejected.values()),
        "decisions": dict(summary.decisions),
        "policy": dataclasses.asdict(policy),
        "model": (model or PopulationModel.from_policy(policy)).to_dict(),
        "seconds": round(seconds, 1),
    }


def _population_info(population: Population) -> dict[str, Any]:
    label = population.no_order
    rate = float(label.mean())
    counts = population.order_counts
    return {
        "evaluated": population.size,
        "no_order_in_horizon": int(label.sum()),
        "no_order_rate": rate,
        # The Brier score of predicting the base rate for everyone: a probability worth having
        # scores below it.
        "brier_base_rate": rate * (1.0 - rate),
        "one_order_customers": int((counts == 1).sum()),
        "orders_before_cutoff": int(counts.sum()),
    }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
