"""Judging the stream: every published decision scored at its own time against the truth.

The snapshot metrics of :mod:`evaluation.evaluate` judge the status each customer holds at the
cutoff; a subscriber acts on every ``at_risk`` and ``lost`` event as it arrives. This module
scores those events one by one, for any method that raises them over time (the detector's
decisions, the baselines' gap-rule alerts, the oracle's threshold crossings), in a scored
window ``[start, end]`` that skips the warm-up:

* per decision type: the events in the window, the share right at their own time (the
  customer had churned by then), the share followed by an order within the horizon, the
  repeats (a second or later event of the type in one silence, i.e. between two orders) and
  the wrong events per 1,000 active customer-months;
* churners: the share flagged ``lost`` after their last order, and how long after churning;
* the lead of the ``at_risk`` warning before each ``lost`` event of the same silence.

:func:`score` is a plain numpy function over arrays (no events file, no engine) so that model
tuning can call it in a loop. The definitions are written down in ``docs/evaluation.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from evaluation.alerts import Alerts
from evaluation.inputs import DAY, OrderLog, TrueRhythm
from evaluation.metrics import active_customer_months, delay_summary
from evaluation.oracle import oracle_alerts, oracle_parameters
from evaluation.population import BoolArray, FloatArray, IntArray, Population

YEAR = 365 * DAY
# A churner is judged on when they were flagged only if the window leaves at least this many of
# their own mean intervals after churning: the delay the bar allows.
CHURNER_MIN_INTERVALS = 2.5


@dataclass(frozen=True)
class Window:
    """The scored window, epoch seconds, both ends included."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("the scored window must start before it ends")


def default_window_start(first_event: float, cutoff: float) -> float:
    """A year after the first event when that is before the cutoff, else halfway to it."""
    after_a_year = first_event + YEAR
    return after_a_year if after_a_year < cutoff else (first_event + cutoff) / 2.0


@dataclass(frozen=True)
class StreamTruth:
    """Per customer (index ``i``): churn time (epoch seconds, inf: never) and mean interval."""

    churned_at: FloatArray
    interval_days: FloatArray


@dataclass(frozen=True)
class OrderHistory:
    """Every placed order up to the window's end plus the horizon, CSR by customer.

    Customer ``i``'s order times, ascending, are ``times[offsets[i]:offsets[i + 1]]``.
    """

    times: FloatArray
    offsets: IntArray

    @classmethod
    def of(cls, per_customer: Sequence[Sequence[float]]) -> OrderHistory:
        counts = [len(times) for times in per_customer]
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        flat = [t for times in per_customer for t in sorted(times)]
        return cls(np.array(flat, dtype=np.float64), offsets)

    @property
    def counts(self) -> IntArray:
        return np.asarray(np.diff(self.offsets), dtype=np.int64)

    def orders_up_to(self, customer: IntArray, at: FloatArray) -> IntArray:
        """For each ``(customer, at)``: how many of the customer's orders are at or before ``at``.

        A binary search in every query's own slice of ``times``, all queries at once.
        """
        lo = self.offsets[customer]
        hi = self.offsets[customer + 1]
        last = max(self.times.size - 1, 0)
        while True:
            open_ = lo < hi
            if not open_.any():
                break
            mid = (lo + hi) // 2
            later = self.times[np.minimum(mid, last)] > at if self.times.size else open_
            hi = np.where(open_ & later, mid, hi)
            lo = np.where(open_ & ~later, mid + 1, lo)
        return np.asarray(lo - self.offsets[customer], dtype=np.int64)


@dataclass(frozen=True)
class _Silences:
    """Per decision: the silence it belongs to and the order that ended it (inf: none yet)."""

    key: IntArray  # customer * stride + orders up to the decision: one value per silence
    next_order: FloatArray


def _silences(decisions: Alerts, orders: OrderHistory) -> _Silences:
    customer, at = decisions.customer, decisions.at
    up_to = orders.orders_up_to(customer, at)
    counts = orders.counts
    stride = int(counts.max(initial=0)) + 1
    position = orders.offsets[customer] + up_to
    has_next = up_to < counts[customer]
    safe = np.minimum(position, max(orders.times.size - 1, 0))
    next_order = np.where(has_next, orders.times[safe] if orders.times.size else np.inf, np.inf)
    return _Silences(customer * stride + up_to, np.asarray(next_order, dtype=np.float64))


def _repeats(decisions: Alerts, key: IntArray) -> BoolArray:
    """True for a decision preceded by one of the same type in the same silence."""
    order = np.lexsort((decisions.at, decisions.lost, key))
    same = (key[order][1:] == key[order][:-1]) & (
        decisions.lost[order][1:] == decisions.lost[order][:-1]
    )
    repeat = np.zeros(key.size, dtype=np.bool_)
    repeat[order[1:]] = same
    return repeat


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def exposure_months(truth: StreamTruth, orders: OrderHistory, window: Window) -> float:
    """Customer-months in the window while truly active: after the first order, before churn."""
    counts = orders.counts
    ordered = counts > 0
    first = np.full(counts.size, np.inf)
    first[ordered] = orders.times[orders.offsets[:-1][ordered]]
    since = np.maximum(first, window.start)
    until = np.minimum(truth.churned_at, window.end)
    days = np.where(ordered, np.maximum(until - since, 0.0), 0.0) / DAY
    return active_customer_months(days)


def score(
    decisions: Alerts,
    truth: StreamTruth,
    orders: OrderHistory,
    window: Window,
    horizon_days: float,
    churner_min_intervals: float = CHURNER_MIN_INTERVALS,
) -> dict[str, Any]:
    """Every stream metric of one method's decisions (``lost`` true: ``lost``, else ``at_risk``).

    ``decisions`` index customers as ``truth`` and ``orders`` do; ``orders`` must hold every
    placed order up to ``window.end + horizon_days``. Ratios with nothing to count are nan.
    """
    horizon = horizon_days * DAY
    silences = _silences(decisions, orders)
    repeat = _repeats(decisions, silences.key)
    at, customer = decisions.at, decisions.customer
    inside = (at >= window.start) & (at <= window.end)
    right = truth.churned_at[customer] <= at
    followed = silences.next_order - at <= horizon
    months = exposure_months(truth, orders, window)
    result: dict[str, Any] = {}
    for name, kind in (("at_risk", ~decisions.lost), ("lost", decisions.lost)):
        chosen = inside & kind
        n = int(chosen.sum())
        wrong = int((chosen & ~right).sum())
        result[name] = {
            "events": n,
            "precision": _ratio(int((chosen & right).sum()), n),
            "followed_by_order": _ratio(int((chosen & followed).sum()), n),
            "repeats": int((chosen & repeat).sum()),
            "wrong": wrong,
            "wrong_per_1000_active_months": _ratio(1000.0 * wrong, months),
        }
    result["churners"] = _churners(decisions, truth, orders, window, churner_min_intervals)
    result["at_risk_lead"] = _lead(decisions, silences.key, inside, truth)
    result["active_customer_months"] = months
    return result


def _churners(
    decisions: Alerts,
    truth: StreamTruth,
    orders: OrderHistory,
    window: Window,
    min_intervals: float,
) -> dict[str, Any]:
    """Churners in the window with time left to be flagged: flagged share and delay."""
    interval = truth.interval_days * DAY
    churned_at = truth.churned_at
    eligible = (
        np.isfinite(churned_at)
        & (churned_at >= window.start)
        & (churned_at + min_intervals * interval <= window.end)
    )
    who = np.flatnonzero(eligible)
    up_to = orders.orders_up_to(who, churned_at[who])
    last_order = np.full(churned_at.size, np.inf)  # inf: not eligible
    has_order = up_to > 0
    last_order[who] = -np.inf
    last_order[who[has_order]] = orders.times[orders.offsets[who[has_order]] + up_to[has_order] - 1]
    customer = decisions.customer
    final = decisions.lost & (decisions.at >= last_order[customer])
    first_lost = np.full(churned_at.size, np.inf)
    np.minimum.at(first_lost, customer[final], decisions.at[final])
    first = first_lost[who]
    found = np.isfinite(first)
    delay = (first[found] - churned_at[who][found]) / DAY
    return {
        "eligible": int(who.size),
        "min_intervals_before_window_end": min_intervals,
        "churners_flagged": _ratio(int(found.sum()), who.size),
        "delay_days": delay_summary(delay),
        "delay_intervals": delay_summary(delay / truth.interval_days[who][found]),
    }


def _lead(
    decisions: Alerts, key: IntArray, inside: BoolArray, truth: StreamTruth
) -> dict[str, Any]:
    """For each ``lost`` in the window: time since the first ``at_risk`` of its silence."""
    warning = ~decisions.lost
    warn_key, warn_at = key[warning], decisions.at[warning]
    order = np.lexsort((warn_at, warn_key))
    warn_key, warn_at = warn_key[order], warn_at[order]
    first_of_silence = np.r_[True, warn_key[1:] != warn_key[:-1]] if warn_key.size else warn_key
    silences, first_at = warn_key[first_of_silence], warn_at[first_of_silence]
    lost = decisions.lost & inside
    lost_key, lost_at = key[lost], decisions.at[lost]
    place = np.searchsorted(silences, lost_key)
    safe = np.minimum(place, max(silences.size - 1, 0))
    found = (place < silences.size) & (silences[safe] == lost_key) if silences.size else place < 0
    warned_at = np.where(found, first_at[safe] if silences.size else 0.0, np.inf)
    warned = warned_at <= lost_at
    lead = np.where(warned, lost_at - warned_at, 0.0)
    interval = truth.interval_days[decisions.customer[lost]] * DAY
    return {
        "lost_events": int(lost_at.size),
        "share_without_at_risk": _ratio(int((~warned).sum()), lost_at.size),
        "share_under_1_day": _ratio(int((lead < DAY).sum()), lost_at.size),
        "days": delay_summary(lead / DAY),
        "intervals": delay_summary(lead / interval),
    }


def bar_check(detector: dict[str, Any], oracle: dict[str, Any] | None) -> dict[str, Any]:
    """The issue's bar on the stream, for the detector; it reports, it does not fail a run.

    The delay passes at 2.5 own intervals or less, or within half an interval of the oracle's
    (where the limit itself needs longer).
    """
    delay = detector["churners"]["delay_intervals"]["median"]
    oracle_delay = (
        float("nan") if oracle is None else oracle["churners"]["delay_intervals"]["median"]
    )
    checks = {
        "lost_precision_at_least_0.80": bool(detector["lost"]["precision"] >= 0.80),
        "churners_flagged_at_least_0.90": bool(detector["churners"]["churners_flagged"] >= 0.90),
        "median_delay_at_most_2.5_intervals_or_oracle_plus_0.5": bool(
            delay <= 2.5 or delay <= oracle_delay + 0.5
        ),
        "no_repeats": detector["at_risk"]["repeats"] == 0 and detector["lost"]["repeats"] == 0,
        "median_at_risk_lead_at_least_0.5_intervals": bool(
            detector["at_risk_lead"]["intervals"]["median"] >= 0.5
        ),
    }
    return {"checks": checks, "passed": all(checks.values())}


# --- every method of an evaluation -------------------------------------------------------------


ORACLE = "oracle"


@dataclass(frozen=True)
class StreamResults:
    """The stream metrics of each method, the oracle's row and the window they cover."""

    methods: dict[str, dict[str, Any]]
    section: dict[str, Any]  # ``metrics.json``'s ``stream``: window, oracle, notes
    bar: dict[str, Any]
    oracle_alerts: Alerts | None


def history_of(population: Population, orders: OrderLog) -> OrderHistory:
    """The population's orders before the cutoff and in the horizon after it."""
    before, offsets = population.order_times, population.offsets
    per_customer = [
        [*before[offsets[i] : offsets[i + 1]].tolist(), *sorted(orders.after.get(cid, ()))]
        for i, cid in enumerate(population.ids)
    ]
    return OrderHistory.of(per_customer)


def score_methods(
    alerts: dict[str, Alerts],
    population: Population,
    orders: OrderLog,
    rhythms: Sequence[TrueRhythm | None],
    window: Window,
    thresholds: tuple[float, float],
    detector: str,
) -> StreamResults:
    """Score every method's alerts and the oracle's (``thresholds``: at_risk, lost risk)."""
    started = time.perf_counter()
    truth = StreamTruth(population.churned_at, population.interval_days)
    history = history_of(population, orders)
    horizon = population.horizon_days
    methods = {key: score(a, truth, history, window, horizon) for key, a in alerts.items()}
    params = oracle_parameters(population, rhythms)
    found: Alerts | None = None
    oracle: dict[str, Any] | None = None
    note = "the truth lacks the simulator's parameters (older truth file): no oracle"
    if params is not None:
        found = oracle_alerts(population, params, *thresholds)
        oracle = score(found, truth, history, window, horizon)
        note = (
            f"posterior of having churned with each customer's true parameters, at_risk at "
            f"risk >= {thresholds[0]:g}, lost at risk >= {thresholds[1]:g}"
        )
    section = {
        "window": {"from": _iso(window.start), "to": _iso(window.end)},
        "horizon_days": horizon,
        "churner_min_intervals": CHURNER_MIN_INTERVALS,
        "oracle": None if oracle is None else {"label": "Oracle", "description": note} | oracle,
        "oracle_note": note,
        "seconds": round(time.perf_counter() - started, 1),  # scoring and the oracle
    }
    return StreamResults(methods, section, bar_check(methods[detector], oracle), found)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
