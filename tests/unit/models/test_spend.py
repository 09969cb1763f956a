"""The Gamma-Gamma spend model: the posterior mean by hand, and the fit recovers its truth."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.spend import (
    expected_order_value,
    fit_spend,
    population_order_value,
    prior_spend,
    spend_log_likelihood,
)


def test_the_expected_order_value_worked_by_hand() -> None:
    # p = 4, q = 3, gamma = 25: the population's mean is 4 * 25 / (3 - 1) = 50.
    assert population_order_value(4.0, 3.0, 25.0) == pytest.approx(50.0)
    # Three orders averaging 40: 4 * (25 + 3 * 40) / (4 * 3 + 3 - 1) = 580 / 14.
    assert expected_order_value(4.0, 3.0, 25.0, 3, 40.0) == pytest.approx(580.0 / 14.0)
    # That is the average shrunk to the population with weights 12 : 2 (p x : q - 1).
    assert expected_order_value(4.0, 3.0, 25.0, 3, 40.0) == pytest.approx(
        (12.0 * 40.0 + 2.0 * 50.0) / 14.0
    )
    # No order yet: the population's mean, not zero.
    assert expected_order_value(4.0, 3.0, 25.0, 0, 0.0) == pytest.approx(50.0)


@given(
    orders=st.integers(min_value=1, max_value=200),
    average=st.floats(min_value=0.01, max_value=10_000.0),
)
def test_the_expected_value_lies_between_the_population_and_the_own_average(
    orders: int, average: float
) -> None:
    value = expected_order_value(4.0, 3.0, 25.0, orders, average)
    low, high = sorted((average, 50.0))
    assert low - 1e-9 <= value <= high + 1e-9


def test_the_prior_has_the_policy_order_value_as_its_mean() -> None:
    assert population_order_value(*prior_spend(80.0)) == pytest.approx(80.0)


def _simulate(
    p: float, q: float, gamma: float, customers: int, seed: int
) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(customers):
        nu = rng.gammavariate(q, 1.0 / gamma)  # rate of this customer's order values
        orders = rng.randint(1, 8)
        values = [rng.gammavariate(p, 1.0 / nu) for _ in range(orders)]
        out.append((orders, sum(values) / orders))
    return out


def test_the_fit_recovers_the_parameters_it_was_simulated_with() -> None:
    data = _simulate(6.0, 4.0, 15.0, 4000, seed=3)
    p, q, gamma = fit_spend(data, prior_spend(50.0))
    # p and gamma trade off (both scale the values), so what is identified, and what the
    # value model uses, is the expected order value: within 10 % of the truth's everywhere.
    assert population_order_value(p, q, gamma) == pytest.approx(6.0 * 15.0 / 3.0, rel=0.05)
    for orders, average in ((1, 10.0), (1, 80.0), (4, 30.0), (8, 5.0), (8, 120.0)):
        fitted = expected_order_value(p, q, gamma, orders, average)
        true = expected_order_value(6.0, 4.0, 15.0, orders, average)
        assert fitted == pytest.approx(true, rel=0.1), (orders, average)
    truth = spend_log_likelihood(data, 6.0, 4.0, 15.0)
    assert spend_log_likelihood(data, p, q, gamma) >= truth - 1e-6


def test_no_usable_customer_leaves_the_prior() -> None:
    prior = prior_spend(50.0)
    assert fit_spend([(0, 0.0), (2, 0.0), (1, math.nan)], prior) == prior
