"""Reorder rhythm: the population prior (each customer once) and the predictive interval."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from models.policy import DAY, Policy
from models.rhythm import (
    LOGNORMAL,
    Population,
    log_interval_days,
    log_survival,
    predict,
    silence_for_log_survival,
    silence_for_survival,
    survival,
)

POLICY = Policy()


def window(days: list[float]) -> list[float]:
    return [log_interval_days(d * DAY) for d in days]


def test_with_no_data_the_population_is_the_configured_prior() -> None:
    population = Population.from_policy(POLICY)
    assert math.isclose(math.exp(population.mean()), POLICY.prior_median_interval_days)
    rhythm = predict([], population, POLICY)
    assert math.isclose(rhythm.median_days, 30.0)
    assert math.isclose(rhythm.sd, math.hypot(0.8, 0.6))


def test_each_customer_counts_once_so_frequent_buyers_do_not_bias_the_prior() -> None:
    """One weekly buyer with many intervals and one monthly buyer: the prior sits between."""
    population = Population.from_policy(Policy(prior_weight_customers=1e-9))
    population.replace([], window([7.0] * 64))
    population.replace([], window([30.0, 30.0]))
    pooled = math.exp(sum(window([7.0] * 64 + [30.0] * 2)) / 66)
    learned = math.exp(population.mean())
    assert math.isclose(learned, math.sqrt(7.0 * 30.0), rel_tol=1e-6)
    assert learned > 1.9 * pooled


def test_replacing_a_window_removes_the_old_contribution() -> None:
    population = Population.from_policy(POLICY)
    population.replace([], window([10.0]))
    population.replace(window([10.0]), window([10.0, 12.0]))
    assert population.customers == 1
    assert population.spread_customers == 1
    population.replace(window([10.0, 12.0]), [])
    assert population.customers == 0
    assert abs(population.sum_means) < 1e-12


def test_a_regular_customer_leans_on_their_own_rhythm() -> None:
    population = Population.from_policy(POLICY)
    rhythm = predict(window([90.0] * 8), population, POLICY)
    assert 80.0 < rhythm.median_days < 92.0
    assert rhythm.sd < 0.3


def test_little_history_leans_on_the_population() -> None:
    population = Population.from_policy(POLICY)
    one = predict(window([90.0]), population, POLICY)
    eight = predict(window([90.0] * 8), population, POLICY)
    assert 30.0 < one.median_days < eight.median_days
    assert one.sd > eight.sd


def test_irregular_buyers_get_a_wide_rhythm() -> None:
    population = Population.from_policy(POLICY)
    regular = predict(window([20.0, 22.0, 19.0, 21.0, 20.0, 20.0]), population, POLICY)
    irregular = predict(window([3.0, 60.0, 12.0, 41.0, 5.0, 25.0]), population, POLICY)
    assert irregular.sd > 2 * regular.sd


@given(
    st.floats(min_value=-2, max_value=6),
    st.floats(min_value=0.05, max_value=3),
    st.floats(min_value=1e-9, max_value=0.999),
)
def test_silence_for_survival_inverts_survival(mu: float, sd: float, target: float) -> None:
    silence = silence_for_survival(mu, sd, target)
    assert math.isclose(survival(mu, sd, silence), target, rel_tol=1e-6, abs_tol=1e-9)


@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=2, max_size=10))
def test_survival_never_rises_with_silence(silences: list[float]) -> None:
    values = [survival(3.0, 0.7, s * DAY) for s in sorted(silences)]
    assert values == sorted(values, reverse=True)
    assert all(0.0 <= v <= 1.0 for v in values)


@given(
    st.floats(min_value=-2, max_value=6),
    st.floats(min_value=0.05, max_value=3),
    st.floats(min_value=1e-9, max_value=0.999),
)
def test_the_lognormal_option_inverts_too(mu: float, sd: float, target: float) -> None:
    silence = silence_for_survival(mu, sd, target, LOGNORMAL)
    assert math.isclose(survival(mu, sd, silence, LOGNORMAL), target, rel_tol=1e-6, abs_tol=1e-9)


def test_a_poisson_buyers_spread_gives_the_exponential() -> None:
    """Log-spread pi/sqrt(6) is the log of an exponential interval: S(u) = exp(-u / mean),
    with mean exp(mu + Euler's gamma)."""
    sd = math.pi / math.sqrt(6.0)
    mean_days = math.exp(math.log(30.0) + 0.5772156649015329)
    for days in (1.0, 30.0, 90.0, 300.0):
        assert math.isclose(survival(math.log(30.0), sd, days * DAY), math.exp(-days / mean_days))


def test_the_weibull_tail_is_lighter_than_the_lognormal() -> None:
    """At five mean intervals of silence a Poisson buyer has S = e^-5 (0.7 %), which the
    Weibull gives and the log-normal overstates several times."""
    sd = math.pi / math.sqrt(6.0)
    mu = math.log(30.0) - 0.5772156649015329  # mean interval 30 days
    weibull = survival(mu, sd, 150 * DAY)
    assert math.isclose(weibull, math.exp(-5.0), rel_tol=1e-9)
    assert survival(mu, sd, 150 * DAY, LOGNORMAL) > 4 * weibull


def test_log_survival_does_not_underflow() -> None:
    assert log_survival(math.log(10.0), 0.12, 3650 * DAY) < -1e6
    assert silence_for_log_survival(math.log(10.0), 0.12, -1e6) > 10 * DAY
