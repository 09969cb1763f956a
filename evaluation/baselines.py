"""Baselines a data scientist would hold Churnwatch against, for ``churnwatch evaluate``.

This module owns the churn baselines and their fitting, all on the per-customer RFM summary of
the calibration period, in days:

* ``x``   -- number of repeat purchases (orders after the first),
* ``t_x`` -- time of the last purchase, counted from the first purchase (0 when ``x == 0``),
* ``T``   -- age of the customer: cutoff minus first purchase.

Baselines:

* recency threshold: flag customers whose last order is older than a fixed number of days;
* own interval: flag customers whose recency exceeds a multiple of their own mean interval;
* BG/NBD (Fader, Hardie & Lee 2005) and Pareto/NBD (Schmittlein, Morrison & Colombo 1987),
  fitted by maximum likelihood, giving ``P(alive)`` and the expected number of purchases in a
  horizon. ``1 - P(alive)`` is the model's churn risk.

Why scipy rather than a BTYD package: ``lifetimes``, the usual choice, has had no release since
2020 and fails on current numpy/pandas; its successor ``btyd`` is still a beta (0.1b3). Both
pull in pandas and autograd-era dependencies. The two likelihoods are short closed forms, so
they are implemented here on numpy/scipy (``gammaln``, ``betaln``, ``hyp2f1``, L-BFGS-B), which
keeps the ``eval`` extra small and lets the fits be vectorised over unique ``(x, t_x, T)`` rows.

Numerics: parameters are optimised on the log scale inside bounds; likelihoods are computed in
log space with ``logaddexp``; the Pareto/NBD hypergeometric terms are taken after an Euler
transformation so that they stay bounded (see :func:`_pnbd_log_a0_term`). Fits first search
from several starts on a weighted subsample of customers, then polish the best start on all
of them, so fitting 100k customers takes seconds.
"""

# The customer age keeps the literature's name ``T`` (Fader, Hardie & Lee) in signatures.
# ruff: noqa: N803

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_LOG_BOUNDS = [(-12.0, 12.0)] * 4
_MULTISTART_ROWS = 4000
_SUBSAMPLE_SEED = 20240601


# --- simple baselines -------------------------------------------------------------------------


def recency_score(recency_days: npt.ArrayLike) -> FloatArray:
    """Risk score of the recency baseline: the recency itself (days since the last order)."""
    recency = np.asarray(recency_days, dtype=np.float64)
    if (recency < 0).any() or np.isnan(recency).any():
        raise ValueError("recency_days must be non-negative numbers")
    return recency


def recency_threshold_flags(recency_days: npt.ArrayLike, threshold_days: float = 90.0) -> BoolArray:
    """Flag customers with no order for more than ``threshold_days`` (strictly)."""
    return recency_score(recency_days) > threshold_days


def own_interval_score(
    recency_days: npt.ArrayLike, mean_interval_days: npt.ArrayLike
) -> FloatArray:
    """Recency divided by the customer's own mean inter-order interval.

    Customers without a usable interval (one order only: nan; or a non-positive mean, e.g. two
    orders on the same day) get the median of the usable intervals of the population instead.
    """
    recency = recency_score(recency_days)
    interval = np.asarray(mean_interval_days, dtype=np.float64)
    usable = np.isfinite(interval) & (interval > 0)
    if not usable.any():
        raise ValueError("no customer has a usable mean interval to fall back on")
    filled = np.where(usable, interval, np.median(interval[usable]))
    return np.asarray(recency / filled, dtype=np.float64)


def own_interval_flags(
    recency_days: npt.ArrayLike, mean_interval_days: npt.ArrayLike, multiple: float = 2.0
) -> BoolArray:
    """Flag customers whose recency exceeds ``multiple`` times their own mean interval."""
    return own_interval_score(recency_days, mean_interval_days) > multiple


# --- RFM input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RFM:
    """Unique ``(x, t_x, T)`` rows with the number of customers sharing each."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weight: FloatArray

    @property
    def n_customers(self) -> int:
        return int(self.weight.sum())


def _rfm_arrays(
    x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Broadcast and validate an RFM summary (see the module docstring)."""
    xa, ta, age = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(t_x, dtype=np.float64),
        np.asarray(T, dtype=np.float64),
    )
    if not (np.isfinite(xa).all() and np.isfinite(ta).all() and np.isfinite(age).all()):
        raise ValueError("x, t_x and T must be finite")
    if (xa < 0).any() or (xa != np.round(xa)).any():
        raise ValueError("x must be a non-negative whole number of repeat purchases")
    if (ta < 0).any() or (ta > age).any():
        raise ValueError("need 0 <= t_x <= T")
    if (ta[xa == 0] != 0).any():
        raise ValueError("t_x must be 0 for customers without repeat purchases")
    return xa, ta, age


def _compress(x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> _RFM:
    """Collapse customers with identical ``(x, t_x, T)`` into weighted rows."""
    xa, ta, age = _rfm_arrays(x, t_x, T)
    rows, counts = np.unique(
        np.column_stack([xa.ravel(), ta.ravel(), age.ravel()]), axis=0, return_counts=True
    )
    if rows.shape[0] == 0:
        raise ValueError("cannot fit a model on zero customers")
    return _RFM(rows[:, 0], rows[:, 1], rows[:, 2], counts.astype(np.float64))


def _subsample(data: _RFM, max_rows: int) -> _RFM:
    """``max_rows`` customers drawn with replacement (by weight), when there are more rows."""
    if data.x.size <= max_rows:
        return data
    rng = np.random.default_rng(_SUBSAMPLE_SEED)
    picked = rng.choice(data.x.size, size=max_rows, p=data.weight / data.weight.sum())
    idx, counts = np.unique(picked, return_counts=True)
    return _RFM(data.x[idx], data.t_x[idx], data.T[idx], counts.astype(np.float64))


# --- maximum likelihood -----------------------------------------------------------------------

_LogLik = Callable[[FloatArray, _RFM], FloatArray]
"""Per-row log-likelihood of the model at log-parameters ``theta``."""


@dataclass(frozen=True)
class _Fit:
    params: FloatArray
    log_likelihood: float
    converged: bool


def _mean_neg_log_lik(theta: FloatArray, data: _RFM, log_lik: _LogLik) -> float:
    with np.errstate(all="ignore"):
        value = -float(np.dot(data.weight, log_lik(theta, data))) / float(data.weight.sum())
    # A non-finite value at the edge of the box would derail L-BFGS-B's line search.
    return value if np.isfinite(value) else 1e10


def _search(log_lik: _LogLik, data: _RFM, start: FloatArray) -> optimize.OptimizeResult:
    """Bounded L-BFGS-B from one start, on the mean negative log-likelihood."""
    return optimize.minimize(
        _mean_neg_log_lik, start, args=(data, log_lik), method="L-BFGS-B", bounds=_LOG_BOUNDS
    )


def _polish(
    log_lik: _LogLik, data: _RFM, found: optimize.OptimizeResult
) -> optimize.OptimizeResult:
    """BFGS on all rows, seeded with the subsample's inverse Hessian.

    The mean log-likelihood of a subsample has nearly the same curvature as that of the full
    data, so reusing it lets BFGS converge in a handful of iterations, where a cold L-BFGS-B
    needs ~15 and (s, beta) of the Pareto/NBD are strongly correlated.
    """
    hess_inv = np.asarray(found.hess_inv.todense(), dtype=np.float64)
    hess_inv = (hess_inv + hess_inv.T) / 2.0
    options = {"hess_inv0": hess_inv} if np.linalg.eigvalsh(hess_inv).min() > 0 else {}
    polished = optimize.minimize(
        _mean_neg_log_lik, found.x, args=(data, log_lik), method="BFGS", options=options
    )
    # BFGS is unbounded: pull a parameter that ran off to the edge back into the box.
    polished.x = np.clip(polished.x, *np.array(_LOG_BOUNDS).T)
    polished.fun = _mean_neg_log_lik(polished.x, data, log_lik)
    start_value = _mean_neg_log_lik(np.asarray(found.x, dtype=np.float64), data, log_lik)
    return polished if float(polished.fun) <= start_value else _search(log_lik, data, found.x)


def _maximise(log_lik: _LogLik, data: _RFM, starts: list[FloatArray]) -> _Fit:
    """Multi-start search on a subsample, then a polish of the best start on all rows."""
    sample = _subsample(data, _MULTISTART_ROWS)
    best = min((_search(log_lik, sample, start) for start in starts), key=lambda res: res.fun)
    if sample is not data:
        best = _polish(log_lik, data, best)
    # Status 2 is "precision loss / line search stalled": the usual way both optimisers stop
    # at a flat optimum; 1 (iteration limit) and 3 (nan) are real failures.
    return _Fit(
        params=np.exp(np.asarray(best.x, dtype=np.float64)),
        log_likelihood=-float(best.fun) * float(data.weight.sum()),
        converged=int(best.status) in (0, 2),
    )


def _purchase_rate(data: _RFM) -> float:
    """Pooled repeat purchases per day, used to pick starting values."""
    rate = float(np.dot(data.weight, data.x) / max(np.dot(data.weight, data.T), 1e-12))
    return rate if rate > 0 else 1e-3


# --- BG/NBD -----------------------------------------------------------------------------------


def _bgnbd_log_terms(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(common, alive, dropped)`` with likelihood = exp(common) * (exp(alive) + exp(dropped)).

    ``alive``: still active after the x-th repeat purchase; ``dropped``: became inactive right
    after it (impossible when ``x == 0``, hence -inf there).
    """
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    alive = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    dropped = np.where(
        x > 0,
        special.betaln(a + 1.0, b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return common, alive, dropped


def _bgnbd_log_lik(theta: FloatArray, data: _RFM) -> FloatArray:
    r, alpha, a, b = np.exp(theta)
    common, alive, dropped = _bgnbd_log_terms(r, alpha, a, b, data.x, data.t_x, data.T)
    return np.asarray(common + np.logaddexp(alive, dropped), dtype=np.float64)


class _TwoStateModel:
    """What BG/NBD and Pareto/NBD share: a customer's likelihood is the sum of an "alive at
    T" and a "dropped out before T" term, and P(alive) is the first term's share."""

    def _log_terms(
        self, x: FloatArray, t_x: FloatArray, age: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        raise NotImplementedError

    def customer_log_likelihood(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Log-likelihood of each customer's ``(x, t_x, T)``."""
        common, alive, gone = self._log_terms(*_rfm_arrays(x, t_x, T))
        return np.asarray(common + np.logaddexp(alive, gone), dtype=np.float64)

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """Probability that each customer is still active at ``T``."""
        _, alive, gone = self._log_terms(*_rfm_arrays(x, t_x, T))
        return np.asarray(np.exp(alive - np.logaddexp(alive, gone)), dtype=np.float64)


@dataclass(frozen=True)
class BGNBD(_TwoStateModel):
    """A BG/NBD model: purchase rate ~ Gamma(r, alpha), drop-out probability ~ Beta(a, b).

    ``alpha`` is in days (purchase rates are per day). ``log_likelihood`` is the total over the
    ``n_customers`` it was fitted on (nan for a model built by hand).
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True

    def _log_terms(
        self, x: FloatArray, t_x: FloatArray, age: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # FHL 2005, eq. 6; P(alive) is 1 when x == 0.
        return _bgnbd_log_terms(self.r, self.alpha, self.a, self.b, x, t_x, age)

    def expected_purchases(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Expected number of purchases in ``(T, T + t]`` given the history (FHL 2005, eq. 10).

        The hypergeometric factor is written after an Euler transformation,
        ``(1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(c-r-x, a-1; c; z)`` with
        ``c = a+b+x-1``, whose right side stays bounded for large ``x``.
        """
        xa, ta, age = _rfm_arrays(x, t_x, T)
        horizon = np.asarray(t, dtype=np.float64)
        # The closed form divides by (a - 1); its limit at a = 1 is reached by a tiny shift.
        a = self.a if abs(self.a - 1.0) > 1e-7 else 1.0 + 1e-7
        r, alpha, b = self.r, self.alpha, self.b
        c = a + b + xa - 1.0
        z = horizon / (alpha + age + horizon)
        with np.errstate(invalid="ignore", over="ignore"):
            hyp = np.exp((a - 1.0) * np.log1p(-z)) * special.hyp2f1(c - r - xa, a - 1.0, c, z)
        expected_if_alive = c / (a - 1.0) * (1.0 - hyp)
        # With a and b in the thousands (a fit where everyone drops out with the same p) that
        # product is 0 * inf. The Beta is then a point mass at p = a / (a + b + x), where an
        # alive customer's expectation is (1 - ((alpha+T) / (alpha+T+p t))^(r+x)) / p.
        broken = ~np.isfinite(expected_if_alive)
        if broken.any():
            p = a / (a + b + xa)
            limit = -np.expm1(-(r + xa) * np.log1p(p * horizon / (alpha + age))) / p
            expected_if_alive = np.where(broken, limit, expected_if_alive)
        return np.asarray(expected_if_alive * self.p_alive(xa, ta, age), dtype=np.float64)


def fit_bgnbd(x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> BGNBD:
    """Fit a BG/NBD model to per-customer RFM summaries (days) by maximum likelihood."""
    data = _compress(x, t_x, T)
    rate = _purchase_rate(data)
    starts = [np.log([r, r / rate, a, b]) for r in (0.5, 2.0) for a, b in ((0.5, 2.0), (1.5, 5.0))]
    fit = _maximise(_bgnbd_log_lik, data, starts)
    r, alpha, a, b = (float(v) for v in fit.params)
    return BGNBD(r, alpha, a, b, fit.log_likelihood, data.n_customers, fit.converged)


# --- Pareto/NBD -------------------------------------------------------------------------------


def _pnbd_log_a0_term(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t: FloatArray
) -> FloatArray:
    """log of ``2F1(...) / (max(alpha, beta) + t)^(r+s+x)``, the A0 building block.

    Fader & Hardie's note writes, for alpha >= beta,
    ``2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t)) / (alpha+t)^(r+s+x)`` and, for
    alpha < beta, ``2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+t)) / (beta+t)^(r+s+x)``.
    Both 2F1 blow up like ``(1-z)^-(s or r+x)`` for large x; the Euler transformation
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` leaves a ``2F1(1, .; C; z)`` that
    is bounded on [0, 1), and the ``(1-z)`` powers fold into the logs below.
    """
    rx = r + x
    c = rx + s + 1.0
    base = -rx * np.log(alpha + t) - s * np.log(beta + t)
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        return np.asarray(base + np.log(special.hyp2f1(1.0, rx, c, z)), dtype=np.float64)
    z = (beta - alpha) / (beta + t)
    log_ratio = np.log(alpha + t) - np.log(beta + t)
    return np.asarray(base + log_ratio + np.log(special.hyp2f1(1.0, s + 1.0, c, z)), np.float64)


def _pnbd_log_terms(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(common, alive, dead)`` with likelihood = exp(common) * (exp(alive) + exp(dead)).

    ``alive``: the lifetime exceeds T; ``dead``: it ended in (t_x, T] (``s/(r+s+x) * A0``).
    """
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    at_last = _pnbd_log_a0_term(r, alpha, s, beta, x, t_x)
    at_cutoff = _pnbd_log_a0_term(r, alpha, s, beta, x, T)
    # A0 = exp(at_last) - exp(at_cutoff) >= 0, and is 0 when t_x == T.
    with np.errstate(divide="ignore"):
        log_a0 = at_last + np.log(-np.expm1(np.minimum(at_cutoff - at_last, 0.0)))
    dead = np.log(s) - np.log(r + s + x) + log_a0
    return common, alive, dead


def _pnbd_log_lik(theta: FloatArray, data: _RFM) -> FloatArray:
    r, alpha, s, beta = np.exp(theta)
    common, alive, dead = _pnbd_log_terms(r, alpha, s, beta, data.x, data.t_x, data.T)
    return np.asarray(common + np.logaddexp(alive, dead), dtype=np.float64)


@dataclass(frozen=True)
class ParetoNBD(_TwoStateModel):
    """A Pareto/NBD model: purchase rate ~ Gamma(r, alpha), drop-out rate ~ Gamma(s, beta).

    ``alpha`` and ``beta`` are in days. ``log_likelihood`` is the total over the
    ``n_customers`` it was fitted on (nan for a model built by hand).
    """

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True

    def _log_terms(
        self, x: FloatArray, t_x: FloatArray, age: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # Fader & Hardie 2005 note, eq. 22.
        return _pnbd_log_terms(self.r, self.alpha, self.s, self.beta, x, t_x, age)

    def expected_purchases(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Expected number of purchases in ``(T, T + t]`` given the history.

        ``(r+x)(beta+T) / ((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive)``,
        with its limit ``(r+x)/(alpha+T) * (beta+T) * log((beta+T+t)/(beta+T))`` at s = 1.
        """
        xa, ta, age = _rfm_arrays(x, t_x, T)
        horizon = np.asarray(t, dtype=np.float64)
        log_growth = np.log1p(horizon / (self.beta + age))
        sm1 = self.s - 1.0
        near_one = abs(sm1) <= 1e-10
        survival_integral = log_growth if near_one else -np.expm1(-sm1 * log_growth) / sm1
        rate = (self.r + xa) / (self.alpha + age)
        per_alive = rate * (self.beta + age) * survival_integral
        return np.asarray(per_alive * self.p_alive(xa, ta, age), dtype=np.float64)


def fit_pareto_nbd(x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> ParetoNBD:
    """Fit a Pareto/NBD model to per-customer RFM summaries (days) by maximum likelihood."""
    data = _compress(x, t_x, T)
    rate = _purchase_rate(data)
    age = float(np.median(data.T)) + 1.0
    starts = [np.log([r, r / rate, s, s * age]) for r in (0.5, 2.0) for s in (0.5, 2.0)]
    fit = _maximise(_pnbd_log_lik, data, starts)
    r, alpha, s, beta = (float(v) for v in fit.params)
    return ParetoNBD(r, alpha, s, beta, fit.log_likelihood, data.n_customers, fit.converged)
