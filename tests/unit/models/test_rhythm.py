"""Reorder rhythm: the predictive interval from a customer's window and the population prior."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from models.policy import DAY, Policy
from models.population import PopulationModel
from models.rhythm import (
    LOGNORMAL,
    log_interval_days,
    log_survival,
    predict,
    silence_for_log_survival,
    silence_for_survival,
    survival,
)

POLICY = Policy()
MODEL = PopulationModel.from_policy(POLICY)


def window(days: list[float]) -> list[float]:
    return [log_interval_days(d * DAY) for d in days]


def test_with_no_data_the_rhythm_is_the_population_prior() -> None:
    rhythm = predict([], MODEL, POLICY)
    assert math.isclose(rhythm.median_days, POLICY.prior_median_interval_days)
    assert math.isclose(rhythm.sd, math.hypot(0.8, 0.6))


def test_a_regular_customer_leans_on_their_own_rhythm() -> None:
    rhythm = predict(window([90.0] * 8), MODEL, POLICY)
    assert 80.0 < rhythm.median_days < 92.0
    assert rhythm.sd < 0.3


def test_little_history_leans_on_the_population() -> None:
    one = predict(window([90.0]), MODEL, POLICY)
    eight = predict(window([90.0] * 8), MODEL, POLICY)
    assert 30.0 < one.median_days < eight.median_days
    assert one.sd > eight.sd


def test_irregular_buyers_get_a_wide_rhythm() -> None:
    regular = predict(window([20.0, 22.0, 19.0, 21.0, 20.0, 20.0]), MODEL, POLICY)
    irregular = predict(window([3.0, 60.0, 12.0, 41.0, 5.0, 25.0]), MODEL, POLICY)
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
