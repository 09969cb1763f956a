"""MBG/CNBD-k: the closed form against a numerical integral of the mixture, a recovery of
known parameters and k from simulated buyers, and the summary taken from a population."""

# ``T`` (customer age) keeps the literature's name, as in evaluation.baselines.
# ruff: noqa: N803, N806

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from evaluation.cnbd import MBGCNBD, Customers, fit_k, fit_mbgcnbd
from evaluation.population import Population
from tests.builders import day


def erlang_survival(k: int, lam: float, u: float) -> float:
    return float(sum(math.exp(-lam * u) * (lam * u) ** i / math.factorial(i) for i in range(k)))


def mixture_likelihood(
    model: MBGCNBD, intervals: list[float], T: float, horizon: float = 0.0
) -> float:
    """The defining integral over lambda ~ Gamma(r, alpha) and p ~ Beta(a, b), numerically;
    with ``horizon`` > 0, the joint probability of the history and no purchase after it."""
    k, x, t_x = model.k, len(intervals), sum(intervals)

    def beta(p: float) -> float:
        return float(stats.beta.pdf(p, model.a, model.b))

    e_dropped = integrate.quad(lambda p: p * (1 - p) ** x * beta(p), 0, 1)[0]
    e_stayed = integrate.quad(lambda p: (1 - p) ** (x + 1) * beta(p), 0, 1)[0]

    def given_rate(lam: float) -> float:
        density = math.prod(stats.gamma.pdf(tau, k, scale=1 / lam) for tau in intervals)
        gamma = stats.gamma.pdf(lam, model.r, scale=1 / model.alpha)
        stays = erlang_survival(k, lam, T + horizon - t_x)
        return float(density * gamma * (e_dropped + e_stayed * stays))

    return float(integrate.quad(given_rate, 0, np.inf, limit=200)[0])


def one(intervals: list[float], T: float) -> Customers:
    return Customers(
        x=np.array([float(len(intervals))]),
        t_x=np.array([float(sum(intervals))]),
        T=np.array([T]),
        litt=np.array([float(np.sum(np.log(intervals))) if intervals else 0.0]),
    )


MODELS = [MBGCNBD(k=k, r=1.3, alpha=20.0, a=0.8, b=3.0) for k in (1, 2, 4)]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"k={m.k}")
@pytest.mark.parametrize(
    ("intervals", "T"), [([], 40.0), ([7.0], 30.0), ([10.0, 12.0, 9.0], 31.0), ([5.0, 20.0], 90.0)]
)
def test_likelihood_matches_the_mixture_integral(
    model: MBGCNBD, intervals: list[float], T: float
) -> None:
    closed = float(np.exp(model.customer_log_likelihood(one(intervals, T))[0]))
    assert closed == pytest.approx(mixture_likelihood(model, intervals, T), rel=1e-6)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"k={m.k}")
def test_p_no_purchase_matches_the_mixture_integral(model: MBGCNBD) -> None:
    intervals, T = [10.0, 12.0], 50.0
    expected = mixture_likelihood(model, intervals, T, 30.0) / mixture_likelihood(
        model, intervals, T
    )
    assert float(model.p_no_purchase(30.0, one(intervals, T))[0]) == pytest.approx(expected)


def test_one_purchase_customers_can_be_gone_from_the_start() -> None:
    model = MODELS[0]
    data = Customers(np.zeros(2), np.zeros(2), np.array([1.0, 300.0]), np.zeros(2))
    p_alive = model.p_alive(data)
    # Drop at zero: even right after the first purchase P(alive) is 1 - E[p].
    assert p_alive[0] == pytest.approx(1 - 0.8 / 3.8, abs=0.02)
    assert p_alive[1] < p_alive[0]


def test_regular_silence_is_stronger_evidence_than_poisson_silence() -> None:
    # Ten purchases 10 days apart, then 30 days of silence: unremarkable for a Poisson buyer,
    # far beyond the rhythm of an Erlang-4 one.
    data = one([10.0] * 10, 130.0)
    poisson = MBGCNBD(k=1, r=1.3, alpha=20.0, a=0.8, b=3.0).p_alive(data)[0]
    regular = MBGCNBD(k=4, r=1.3, alpha=20.0, a=0.8, b=3.0).p_alive(data)[0]
    assert regular < poisson


def simulate(
    n: int, k: int, r: float, alpha: float, a: float, b: float, rng: np.random.Generator
) -> Customers:
    x, t_x, T, litt = np.zeros(n), np.zeros(n), rng.uniform(200, 400, n), np.zeros(n)
    for i in range(n):
        lam, p = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        t = 0.0
        while rng.random() >= p:  # survives the drop after this purchase
            gap = rng.gamma(k, 1 / lam)
            if t + gap > T[i]:
                break
            t += gap
            x[i] += 1
            litt[i] += math.log(gap)
        t_x[i] = t
    return Customers(x, t_x, T, litt)


def test_fit_recovers_k_and_the_parameters_of_regular_buyers() -> None:
    rng = np.random.default_rng(5)
    data = simulate(4000, 3, r=3.0, alpha=30.0, a=1.0, b=8.0, rng=rng)
    model = fit_mbgcnbd(data, max_k=6)
    assert model.k == 3
    assert model.r == pytest.approx(3.0, rel=0.25)
    assert model.alpha == pytest.approx(30.0, rel=0.25)
    assert model.a / (model.a + model.b) == pytest.approx(1 / 9, rel=0.2)
    assert fit_k(1, data).log_likelihood < model.log_likelihood
    by_k = model.log_likelihood_by_k
    assert len(by_k) == 5 and max(by_k) == by_k[2] == model.log_likelihood  # stops at k = 5


def test_summary_of_a_population_merges_orders_at_one_instant() -> None:
    times = [day(0), day(10), day(10), day(14), day(3)]
    population = Population(
        cutoff=day(20),
        horizon_days=30.0,
        ids=["a", "b"],
        churned_at=np.full(2, np.inf),
        causes=[None, None],
        kinds=[None, None],
        interval_days=np.full(2, np.nan),
        order_times=np.array(times),
        offsets=np.array([0, 4, 5]),
        no_order=np.zeros(2, dtype=np.bool_),
    )
    data = Customers.of(population)
    assert data.x.tolist() == [2.0, 0.0]
    assert data.t_x.tolist() == [14.0, 0.0]
    assert data.T.tolist() == [20.0, 17.0]
    assert data.litt.tolist() == pytest.approx([math.log(10) + math.log(4), 0.0])
