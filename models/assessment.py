"""Judging a customer at a moment: risk, reasons, likely cause, and when to look again.

Risk is the posterior probability that the customer has left for good
(:mod:`models.lifetime`: Pareto/NBD's time-based leaving with the customer's own renewal
rhythm from :mod:`models.rhythm`), with the odds multiplied by the likelihood ratios of the
evidence that is not silence: unanswered mail (:mod:`models.engagement`), and the
population model's weights for an unresolved complaint, an unsubscription, unanswered
calls, declining orders and an inquiry without an order::

    odds(left) = evidence x gone(silence) / alive(silence)
    risk       = odds / (1 + odds)

**Signs of life.** A customer who ordered 50 days ago but clicked a mail or called in last
week was still there last week: if they have left, they left since. Only the silence after
the last sign of life is evidence then. Silence only raises the odds, and the evidence
changes only at events or known times, so risk never falls while a customer stays silent.

Decisions are thresholds on that risk; :func:`plan_ahead` finds the *time* each will be
crossed, so the engine can sleep until then instead of polling. A silence gets at most
one ``at_risk`` and one ``lost``: a lost customer stays lost until they order.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import NamedTuple

from models.customer import ACTIVE, AT_RISK, LOST, CustomerState, Status
from models.engagement import silence_odds, silence_odds_ahead
from models.lifetime import Silence
from models.policy import DAY, Policy
from models.population import PopulationModel
from models.rhythm import Rhythm, silence_for_survival

# Reason codes: part of the output contract (consumers route on them).
OVERDUE_ORDER = "overdue_order"
DECLINING_ORDERS = "declining_orders"
EMAIL_DISENGAGED = "email_disengaged"
EMAIL_UNSUBSCRIBED = "email_unsubscribed"
CALLS_UNANSWERED = "calls_unanswered"
COMPLAINT_UNRESOLVED = "complaint_unresolved"
INQUIRY_WITHOUT_ORDER = "inquiry_without_order"
# No longer published (a sign of life does not take a customer out of lost); kept in the
# contract's list for consumers that route on it.
SIGN_OF_LIFE = "sign_of_life"
REASON_CODES = (
    OVERDUE_ORDER,
    DECLINING_ORDERS,
    EMAIL_DISENGAGED,
    EMAIL_UNSUBSCRIBED,
    CALLS_UNANSWERED,
    COMPLAINT_UNRESOLVED,
    INQUIRY_WITHOUT_ORDER,
    SIGN_OF_LIFE,
)


class Reason(NamedTuple):
    code: str
    detail: str


def rhythm_of(state: CustomerState) -> Rhythm:
    """The rhythm the customer was last planned with."""
    return Rhythm(state.mu, state.sd)


def expected_next_order_at(state: CustomerState, rhythm: Rhythm | None = None) -> float | None:
    """Last order plus the customer's median interval (None before the first order)."""
    if state.last_order_at is None:
        return None
    mu = state.mu if rhythm is None else rhythm.mu
    return state.last_order_at + math.exp(mu) * DAY


def complaint_effective_at(state: CustomerState, policy: Policy) -> float | None:
    if state.open_issues == 0 or state.issue_opened_at is None:
        return None
    return state.issue_opened_at + policy.complaint_grace_hours * 3600.0


def inquiry_effective_at(state: CustomerState, policy: Policy) -> float | None:
    inquiry = state.last_inquiry_at
    if inquiry is None or (state.last_order_at is not None and state.last_order_at >= inquiry):
        return None
    return inquiry + policy.inquiry_window_days * DAY


def declining_frequency(state: CustomerState, policy: Policy) -> bool:
    window = state.intervals
    if len(window) < 4:
        return False
    recent = (window[-1] + window[-2]) / 2.0
    earlier = sum(window[:-2]) / (len(window) - 2)
    return recent - earlier >= math.log(policy.declining_interval_ratio)


def declining_amount(state: CustomerState, policy: Policy) -> bool:
    if state.orders < 3:
        return False
    average = state.total_spend / state.orders
    return state.recent_amount < policy.declining_amount_ratio * average


def email_silence_odds(state: CustomerState, policy: Policy) -> float:
    """Likelihood ratio (left : still buying) of the mails unanswered since the last sign
    of life, given the customer's engagement history shrunk toward the typical rate."""
    prior_engaged = policy.engagement_prior_rate * policy.engagement_prior_mails
    return silence_odds(
        prior_engaged + state.engaged_mails,
        policy.engagement_prior_mails + state.delivered_mails,
        state.sends_since_engaged,
        policy.email_departure_spread,
    )


def email_silence_odds_ahead(
    state: CustomerState, policy: Policy, ahead: int
) -> tuple[float, float]:
    """:func:`email_silence_odds`, and the largest it can become with up to ``ahead`` more
    mails sent and still unanswered."""
    prior_engaged = policy.engagement_prior_rate * policy.engagement_prior_mails
    return silence_odds_ahead(
        prior_engaged + state.engaged_mails,
        policy.engagement_prior_mails + state.delivered_mails,
        state.sends_since_engaged,
        ahead,
        policy.email_departure_spread,
    )


def evidence_odds(state: CustomerState, t: float, policy: Policy, model: PopulationModel) -> float:
    """Likelihood ratio (left : still buying) of everything known at ``t`` but the silence
    itself: the unanswered mail and the other signals."""
    return email_silence_odds(state, policy) * signal_odds(state, t, policy, model)


def signal_odds(state: CustomerState, t: float, policy: Policy, model: PopulationModel) -> float:
    """Likelihood ratio of the signals other than silence and unanswered mail, with the
    population model's weights."""
    odds = 1.0
    complaint, unsubscribed, calls, declining, inquiry = evidence_at(state, t, policy)
    if complaint:
        odds *= model.complaint_odds
    if unsubscribed:
        odds *= model.unsubscribed_odds
    if calls:
        odds *= model.calls_unanswered_odds
    if declining:
        odds *= model.declining_odds
    if inquiry:
        odds *= model.inquiry_odds
    return odds


def evidence_at(
    state: CustomerState, t: float, policy: Policy
) -> tuple[bool, bool, bool, bool, bool]:
    """Which signals hold at ``t``, in the order of :data:`models.population.EVIDENCE`:
    an unresolved complaint past its grace period, an unsubscription, unanswered calls,
    declining orders, an inquiry not followed by an order."""
    complaint_at = complaint_effective_at(state, policy)
    inquiry_at = inquiry_effective_at(state, policy)
    return (
        complaint_at is not None and t >= complaint_at,
        state.unsubscribed,
        state.unanswered_calls >= policy.unanswered_calls,
        declining_frequency(state, policy) or declining_amount(state, policy),
        inquiry_at is not None and t >= inquiry_at,
    )


def silence_of(
    state: CustomerState, policy: Policy, model: PopulationModel, rhythm: Rhythm | None = None
) -> Silence:
    """The customer's current silence, as :mod:`models.lifetime` judges it."""
    assert state.last_order_at is not None and state.first_order_at is not None
    rhythm = rhythm or rhythm_of(state)
    last = state.last_order_at
    alive = state.alive_at if state.alive_at is not None and state.alive_at > last else last
    seen_days = (alive - state.first_order_at) / DAY
    return Silence(
        rhythm.mu,
        rhythm.sd,
        model.interval_distribution,
        alive - last,
        model.dropout_shape,
        model.dropout_rate_days + seen_days,
    )


def risk_at(
    state: CustomerState,
    t: float,
    policy: Policy,
    model: PopulationModel,
    rhythm: Rhythm | None = None,
) -> float:
    """P(the customer has left for good), as judged at event time ``t``."""
    evidence = evidence_odds(state, t, policy, model)
    last = state.last_order_at
    if last is None or state.first_order_at is None:
        # Not a buyer yet: the chance of leaving within one typical interval.
        typical = math.exp(model.interval_mean) / model.dropout_rate_days
        stayed = math.exp(-model.dropout_shape * math.log1p(typical))
        gone = evidence * (1.0 - stayed)
        return gone / (gone + stayed)
    log_odds = silence_of(state, policy, model, rhythm).log_odds(t - last)
    if log_odds == -math.inf:
        return 0.0
    log_odds += math.log(evidence)
    if log_odds > 0.0:
        return 1.0 / (1.0 + math.exp(-log_odds))
    odds = math.exp(log_odds)
    return odds / (odds + 1.0)


def no_order_within(
    state: CustomerState, t: float, horizon: float, policy: Policy, model: PopulationModel
) -> float:
    """P(no order in the ``horizon`` seconds after ``t``), as judged at ``t``: gone, or
    still a customer whose next order comes later (the same model as :func:`risk_at`)."""
    last = state.last_order_at
    if last is None or state.first_order_at is None:
        return 1.0
    gone_now = risk_at(state, t, policy, model)
    stay = silence_of(state, policy, model).stays_silent(t - last, horizon)
    return gone_now + (1.0 - gone_now) * stay


def _crossing_time(
    state: CustomerState, silence: Silence, odds: float, threshold: float, before: bool = False
) -> float:
    """When silence makes risk reach ``threshold`` with evidence ``odds`` (never before the
    expected order); with ``before``, a moment just before it (a lower bound)."""
    assert state.last_order_at is not None
    log_target = math.log(threshold / (1.0 - threshold)) - math.log(odds)
    return state.last_order_at + silence.crossing(log_target, math.exp(state.mu) * DAY, before)


def _at_risk_time(
    state: CustomerState,
    silence: Silence,
    odds: float,
    policy: Policy,
    lost_at: float | None,
    before: bool = False,
) -> float:
    """When an active, overdue customer becomes at risk: risk reaches ``at_risk_risk``, or
    lost is at most ``at_risk_lead_intervals`` median intervals away, whichever is first;
    never while an order would still be on rhythm (``on_rhythm_share`` of the customer's
    intervals are at least this long)."""
    last = state.last_order_at
    assert last is not None
    if lost_at is None:
        lost_at = _crossing_time(state, silence, odds, policy.lost_risk, before)
    median = math.exp(state.mu) * DAY
    on_time = last + silence_for_survival(
        state.mu, state.sd, policy.on_rhythm_share, silence.family
    )
    early = max(lost_at - policy.at_risk_lead_intervals * median, on_time)
    if early < math.inf:
        threshold = policy.at_risk_risk
        log_target = math.log(threshold / (1.0 - threshold)) - math.log(odds)
        if silence.log_odds(early - last) < log_target:
            return early  # risk is still below at_risk_risk then: the lead decides
    at = _crossing_time(state, silence, odds, policy.at_risk_risk, before)
    return min(max(at, on_time), early)


def plan(
    state: CustomerState, t: float, policy: Policy, model: PopulationModel
) -> tuple[Status, float | None]:
    """The status the customer should have at ``t``, and the next time to look again.

    Silence alone makes a customer at risk or lost only once overdue; an unresolved
    complaint makes them at risk after the grace period whatever their rhythm.
    """
    target, wake, _ = plan_ahead(state, t, policy, model, 0)
    return target, wake


# Planning ahead for mail keeps this far before the earliest crossing it bounds (seconds), so
# that rounding can never put the bound after the crossing it stands for.
_AHEAD_MARGIN = 1.0
# A lost customer's plan does not depend on mail sent to them.
EVERY_MAIL = 1 << 62


def plan_ahead(
    state: CustomerState, t: float, policy: Policy, model: PopulationModel, mails: int
) -> tuple[Status, float | None, int]:
    """:func:`plan`, with a next look that stays early enough while up to ``mails`` more
    mails are sent and go unanswered.

    A sent mail only raises the unanswered count, and with it the odds; nothing else in the
    plan moves, and every crossing comes earlier with larger odds. So instead of re-planning
    at every send, the engine can look again at the earliest crossing under the largest
    odds those sends could give (``mails`` = 0: the exact plan). Returns the status, the next
    look, and the highest unanswered count that look covers: a later send that leaves the
    count at or below it, before the next look, cannot make a decision due before that look.
    Looking again early is harmless (the plan is a function of the state and the time
    only); looking late never happens. When the bound is not ahead of ``t`` the plan is the
    exact one (covering no more mail).

    A lost customer stays lost until they order: signs of life may lower the risk the
    lookup shows, but one silence gets at most one ``at_risk`` and one ``lost``.
    """
    status = state.status
    if status == LOST:
        return LOST, None, EVERY_MAIL
    covers = state.sends_since_engaged
    wake = math.inf
    complaint_at = complaint_effective_at(state, policy)
    for change in (complaint_at, inquiry_effective_at(state, policy)):
        if change is not None and change > t:
            wake = min(wake, change)
    target = status
    if status == ACTIVE and complaint_at is not None and t >= complaint_at:
        target = AT_RISK
    if state.last_order_at is not None and state.first_order_at is not None:
        silence = silence_of(state, policy, model)
        exact_lr, most_lr = email_silence_odds_ahead(state, policy, mails)
        signals = signal_odds(state, t, policy, model)
        if mails > 0:
            most = most_lr * signals
            # Lower bounds of the crossings under the largest odds.
            most_lost = _crossing_time(state, silence, most, policy.lost_risk, before=True)
            if target == ACTIVE:
                bound = min(
                    _at_risk_time(state, silence, most, policy, most_lost, before=True),
                    most_lost,
                )
            else:
                bound = most_lost
            bound -= _AHEAD_MARGIN
            if t < bound:
                return target, min(wake, bound), covers + mails
        odds = exact_lr * signals
        lost_at = _crossing_time(state, silence, odds, policy.lost_risk)
        if target == ACTIVE:
            # Never later than lost: a customer whose silence is decisive before it stops
            # being on rhythm (strong evidence) goes straight to lost.
            at_risk_at = min(_at_risk_time(state, silence, odds, policy, lost_at), lost_at)
            if t < at_risk_at:
                # The lost crossing comes later still: look again at the at_risk one.
                return ACTIVE, min(wake, at_risk_at), covers
            target = AT_RISK
        if t >= lost_at:
            return LOST, None, EVERY_MAIL
        wake = min(wake, lost_at)
    return target, (None if wake == math.inf else wake), covers


def reasons_at(
    state: CustomerState, t: float, policy: Policy, rhythm: Rhythm | None = None
) -> list[Reason]:
    """Every reason that holds at ``t``, each with a short human-readable detail."""
    reasons: list[Reason] = []
    rhythm = rhythm or rhythm_of(state)
    expected = expected_next_order_at(state, rhythm)
    if expected is not None and state.last_order_at is not None and t > expected:
        reasons.append(
            Reason(
                OVERDUE_ORDER,
                f"no order for {(t - state.last_order_at) / DAY:.0f} days; "
                f"usually every {rhythm.median_days:.0f} days, expected by {_day(expected)}",
            )
        )
    if declining_frequency(state, policy):
        reasons.append(Reason(DECLINING_ORDERS, "the last two reorder intervals are much longer"))
    elif declining_amount(state, policy):
        average = state.total_spend / state.orders
        reasons.append(
            Reason(
                DECLINING_ORDERS,
                f"recent order value {state.recent_amount:.2f} against {average:.2f} on average",
            )
        )
    if state.unsubscribed:
        reasons.append(Reason(EMAIL_UNSUBSCRIBED, "unsubscribed from email"))
    elif email_silence_odds(state, policy) >= policy.email_disengaged_evidence:
        since = state.alive_at if state.alive_at is not None else state.last_order_at
        reasons.append(
            Reason(
                EMAIL_DISENGAGED,
                f"{state.sends_since_engaged} emails without an open or click"
                + (f" since {_day(since)}" if since is not None else ""),
            )
        )
    if state.unanswered_calls >= policy.unanswered_calls:
        reasons.append(
            Reason(CALLS_UNANSWERED, f"{state.unanswered_calls} outbound calls in a row unanswered")
        )
    complaint_at = complaint_effective_at(state, policy)
    if complaint_at is not None and t >= complaint_at and state.issue_opened_at is not None:
        reasons.append(
            Reason(
                COMPLAINT_UNRESOLVED,
                f"{state.open_issues} unresolved complaint or support issue(s) since "
                f"{_day(state.issue_opened_at)}",
            )
        )
    inquiry_at = inquiry_effective_at(state, policy)
    if inquiry_at is not None and t >= inquiry_at and state.last_inquiry_at is not None:
        reasons.append(
            Reason(
                INQUIRY_WITHOUT_ORDER,
                f"inquiry on {_day(state.last_inquiry_at)} not followed by an order",
            )
        )
    return reasons


def likely_cause(codes: set[str]) -> str:
    """The churn type the reasons point to, most specific first."""
    if COMPLAINT_UNRESOLVED in codes:
        return "service_failure"
    if DECLINING_ORDERS in codes or INQUIRY_WITHOUT_ORDER in codes:
        return "declining_value"
    if EMAIL_UNSUBSCRIBED in codes or EMAIL_DISENGAGED in codes or CALLS_UNANSWERED in codes:
        return "disengagement"
    if OVERDUE_ORDER in codes:
        return "habit_lapse"
    return "unknown"


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()
