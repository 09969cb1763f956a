"""The stream scoring of decisions at their own time, on a hand-made history.

Times are days from an arbitrary origin. Three customers, window [10, 400], horizon 90 days:

* c0: orders at 0 and 100, churns at 150, mean interval 20 days;
* c1: orders at 0, 50 and 200, never churns, mean interval 50 days;
* c2: one order at 0, never churns, mean interval 30 days.

Decisions (customer, day, lost) and what each one is, worked out by hand:

  #1  c0 130 at_risk  wrong (churns at 150), silence after 100, no order after it
  #2  c0 160 lost     right, same silence
  #3  c0 170 lost     right, repeat of #2
  #4  c1  20 at_risk  wrong, followed by the order at 50, repeat of #7
  #5  c1  40 lost     wrong, followed by the order at 50; first at_risk of its silence: #7
  #6  c1  60 at_risk  wrong, next order at 200 (140 days later: not within 90)
  #7  c1   5 at_risk  before the window: not scored, but #4 repeats it
  #8  c1 200 at_risk  wrong; at the order's own time, so in the silence after it
  #9  c0 155 at_risk  right, repeat of #1
  #10 c2 100 lost     wrong, no at_risk before it in its silence
  #11 c2 120 at_risk  wrong, after the lost of its silence (gives #10 no lead)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation.alerts import Alerts
from evaluation.inputs import DAY
from evaluation.metrics import DAYS_PER_MONTH
from evaluation.stream import (
    OrderHistory,
    StreamTruth,
    Window,
    bar_check,
    default_window_start,
    score,
)

ORDERS = OrderHistory.of([[0 * DAY, 100 * DAY], [0 * DAY, 50 * DAY, 200 * DAY], [0 * DAY]])
TRUTH = StreamTruth(
    churned_at=np.array([150 * DAY, math.inf, math.inf]),
    interval_days=np.array([20.0, 50.0, 30.0]),
)
WINDOW = Window(10 * DAY, 400 * DAY)
ROWS = [
    (0, 130, False),
    (0, 160, True),
    (0, 170, True),
    (1, 20, False),
    (1, 40, True),
    (1, 60, False),
    (1, 5, False),
    (1, 200, False),
    (0, 155, False),
    (2, 100, True),
    (2, 120, False),
]
# Active days in the window: c0 10..150, c1 and c2 10..400.
MONTHS = (140 + 390 + 390) / DAYS_PER_MONTH


def decisions(rows: Sequence[tuple[int, float, bool]]) -> Alerts:
    return Alerts(
        customer=np.array([r[0] for r in rows], dtype=np.int64),
        at=np.array([r[1] * DAY for r in rows], dtype=np.float64),
        lost=np.array([r[2] for r in rows], dtype=np.bool_),
    )


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
    return score(decisions(ROWS), TRUTH, ORDERS, WINDOW, horizon_days=90.0)


def test_at_risk_events_are_judged_at_their_own_time(result: dict[str, object]) -> None:
    assert result["at_risk"] == {
        "events": 6,  # 1, 4, 6, 8, 9, 11
        "precision": pytest.approx(1 / 6),  # 9
        "followed_by_order": pytest.approx(1 / 6),  # 4
        "repeats": 2,  # 4 (of 7, before the window), 9 (of 1)
        "wrong": 5,
        "wrong_per_1000_active_months": pytest.approx(5000 / MONTHS),
    }


def test_lost_events_are_judged_at_their_own_time(result: dict[str, object]) -> None:
    assert result["lost"] == {
        "events": 4,  # 2, 3, 5, 10
        "precision": pytest.approx(0.5),  # 2, 3
        "followed_by_order": pytest.approx(0.25),  # 5
        "repeats": 1,  # 3
        "wrong": 2,
        "wrong_per_1000_active_months": pytest.approx(2000 / MONTHS),
    }
    assert result["active_customer_months"] == pytest.approx(MONTHS)


def test_churners_flagged_and_their_delay_in_own_intervals(result: dict[str, object]) -> None:
    churners = result["churners"]
    assert isinstance(churners, dict)
    # c0 churned at 150, 2.5 intervals (50 days) before the window ends: the only churner.
    assert churners["eligible"] == 1
    assert churners["churners_flagged"] == 1.0
    # first lost after the last order (100) is #2 at 160: 10 days = half an interval
    assert churners["delay_days"]["median"] == pytest.approx(10.0)
    assert churners["delay_intervals"]["median"] == pytest.approx(0.5)


def test_at_risk_lead_before_each_lost(result: dict[str, object]) -> None:
    lead = result["at_risk_lead"]
    assert isinstance(lead, dict)
    # #2: 160 - 130 = 30 d (1.5 intervals); #3: 40 d (2.0); #5: 40 - 5 = 35 d (0.7); #10: none
    assert lead["lost_events"] == 4
    assert lead["share_without_at_risk"] == pytest.approx(0.25)
    assert lead["share_under_1_day"] == pytest.approx(0.25)
    assert lead["days"]["median"] == pytest.approx(32.5)
    assert lead["intervals"]["median"] == pytest.approx(1.1)


def test_a_churner_too_close_to_the_window_end_is_not_judged() -> None:
    window = Window(10 * DAY, 190 * DAY)  # 150 + 2.5 x 20 = 200 > 190
    result = score(decisions(ROWS), TRUTH, ORDERS, window, horizon_days=90.0)
    assert result["churners"]["eligible"] == 0
    assert math.isnan(result["churners"]["churners_flagged"])


def test_a_churner_never_flagged_lowers_the_share() -> None:
    unflagged = [row for row in ROWS if row[0] != 0]
    result = score(decisions(unflagged), TRUTH, ORDERS, WINDOW, horizon_days=90.0)
    assert result["churners"]["eligible"] == 1
    assert result["churners"]["churners_flagged"] == 0.0
    assert result["churners"]["delay_days"]["count"] == 0


def test_no_decisions_give_counts_of_zero_and_undefined_ratios() -> None:
    result = score(decisions([]), TRUTH, ORDERS, WINDOW, horizon_days=90.0)
    assert result["lost"]["events"] == result["lost"]["repeats"] == 0
    assert math.isnan(result["lost"]["precision"])
    assert result["lost"]["wrong_per_1000_active_months"] == 0.0
    assert result["at_risk_lead"]["lost_events"] == 0


def test_orders_up_to_counts_an_order_at_the_same_instant() -> None:
    customer = np.array([1, 1, 1, 0, 2], dtype=np.int64)
    at = np.array([49.9, 50.0, 500.0, -1.0, 0.0]) * DAY
    assert ORDERS.orders_up_to(customer, at).tolist() == [1, 2, 3, 0, 1]


@given(
    st.lists(st.lists(st.integers(0, 50), max_size=6), min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 4), st.integers(-1, 51)), max_size=20),
)
def test_orders_up_to_agrees_with_counting_one_by_one(
    days: list[list[int]], queries: list[tuple[int, int]]
) -> None:
    orders = OrderHistory.of([[d * DAY for d in ds] for ds in days])
    asked = [(c % len(days), t) for c, t in queries]
    customer = np.array([c for c, _ in asked], dtype=np.int64)
    at = np.array([t * DAY for _, t in asked], dtype=np.float64)
    expected = [sum(d <= t for d in days[c]) for c, t in asked]
    assert orders.orders_up_to(customer, at).tolist() == expected


def test_default_window_skips_a_year_or_half_the_history() -> None:
    assert default_window_start(0.0, 730 * DAY) == 365 * DAY
    assert default_window_start(0.0, 200 * DAY) == 100 * DAY
    with pytest.raises(ValueError):
        Window(5.0, 5.0)


def test_the_bar_on_the_stream() -> None:
    good = {
        "lost": {"precision": 0.85, "repeats": 0},
        "at_risk": {"repeats": 0},
        "churners": {"churners_flagged": 0.95, "delay_intervals": {"median": 2.9}},
        "at_risk_lead": {"intervals": {"median": 0.6}},
    }
    oracle = {"churners": {"delay_intervals": {"median": 2.5}}}
    assert bar_check(good, oracle)["passed"]  # 2.9 is within 0.5 of the oracle's 2.5
    checks = bar_check(good, None)["checks"]
    assert not checks["median_delay_at_most_2.5_intervals_or_oracle_plus_0.5"]
    repeating = good | {"at_risk": {"repeats": 1}}
    assert not bar_check(repeating, oracle)["checks"]["no_repeats"]
