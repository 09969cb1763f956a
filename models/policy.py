"""The detection policy: every number the business rules depend on, with its default.

A frozen dataclass so the engine can be built without any configuration system;
``config.settings`` validates user input into one of these. Each field's comment says
what it means; ``docs/architecture.md`` explains the model behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.actions import NO_ACTION, action_table

DAY = 86_400.0


@dataclass(frozen=True)
class Policy:
    # Decision thresholds on risk = P(the customer has left for good), a calibrated
    # probability: lost events are right at least lost_risk of the time.
    at_risk_risk: float = 0.5
    lost_risk: float = 0.85
    # at_risk comes at the latest this many of the customer's own median intervals before
    # lost would (a reminder needs time to work), but never before the order is overdue.
    at_risk_lead_intervals: float = 0.75
    # ... and never while the order would still be on rhythm: before the silence that this
    # share of the customer's intervals exceed (0.1: their 90th percentile).
    on_rhythm_share: float = 0.1
    # Out-of-order tolerance: events up to this much older than the newest seen are folded
    # in in time order; older ones are rejected as late. Decisions lag event time by this.
    allowed_lateness_seconds: float = 3600.0
    # Orders of one customer this close together are one purchase occasion: their spend
    # adds up, but they make no interval (date-only exports put a day's orders at one time).
    same_occasion_seconds: float = 3600.0
    # Rolling window of recent inter-order intervals kept per customer.
    interval_window: int = 16
    # Starting population model (models/population.py), used when no fitted model is
    # given and as the prior a fit shrinks toward. Rhythm (log-days):
    prior_median_interval_days: float = 30.0
    prior_between_customer_sd: float = 0.8  # spread of customers' typical log-interval
    # Floor on the learned spread between customers: a very uniform population must not
    # overrule a customer's own, consistently different rhythm.
    min_between_customer_sd: float = 0.5
    prior_within_customer_sd: float = 0.6  # spread of one customer's log-intervals
    prior_weight_customers: float = 50.0  # pseudo-customers behind the starting prior
    within_sd_pseudo_intervals: float = 2.0  # shrinkage of a customer's spread to the prior
    min_within_sd: float = 0.12  # floor: nobody is perfectly regular (~12 %)
    # Interval distribution that scores silence, fitted to (mu, sd) of log-intervals:
    # "weibull" (sd 1.28 is exactly a Poisson buyer's exponential) or "lognormal".
    interval_distribution: str = "weibull"
    # Leaving: a constant hazard per day, Gamma(shape, rate) across customers (Pareto/NBD);
    # the mean hazard is shape / rate (1 / 730: a typical customer stays about two years).
    prior_dropout_shape: float = 1.0
    prior_dropout_rate_days: float = 730.0
    # Evidence that multiplies the odds of having left (likelihood ratios).
    complaint_odds: float = 4.0
    unsubscribed_odds: float = 2.0
    calls_unanswered_odds: float = 1.3
    declining_odds: float = 1.5
    inquiry_odds: float = 1.5
    # Email engagement (models/engagement.py): unanswered mail since the customer was last
    # known to be around is evidence whose weight follows from their own engagement rate.
    machine_open_seconds: float = 900.0  # an open sooner than this after the send is a proxy
    machine_open_rate: float = 0.95  # a customer opening this share of mail: opens are proxies
    engagement_prior_rate: float = 0.25  # typical share of mail really opened or clicked
    engagement_prior_mails: float = 16.0  # weight of the typical rate, in mails of history
    engagement_memory_mails: float = 52.0  # mails of own history kept (older ones fade)
    email_disengaged_evidence: float = 4.0  # odds from unanswered mail listed as a reason
    # A customer who left may have done so after any of the quiet mails (not right after
    # the last sign of life): tempers short quiet runs of customers who engage often.
    email_departure_spread: bool = True
    # Rule parameters.
    complaint_grace_hours: float = 24.0  # unresolved this long -> at risk at once
    unanswered_calls: int = 3  # consecutive unanswered outbound calls
    inquiry_window_days: float = 14.0  # inquiry without an order within this many days
    declining_interval_ratio: float = 1.5  # recent intervals vs earlier ones
    declining_amount_ratio: float = 0.6  # recent order value vs long-run average
    recent_amount_weight: float = 0.4  # EWMA weight of the newest order amount
    # Value segments by total spend: (name, minimum spend), ascending.
    segments: tuple[tuple[str, float], ...] = field(
        default=(("bronze", 0.0), ("silver", 250.0), ("gold", 1000.0), ("platinum", 5000.0))
    )
    # Duplicate detection: how many recent event-id fingerprints each customer remembers.
    dedup_memory: int = 8
    # Customer value (models/value.py): expected orders and spend over this horizon.
    value_horizon_days: float = 365.0
    # The population's mean order value (currency units) before a fit says otherwise.
    prior_order_value: float = 50.0
    # Suggested actions (models/actions.py): decision type -> likely cause -> action; the
    # cells given override the defaults one by one.
    actions: dict[str, dict[str, str]] = field(default_factory=dict)
    # A lost customer whose value over the horizon, were they won back, is below this cost
    # of a win-back gets the action "none" (not worth it).
    win_back_cost: float = 25.0

    def __post_init__(self) -> None:
        _check(
            0.0 < self.at_risk_risk < self.lost_risk < 1.0, "need 0 < at_risk_risk < lost_risk < 1"
        )
        _check(self.at_risk_lead_intervals >= 0, "at_risk_lead_intervals must be >= 0")
        _check(0 < self.on_rhythm_share < 0.5, "on_rhythm_share must be in (0, 0.5)")
        _check(self.same_occasion_seconds >= 0, "same_occasion_seconds must be >= 0")
        _check(self.allowed_lateness_seconds >= 0, "allowed_lateness_seconds must be >= 0")
        _check(2 <= self.interval_window <= 64, "interval_window must be in 2..64")
        _check(self.prior_median_interval_days > 0, "prior_median_interval_days must be > 0")
        _check(
            self.interval_distribution in ("weibull", "lognormal"),
            'interval_distribution must be "weibull" or "lognormal"',
        )
        for name in (
            "prior_between_customer_sd",
            "min_between_customer_sd",
            "prior_within_customer_sd",
            "prior_weight_customers",
            "within_sd_pseudo_intervals",
            "min_within_sd",
            "prior_dropout_shape",
            "prior_dropout_rate_days",
            "inquiry_window_days",
            "recent_amount_weight",
            "engagement_prior_mails",
            "engagement_memory_mails",
        ):
            _check(getattr(self, name) > 0, f"{name} must be > 0")
        for name in (
            "complaint_odds",
            "unsubscribed_odds",
            "email_disengaged_evidence",
            "calls_unanswered_odds",
            "declining_odds",
            "inquiry_odds",
        ):
            _check(getattr(self, name) >= 1.0, f"{name} must be >= 1 (it is evidence of leaving)")
        _check(self.complaint_grace_hours >= 0, "complaint_grace_hours must be >= 0")
        _check(self.machine_open_seconds >= 0, "machine_open_seconds must be >= 0")
        _check(0 < self.machine_open_rate <= 1.0, "machine_open_rate must be in (0, 1]")
        _check(0 < self.engagement_prior_rate < 1.0, "engagement_prior_rate must be in (0, 1)")
        _check(self.unanswered_calls >= 1, "unanswered_calls must be >= 1")
        _check(self.declining_interval_ratio > 1.0, "declining_interval_ratio must be > 1")
        _check(0 < self.declining_amount_ratio < 1.0, "declining_amount_ratio must be in (0, 1)")
        _check(self.recent_amount_weight <= 1.0, "recent_amount_weight must be <= 1")
        _check(1 <= self.dedup_memory <= 64, "dedup_memory must be in 1..64")
        _check(self.value_horizon_days > 0, "value_horizon_days must be > 0")
        _check(self.prior_order_value > 0, "prior_order_value must be > 0")
        _check(self.win_back_cost >= 0, "win_back_cost must be >= 0")
        # Frozen, but the table is completed here once: the defaults under the overrides.
        object.__setattr__(self, "actions", action_table(self.actions))
        _check(len(self.segments) > 0, "segments must not be empty")
        _check(self.segments[0][1] == 0.0, "the first segment must start at spend 0")
        bounds = [minimum for _, minimum in self.segments]
        _check(
            bounds == sorted(bounds) and len(set(bounds)) == len(bounds),
            "segment minimums must be strictly ascending",
        )

    def segment_for(self, total_spend: float) -> str:
        """The highest segment whose minimum spend is reached."""
        name = self.segments[0][0]
        for candidate, minimum in self.segments:
            if total_spend >= minimum:
                name = candidate
        return name

    def action_for(self, kind: str, cause: str, retained_value: float) -> str:
        """The suggested action for an ``at_risk`` or ``lost`` decision with this likely
        cause, for a customer worth ``retained_value`` over the value horizon if they stay."""
        if kind == "lost" and retained_value < self.win_back_cost:
            return NO_ACTION
        return self.actions[kind][cause]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
