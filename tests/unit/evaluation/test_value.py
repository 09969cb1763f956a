"""Expected spend against realised spend: the measures, checked on small hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

from evaluation.value import past_spend_rate, spearman, value_metrics
from models.customer import CustomerState
from models.policy import DAY


def test_the_measures_of_a_small_case_by_hand() -> None:
    predictions = {"model": {"a": 10.0, "b": 0.0, "c": 30.0}}
    realised = {"a": 20.0, "c": 30.0}  # b spent nothing
    block = value_metrics(predictions, realised)["model"]
    assert block["customers"] == 3
    assert block["mean_absolute_error"] == pytest.approx((10 + 0 + 0) / 3)
    assert block["root_mean_squared_error"] == pytest.approx(math.sqrt(100 / 3))
    assert block["rank_correlation"] == pytest.approx(1.0)  # same order: b < a < c
    assert (block["predicted_total"], block["realised_total"]) == (40.0, 50.0)


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=40).filter(
        lambda pairs: len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1
    )
)
def test_spearman_equals_scipys_with_ties(pairs: list[tuple[int, int]]) -> None:
    a = np.array([x for x, _ in pairs], dtype=float)
    b = np.array([y for _, y in pairs], dtype=float)
    assert spearman(a, b) == pytest.approx(float(spearmanr(a, b).statistic), abs=1e-9)


def test_the_past_spend_rate_scales_calibration_spend_to_the_horizon() -> None:
    buyer = CustomerState("a")
    buyer.orders, buyer.total_spend = 2, 100.0
    contact = CustomerState("b")  # never ordered: not scored
    rates = past_spend_rate({"a": buyer, "b": contact}, 0.0, 200 * DAY, 50.0)
    assert rates == {"a": pytest.approx(25.0)}
