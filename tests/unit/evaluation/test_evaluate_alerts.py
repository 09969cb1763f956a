"""Alert timelines, delays, lead times and false-alarm exposure, computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
from evaluation.baselines import BGNBD
from evaluation.evaluate import Timing, timeliness
from evaluation.inputs import DAY
from evaluation.metrics import DAYS_PER_MONTH
from evaluation.population import Population

CUTOFF = 100 * DAY  # times are seconds from an arbitrary origin; only differences matter


def population(
    orders: list[list[float]],
    churned_day: list[float],
    interval_days: list[float],
    no_order: list[bool] | None = None,
) -> Population:
    """A population from order days per customer (churned_day inf: never churned)."""
    counts = [len(days) for days in orders]
    offsets = np.zeros(len(orders) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Population(
        cutoff=CUTOFF,
        horizon_days=30.0,
        ids=[f"c{i}" for i in range(len(orders))],
        churned_at=np.array(churned_day, dtype=np.float64) * DAY,
        causes=["habit_lapse" if math.isfinite(d) else None for d in churned_day],
        kinds=["regular"] * len(orders),
        interval_days=np.array(interval_days, dtype=np.float64),
        order_times=np.array([d * DAY for days in orders for d in days], dtype=np.float64),
        offsets=offsets,
        no_order=np.array(no_order or [True] * len(orders), dtype=np.bool_),
    )


def alerts(rows: list[tuple[int, float, bool]]) -> Alerts:
    """Alerts from (customer, day, lost) rows."""
    return Alerts(
        customer=np.array([r[0] for r in rows], dtype=np.int64),
        at=np.array([r[1] * DAY for r in rows], dtype=np.float64),
        lost=np.array([r[2] for r in rows], dtype=np.bool_),
    )


# Customer 0 orders on days 0, 10, 40 and churns on day 45; customer 1 orders on day 20 only
# and never churns.
POP = population([[0, 10, 40], [20]], churned_day=[45, math.inf], interval_days=[10, 50])


def test_gaps_run_from_each_order_to_the_next_or_the_cutoff() -> None:
    gaps = Gaps.of(POP)
    assert gaps.customer.tolist() == [0, 0, 0, 1]
    assert (gaps.start / DAY).tolist() == [0, 10, 40, 20]
    assert (gaps.end / DAY).tolist() == [10, 40, 100, 100]
    assert gaps.repeats.tolist() == [0, 1, 2, 0]
    assert (gaps.first / DAY).tolist() == [0, 0, 0, 20]
    assert gaps.last.tolist() == [False, False, True, True]


def test_recency_rule_alerts_only_in_silences_longer_than_the_threshold() -> None:
    gaps = Gaps.of(POP)
    found = gap_alerts(gaps, recency_waits(gaps, 25.0))
    # 0-10 too short; 10-40 fires at 35; 40-cutoff fires at 65; customer 1 fires at 45.
    assert found.customer.tolist() == [0, 0, 1]
    assert (found.at / DAY).tolist() == [35, 65, 45]
    assert found.lost.all()


def test_a_wait_ending_exactly_at_the_next_order_is_no_alert_but_at_the_cutoff_is() -> None:
    gaps = Gaps.of(population([[0, 10]], [math.inf], [10]))
    waits = np.array([10 * DAY, 90 * DAY])
    assert (gap_alerts(gaps, waits).at / DAY).tolist() == [100]


def test_own_interval_waits_use_the_mean_interval_so_far_and_a_fallback() -> None:
    gaps = Gaps.of(POP)
    waits = own_interval_waits(gaps, multiple=2.0, fallback_days=7.0) / DAY
    # After the first order: fallback 7 -> 14; then means 10 and (40 - 0) / 2 = 20.
    assert waits.tolist() == [14, 20, 40, 14]


def test_btyd_waits_end_where_p_alive_crosses_the_threshold() -> None:
    # BG/NBD, x > 0: P(alive) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
    model = BGNBD(r=1.0, alpha=10.0, a=1.0, b=3.0)
    waits = btyd_waits(Gaps.of(POP), model.p_alive, threshold=0.5) / DAY
    # x = 1 after day 10 (t_x = 10): odds 1/3 * ((10 + T) / 20)^2 = 1 at 10 + T = 20 sqrt(3).
    # x = 2 after day 40 (t_x = 40): odds 1/4 * ((10 + T) / 50)^3 = 1 at 10 + T = 50 * 4^(1/3).
    # x = 0 (the first orders): BG/NBD keeps P(alive) at 1, so never.
    assert waits[1] == pytest.approx(20 * math.sqrt(3) - 20, abs=1e-4)
    assert waits[2] == pytest.approx(50 * 4 ** (1 / 3) - 50, abs=1e-4)
    assert math.isinf(waits[0]) and math.isinf(waits[3])


def test_btyd_waits_are_zero_when_p_alive_starts_below_the_threshold() -> None:
    model = BGNBD(r=1.0, alpha=10.0, a=3.0, b=1.0)  # x = 1: odds 3 right after the order
    waits = btyd_waits(Gaps.of(POP), model.p_alive, threshold=0.5)
    assert waits[1] == 0.0


def test_final_episode_takes_alerts_since_the_last_order() -> None:
    found = alerts([(0, 30, False), (0, 50, False), (0, 60, True), (0, 70, True), (1, 90, False)])
    first_alert, first_lost = final_episode(found, POP.last_order)
    # Customer 0's last order is on day 40: the day-30 alert belongs to an earlier silence.
    assert (first_alert / DAY).tolist() == [50, 90]
    assert first_lost[0] / DAY == 60 and math.isnan(first_lost[1])


def test_false_alarms_are_alerts_before_the_churn_time() -> None:
    found = alerts([(0, 30, True), (0, 44, False), (0, 50, True), (1, 90, False)])
    # Day 30 and 44 come before customer 0 churned on day 45; customer 1 never churned.
    assert false_alarms(found, POP.churned_at) == (3, 1)


def test_exposure_is_first_order_to_churn_or_cutoff() -> None:
    # Customer 0: day 0 to day 45; customer 1: day 20 to the cutoff (day 100).
    assert exposure_months(POP) == pytest.approx((45 + 80) / DAYS_PER_MONTH)
    among = np.array([False, True])
    assert exposure_months(POP, among) == pytest.approx(80 / DAYS_PER_MONTH)


def test_timeliness_delays_leads_and_the_two_interval_share_by_hand() -> None:
    pop = population(
        [[0, 10, 40], [0, 50], [0, 90]],
        churned_day=[45, 60, 95],
        interval_days=[10, 20, 10],
    )
    timing = Timing(
        first_alert=np.array([48, 70, np.nan]) * DAY,
        first_lost=np.array([55, np.nan, np.nan]) * DAY,
    )
    result = timeliness(timing, pop)
    # Only customer 0 reached lost: 10 days = 1 interval after churn.
    assert result["delay_days"]["count"] == 1
    assert result["delay_days"]["median"] == pytest.approx(10)
    assert result["delay_intervals"]["median"] == pytest.approx(1.0)
    # Missed orders: 40 + 10 = 50 and 50 + 20 = 70; first alerts 48 and 70 -> leads 2 and 0.
    assert result["lead_days"]["count"] == 2
    assert result["lead_days"]["median"] == pytest.approx(1.0)
    assert result["alerted_before_missed_order"] == pytest.approx(2 / 3)
    assert result["lead_days_by_cause"]["habit_lapse"]["count"] == 2
    # Eligible for the 2-interval check: churned by day 100 - 2 intervals (0: 45 <= 80,
    # 1: 60 <= 60, 2: 95 > 80); customer 0 made it, customer 1 did not.
    assert result["lost_within_2_intervals"] == {"share": 0.5, "eligible": 2}
    assert result["lost_before_churn"] == 0
