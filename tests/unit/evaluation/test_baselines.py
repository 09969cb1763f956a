"""Tests for evaluation.baselines: simple rules, BG/NBD and Pareto/NBD.

The BTYD models are checked three ways: against published CDNOW figures, against independent
numerical integrals of their defining mixtures, and by recovering known parameters from data
simulated with the tiny simulators below.
"""

# ``T`` (customer age) keeps the literature's name, as in evaluation.baselines.
# ruff: noqa: N803, N806

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

from evaluation.baselines import (
    BGNBD,
    ParetoNBD,
    fit_bgnbd,
    fit_pareto_nbd,
    own_interval_flags,
    own_interval_score,
    recency_score,
    recency_threshold_flags,
)

# Published CDNOW estimates, in weeks: BG/NBD from Fader, Hardie & Lee (2005), Pareto/NBD as
# reported by the BTYD R package walkthrough.
CDNOW_BGNBD = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_PARETO = ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=11.669)


# --- simulators ---------------------------------------------------------------------------------


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    rng: np.random.Generator,
    t_min: float = 500.0,
    t_max: float = 1000.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) from a BG/NBD process: Poisson purchases, drop-out chance p after each one."""
    T = rng.uniform(t_min, t_max, n)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    in_window = rng.poisson(lam * T)  # purchases in [0, T] had the customer never dropped out
    drops_after = rng.geometric(p)  # index of the repeat purchase after which they drop out
    x = np.minimum(in_window, drops_after)
    t_x = np.zeros(n)
    some = x > 0
    # The x-th of m uniform purchase times on [0, T] is T * Beta(x, m - x + 1).
    t_x[some] = T[some] * rng.beta(x[some], in_window[some] - x[some] + 1)
    return x.astype(float), t_x, T


def simulate_pareto_nbd(
    n: int,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    rng: np.random.Generator,
    t_min: float = 500.0,
    t_max: float = 1000.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) from a Pareto/NBD process: Poisson purchases until an exponential lifetime."""
    T = rng.uniform(t_min, t_max, n)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    active_for = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * active_for)
    # The last of x uniform purchase times on [0, active_for] is active_for * U^(1/x).
    t_x = np.where(x > 0, active_for * rng.random(n) ** (1.0 / np.maximum(x, 1)), 0.0)
    return x.astype(float), t_x, T


# --- independent references ---------------------------------------------------------------------


def bgnbd_log_lik_direct(m: BGNBD, x: float, t_x: float, T: float) -> float:
    """FHL (2005) eq. 6 evaluated literally, without logs (fine for small x)."""
    head = special.gamma(m.r + x) * m.alpha**m.r / special.gamma(m.r)
    alive = special.beta(m.a, m.b + x) / special.beta(m.a, m.b) / (m.alpha + T) ** (m.r + x)
    dropped = 0.0
    if x > 0:
        dropped = special.beta(m.a + 1, m.b + x - 1) / special.beta(m.a, m.b)
        dropped /= (m.alpha + t_x) ** (m.r + x)
    return float(np.log(head * (alive + dropped)))


def bgnbd_expected_by_quadrature(m: BGNBD, t: float, x: float, t_x: float, T: float) -> float:
    """P(alive) * E[(1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p] with p ~ Beta(a, b+x)."""

    def integrand(p: float) -> float:
        log_density = (m.a - 1) * np.log(p) + (m.b + x - 1) * np.log1p(-p)
        log_density -= special.betaln(m.a, m.b + x)
        expected_if_alive = -np.expm1((m.r + x) * np.log((m.alpha + T) / (m.alpha + T + p * t)))
        return float(np.exp(log_density) * expected_if_alive / p)

    mean_if_alive, _ = integrate.quad(integrand, 0.0, 1.0, epsabs=0, epsrel=1e-10, limit=200)
    return float(m.p_alive(x, t_x, T)[()]) * float(mean_if_alive)


def pareto_log_lik_by_quadrature(m: ParetoNBD, x: float, t_x: float, T: float) -> float:
    """Log-likelihood with the death-time integral done numerically instead of with 2F1.

    L = C * [(a+T)^-(r+x) (b+T)^-s + s * int_{t_x}^T (a+y)^-(r+x) (b+y)^-(s+1) dy], with
    C = Gamma(r+x) alpha^r beta^s / Gamma(r); everything is scaled by the integrand at t_x.
    """
    rx = m.r + x
    log_k = -rx * np.log(m.alpha + t_x) - (m.s + 1) * np.log(m.beta + t_x)

    def scaled(y: float) -> float:
        return float(
            ((m.alpha + t_x) / (m.alpha + y)) ** rx * ((m.beta + t_x) / (m.beta + y)) ** (m.s + 1)
        )

    integral, _ = integrate.quad(scaled, t_x, T, epsabs=0, epsrel=1e-11, limit=200)
    log_alive = -rx * np.log(m.alpha + T) - m.s * np.log(m.beta + T)
    log_c = special.gammaln(rx) - special.gammaln(m.r) + m.r * np.log(m.alpha)
    log_c += m.s * np.log(m.beta)
    return float(log_c + log_k + np.log(np.exp(log_alive - log_k) + m.s * integral))


def pareto_log_lik_fader_hardie(m: ParetoNBD, x: float, t_x: float, T: float) -> float:
    """Fader & Hardie's note (2005), eq. 22, with the raw 2F1 of each branch (moderate x only)."""
    r, alpha, s, beta = m.r, m.alpha, m.s, m.beta
    rsx = r + s + x
    # alpha >= beta: 2F1(r+s+x, s+1; ...); alpha < beta: 2F1(r+s+x, r+x; ...), both at
    # z = |alpha - beta| / (max(alpha, beta) + t).
    big, second = (alpha, s + 1) if alpha >= beta else (beta, r + x)

    def term(t: float) -> float:
        z = abs(alpha - beta) / (big + t)
        return float(special.hyp2f1(rsx, second, rsx + 1, z) / (big + t) ** rsx)

    a0 = term(t_x) - term(T)
    head = special.gamma(r + x) * alpha**r * beta**s / special.gamma(r)
    alive = 1.0 / ((alpha + T) ** (r + x) * (beta + T) ** s)
    return float(np.log(head * (alive + s / rsx * a0)))


# --- simple baselines ---------------------------------------------------------------------------


def test_recency_threshold_flags_hand_computed() -> None:
    recency = [0.0, 89.0, 90.0, 90.5, 400.0]
    np.testing.assert_array_equal(recency_threshold_flags(recency), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(recency_threshold_flags(recency, 60.0), [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(recency_score(recency), recency)


def test_own_interval_hand_computed_with_median_fallback() -> None:
    recency = [30.0, 30.0, 30.0, 50.0, 90.0]
    # Usable intervals 10, 20, 40 -> median 20 for the one-order (nan) and zero-interval rows.
    interval = [10.0, 20.0, 40.0, np.nan, 0.0]
    np.testing.assert_allclose(own_interval_score(recency, interval), [3.0, 1.5, 0.75, 2.5, 4.5])
    np.testing.assert_array_equal(own_interval_flags(recency, interval), [1, 0, 0, 1, 1])
    np.testing.assert_array_equal(own_interval_flags(recency, interval, 3.0), [0, 0, 0, 0, 1])


def test_simple_baselines_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        recency_score([1.0, -1.0])
    with pytest.raises(ValueError, match="usable"):
        own_interval_score([1.0, 2.0], [np.nan, np.nan])


# --- RFM validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "t_x", "T"),
    [(1.0, 10.0, 5.0), (0.0, 3.0, 10.0), (-1.0, 0.0, 10.0), (1.5, 2.0, 10.0), (1.0, np.nan, 5.0)],
)
def test_invalid_rfm_rows_are_rejected(x: float, t_x: float, T: float) -> None:
    with pytest.raises(ValueError):
        CDNOW_BGNBD.p_alive(x, t_x, T)
    with pytest.raises(ValueError):
        fit_pareto_nbd([x, 2.0], [t_x, 5.0], [T, 10.0])


# --- BG/NBD -------------------------------------------------------------------------------------


def test_bgnbd_reproduces_published_cdnow_conditional_expectation() -> None:
    # FHL (2005): customer 0001 of CDNOW, x=2, t_x=30.43, T=38.86 weeks -> 1.226 in 39 weeks.
    expected = CDNOW_BGNBD.expected_purchases(39.0, 2.0, 30.43, 38.86)
    assert float(expected) == pytest.approx(1.226, abs=5e-4)


def test_bgnbd_log_likelihood_at_cdnow_estimates_is_finite() -> None:
    rng = np.random.default_rng(7)
    x, t_x, T = simulate_bgnbd(2000, 0.243, 4.414, 0.793, 2.426, rng, t_min=32.0, t_max=39.0)
    ll = CDNOW_BGNBD.customer_log_likelihood(x, t_x, T)
    assert np.isfinite(ll).all()
    assert (ll <= 0).all()


@pytest.mark.parametrize("model", [CDNOW_BGNBD, BGNBD(1.3, 40.0, 1.5, 3.0)])
@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 38.0), (3, 20.0, 38.0), (7, 37.0, 52.0)])
def test_bgnbd_log_likelihood_matches_direct_formula(model, x, t_x, T) -> None:
    got = float(model.customer_log_likelihood(x, t_x, T)[()])
    assert got == pytest.approx(bgnbd_log_lik_direct(model, x, t_x, T), rel=1e-12)


@pytest.mark.parametrize("model", [BGNBD(1.3, 40.0, 1.5, 3.0), BGNBD(1.3, 40.0, 0.8, 2.5)])
@pytest.mark.parametrize(
    ("x", "t_x", "T"), [(0, 0.0, 200.0), (3, 120.0, 200.0), (40, 190.0, 365.0)]
)
def test_bgnbd_expected_purchases_matches_quadrature(model, x, t_x, T) -> None:
    got = float(model.expected_purchases(90.0, x, t_x, T)[()])
    assert got == pytest.approx(bgnbd_expected_by_quadrature(model, 90.0, x, t_x, T), rel=1e-7)


def test_bgnbd_expected_purchases_is_continuous_at_a_equal_one() -> None:
    at_one = BGNBD(1.3, 40.0, 1.0, 3.0).expected_purchases(90.0, 3, 120.0, 200.0)
    near_one = BGNBD(1.3, 40.0, 1.0 + 1e-4, 3.0).expected_purchases(90.0, 3, 120.0, 200.0)
    assert np.isfinite(at_one)
    assert float(at_one) == pytest.approx(float(near_one), rel=1e-3)


def test_bgnbd_p_alive_is_one_without_repeat_purchases() -> None:
    p = CDNOW_BGNBD.p_alive(np.zeros(4), np.zeros(4), [1.0, 10.0, 39.0, 500.0])
    np.testing.assert_array_equal(p, 1.0)


@pytest.mark.parametrize("model", [CDNOW_BGNBD, BGNBD(1.3, 40.0, 1.5, 3.0)])
def test_bgnbd_p_alive_decreases_with_recency(model: BGNBD) -> None:
    t_x = np.linspace(38.0, 1.0, 20)  # recency T - t_x grows along the array
    p = model.p_alive(3.0, t_x, 38.86)
    assert (np.diff(p) < 0).all()
    assert ((p > 0) & (p < 1)).all()


def test_bgnbd_expected_purchases_grows_with_horizon() -> None:
    horizon = np.array([0.0, 1.0, 13.0, 39.0, 104.0])
    expected = CDNOW_BGNBD.expected_purchases(horizon, 2.0, 30.43, 38.86)
    assert expected[0] == 0.0
    assert (np.diff(expected) > 0).all()


def test_bgnbd_fit_recovers_simulated_parameters() -> None:
    truth = BGNBD(r=0.8, alpha=40.0, a=0.8, b=2.5)
    x, t_x, T = simulate_bgnbd(
        5000, truth.r, truth.alpha, truth.a, truth.b, np.random.default_rng(3)
    )
    fitted = fit_bgnbd(x, t_x, T)
    assert fitted.converged
    assert fitted.n_customers == 5000
    np.testing.assert_allclose(
        [fitted.r, fitted.alpha, fitted.a, fitted.b], [0.8, 40.0, 0.8, 2.5], rtol=0.15
    )
    # The MLE must beat the true parameters on the data it was fitted to.
    assert fitted.log_likelihood >= truth.customer_log_likelihood(x, t_x, T).sum() - 1e-6
    assert fitted.log_likelihood == pytest.approx(fitted.customer_log_likelihood(x, t_x, T).sum())


# --- Pareto/NBD ---------------------------------------------------------------------------------

PARETO_BRANCHES = {
    "alpha<beta": ParetoNBD(1.3, 40.0, 1.7, 300.0),
    "alpha>beta": ParetoNBD(1.3, 300.0, 1.7, 40.0),
    "alpha=beta": ParetoNBD(1.3, 50.0, 1.7, 50.0),
    "cdnow": CDNOW_PARETO,
}


def test_pareto_reproduces_published_cdnow_conditional_expectation() -> None:
    # BTYD walkthrough: x=26, t_x=30.86, T=31 weeks -> 25.46 purchases in the next 52 weeks.
    expected = CDNOW_PARETO.expected_purchases(52.0, 26.0, 30.86, 31.0)
    assert float(expected) == pytest.approx(25.46, abs=0.01)


@pytest.mark.parametrize("model", PARETO_BRANCHES.values(), ids=PARETO_BRANCHES.keys())
@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 200.0), (3, 120.0, 200.0), (7, 190.0, 365.0)])
def test_pareto_log_likelihood_matches_both_references(model, x, t_x, T) -> None:
    got = float(model.customer_log_likelihood(x, t_x, T)[()])
    assert got == pytest.approx(pareto_log_lik_by_quadrature(model, x, t_x, T), rel=1e-8)
    assert got == pytest.approx(pareto_log_lik_fader_hardie(model, x, t_x, T), rel=1e-8)


@pytest.mark.parametrize("model", PARETO_BRANCHES.values(), ids=PARETO_BRANCHES.keys())
def test_pareto_log_likelihood_is_finite_for_heavy_buyers(model: ParetoNBD) -> None:
    # x = 500 overflows the raw 2F1 of the alpha < beta branch; the transformed one stays finite.
    got = float(model.customer_log_likelihood(500.0, 100.0, 365.0)[()])
    assert np.isfinite(got)
    assert got == pytest.approx(pareto_log_lik_by_quadrature(model, 500.0, 100.0, 365.0), rel=1e-8)


def test_pareto_log_likelihood_when_last_purchase_is_at_cutoff() -> None:
    # t_x == T: the "died in (t_x, T]" term is exactly zero.
    m = PARETO_BRANCHES["alpha<beta"]
    alive_only = special.gammaln(m.r + 4) - special.gammaln(m.r) + m.r * np.log(m.alpha)
    alive_only += (
        m.s * np.log(m.beta) - (m.r + 4) * np.log(m.alpha + 80) - m.s * np.log(m.beta + 80)
    )
    assert float(m.customer_log_likelihood(4, 80.0, 80.0)[()]) == pytest.approx(alive_only)
    assert float(m.p_alive(4, 80.0, 80.0)[()]) == 1.0


@pytest.mark.parametrize("model", PARETO_BRANCHES.values(), ids=PARETO_BRANCHES.keys())
def test_pareto_p_alive_decreases_with_recency(model: ParetoNBD) -> None:
    t_x = np.linspace(199.0, 1.0, 25)
    p = model.p_alive(3.0, t_x, 200.0)
    assert (np.diff(p) < 0).all()
    assert ((p > 0) & (p < 1)).all()


def test_pareto_expected_purchases_grows_with_horizon_and_handles_s_equal_one() -> None:
    horizon = np.array([0.0, 7.0, 30.0, 90.0, 365.0])
    expected = PARETO_BRANCHES["alpha<beta"].expected_purchases(horizon, 3.0, 120.0, 200.0)
    assert expected[0] == 0.0
    assert (np.diff(expected) > 0).all()
    at_one = ParetoNBD(1.3, 40.0, 1.0, 300.0).expected_purchases(90.0, 3.0, 120.0, 200.0)
    near_one = ParetoNBD(1.3, 40.0, 1.0 + 1e-6, 300.0).expected_purchases(90.0, 3.0, 120.0, 200.0)
    assert float(at_one) == pytest.approx(float(near_one), rel=1e-5)


def test_pareto_expected_purchases_matches_quadrature() -> None:
    # Given alive: lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T), E[Y] = lambda/mu (1-e^-mu t)
    m, x, t_x, T, t = PARETO_BRANCHES["alpha>beta"], 3.0, 120.0, 200.0, 90.0
    shape, rate = m.s, m.beta + T

    def integrand(mu: float) -> float:
        log_density = shape * np.log(rate) + (shape - 1) * np.log(mu) - rate * mu
        return float(np.exp(log_density - special.gammaln(shape)) * -np.expm1(-mu * t) / mu)

    per_unit_rate, _ = integrate.quad(integrand, 0.0, np.inf, epsabs=0, epsrel=1e-10)
    reference = float(m.p_alive(x, t_x, T)[()]) * (m.r + x) / (m.alpha + T) * per_unit_rate
    assert float(m.expected_purchases(t, x, t_x, T)[()]) == pytest.approx(reference, rel=1e-8)


def test_pareto_fit_recovers_simulated_parameters() -> None:
    truth = ParetoNBD(r=0.8, alpha=40.0, s=1.5, beta=300.0)
    x, t_x, T = simulate_pareto_nbd(
        5000, truth.r, truth.alpha, truth.s, truth.beta, np.random.default_rng(3)
    )
    fitted = fit_pareto_nbd(x, t_x, T)
    assert fitted.converged
    np.testing.assert_allclose([fitted.r, fitted.alpha], [0.8, 40.0], rtol=0.15)
    # s and beta are strongly correlated; their ratio (the mean drop-out rate) is sharper.
    np.testing.assert_allclose([fitted.s, fitted.beta], [1.5, 300.0], rtol=0.3)
    assert fitted.s / fitted.beta == pytest.approx(1.5 / 300.0, rel=0.1)
    assert fitted.log_likelihood >= truth.customer_log_likelihood(x, t_x, T).sum() - 1e-6


def test_fits_on_small_data_skip_the_subsample_stage() -> None:
    rng = np.random.default_rng(11)
    x, t_x, T = simulate_pareto_nbd(800, 0.8, 40.0, 1.5, 300.0, rng)
    for fit, model_type in ((fit_bgnbd, BGNBD), (fit_pareto_nbd, ParetoNBD)):
        fitted = fit(x, t_x, T)
        assert isinstance(fitted, model_type)
        assert fitted.n_customers == 800
        assert fitted.log_likelihood == pytest.approx(
            fitted.customer_log_likelihood(x, t_x, T).sum()
        )


def test_bgnbd_expected_purchases_stays_finite_when_a_and_b_run_off() -> None:
    # A fit where everyone drops out with the same chance sends a and b into the thousands;
    # the closed form is then 0 * inf and the point-mass limit takes over, continuously.
    x, t_x, T = np.array([0.0, 2.0, 7.0]), np.array([0.0, 30.0, 25.0]), np.full(3, 38.0)
    closed_form = BGNBD(r=0.6, alpha=7.8, a=430.0, b=16_300.0).expected_purchases(39.0, x, t_x, T)
    limit = BGNBD(r=0.6, alpha=7.8, a=4_300.0, b=163_000.0).expected_purchases(39.0, x, t_x, T)
    assert np.isfinite(closed_form).all()
    assert limit == pytest.approx(closed_form, rel=1e-3)
