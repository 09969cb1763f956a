"""The oracle's posterior and threshold crossings, against closed forms worked out by hand.

With exponential intervals (gamma shape 1, rate λ) and a constant hazard h, the posterior odds
of having churned after a silence s are gone/alive = h/(λ+h)·(exp((λ+h)s) − 1), so risk τ is
first reached at s* = ln(1 + τ/(1−τ)·(λ+h)/h) / (λ+h).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation.inputs import DAY, TrueRhythm, read_truth
from evaluation.oracle import OracleParameters, oracle_alerts, oracle_parameters, posterior_risk
from evaluation.population import Population

LAMBDA = 1 / 30.0  # orders per day
HAZARD = -math.log1p(-0.45) / 365.0  # per day: the simulator's default


def exponential_risk(silence: float, rate: float = LAMBDA, hazard: float = HAZARD) -> float:
    odds = hazard / (rate + hazard) * math.expm1((rate + hazard) * silence)
    return odds / (1 + odds)


def crossing_days(tau: float, rate: float = LAMBDA, hazard: float = HAZARD) -> float:
    return math.log1p(tau / (1 - tau) * (rate + hazard) / hazard) / (rate + hazard)


def risk(
    silence: float,
    mean: float = 1 / LAMBDA,
    shape: float = 1.0,
    hazard: float = HAZARD,
    ratio: float = 1.0,
    resolved_after: float = math.inf,
) -> float:
    def one(x: float) -> np.ndarray:
        return np.array([x], dtype=np.float64)

    values = (silence, mean, shape, hazard, ratio, resolved_after)
    return float(posterior_risk(*(one(v) for v in values))[0])


@pytest.mark.parametrize("silence", [0.5, 10.0, 30.0, 90.0, 250.0])
def test_exponential_posterior_has_the_closed_form(silence: float) -> None:
    assert risk(silence) == pytest.approx(exponential_risk(silence), rel=1e-9)


def test_no_silence_no_risk_and_no_hazard_no_risk() -> None:
    assert risk(0.0) == 0.0
    assert risk(200.0, hazard=0.0) == pytest.approx(0.0, abs=1e-12)


def test_a_resolved_complaint_changes_the_hazard_from_its_resolution_on() -> None:
    # resolved before the silence: the whole silence runs at the lower hazard
    assert risk(60.0, ratio=0.5, resolved_after=-3.0) == pytest.approx(
        exponential_risk(60.0, hazard=HAZARD / 2), rel=1e-9
    )
    # resolved after the silence so far: nothing changes yet
    assert risk(60.0, ratio=0.5, resolved_after=80.0) == pytest.approx(
        exponential_risk(60.0), rel=1e-9
    )
    # resolved inside it: in between
    inside = risk(60.0, ratio=0.5, resolved_after=30.0)
    assert exponential_risk(60.0, hazard=HAZARD / 2) < inside < exponential_risk(60.0)


@given(
    mean=st.floats(7.0, 120.0),
    shape=st.floats(1.0, 30.0),
    ratio=st.sampled_from([0.5, 1.0, 2.0]),
    resolved=st.floats(-50.0, 400.0),
)
def test_risk_never_falls_as_the_silence_grows(
    mean: float, shape: float, ratio: float, resolved: float
) -> None:
    silence = np.linspace(0.0, 400.0, 401)
    n = silence.size
    values = posterior_risk(
        silence,
        np.full(n, mean),
        np.full(n, shape),
        np.full(n, HAZARD),
        np.full(n, ratio),
        np.full(n, resolved),
    )
    assert np.all((values >= 0) & (values <= 1))
    assert np.all(np.diff(values) >= -1e-9)


def a_population(order_days: list[float], cutoff_days: float) -> Population:
    return Population(
        cutoff=cutoff_days * DAY,
        horizon_days=90.0,
        ids=["c0"],
        churned_at=np.array([math.inf]),
        causes=[None],
        kinds=["irregular"],
        interval_days=np.array([1 / LAMBDA]),
        order_times=np.array(order_days, dtype=np.float64) * DAY,
        offsets=np.array([0, len(order_days)], dtype=np.int64),
        no_order=np.array([False]),
    )


def rhythm(resolved_at: float = math.inf) -> TrueRhythm:
    return TrueRhythm(
        shape=1.0,
        drift_per_year=0.0,
        observed_from=0.0,
        hazard_per_year=HAZARD * 365.0,
        hazard_ratio_after_resolution=0.5,
        resolved_at=resolved_at,
    )


def test_one_at_risk_and_one_lost_per_silence_at_the_closed_form_crossing() -> None:
    population = a_population([0.0, 400.0], cutoff_days=800.0)
    params = OracleParameters(population.interval_days, [rhythm()])
    found = oracle_alerts(population, params, at_risk_risk=0.5, lost_risk=0.8)
    at_risk, lost = crossing_days(0.5), crossing_days(0.8)
    assert 0 < at_risk < lost < 400  # both silences reach both thresholds
    assert found.customer.tolist() == [0, 0, 0, 0]
    assert found.lost.tolist() == [False, True, False, True]
    expected = [at_risk, lost, 400 + at_risk, 400 + lost]
    assert found.at / DAY == pytest.approx(expected, abs=1e-4)


def test_a_silence_ended_by_an_order_or_the_cutoff_before_the_crossing_gives_nothing() -> None:
    short = crossing_days(0.5) - 1.0
    population = a_population([0.0, short], cutoff_days=2 * short)
    params = OracleParameters(population.interval_days, [rhythm()])
    found = oracle_alerts(population, params, at_risk_risk=0.5, lost_risk=0.8)
    assert found.at.size == 0


def test_drift_stretches_the_interval_from_observed_from() -> None:
    # a year of drift log(2) per year doubles the mean interval: 60 days, rate 1/60
    population = a_population([365.0], cutoff_days=1000.0)
    drifting = TrueRhythm(1.0, math.log(2.0), 0.0, HAZARD * 365.0, 1.0, math.inf)
    params = OracleParameters(population.interval_days, [drifting])
    found = oracle_alerts(population, params, at_risk_risk=0.5, lost_risk=0.8)
    expected = [365 + crossing_days(0.5, rate=1 / 60), 365 + crossing_days(0.8, rate=1 / 60)]
    assert found.at / DAY == pytest.approx(expected, abs=1e-4)


def test_the_truth_carries_the_oracle_parameters_or_the_oracle_is_skipped() -> None:
    old = b'{"customer_id":"c1","churned":false,"mean_interval_days":30}'
    new = (
        b'{"customer_id":"c2","churned":false,"mean_interval_days":30,"regularity_shape":8.0,'
        b'"drift_per_year":-0.5,"observed_from":"2025-01-01T00:00:00Z",'
        b'"churn_hazard_per_year":0.6,"hazard_ratio_after_resolution":0.5,'
        b'"complaint_resolved_at":"2025-03-01T00:00:00Z"}'
    )
    truth = read_truth([old, new])
    assert truth["c1"].rhythm is None
    assert truth["c2"].rhythm == TrueRhythm(
        shape=8.0,
        drift_per_year=-0.5,
        observed_from=1735689600.0,
        hazard_per_year=0.6,
        hazard_ratio_after_resolution=0.5,
        resolved_at=1740787200.0,
    )
    population = a_population([0.0], cutoff_days=10.0)
    assert oracle_parameters(population, [truth["c1"].rhythm]) is None
    assert oracle_parameters(population, [truth["c2"].rhythm]) is not None
