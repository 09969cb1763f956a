"""What a customer's orders are worth: the Gamma-Gamma spend model.

Fader, Hardie & Lee (2005, "RFM and CLV"): the values of one customer's orders are
Gamma(``p``, ``nu``) around that customer's own mean ``p / nu``, and ``nu`` varies across
customers as Gamma(``q``, ``gamma``). A customer's expected order value is then their own
average shrunk toward the population's::

    E[value | x orders averaging m] = p (gamma + x m) / (p x + q - 1)

so a customer with one order is judged mostly by the population, and one with many by
their own history. The three numbers are fitted by maximum marginal likelihood on each
customer's (order count, average value) (:func:`fit_spend`), with a weak prior around the
policy's ``prior_order_value``. As in the original model, the spend is assumed independent
of how often the customer buys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.optimize import nelder_mead

# The starting prior's shape: order values vary about 50 % around a customer's own mean
# (p = 4), and a customer's mean is worth half an order against the population's
# ((q - 1) / p = 0.5), until a fit says otherwise.
PRIOR_SPEND_P = 4.0
PRIOR_SPEND_Q = 3.0
# Width (log scale) of the fit's weak prior around those and the policy's order value.
_PRIOR_SD = 2.0


def prior_spend(order_value: float) -> tuple[float, float, float]:
    """``(p, q, gamma)`` of the starting prior whose population mean is ``order_value``."""
    return PRIOR_SPEND_P, PRIOR_SPEND_Q, order_value * (PRIOR_SPEND_Q - 1.0) / PRIOR_SPEND_P


def population_order_value(p: float, q: float, gamma: float) -> float:
    """The mean order value of a customer nothing is known about: ``p gamma / (q - 1)``."""
    return p * gamma / (q - 1.0)


def expected_order_value(p: float, q: float, gamma: float, orders: int, average: float) -> float:
    """A customer's expected order value given ``orders`` orders averaging ``average``."""
    if orders <= 0:
        return population_order_value(p, q, gamma)
    return p * (gamma + orders * average) / (p * orders + q - 1.0)


def spend_log_likelihood(
    customers: Sequence[tuple[int, float]], p: float, q: float, gamma: float
) -> float:
    """Log marginal likelihood of each customer's average order value given their count."""
    base = math.lgamma(q) - q * math.log(gamma)
    total = 0.0
    for orders, average in customers:
        px = p * orders
        total += (
            math.lgamma(px + q)
            - math.lgamma(px)
            - base
            + (px - 1.0) * math.log(average)
            + px * math.log(orders)
            - (px + q) * math.log(gamma + orders * average)
        )
    return total


def fit_spend(
    customers: Sequence[tuple[int, float]], prior: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Maximum a posteriori ``(p, q, gamma)`` for customers given as (order count, average
    order value); those with no order or no positive average are left out. ``q`` is kept
    above 1 so the population mean exists. With no usable customer, the prior."""
    usable = [(n, m) for n, m in customers if n > 0 and m > 0.0 and math.isfinite(m)]
    if not usable:
        return prior
    start = [math.log(prior[0]), math.log(prior[1] - 1.0), math.log(prior[2])]

    def objective(theta: Sequence[float]) -> float:
        if max(abs(x) for x in theta) > 30.0:
            return math.inf
        p, q, gamma = math.exp(theta[0]), 1.0 + math.exp(theta[1]), math.exp(theta[2])
        penalty = sum((x - s) ** 2 for x, s in zip(theta, start, strict=True))
        return -spend_log_likelihood(usable, p, q, gamma) + penalty / (2.0 * _PRIOR_SD**2)

    best = nelder_mead(objective, start, step=0.5, tolerance=1e-9, iterations=600)
    return math.exp(best[0]), 1.0 + math.exp(best[1]), math.exp(best[2])
