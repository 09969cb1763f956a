"""Learning the population model from histories: rhythm by moments, lifetime by marginal
likelihood, the interval tail by likelihood, evidence weights from outcomes."""

from __future__ import annotations

import itertools
import math
import random

from models.fitting import (
    History,
    Outcome,
    fit_evidence,
    fit_lifetime,
    fit_rhythm,
    histories,
    interval_log_likelihood,
    lifetime_log_likelihood,
)
from models.policy import DAY, Policy
from models.population import PopulationModel
from models.rhythm import log_interval_days
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
