"""Alerts over time: when each method would have flagged each customer, before the cutoff.

Flags at the cutoff say *whether*; timeliness and false alarms need *when*. Every method is
brought to the same form, an :class:`Alerts` table (customer, time, whether it is a ``lost``
level alert), from which the same functions compute:

* :func:`final_episode`: the first alert and the first ``lost`` alert since the customer's
  last order before the cutoff (for a churner: the alerts about their actual departure);
* :func:`false_alarms`: alerts raised while the customer had not churned yet;
* :func:`exposure_months`: the active customer-months in which those alerts could happen.

The detector's alerts are its ``at_risk`` and ``lost`` decisions. A baseline is a *gap rule*:
after each order it waits a time that depends on the history so far and alerts if no order
came by then (:class:`Gaps`, :func:`gap_alerts`): a fixed 90 days, twice the mean interval so
far, or until the BTYD model's P(alive) falls below a threshold (:func:`btyd_waits`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evaluation.inputs import DAY
from evaluation.metrics import active_customer_months
from evaluation.population import BoolArray, FloatArray, IntArray, Population

_BISECTION_STEPS = 24  # narrows a two-year bracket to a few seconds

PAlive = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]
"""``p_alive(x, t_x, T)`` of a fitted BTYD model, in days."""


@dataclass(frozen=True)
class Alerts:
    """Alerts raised before the cutoff: population index, epoch seconds, lost level or not."""

    customer: IntArray
    at: FloatArray
    lost: BoolArray

    @classmethod
    def empty(cls) -> Alerts:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.bool_))


def final_episode(alerts: Alerts, last_order: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per customer, the first alert and the first lost alert at or after the last order.

    Both are nan when there is none.
    """
    current = alerts.at >= last_order[alerts.customer]
    first_alert = _earliest(alerts.customer[current], alerts.at[current], last_order.size)
    lost = current & alerts.lost
    first_lost = _earliest(alerts.customer[lost], alerts.at[lost], last_order.size)
    return first_alert, first_lost


def _earliest(customer: IntArray, at: FloatArray, n: int) -> FloatArray:
    earliest = np.full(n, np.inf)
    np.minimum.at(earliest, customer, at)
    return np.asarray(np.where(np.isinf(earliest), np.nan, earliest), dtype=np.float64)


def false_alarms(alerts: Alerts, churned_at: FloatArray) -> tuple[int, int]:
    """``(alerts, lost alerts)`` raised on customers who had not churned at that time."""
    early = alerts.at < churned_at[alerts.customer]
    return int(early.sum()), int((early & alerts.lost).sum())


def exposure_months(population: Population, among: BoolArray | None = None) -> float:
    """Customer-months observed while truly active: first order to churn or the cutoff.

    ``among`` restricts the sum to some customers (a mask over the population).
    """
    until = np.minimum(population.churned_at, population.cutoff)
    days = np.maximum(until - population.first_order, 0.0) / DAY
    return active_customer_months(days if among is None else days[among])


# --- gap rules (baselines) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Gaps:
    """One row per order before the cutoff: the silence that followed it.

    ``repeats`` is the number of repeat orders up to and including this one (BTYD's ``x``);
    ``end`` is the next order or, for the customer's last order (``last``), the cutoff.
    """

    customer: IntArray
    start: FloatArray
    end: FloatArray
    repeats: FloatArray
    first: FloatArray
    last: BoolArray

    @classmethod
    def of(cls, population: Population) -> Gaps:
        times, offsets = population.order_times, population.offsets
        counts = np.diff(offsets)
        customer = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        position = np.arange(times.size, dtype=np.int64) - offsets[:-1][customer]
        last = position == counts[customer] - 1
        end = np.empty_like(times)
        end[:-1] = times[1:]
        end[last] = population.cutoff
        return cls(
            customer=customer,
            start=times,
            end=end,
            repeats=position.astype(np.float64),
            first=times[offsets[:-1]][customer],
            last=np.asarray(last, dtype=np.bool_),
        )


def gap_alerts(gaps: Gaps, waits: FloatArray) -> Alerts:
    """A lost-level alert wherever the wait (seconds, inf = never) ends inside its gap.

    Inside the history a gap is closed by the next order (strictly before it); the last gap
    runs up to and including the cutoff.
    """
    fire = gaps.start + waits
    inside = np.where(gaps.last, fire <= gaps.end, fire < gaps.end) & np.isfinite(fire)
    return Alerts(gaps.customer[inside], fire[inside], np.ones(int(inside.sum()), np.bool_))


def recency_waits(gaps: Gaps, days: float) -> FloatArray:
    """The fixed-recency rule: every silence is flagged after ``days``."""
    return np.full(gaps.start.size, days * DAY)


def own_interval_waits(gaps: Gaps, multiple: float, fallback_days: float) -> FloatArray:
    """``multiple`` times the customer's mean interval up to that order.

    After the first order there is no interval yet: ``fallback_days`` stands in (the same
    population median :func:`evaluation.baselines.own_interval_score` falls back on).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (gaps.start - gaps.first) / gaps.repeats
    usable = (gaps.repeats > 0) & (mean > 0)
    return np.asarray(multiple * np.where(usable, mean, fallback_days * DAY), dtype=np.float64)


def btyd_waits(gaps: Gaps, p_alive: PAlive, threshold: float) -> FloatArray:
    """Time after each order until the model's P(alive) drops below ``threshold``.

    P(alive) falls monotonically with silence for BG/NBD and Pareto/NBD, so it is bisected,
    only for gaps in which it does fall below the threshold (inf for the others).
    """
    t_x = (gaps.start - gaps.first) / DAY
    end = (gaps.end - gaps.first) / DAY
    waits = np.full(t_x.size, np.inf)
    crossing = np.flatnonzero(p_alive(gaps.repeats, t_x, end) < threshold)
    x, lo, hi = gaps.repeats[crossing], t_x[crossing], end[crossing]
    # BG/NBD allows dropping out at the purchase itself: P(alive) can start below threshold.
    hi = np.where(p_alive(x, lo, lo) < threshold, lo, hi)
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2.0
        below = p_alive(x, t_x[crossing], mid) < threshold
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid)
    waits[crossing] = (hi - t_x[crossing]) * DAY
    return waits
