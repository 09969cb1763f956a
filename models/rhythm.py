"""Reorder rhythm: how long a customer usually waits between orders, and how surely.

A customer's rhythm is summarised on the log scale: the mean ``mu`` and spread ``sd`` of
their log-intervals. Their typical log-interval is shrunk toward a *population prior* in
proportion to how little history they have, so a one-order customer leans entirely on the
population and a regular reorderer on their own rhythm (a normal-normal hierarchical model
on log-intervals; its predictive ``(mu, sd)`` is what we score silence with).

**The shape of the tail.** Silence is scored with the survival ``S(u)`` = P(next interval
> u) of an interval distribution with that log-mean and log-spread. The default is the
**Weibull** (``interval_distribution = "weibull"``): the log of a Weibull interval is
Gumbel-distributed with spread ``pi / (c sqrt 6)``, so the shape is ``c = pi / (sd sqrt 6)``
and ``S(u) = exp(-exp(c (ln u - mu) - gamma))`` (Euler's gamma). A buyer whose log-intervals
spread like a Poisson buyer's (``sd = 1.28``) gets ``c = 1``, exactly the exponential gap
of a Poisson process; a regular reorderer (``sd = 0.2``) gets ``c = 6.4``, a sharply
rising hazard of reordering, so lateness counts fast. The log-normal
(``"lognormal"``) fits the same ``(mu, sd)`` with a far heavier right tail: at five mean
intervals of silence it gives a Poisson buyer 4 % where the exponential gives 0.7 %, so
their silence counted too little. Both have closed-form survival and inverse.

The population prior comes from the fitted population model
(:class:`models.population.PopulationModel`), where it is estimated with **each customer
counted once** (the mean of customers' own typical log-intervals), not from the pooled
intervals, because frequent buyers contribute most pooled intervals (length bias) and would
make monthly buyers look late.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from models.policy import DAY, Policy
from models.population import PopulationModel

_SQRT2 = math.sqrt(2.0)
_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Predictive distribution of a customer's next interval: log-days ~ N(mu, sd^2)."""

    mu: float
    sd: float

    @property
    def median_days(self) -> float:
        return math.exp(self.mu)


def predict(window: Sequence[float], model: PopulationModel, policy: Policy) -> Rhythm:
    """Posterior predictive of the next log-interval given the customer's recent window."""
    mu, uncertainty, within = belief(window, model, policy)
    return Rhythm(mu, math.sqrt(within + uncertainty))


def belief(
    window: Sequence[float], model: PopulationModel, policy: Policy
) -> tuple[float, float, float]:
    """What the window says of the customer's typical log-interval: its posterior mean and
    variance, and the variance of one log-interval around it (their own spread)."""
    between = model.interval_between_sd**2
    within_prior = model.interval_within_sd**2
    prior_mean = model.interval_mean
    n = len(window)
    if n == 0:
        return prior_mean, between, within_prior
    mean = sum(window) / n
    squares = sum((x - mean) ** 2 for x in window)
    k0 = policy.within_sd_pseudo_intervals
    within = max((k0 * within_prior + squares) / (k0 + n - 1), policy.min_within_sd**2)
    precision = 1.0 / between + n / within
    mu = (prior_mean / between + n * mean / within) / precision
    return mu, 1.0 / precision, within


WEIBULL = "weibull"
LOGNORMAL = "lognormal"
INTERVAL_DISTRIBUTIONS = (WEIBULL, LOGNORMAL)
_EULER_GAMMA = 0.5772156649015329
_GUMBEL_SD = math.pi / math.sqrt(6.0)  # spread of the log of an exponential interval
_SMALLEST_FLOAT = 1e-300


def mean_interval_factor(sd: float, family: str = WEIBULL) -> float:
    """Mean interval / exp(mean log-interval) for intervals of log-spread ``sd``."""
    if family == WEIBULL:
        k = _GUMBEL_SD / sd  # the Weibull shape with that log-spread
        return math.exp(_EULER_GAMMA / k) * math.gamma(1.0 + 1.0 / k)
    return math.exp(0.5 * sd * sd)


def log_survival(mu: float, sd: float, silence_seconds: float, family: str = WEIBULL) -> float:
    """log P(the next interval is longer than ``silence_seconds``) for a customer still
    buying, whose log-day intervals have mean ``mu`` and spread ``sd`` (log scale, so that
    very long silences do not underflow)."""
    if silence_seconds <= 1e-6:  # under a microsecond: no silence yet
        return 0.0
    z = (math.log(silence_seconds / DAY) - mu) / sd
    if family == WEIBULL:
        return -math.exp(_GUMBEL_SD * z - _EULER_GAMMA)
    return math.log(max(0.5 * math.erfc(z / _SQRT2), _SMALLEST_FLOAT))


def log_density_of_log(mu: float, sd: float, log_days: float, family: str = WEIBULL) -> float:
    """log density of an interval's log-days ``log_days`` for mean ``mu``, spread ``sd``."""
    z = (log_days - mu) / sd
    if family == WEIBULL:
        y = _GUMBEL_SD * z - _EULER_GAMMA
        return math.log(_GUMBEL_SD / sd) + y - math.exp(y)
    return -0.5 * z * z - math.log(sd) - 0.5 * math.log(2.0 * math.pi)


def survival(mu: float, sd: float, silence_seconds: float, family: str = WEIBULL) -> float:
    """P(the next interval is longer than ``silence_seconds``): see :func:`log_survival`."""
    return math.exp(log_survival(mu, sd, silence_seconds, family))


def silence_for_log_survival(
    mu: float, sd: float, log_target: float, family: str = WEIBULL
) -> float:
    """Seconds of silence after which :func:`log_survival` falls to ``log_target``."""
    if log_target >= 0.0:
        return 0.0
    if family == WEIBULL:
        z = (_EULER_GAMMA + math.log(-log_target)) / _GUMBEL_SD
    else:
        z = _upper_normal_quantile_of_log(log_target)
    return math.exp(mu + sd * z) * DAY


def silence_for_survival(mu: float, sd: float, target: float, family: str = WEIBULL) -> float:
    """Seconds of silence after which :func:`survival` falls to ``target`` (0 < target)."""
    if target >= 1.0:
        return 0.0
    return silence_for_log_survival(mu, sd, math.log(target), family)


def _upper_normal_quantile_of_log(log_tail: float) -> float:
    """z with P(Z > z) = exp(log_tail); far tails by the asymptotic expansion, refined."""
    if log_tail > -30.0:
        return _upper_normal_quantile(math.exp(log_tail))
    big = -2.0 * log_tail
    z = math.sqrt(big - math.log(big) - math.log(2.0 * math.pi))
    for _ in range(3):  # Newton on log P(Z > z) with the Mills-ratio tail
        log_p = -0.5 * z * z - math.log(z) - 0.5 * math.log(2.0 * math.pi) + math.log1p(-1 / z**2)
        z += (log_p - log_tail) / (z + 1.0 / z)
    return z


@lru_cache(maxsize=8192)
def _upper_normal_quantile(tail: float) -> float:
    # A tail within rounding of 1 (a zero silence) still has a quantile.
    return _STANDARD_NORMAL.inv_cdf(min(max(1.0 - tail, 1e-300), 1.0 - 1e-16))


def log_interval_days(seconds: float) -> float:
    """An interval as log-days; same-instant repeat orders count as one minute apart."""
    return math.log(max(seconds, 60.0) / DAY)
