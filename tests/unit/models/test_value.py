"""A customer's value over the horizon, worked by hand, and how it behaves."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.customer import CustomerState, record
from models.policy import Policy
from models.population import PopulationModel
from models.value import orders_per_day, staying_days, value_at
from tests.builders import an_order, day

POLICY = Policy()
MODEL = PopulationModel(
    interval_mean=math.log(30.0),
    interval_between_sd=0.5,
    interval_within_sd=0.4,
    interval_distribution="lognormal",
    dropout_shape=2.0,
    dropout_rate_days=365.0,
    spend_p=4.0,
    spend_q=3.0,
    spend_gamma=25.0,
)


def customer(*order_days: float, amount: float = 40.0) -> CustomerState:
    state = CustomerState("c1")
    for n in order_days:
        record(state, an_order("c1", day(n), amount=amount), POLICY)
    return state


def test_the_value_of_a_regular_customer_worked_by_hand() -> None:
    state = customer(0, 30, 60)  # two intervals of exactly 30 days, 40 an order
    # Their own spread: no variation, so (k0 * 0.4^2 + 0) / (k0 + 2 - 1) with k0 = 2.
    within = 2 * 0.16 / 3
    # Belief about their typical log-interval: both the population and they say log 30.
    precision = 1 / 0.25 + 2 / within
    uncertainty = 1 / precision
    # Expected rate: exp(-log 30 + uncertainty / 2) / exp(within / 2) (log-normal mean).
    rate = math.exp(-math.log(30.0) + uncertainty / 2) / math.exp(within / 2)
    assert orders_per_day(state, POLICY, MODEL) == pytest.approx(rate)
    assert rate == pytest.approx(0.0323044, rel=1e-5)  # 1.022221 / 1.054781 / 30
    # Seen for 60 days at day 60: hazard ~ Gamma(2, 365 + 60); over 365 days they stay
    # 425 / (2 - 1) * (1 - (1 + 365 / 425)^-1) = 425 * 365 / 790 days.
    stays = 425 * 365 / 790
    assert staying_days(state, day(60), POLICY, MODEL) == pytest.approx(stays)
    # Order value: 4 * (25 + 3 * 40) / (4 * 3 + 3 - 1) = 580 / 14.
    value = value_at(state, day(60), 0.2, POLICY, MODEL)
    assert value.orders_if_retained == pytest.approx(rate * stays)
    assert value.order_value == pytest.approx(580 / 14)
    retained = rate * stays * 580 / 14
    assert value.retained == pytest.approx(retained)
    assert retained == pytest.approx(262.8, abs=0.1)
    assert value.expected_orders == pytest.approx(0.8 * rate * stays)
    assert value.expected_spend == pytest.approx(0.8 * retained)
    assert value.at_risk == pytest.approx(0.2 * retained)


def test_a_one_order_customer_gets_the_population_estimate_not_zero() -> None:
    state = customer(0)
    value = value_at(state, day(10), 0.1, POLICY, MODEL)
    # Belief = the population: typical log 30 +- 0.5, own spread 0.4.
    rate = math.exp(-math.log(30.0) + 0.25 / 2) / math.exp(0.16 / 2)
    assert value.orders_if_retained == pytest.approx(
        rate * staying_days(state, day(10), POLICY, MODEL)
    )
    assert value.expected_spend > 0
    # One order of 40 against a population mean of 4 * 25 / 2 = 50: (4 * 40 + 2 * 50) / 6.
    assert value.order_value == pytest.approx((4 * 40 + 2 * 50) / 6)


def test_a_shape_of_one_uses_the_logarithmic_limit() -> None:
    model = dataclasses.replace(MODEL, dropout_shape=1.0)
    state = customer(0, 30)
    # Seen 30 days at day 30: 395 * log(1 + 365 / 395).
    expected = 395 * math.log1p(365 / 395)
    assert staying_days(state, day(30), POLICY, model) == pytest.approx(expected)
    near = dataclasses.replace(MODEL, dropout_shape=1.0 + 1e-7)
    assert staying_days(state, day(30), POLICY, near) == pytest.approx(expected, rel=1e-5)


@given(
    gap=st.floats(min_value=1.0, max_value=400.0),
    risk=st.floats(min_value=0.0, max_value=1.0),
    horizon=st.floats(min_value=1.0, max_value=3650.0),
)
def test_expected_spend_and_value_at_risk_split_the_retained_value(
    gap: float, risk: float, horizon: float
) -> None:
    policy = dataclasses.replace(POLICY, value_horizon_days=horizon)
    state = customer(0, gap)
    value = value_at(state, day(gap), risk, policy, MODEL)
    assert value.expected_spend >= 0 and value.at_risk >= 0
    assert value.expected_spend + value.at_risk == pytest.approx(value.retained)
    # Nobody stays longer than the horizon.
    assert staying_days(state, day(gap), policy, MODEL) <= horizon + 1e-9


def test_a_longer_horizon_is_worth_more() -> None:
    state = customer(0, 30, 60)
    values = [
        value_at(
            state, day(60), 0.3, dataclasses.replace(POLICY, value_horizon_days=h), MODEL
        ).retained
        for h in (30.0, 180.0, 365.0, 730.0)
    ]
    assert values == sorted(values) and len(set(values)) == 4
