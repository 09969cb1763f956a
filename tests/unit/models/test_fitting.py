"""Learning the population model from histories: rhythm by moments, lifetime by marginal
likelihood, both together by the whole likelihood, the interval tail by likelihood, evidence
weights from outcomes."""

from __future__ import annotations

import itertools
import math
import random

from models.fitting import (
    History,
    Outcome,
    fit_evidence,
    fit_joint,
    fit_lifetime,
    fit_rhythm,
    histories,
    interval_log_likelihood,
    joint_log_likelihood,
    lifetime_log_likelihood,
)
from models.policy import DAY, Policy
from models.population import PopulationModel
from models.rhythm import log_interval_days, predict
from tests.builders import an_order, day

POLICY = Policy()


def test_each_customer_counts_once_so_frequent_buyers_do_not_bias_the_rhythm() -> None:
    """One weekly buyer with many intervals and one monthly buyer: the mean sits between."""
    weekly = History("w", 0.0, 0.0, 0.0, tuple([log_interval_days(7 * DAY)] * 16))
    monthly = History("m", 0.0, 0.0, 0.0, tuple([log_interval_days(30 * DAY)] * 2))
    mean, _, _ = fit_rhythm([weekly, monthly], Policy(prior_weight_customers=1e-9))
    assert math.isclose(math.exp(mean), math.sqrt(7.0 * 30.0), rel_tol=1e-6)


def poisson_shop(
    customers: int, hazard_per_day: float, seed: int = 7
) -> tuple[list[History], float]:
    """Customers joining over a year, ordering at exponential intervals (20-day mean), each
    leaving at ``hazard_per_day``; observed for two years."""
    rng = random.Random(seed)
    until = 730 * DAY
    out = []
    for i in range(customers):
        first = rng.uniform(0, 365) * DAY
        leaves = first + rng.expovariate(hazard_per_day) * DAY
        orders = [first]
        while True:
            nxt = orders[-1] + rng.expovariate(1 / 20) * DAY
            if nxt > min(leaves, until):
                break
            orders.append(nxt)
        intervals = tuple(log_interval_days(b - a) for a, b in itertools.pairwise(orders))
        out.append(History(f"c{i}", first, orders[-1], orders[-1], intervals[-16:]))
    return out, until


def test_the_lifetime_fit_recovers_the_leaving_hazard() -> None:
    truth = 1 / 365
    items, until = poisson_shop(1500, truth)
    mean, between, within = fit_rhythm(items, POLICY)
    rhythm = PopulationModel.from_policy(POLICY)
    rhythm = PopulationModel(
        mean, between, within, "weibull", rhythm.dropout_shape, rhythm.dropout_rate_days
    )
    shape, rate = fit_lifetime(items, until, rhythm, POLICY)
    assert 0.6 * truth < shape / rate < 1.5 * truth
    # The fit maximises the likelihood: a hazard ten times off is worse.
    best = lifetime_log_likelihood(items, until, shape, rate, rhythm, POLICY)
    assert best > lifetime_log_likelihood(items, until, shape, rate / 10, rhythm, POLICY)
    assert best > lifetime_log_likelihood(items, until, shape, rate * 10, rhythm, POLICY)


def test_poisson_intervals_fit_the_weibull_tail_better_than_the_log_normal() -> None:
    items, _ = poisson_shop(800, 1 / 365)
    mean, between, within = fit_rhythm(items, POLICY)
    weibull = PopulationModel(mean, between, within, "weibull", 1.0, 700.0)
    lognormal = PopulationModel(mean, between, within, "lognormal", 1.0, 700.0)
    assert interval_log_likelihood(items, weibull, POLICY) > interval_log_likelihood(
        items, lognormal, POLICY
    )


def test_a_signal_that_foretells_leaving_gets_a_larger_weight() -> None:
    """Half the customers with an unresolved complaint never order again, against a fifth of
    the others: the complaint's weight rises above the default; unseen signals keep theirs."""
    rng = random.Random(3)
    outcomes = []
    for i in range(2000):
        complaint = i % 4 == 0
        ordered = rng.random() > (0.9 if complaint else 0.2)
        signals = (complaint, False, False, False, False)
        outcomes.append(Outcome(math.log(0.25), 0.0, signals, ordered))
    model = fit_evidence(outcomes, PopulationModel.from_policy(POLICY), POLICY)
    assert model.complaint_odds > POLICY.complaint_odds
    assert model.inquiry_odds == POLICY.inquiry_odds  # never seen: the default


def test_histories_are_the_buyers() -> None:
    from models.engine import Engine

    engine = Engine(POLICY)
    for event in (an_order("a", day(0)), an_order("b", day(5)), an_order("a", day(30))):
        engine.process(event)
    engine.advance(day(40))
    found = {h.customer_id: h for h in histories(engine.customers.values())}
    assert set(found) == {"a", "b"}
    assert found["a"].intervals == (log_interval_days(30 * DAY),)
    assert found["b"].intervals == ()


def slow_shop(customers: int, seed: int = 11) -> tuple[list[History], float, float, float]:
    """Customers whose typical interval varies widely (log-days N(log 60, 1.0), within 0.5),
    first ordering over 90 days and watched for 270: a slow buyer's interval is still running
    at the end, so the finished intervals look faster and tighter than the population is.
    Returns the histories, the end, and the true interval mean and between-customer spread."""
    rng = random.Random(seed)
    mean, between, within = math.log(60.0), 1.0, 0.5
    until = 270 * DAY
    out = []
    for i in range(customers):
        typical = rng.gauss(mean, between)
        orders = [rng.uniform(0, 90) * DAY]
        while True:
            nxt = orders[-1] + math.exp(rng.gauss(typical, within)) * DAY
            if nxt > until:
                break
            orders.append(nxt)
        intervals = tuple(log_interval_days(b - a) for a, b in itertools.pairwise(orders))
        out.append(History(f"s{i}", orders[0], orders[-1], orders[-1], intervals[-16:]))
    return out, until, mean, between


def test_the_joint_likelihood_is_the_intervals_and_the_silences() -> None:
    items, until = poisson_shop(300, 1 / 365)
    model = PopulationModel(3.0, 0.7, 0.9, "lognormal", 0.8, 400.0)
    expected = lifetime_log_likelihood(
        items, until, model.dropout_shape, model.dropout_rate_days, model, POLICY
    ) + interval_log_likelihood(items, model, POLICY)
    assert math.isclose(joint_log_likelihood(items, until, model, POLICY), expected, rel_tol=1e-9)


def test_the_joint_fit_sees_the_slow_buyers_the_moments_miss() -> None:
    """Moments of the finished intervals put the typical interval too short and the spread
    between customers too narrow; the whole likelihood (the unfinished silences censored)
    comes closer to the truth on both, and fits better than where it started."""
    items, until, true_mean, true_between = slow_shop(500)
    mean, between, within = fit_rhythm(items, POLICY)
    start = PopulationModel(mean, between, within, "lognormal", 1.0, 730.0)
    shape, rate = fit_lifetime(items, until, start, POLICY)
    start = PopulationModel(mean, between, within, "lognormal", shape, rate)
    model, log_lik = fit_joint(items, until, start, POLICY)
    assert mean < true_mean - 0.1  # the bias being corrected is there
    assert abs(model.interval_mean - true_mean) < abs(mean - true_mean)
    assert abs(model.interval_between_sd - true_between) < abs(between - true_between)
    assert log_lik > joint_log_likelihood(items, until, start, POLICY)
    assert math.isclose(log_lik, joint_log_likelihood(items, until, model, POLICY))


def test_the_joint_fit_predicts_with_the_engine_s_rhythm() -> None:
    """The fit's predictive rhythm from a window's statistics is the engine's own."""
    from models.fitting import _predictive, _window_stats

    rng = random.Random(5)
    model = PopulationModel(3.2, 0.6, 0.8, "weibull", 1.0, 700.0)
    for n in range(8):
        window = [rng.gauss(3.0, 1.0) for _ in range(n)]
        rhythm = predict(window, model, POLICY)
        assert _predictive(_window_stats(window), model, POLICY) == (rhythm.mu, rhythm.sd)
