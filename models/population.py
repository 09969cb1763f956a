"""The population model: what the whole customer base says about any one customer.

Every judgement of a customer leans on the population where the customer's own history is
thin (a one-order customer leans on it entirely). The model holds the few numbers that
describe the population, **fitted from the shop's own history** (:mod:`models.fitting`,
``churnwatch fit``) and fixed while the engine runs, so every partition, every worker and
every replay decide with the same model:

* **Rhythm** (:mod:`models.rhythm`): customers' typical log-interval between orders is
  normal across customers (``interval_mean``, ``interval_between_sd``); one customer's
  log-intervals spread by ``interval_within_sd`` around their typical one; silence is
  scored with a Weibull or a log-normal tail (``interval_distribution``), whichever fits
  the shop's history better.
* **Lifetime** (:mod:`models.lifetime`): a customer leaves at a constant hazard ``mu`` per
  day (Pareto/NBD's lifetime), and ``mu`` varies across customers as
  Gamma(``dropout_shape``, rate ``dropout_rate_days``).
* **Evidence** (:mod:`models.assessment`): likelihood ratios (left : still buying) of the
  signals other than silence: an unresolved complaint, an unsubscription, unanswered calls,
  declining orders, an inquiry not followed by an order.
* **Spend** (:mod:`models.spend`): the Gamma-Gamma model of order values (``spend_p``,
  ``spend_q``, ``spend_gamma``), which with the rhythm and lifetime gives each customer's
  value (:mod:`models.value`).

Without a fitted model the engine uses :meth:`PopulationModel.from_policy`: the policy's
starting priors, a weak default meant to be replaced by a fit.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from models.policy import Policy
from models.spend import PRIOR_SPEND_P, PRIOR_SPEND_Q, prior_spend

MODEL_FORMAT = "churnwatch.population-model/1"
EVIDENCE = ("complaint", "unsubscribed", "calls_unanswered", "declining", "inquiry")


@dataclass(frozen=True, slots=True)
class PopulationModel:
    interval_mean: float  # log-days: the population's typical interval between orders
    interval_between_sd: float  # spread of customers' typical log-interval
    interval_within_sd: float  # spread of one customer's log-intervals
    interval_distribution: str  # "weibull" or "lognormal": the shape of the interval tail
    dropout_shape: float  # Gamma shape of the per-day leaving hazard across customers
    dropout_rate_days: float  # Gamma rate (days) of that hazard: mean hazard shape / rate
    complaint_odds: float = 4.0
    unsubscribed_odds: float = 2.0
    calls_unanswered_odds: float = 1.3
    declining_odds: float = 1.5
    inquiry_odds: float = 1.5
    # Spend (models/spend.py): Gamma-Gamma order values. A model file without them (written
    # before spend was modelled) gets the starting prior of the default policy.
    spend_p: float = PRIOR_SPEND_P
    spend_q: float = PRIOR_SPEND_Q
    spend_gamma: float = prior_spend(Policy.prior_order_value)[2]
    # Provenance: how many customers the fit saw, up to which event time (None: a prior).
    customers: int = 0
    fitted_until: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "interval_between_sd",
            "interval_within_sd",
            "dropout_shape",
            "dropout_rate_days",
            "spend_p",
            "spend_gamma",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"population model: {name} must be a positive number")
        if self.interval_distribution not in ("weibull", "lognormal"):
            raise ValueError(
                'population model: interval_distribution must be "weibull" or "lognormal"'
            )
        if not (math.isfinite(self.spend_q) and self.spend_q > 1.0):
            raise ValueError("population model: spend_q must be a number above 1")
        if not math.isfinite(self.interval_mean):
            raise ValueError("population model: interval_mean must be a number")
        for name in EVIDENCE:
            value = getattr(self, f"{name}_odds")
            if not (math.isfinite(value) and value >= 1.0):
                raise ValueError(f"population model: {name}_odds must be >= 1")

    @classmethod
    def from_policy(cls, policy: Policy) -> PopulationModel:
        """The starting prior: what the policy assumes before any data is seen."""
        p, q, gamma = prior_spend(policy.prior_order_value)
        return cls(
            interval_mean=math.log(policy.prior_median_interval_days),
            interval_between_sd=policy.prior_between_customer_sd,
            interval_within_sd=policy.prior_within_customer_sd,
            interval_distribution=policy.interval_distribution,
            dropout_shape=policy.prior_dropout_shape,
            dropout_rate_days=policy.prior_dropout_rate_days,
            complaint_odds=policy.complaint_odds,
            unsubscribed_odds=policy.unsubscribed_odds,
            calls_unanswered_odds=policy.calls_unanswered_odds,
            declining_odds=policy.declining_odds,
            inquiry_odds=policy.inquiry_odds,
            spend_p=p,
            spend_q=q,
            spend_gamma=gamma,
        )

    @property
    def mean_hazard_per_day(self) -> float:
        return self.dropout_shape / self.dropout_rate_days

    def to_dict(self) -> dict[str, Any]:
        """The model as a JSON-able document (``schemas/population-model.schema.json``)."""
        return {"format": MODEL_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> PopulationModel:
        """Inverse of :meth:`to_dict`; ``ValueError`` with a clear message when unusable."""
        if document.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a population model (expected format {MODEL_FORMAT!r})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(document) - names - {"format"}
        if unknown:
            raise ValueError(f"population model: unknown keys {sorted(unknown)}")
        try:
            return cls(**{k: v for k, v in document.items() if k != "format"})
        except TypeError as exc:
            raise ValueError(f"population model: {exc}") from None
