"""``churnwatch evaluate``: the detector and the classic baselines, scored on the same data.

One pass over the events file replays everything up to the cutoff through the real engine
(:func:`streams.replay.replay` with :class:`models.engine.Engine`), collecting its decisions,
while :class:`evaluation.inputs.OrderTap` notes the order times the baselines and the horizon
label need. Then every method is reduced to the same three things (:class:`Method`): a score
per customer at the cutoff, its flags at the cutoff, and the alerts it raised over time. The
same functions score them all (:func:`method_metrics`), so the comparison is like for like.

The metric definitions are written down in ``docs/evaluation.md``; the keys of the result are
those of ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, cast

import numpy as np

from evaluation import baselines
from evaluation.alerts import (
    Alerts,
    Gaps,
    btyd_waits,
    exposure_months,
    false_alarms,
    final_episode,
    gap_alerts,
    own_interval_waits,
    recency_waits,
)
from evaluation.inputs import DAY, InputError, OrderLog, OrderTap, TruthRecord
from evaluation.metrics import (
    calibration_by_decile,
    delay_summary,
    false_alarms_per_1000_per_month,
    precision_recall,
    precision_recall_by_threshold,
    recall_by_group,
    roc_auc,
)
from evaluation.population import (
    BoolArray,
    Exclusions,
    FloatArray,
    IntArray,
    Population,
    build_population,
)
from evaluation.stream import StreamResults, Window, default_window_start, score_methods
from evaluation.value import DETECTOR as VALUE_DETECTOR
from evaluation.value import PAST_SPEND_RATE, past_spend_rate, predicted_spend, value_metrics
from models.assessment import no_order_within
from models.churn_rate import ChurnLedger, MonthRow
from models.decisions import AT_RISK, LOST, Decision
from models.engine import Engine
from models.policy import Policy
from models.population import PopulationModel
from streams import churn_table
from streams.progress import Progress
from streams.replay import InputFile, ReplaySummary, replay

DETECTOR = "detector"
DELAY_BAR_INTERVALS = 2.0
# BTYD models are fitted on at most this many customers (a fixed-seed uniform sample): on the
# simulated populations the Pareto/NBD likelihood is flat along s, beta -> infinity (every
# customer has the same churn hazard), so a fit on all 18,000 customers crawls for minutes,
# while a 4,000-customer sample gives the same AUC to four decimals in ~20 s.
BTYD_FIT_CUSTOMERS = 4000
_FIT_SAMPLE_SEED = 20250101
# The own-interval baseline's interval when no customer has two orders (degenerate inputs).
FALLBACK_INTERVAL_DAYS = 30.0


@dataclass(frozen=True)
class EvaluationSpec:
    """The cutoff (epoch seconds), the horizon of the second label, and the baselines' knobs."""

    cutoff: float
    horizon_days: float = 90.0
    recency_days: float = 90.0
    own_interval_multiple: float = 2.0
    p_alive_threshold: float = 0.5
    # Start of the window the stream is scored in (None: stream.default_window_start)
    score_from: float | None = None

    def __post_init__(self) -> None:
        if self.score_from is not None and not self.score_from < self.cutoff:
            raise ValueError("the scored window must start before the cutoff")
        if not self.horizon_days > 0:
            raise ValueError("the horizon must be more than 0 days")
        if not self.recency_days > 0 or not self.own_interval_multiple > 0:
            raise ValueError("baseline thresholds must be positive")
        if not 0 < self.p_alive_threshold < 1:
            raise ValueError("the P(alive) threshold must be between 0 and 1")


@dataclass(frozen=True)
class Method:
    """One way of judging customers, in the common form every metric is computed from.

    ``score`` is higher for customers more likely gone; ``lost`` is the method's firm flag at
    the cutoff and ``at_risk`` its broader one (``None`` for the one-flag baselines);
    ``probability`` says whether ``score`` is a churn probability (then it is calibrated).
    """

    key: str
    label: str
    description: str
    score: FloatArray
    lost: BoolArray
    at_risk: BoolArray | None
    alerts: Alerts
    probability: bool
    horizon_score: FloatArray | None = None  # BTYD: minus the expected orders in the horizon
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    """Per customer: the first alert and the first lost alert since the last order (or nan)."""

    first_alert: FloatArray
    first_lost: FloatArray


@dataclass(frozen=True)
class DetectorRun:
    """What the replay up to the cutoff produced."""

    status: dict[str, str]
    risk: dict[str, float]
    decisions: list[tuple[str, str, float]]  # (customer id, at_risk | lost, event time)
    orders: OrderLog
    summary: ReplaySummary
    # P(no order within the horizon after the cutoff), from the same model as the risk.
    no_order: dict[str, float] = dataclasses.field(default_factory=dict)
    # Expected spend in the horizon against what was spent (evaluation.value).
    value: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The monthly churn and recovery rates per segment, up to the cutoff (models.churn_rate).
    churn_rate: list[MonthRow] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """Everything ``evaluate`` found: ``metrics`` (the JSON document) and the data behind it."""

    metrics: dict[str, Any]
    population: Population
    methods: list[Method]
    timings: dict[str, Timing]
    policy: Policy


def run_detector(
    events: Sequence[InputFile],
    policy: Policy,
    spec: EvaluationSpec,
    progress: Progress | None = None,
    model: PopulationModel | None = None,
) -> DetectorRun:
    """Replay the events up to the cutoff; note orders up to the end of the horizon."""
    log = OrderLog(spec.cutoff, spec.cutoff + spec.horizon_days * DAY)
    tapped = [InputFile(f.name, cast(IO[bytes], OrderTap(f.handle, log))) for f in events]
    decisions: list[tuple[str, str, float]] = []

    def keep(decision: Decision) -> None:
        if decision.kind in (AT_RISK, LOST):
            decisions.append((decision.customer_id, decision.kind, decision.at))

    engine = Engine(policy, model)
    engine.ledger = ChurnLedger(policy)
    summary = replay(tapped, engine, keep, lambda _: None, until=spec.cutoff, progress=progress)
    status: dict[str, str] = {}
    risk: dict[str, float] = {}
    for view in engine.views():
        status[view["customer_id"]] = view["status"]
        risk[view["customer_id"]] = view["risk"]
    horizon = spec.horizon_days * DAY
    no_order = {
        cid: no_order_within(state, spec.cutoff, horizon, engine.policy, engine.model)
        for cid, state in engine.customers.items()
    }
    churn_rate = engine.ledger.rows(totals=True)
    predictions = {
        VALUE_DETECTOR: predicted_spend(
            engine.customers, spec.cutoff, spec.horizon_days, engine.policy, engine.model
        ),
        PAST_SPEND_RATE: past_spend_rate(
            engine.customers, log.oldest_order_at, spec.cutoff, spec.horizon_days
        ),
    }
    value = value_metrics(predictions, log.spend_after)
    return DetectorRun(status, risk, decisions, log, summary, no_order, value, churn_rate)


def evaluate(
    events: Sequence[InputFile],
    truth: dict[str, TruthRecord],
    spec: EvaluationSpec,
    policy: Policy,
    progress: Progress | None = None,
    model: PopulationModel | None = None,
) -> Evaluation:
    """Replay, build the population, run every baseline and score them all."""
    started = time.perf_counter()
    run = run_detector(events, policy, spec, progress, model)
    population, exclusions = build_population(truth, run.orders, spec.horizon_days)
    if population.size == 0:
        raise InputError("no customer of the truth file placed an order before the cutoff")
    methods = [detector_method(run, population, policy), *baseline_methods(population, spec)]
    timings = {m.key: timing_of(m, population) for m in methods}
    exposure = exposure_months(population)
    results = {m.key: method_metrics(m, population, timings[m.key], exposure) for m in methods}
    results[DETECTOR]["matched"] = matched_operating_points(methods[0], results, population.churned)
    stream = judge_stream(methods, population, run.orders, truth, spec, policy)
    for key, block in stream.methods.items():
        results[key]["stream"] = block
    metrics = {
        "run": _run_info(events, spec, policy, run, time.perf_counter() - started, model),
        "population": _population_info(population, exclusions, exposure),
        "methods": results,
        "bar": bar_check(results) | {"stream": stream.bar},
        "stream": stream.section,
        "value": run.value,
        "churn_rate": churn_table.as_json(run.churn_rate),
    }
    return Evaluation(metrics, population, methods, timings, policy)


def judge_stream(
    methods: Sequence[Method],
    population: Population,
    orders: OrderLog,
    truth: dict[str, TruthRecord],
    spec: EvaluationSpec,
    policy: Policy,
) -> StreamResults:
    """Every method's alerts (and the oracle's) scored event by event in the scored window."""
    start = spec.score_from
    if start is None:
        start = default_window_start(orders.oldest_order_at, spec.cutoff)
    return score_methods(
        {m.key: m.alerts for m in methods},
        population,
        orders,
        [truth[cid].rhythm for cid in population.ids],
        Window(start, spec.cutoff),
        (policy.at_risk_risk, policy.lost_risk),
        DETECTOR,
    )


# --- the methods -------------------------------------------------------------------------------


def detector_method(run: DetectorRun, population: Population, policy: Policy) -> Method:
    """The engine's status and risk at the cutoff, and its decisions as alerts."""
    ids = population.ids
    status = np.array([run.status.get(cid, "active") for cid in ids])
    index = {cid: i for i, cid in enumerate(ids)}
    kept = [(index[cid], kind == LOST, at) for cid, kind, at in run.decisions if cid in index]
    alerts = Alerts(
        customer=np.array([k[0] for k in kept], dtype=np.int64),
        at=np.array([k[2] for k in kept], dtype=np.float64),
        lost=np.array([k[1] for k in kept], dtype=np.bool_),
    )
    return Method(
        key=DETECTOR,
        label="Churnwatch",
        description=f"engine status at the cutoff (lost at risk >= {policy.lost_risk}, "
        f"at_risk at risk >= {policy.at_risk_risk} or an open complaint); score = risk",
        score=np.array([run.risk.get(cid, 0.0) for cid in ids], dtype=np.float64),
        lost=np.asarray(status == "lost", dtype=np.bool_),
        at_risk=np.asarray(status != "active", dtype=np.bool_),
        alerts=alerts,
        probability=True,
    )


def baseline_methods(population: Population, spec: EvaluationSpec) -> list[Method]:
    """The fixed-recency, own-interval, BG/NBD and Pareto/NBD baselines."""
    gaps = Gaps.of(population)
    return [
        recency_method(population, gaps, spec.recency_days),
        own_interval_method(population, gaps, spec.own_interval_multiple),
        btyd_method(population, gaps, spec, "bg_nbd"),
        btyd_method(population, gaps, spec, "pareto_nbd"),
    ]


def recency_method(population: Population, gaps: Gaps, days: float) -> Method:
    recency = population.recency_days()
    return Method(
        key=f"recency_{days:g}d",
        label=f"Recency > {days:g} d",
        description=f"flag: no order for more than {days:g} days; score = days since last order",
        score=baselines.recency_score(recency),
        lost=baselines.recency_threshold_flags(recency, days),
        at_risk=None,
        alerts=gap_alerts(gaps, recency_waits(gaps, days)),
        probability=False,
        params={"threshold_days": days},
    )


def own_interval_method(population: Population, gaps: Gaps, multiple: float) -> Method:
    """Silence against the customer's own mean interval; one-order customers get the median."""
    recency = population.recency_days()
    mean = population.observed_mean_interval_days()
    usable = np.isfinite(mean) & (mean > 0)
    fallback = float(np.median(mean[usable])) if usable.any() else FALLBACK_INTERVAL_DAYS
    filled = np.where(usable, mean, fallback)
    return Method(
        key=f"own_interval_{multiple:g}x",
        label=f"{multiple:g} x own interval",
        description=f"flag: silence longer than {multiple:g} x the customer's mean interval "
        f"before the cutoff (with one order: the median, {fallback:.1f} d); "
        "score = silence / mean interval",
        score=baselines.own_interval_score(recency, filled),
        lost=baselines.own_interval_flags(recency, filled, multiple),
        at_risk=None,
        alerts=gap_alerts(gaps, own_interval_waits(gaps, multiple, fallback)),
        probability=False,
        params={"multiple": multiple, "fallback_interval_days": fallback},
    )


def btyd_method(population: Population, gaps: Gaps, spec: EvaluationSpec, which: str) -> Method:
    """BG/NBD or Pareto/NBD fitted on the calibration period; score = 1 - P(alive)."""
    x, t_x, age = population.rfm()
    model, label, _, fit_seconds = fit_btyd(population, which, BTYD_FIT_CUSTOMERS)
    p_alive = model.p_alive(x, t_x, age)
    expected = model.expected_purchases(spec.horizon_days, x, t_x, age)
    threshold = spec.p_alive_threshold
    params = dataclasses.asdict(model) | {"fit_seconds": round(fit_seconds, 2)}
    return Method(
        key=which,
        label=label,
        description=f"{label} by maximum likelihood on the orders before the cutoff; "
        f"flag: P(alive) < {threshold:g}; score = 1 - P(alive)",
        score=np.asarray(1.0 - p_alive, dtype=np.float64),
        lost=np.asarray(p_alive < threshold, dtype=np.bool_),
        at_risk=None,
        alerts=gap_alerts(gaps, btyd_waits(gaps, model.p_alive, threshold)),
        probability=True,
        horizon_score=np.asarray(-expected, dtype=np.float64),
        params=params,
    )


def fit_btyd(
    population: Population, which: str, limit: int
) -> tuple[baselines.BGNBD | baselines.ParetoNBD, str, int, float]:
    """BG/NBD (``which`` = "bg_nbd") or Pareto/NBD fitted on at most ``limit`` customers'
    orders: the model, its label, the sample size and the seconds the fit took."""
    x, t_x, age = population.rfm()
    sample = fit_sample(population.size, limit)
    started = time.perf_counter()
    model: baselines.BGNBD | baselines.ParetoNBD
    if which == "bg_nbd":
        model, label = baselines.fit_bgnbd(x[sample], t_x[sample], age[sample]), "BG/NBD"
    else:
        model = baselines.fit_pareto_nbd(x[sample], t_x[sample], age[sample])
        label = "Pareto/NBD"
    return model, label, sample.size, time.perf_counter() - started


def fit_sample(size: int, limit: int) -> IntArray:
    """Indices of the customers a model is fitted on: all, or a fixed-seed uniform sample."""
    if size <= limit:
        return np.arange(size, dtype=np.int64)
    rng = np.random.default_rng(_FIT_SAMPLE_SEED)
    return np.sort(rng.choice(size, size=limit, replace=False)).astype(np.int64)


# --- scoring -----------------------------------------------------------------------------------


def timing_of(method: Method, population: Population) -> Timing:
    first_alert, first_lost = final_episode(method.alerts, population.last_order)
    return Timing(first_alert, first_lost)


def method_metrics(
    method: Method, population: Population, timing: Timing, exposure: float
) -> dict[str, Any]:
    """Every metric of one method, as it appears in ``metrics.json``."""
    churned, no_order = population.churned, population.no_order
    at_risk = method.at_risk
    result: dict[str, Any] = {
        "label": method.label,
        "description": method.description,
        "auc_churned": roc_auc(churned, method.score),
        "auc_no_order": roc_auc(no_order, method.score),
        "lost": flag_metrics(method.lost, population),
        "at_risk": None if at_risk is None else flag_metrics(at_risk, population),
        "recall_by_cause": {
            "lost": cause_recall(method.lost, population),
            "at_risk": None if at_risk is None else cause_recall(at_risk, population),
        },
        **timeliness(timing, population),
        "false_alarms": false_alarm_metrics(method, population, timing, exposure),
        "calibration": calibration(method, population) if method.probability else None,
        "by_kind": by_kind(method, population, timing),
    }
    if method.horizon_score is not None:
        result["auc_no_order_expected_orders"] = roc_auc(no_order, method.horizon_score)
    if method.params:
        result["params"] = method.params
    return result


def flag_metrics(flags: BoolArray, population: Population) -> dict[str, Any]:
    """Precision, recall and F1 against churned-by-cutoff; precision, recall against no-order."""
    precision, recall = precision_recall(flags, population.churned)
    precision_h, recall_h = precision_recall(flags, population.no_order)
    return {
        "flagged": int(flags.sum()),
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "precision_no_order": precision_h,
        "recall_no_order": recall_h,
    }


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total > 0 else float("nan")


def cause_recall(flags: BoolArray, population: Population) -> dict[str, dict[str, float]]:
    groups = [cause or "none" for cause in population.causes]
    found = recall_by_group(flags, population.churned, groups)
    return {cause: {"recall": g.recall, "support": g.support} for cause, g in sorted(found.items())}


def timeliness(timing: Timing, population: Population) -> dict[str, Any]:
    """Delay of the lost flag after churn, and lead of the first alert before the missed order.

    The missed order ("the order that never came") is the last order before the cutoff plus
    the customer's own mean interval from the truth.
    """
    churned = population.churned
    interval = population.interval_days * DAY
    churned_at = population.churned_at
    delay = (timing.first_lost - churned_at)[churned]
    lead = (population.last_order + interval - timing.first_alert)[churned]
    eligible = churned & (churned_at + DELAY_BAR_INTERVALS * interval <= population.cutoff)
    with np.errstate(invalid="ignore"):
        in_time = eligible & (timing.first_lost <= churned_at + DELAY_BAR_INTERVALS * interval)
    n_eligible = int(eligible.sum())
    return {
        "delay_days": delay_summary(delay / DAY),
        "delay_intervals": delay_summary(delay / interval[churned]),
        "lost_before_churn": int(np.count_nonzero(delay < 0)),
        "lost_within_2_intervals": {
            "share": int(in_time.sum()) / n_eligible if n_eligible else float("nan"),
            "eligible": n_eligible,
        },
        "lead_days": delay_summary(lead / DAY),
        "lead_intervals": delay_summary(lead / interval[churned]),
        "lead_days_by_cause": _by_cause(lead / DAY, population),
        "alerted_before_missed_order": _share(lead >= 0, churned.sum()),
    }


def _by_cause(values: FloatArray, population: Population) -> dict[str, Any]:
    """Summaries of one value per churner (by the cutoff), grouped by the truth's cause."""
    causes = np.array([cause or "none" for cause in population.causes])[population.churned]
    return {cause: delay_summary(values[causes == cause]) for cause in sorted(set(causes.tolist()))}


def _share(mask: BoolArray, total: int | np.integer[Any]) -> float:
    return int(mask.sum()) / int(total) if total else float("nan")


def false_alarm_metrics(
    method: Method, population: Population, timing: Timing, exposure: float
) -> dict[str, Any]:
    """Alerts on customers not churned at the time, per 1,000 active customer-months.

    ``premature`` counts those raised in a churner's final silence (after the last order,
    before the truth's churn time): early rather than wrong, but counted as false alarms.
    """
    alerts = method.alerts
    n_all, n_lost = false_alarms(alerts, population.churned_at)
    customer = alerts.customer
    before_churn = alerts.at < population.churned_at[customer]
    final = alerts.at >= population.last_order[customer]
    premature = before_churn & final & population.churned[customer]
    return {
        "alerts": n_all,
        "per_1000_per_month": false_alarms_per_1000_per_month(n_all, exposure),
        "lost": n_lost,
        "lost_per_1000_per_month": false_alarms_per_1000_per_month(n_lost, exposure),
        "premature": int(premature.sum()),
        "total_alerts": int(alerts.at.size),
    }


def by_kind(method: Method, population: Population, timing: Timing) -> dict[str, Any]:
    """Recall, delay and false alarms within each purchase-rhythm kind of the truth."""
    kinds = np.array([kind or "unknown" for kind in population.kinds])
    churned = population.churned
    delay = (timing.first_lost - population.churned_at) / (population.interval_days * DAY)
    alerts = method.alerts
    early = alerts.at < population.churned_at[alerts.customer]
    out: dict[str, Any] = {}
    for kind in sorted(set(kinds.tolist())):
        member = kinds == kind
        exposure = exposure_months(population, member)
        alarms = int((early & member[alerts.customer]).sum())
        out[kind] = {
            "customers": int(member.sum()),
            "churned": int((member & churned).sum()),
            "auc_churned": roc_auc(churned[member], method.score[member]),
            "auc_no_order": roc_auc(population.no_order[member], method.score[member]),
            "lost_precision": precision_recall(method.lost[member], churned[member])[0],
            "lost_recall": precision_recall(method.lost[member], churned[member])[1],
            "delay_intervals_median": delay_summary(delay[member & churned])["median"],
            "false_alarms_per_1000_per_month": false_alarms_per_1000_per_month(alarms, exposure),
        }
    return out


def calibration(method: Method, population: Population) -> dict[str, Any]:
    """Observed rates per decile of the score, and the size-weighted calibration error."""
    out: dict[str, Any] = {}
    for name, labels in (("churned", population.churned), ("no_order", population.no_order)):
        bins = calibration_by_decile(method.score, labels)
        out[name] = [b._asdict() for b in bins]
        total = sum(b.n_customers for b in bins)
        error = sum(b.n_customers * abs(b.mean_score - b.observed_rate) for b in bins)
        out[f"error_{name}"] = error / total if total else float("nan")
    return out


def matched_operating_points(
    detector: Method, results: dict[str, dict[str, Any]], labels: BoolArray
) -> dict[str, dict[str, Any]]:
    """For each baseline's flag: the detector's best precision at (at least) its recall and
    best recall at (at least) its precision, over every threshold on ``risk``, against
    ``labels`` (churned with truth; no order in the horizon without).

    ``dominated`` says some risk threshold is at least as good on both at once.
    """
    thresholds = np.unique(detector.score)
    precision, recall = precision_recall_by_threshold(detector.score, labels, thresholds)
    precision = np.nan_to_num(precision, nan=0.0)
    out: dict[str, dict[str, Any]] = {}
    for key, result in results.items():
        if key == DETECTOR:
            continue
        p_b, r_b = result["lost"]["precision"], result["lost"]["recall"]
        at_recall = precision[recall >= r_b]
        at_precision = recall[precision >= p_b]
        best_precision = float(at_recall.max()) if at_recall.size else float("nan")
        best_recall = float(at_precision.max()) if at_precision.size else float("nan")
        out[key] = {
            "baseline_precision": p_b,
            "baseline_recall": r_b,
            "precision_at_recall": best_precision,
            "recall_at_precision": best_recall,
            "dominated": bool(best_precision >= p_b),
        }
    return out


def bar_check(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's bar: the detector beats every baseline, and its median delay is short."""
    detector = results[DETECTOR]
    others = [r for key, r in results.items() if key != DETECTOR]

    def beats(get: Any) -> bool:
        mine = get(detector)
        return bool(all(mine > get(other) for other in others))

    checks = {
        "auc_churned": beats(lambda r: r["auc_churned"]),
        "auc_no_order": beats(lambda r: r["auc_no_order"]),
        "lost_precision": beats(lambda r: r["lost"]["precision"]),
        "lost_recall": beats(lambda r: r["lost"]["recall"]),
        "median_delay_at_most_2_intervals": bool(
            detector["delay_intervals"]["median"] <= DELAY_BAR_INTERVALS
        ),
    }
    # Not part of the bar: whether, for each baseline, some threshold on risk beats its flag on
    # precision and recall at once (the bar asks one lost flag to beat all of them at once).
    matched = detector.get("matched", {})
    dominates = all(m["dominated"] for m in matched.values())
    return {
        "checks": checks,
        "passed": all(checks.values()),
        "risk_dominates_every_baseline_flag": dominates,
    }
    return {**checks, "passed": all(checks.values())}


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


def _population_info(
    population: Population, exclusions: Exclusions, exposure: float
) -> dict[str, Any]:
    churned = population.churned
    causes: dict[str, int] = {}
    for cause, gone in zip(population.causes, churned.tolist(), strict=True):
        if gone:
            causes[cause or "none"] = causes.get(cause or "none", 0) + 1
    return {
        "customers_in_truth": exclusions.in_truth,
        "evaluated": population.size,
        "excluded_no_order_before_cutoff": exclusions.no_order_before_cutoff,
        "ignored_not_in_truth": exclusions.not_in_truth,
        "churned_by_cutoff": int(churned.sum()),
        "no_order_in_horizon": int(population.no_order.sum()),
        "churned_by_cause": dict(sorted(causes.items())),
        "active_customer_months": exposure,
    }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
