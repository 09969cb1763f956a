"""MBG/CNBD-k (Platzer & Reutterer 2016): a BTYD baseline that knows regular buyers.

The model: a customer's inter-purchase times are Erlang-k with rate ``lambda`` (mean
``k / lambda``; k = 1 is Poisson buying, larger k is more regular), ``lambda ~ Gamma(r,
alpha)``; after every purchase, the first included ("drop at zero", the M of MBG), the
customer leaves for good with probability ``p ~ Beta(a, b)``. The population's ``(r, alpha,
a, b)`` are fitted by maximum likelihood for each k, and k is the one with the highest
likelihood (k = 1 is the MBG/NBD).

A customer's data is ``x`` (repeat purchases), ``t_x`` (last purchase, from the first),
``T`` (age at the cutoff) and ``litt``, the sum of the logs of their inter-purchase times:
with Erlang intervals the likelihood depends on the intervals themselves through
``(k - 1) * litt``, a term that does not move the parameters at a given k but decides k.
An Erlang interval cannot be 0, so orders at the same instant count as one purchase here
(the BTYD papers merge a day's purchases the same way).

Given ``lambda`` and ``p``, the likelihood is
``p (1-p)^x f(intervals)`` (left right after the last purchase) plus
``(1-p)^(x+1) f(intervals) S_k(T - t_x)`` (still there, no purchase since), with
``f(intervals) = lambda^(kx) e^(-lambda t_x) prod(tau^(k-1)) / ((k-1)!)^x`` and the Erlang
survival ``S_k(u) = sum_{i<k} e^(-lambda u) (lambda u)^i / i!``. Both integrate in closed
form over the Gamma and the Beta (:func:`_log_terms`); P(alive) is the second term's share,
and P(no purchase in the next ``t`` days) follows by replacing ``S_k(T - t_x)`` with
``S_k(T + t - t_x)``.
"""

# The customer age keeps the literature's name ``T``, as in evaluation.baselines.
# ruff: noqa: N803

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from evaluation.inputs import DAY
from evaluation.population import Population

FloatArray = npt.NDArray[np.float64]

MAX_K = 12
_LOG_BOUNDS = [(-10.0, 10.0)] * 4
_STARTS = ((0.5, 0.5, 1.0), (2.0, 1.0, 3.0))  # (r, a, b); alpha follows from the purchase rate


@dataclass(frozen=True)
class Customers:
    """Per customer: ``x``, ``t_x``, ``T`` in days and ``litt`` (sum of log intervals, days)."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    litt: FloatArray

    @classmethod
    def of(cls, population: Population) -> Customers:
        """The calibration-period summary; orders at the same instant are one purchase."""
        times, offsets = population.order_times, population.offsets
        counts = np.diff(offsets)
        customer = np.repeat(np.arange(counts.size), counts)
        first_of_customer = np.zeros(times.size, dtype=np.bool_)
        first_of_customer[offsets[:-1][counts > 0]] = True
        gap = np.diff(times, prepend=np.nan) / DAY
        repeat = ~first_of_customer & (gap > 0)  # a later purchase at a new instant
        x = np.bincount(customer[repeat], minlength=counts.size).astype(np.float64)
        litt = np.bincount(customer[repeat], weights=np.log(gap[repeat]), minlength=counts.size)
        first, last = population.first_order, population.last_order
        return cls(
            x=x,
            t_x=(last - first) / DAY,
            T=(population.cutoff - first) / DAY,
            litt=np.asarray(litt, dtype=np.float64),
        )


def _log_survival_sum(
    r: float, alpha: float, k: int, x: FloatArray, u: FloatArray, age: FloatArray
) -> FloatArray:
    """log of ``sum_{i<k} u^i / i! * Gamma(r+kx+i) / Gamma(r+kx) / (alpha+age)^i``: the
    Erlang survival over ``u`` days, mixed over the posterior Gamma of a customer seen to
    ``age`` (the factor ``(alpha+age)^-(r+kx)`` is left to the caller)."""
    shape = r + k * x
    log_u = np.log(np.where(u > 0, u, 1.0))
    terms = [np.zeros_like(x)]
    for i in range(1, k):
        term = (
            i * log_u
            - special.gammaln(i + 1.0)
            + special.gammaln(shape + i)
            - special.gammaln(shape)
            - i * np.log(alpha + age)
        )
        terms.append(np.where(u > 0, term, -np.inf))
    return np.asarray(special.logsumexp(np.stack(terms), axis=0), dtype=np.float64)


def _log_terms(
    r: float,
    alpha: float,
    a: float,
    b: float,
    k: int,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(common, dropped, alive)``: likelihood = exp(common) * (exp(dropped) + exp(alive)),
    without the interval term ``(k-1) litt - x log((k-1)!)`` (see :func:`interval_term`)."""
    shape = r + k * x
    common = special.gammaln(shape) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    dropped = special.betaln(a + 1.0, b + x) - shape * np.log(alpha + t_x)
    alive = (
        special.betaln(a, b + x + 1.0)
        - shape * np.log(alpha + T)
        + _log_survival_sum(r, alpha, k, x, T - t_x, T)
    )
    return common, dropped, alive


def interval_term(k: int, x: FloatArray, litt: FloatArray) -> FloatArray:
    """The part of the log-likelihood that depends on k but not on the parameters."""
    return np.asarray((k - 1) * litt - x * special.gammaln(float(k)), dtype=np.float64)


@dataclass(frozen=True)
class MBGCNBD:
    """A fitted (or hand-made) MBG/CNBD-k; ``alpha`` in days. ``log_likelihood`` is the
    total over the ``n_customers`` fitted on, interval term included (nan by hand)."""

    k: int
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    log_likelihood_by_k: tuple[float, ...] = ()  # k = 1, 2, ... as tried by fit_mbgcnbd

    def customer_log_likelihood(self, data: Customers) -> FloatArray:
        common, dropped, alive = _log_terms(
            self.r, self.alpha, self.a, self.b, self.k, data.x, data.t_x, data.T
        )
        total = common + np.logaddexp(dropped, alive) + interval_term(self.k, data.x, data.litt)
        return np.asarray(total, dtype=np.float64)

    def p_alive(self, data: Customers) -> FloatArray:
        """Probability that each customer is still a customer at ``T``."""
        _, dropped, alive = _log_terms(
            self.r, self.alpha, self.a, self.b, self.k, data.x, data.t_x, data.T
        )
        return np.asarray(np.exp(alive - np.logaddexp(dropped, alive)), dtype=np.float64)

    def p_no_purchase(self, horizon_days: float, data: Customers) -> FloatArray:
        """P(no purchase in ``(T, T + horizon]``) given each customer's history."""
        r, alpha, k = self.r, self.alpha, self.k
        _, dropped, alive = _log_terms(r, alpha, self.a, self.b, k, data.x, data.t_x, data.T)
        later = data.T + horizon_days
        quiet = (
            special.betaln(self.a, self.b + data.x + 1.0)
            - (r + k * data.x) * np.log(alpha + later)
            + _log_survival_sum(r, alpha, k, data.x, later - data.t_x, later)
        )
        return np.asarray(
            np.exp(np.logaddexp(dropped, quiet) - np.logaddexp(dropped, alive)), dtype=np.float64
        )


def _mean_neg_log_lik(
    theta: FloatArray, k: int, rows: tuple[FloatArray, FloatArray, FloatArray], weight: FloatArray
) -> float:
    r, alpha, a, b = np.exp(theta)
    with np.errstate(all="ignore"):
        common, dropped, alive = _log_terms(r, alpha, a, b, k, *rows)
        value = -float(np.dot(weight, common + np.logaddexp(dropped, alive))) / weight.sum()
    return value if np.isfinite(value) else 1e10


def fit_k(k: int, data: Customers, near: MBGCNBD | None = None) -> MBGCNBD:
    """Maximum likelihood ``(r, alpha, a, b)`` at a given k, over unique ``(x, t_x, T)``.

    ``near``: a fit at a neighbouring k to start from (alpha scaled to keep the mean
    interval), instead of the default starts.
    """
    unique, counts = np.unique(
        np.column_stack([data.x, data.t_x, data.T]), axis=0, return_counts=True
    )
    if unique.shape[0] == 0:
        raise ValueError("cannot fit a model on zero customers")
    rows = (unique[:, 0], unique[:, 1], unique[:, 2])
    weight = counts.astype(np.float64)
    rate = max(float(np.dot(weight, rows[0]) / max(np.dot(weight, rows[2]), 1e-12)), 1e-3)
    starts = [np.log([r, r / rate * k, a, b]) for r, a, b in _STARTS]
    if near is not None:
        starts = [np.log([near.r, near.alpha * k / near.k, near.a, near.b])]
    results = [
        optimize.minimize(
            _mean_neg_log_lik, start, args=(k, rows, weight), method="L-BFGS-B", bounds=_LOG_BOUNDS
        )
        for start in starts
    ]
    best = min(results, key=lambda res: res.fun)
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    model = MBGCNBD(k, r, alpha, a, b, converged=int(best.status) in (0, 2))
    total = float(model.customer_log_likelihood(data).sum())
    return MBGCNBD(k, r, alpha, a, b, total, int(data.x.size), model.converged)


def fit_mbgcnbd(data: Customers, max_k: int = MAX_K) -> MBGCNBD:
    """Fit k = 1, 2, ... (each starting from the fit at k - 1) and keep the most likely;
    stop once the likelihood has fallen twice."""
    best = previous = fit_k(1, data)
    tried = [best.log_likelihood]
    worse = 0
    for k in range(2, max_k + 1):
        model = previous = fit_k(k, data, near=previous)
        tried.append(model.log_likelihood)
        if model.log_likelihood > best.log_likelihood:
            best, worse = model, 0
        else:
            worse += 1
            if worse == 2:
                break
    return dataclasses.replace(best, log_likelihood_by_k=tuple(tried))
