"""What a customer is worth over the value horizon: expected orders, spend and value at risk.

From the same population model that gives the risk:

* **Orders if the customer stays.** Their rate of buying is one over their mean interval;
  what the window of their log-intervals says of it (:func:`models.rhythm.belief`, a
  normal belief about their typical log-interval, shrunk to the population) gives the
  expected rate ``exp(-mu + v / 2) / c``, where ``v`` is the uncertainty of ``mu`` and ``c``
  turns a typical interval into a mean one for the interval distribution. A customer still
  around at ``t`` keeps leaving at the Pareto/NBD hazard, Gamma(shape, rate + days seen), so
  over a horizon ``H`` they buy for an expected ``∫_0^H (1 + u / r)^-shape du`` days. One-
  order customers (and contacts who never ordered) get the population's rate, not zero.
* **Order value**: the Gamma-Gamma posterior mean (:mod:`models.spend`).
* **Risk** splits what the customer would bring if they stay (``retained``) into what they
  are expected to bring (``expected_spend`` = (1 - risk) x retained) and what is at stake
  (``value_at_risk`` = risk x retained).

Like BG/NBD's and Pareto/NBD's expected purchases, this is the long-run rate: it does not
add the order a regular customer is just about due to place.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from models.customer import CustomerState
from models.policy import DAY, Policy
from models.population import PopulationModel
from models.rhythm import belief, mean_interval_factor
from models.spend import expected_order_value


class Value(NamedTuple):
    """A customer's value over the policy's horizon, as judged at some moment."""

    orders_if_retained: float  # expected orders over the horizon if the customer stays
    order_value: float  # expected value of one order
    risk: float  # P(the customer has left for good)

    @property
    def retained(self) -> float:
        """Expected spend over the horizon if the customer stays."""
        return self.orders_if_retained * self.order_value

    @property
    def expected_orders(self) -> float:
        return (1.0 - self.risk) * self.orders_if_retained

    @property
    def expected_spend(self) -> float:
        return (1.0 - self.risk) * self.retained

    @property
    def at_risk(self) -> float:
        """What the business stands to lose: risk x the spend if the customer stays."""
        return self.risk * self.retained


def orders_per_day(state: CustomerState, policy: Policy, model: PopulationModel) -> float:
    """The customer's expected rate of buying while they stay (orders a day)."""
    mu, uncertainty, within = belief(state.intervals, model, policy)
    factor = mean_interval_factor(math.sqrt(within), model.interval_distribution)
    return math.exp(-mu + 0.5 * uncertainty) / factor


def staying_days(state: CustomerState, t: float, policy: Policy, model: PopulationModel) -> float:
    """Expected days, within the horizon after ``t``, that a customer still around at ``t``
    stays (their leaving hazard ~ Gamma(shape, rate + days seen))."""
    horizon = policy.value_horizon_days
    seen = 0.0 if state.first_order_at is None else max(t - state.first_order_at, 0.0) / DAY
    rate = model.dropout_rate_days + seen
    shape = model.dropout_shape
    if abs(shape - 1.0) < 1e-9:
        return rate * math.log1p(horizon / rate)
    stayed: float = (1.0 + horizon / rate) ** (1.0 - shape)
    return rate / (shape - 1.0) * (1.0 - stayed)


def value_at(
    state: CustomerState, t: float, risk: float, policy: Policy, model: PopulationModel
) -> Value:
    """The customer's value over the horizon after ``t``, given their ``risk`` at ``t``."""
    orders = orders_per_day(state, policy, model) * staying_days(state, t, policy, model)
    average = state.total_spend / state.orders if state.orders else 0.0
    order_value = expected_order_value(
        model.spend_p, model.spend_q, model.spend_gamma, state.orders, average
    )
    return Value(orders, order_value, risk)
