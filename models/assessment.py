"""Judging a customer at a moment: risk, reasons, likely cause, and when to look again.

Risk is the posterior probability that the customer has stopped buying for good, in the
Buy-'Til-You-Die spirit (BG/NBD's individual P(alive), with a log-normal renewal rhythm
instead of a Poisson one)::

    odds(left) = a / (b + repeat_orders)  x  likelihood ratios of current evidence
    risk       = odds / (odds + S(silence) / S(silence at the last sign of life))

where ``S`` is the customer's predictive probability of a gap at least this long
(:mod:`models.rhythm`). Regular reorderers have a narrow ``S`` (lateness counts fast),
irregular buyers a wide one (their silence is weak evidence).

**Signs of life.** A customer who ordered 50 days ago but clicked a mail or called in last
week was still there last week: if they have left, they left since. Only the silence after
the last sign of life is evidence then, so the survival is conditional on having got that
far without an order, ``S(silence) / S(silence at the sign)``. Mail unanswered since that
sign is evidence of its own (:mod:`models.engagement`): the odds are multiplied by how
unlikely so many unanswered mails are for this customer if they are still buying. Silence
only lowers the conditional ``S``, and the evidence changes only at events, so risk never
falls while a customer stays silent.

Decisions are thresholds on that risk, solved in closed form for the *time* they will be
crossed, so the engine can sleep until then instead of polling.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import NamedTuple

from models.customer import ACTIVE, AT_RISK, LOST, CustomerState
from models.engagement import silence_odds, silence_odds_ahead
from models.policy import DAY, Policy
from models.rhythm import Rhythm, log_survival, silence_for_log_survival

# Reason codes: part of the output contract (consumers route on them).
OVERDUE_ORDER = "overdue_order"
DECLINING_ORDERS = "declining_orders"
EMAIL_DISENGAGED = "email_disengaged"
EMAIL_UNSUBSCRIBED = "email_unsubscribed"
CALLS_UNANSWERED = "calls_unanswered"
COMPLAINT_UNRESOLVED = "complaint_unresolved"
INQUIRY_WITHOUT_ORDER = "inquiry_without_order"
# Only on an at_risk decision whose previous status is lost: why the customer stepped back.
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
CAUSES = ("service_failure", "disengagement", "declining_value", "habit_lapse", "unknown")


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


def odds_of_leaving(
    state: CustomerState, t: float, policy: Policy, email_odds: float | None = None
) -> float:
    """Prior odds of having left after this many repeat orders, times current evidence
    (``email_odds``: the unanswered mail's likelihood ratio, if already known)."""
    odds = policy.dropout_a / (policy.dropout_b + max(state.orders - 1, 0))
    complaint_at = complaint_effective_at(state, policy)
    if complaint_at is not None and t >= complaint_at:
        odds *= policy.complaint_odds
    if state.unsubscribed:
        odds *= policy.unsubscribed_odds
    odds *= email_silence_odds(state, policy) if email_odds is None else email_odds
    if state.unanswered_calls >= policy.unanswered_calls:
        odds *= policy.calls_unanswered_odds
    if declining_frequency(state, policy) or declining_amount(state, policy):
        odds *= policy.declining_odds
    inquiry_at = inquiry_effective_at(state, policy)
    if inquiry_at is not None and t >= inquiry_at:
        odds *= policy.inquiry_odds
    return odds


def log_survival_at_sign_of_life(state: CustomerState, rhythm: Rhythm, policy: Policy) -> float:
    """log ``S`` of the silence from the last order to the last sign of life: the part of
    the silence the customer is known to have been around for (0 when that is the order)."""
    last, alive = state.last_order_at, state.alive_at
    if last is None or alive is None or alive <= last:
        return 0.0
    return log_survival(rhythm.mu, rhythm.sd, alive - last, policy.interval_distribution)


def risk_at(state: CustomerState, t: float, policy: Policy, rhythm: Rhythm | None = None) -> float:
    """P(the customer will not order again), as judged at event time ``t``."""
    odds = odds_of_leaving(state, t, policy)
    last = state.last_order_at
    if last is None:
        return odds / (odds + 1.0)
    rhythm = rhythm or rhythm_of(state)
    log_alive = log_survival(rhythm.mu, rhythm.sd, t - last, policy.interval_distribution)
    log_alive -= log_survival_at_sign_of_life(state, rhythm, policy)
    return odds / (odds + math.exp(min(log_alive, 0.0)))


def _crossing_time(state: CustomerState, odds: float, threshold: float, policy: Policy) -> float:
    """When silence makes risk reach ``threshold`` (never before the expected order):
    where the conditional survival falls to ``odds (1 - threshold) / threshold``."""
    assert state.last_order_at is not None
    rhythm = rhythm_of(state)
    log_target = math.log(odds * (1.0 - threshold) / threshold)
    log_target += log_survival_at_sign_of_life(state, rhythm, policy)
    silence = silence_for_log_survival(
        rhythm.mu, rhythm.sd, log_target, policy.interval_distribution
    )
    return state.last_order_at + max(silence, math.exp(state.mu) * DAY)


def plan(state: CustomerState, t: float, policy: Policy) -> tuple[int, float | None]:
    """The status the customer should have at ``t``, and the next time to look again.

    Silence alone makes a customer at risk or lost only once overdue; an unresolved
    complaint makes them at risk after the grace period whatever their rhythm.
    """
    target, wake, _ = plan_ahead(state, t, policy, 0)
    return target, wake


# Planning ahead for mail keeps this far before the earliest crossing it bounds (seconds), so
# that rounding can never put the bound after the crossing it stands for.
_AHEAD_MARGIN = 1.0
# A lost customer's plan does not depend on mail sent to them.
EVERY_MAIL = 1 << 62


def plan_ahead(
    state: CustomerState, t: float, policy: Policy, mails: int
) -> tuple[int, float | None, int]:
    """:func:`plan`, with a next look that stays early enough while up to ``mails`` more
    mails are sent and go unanswered.

    A sent mail only raises the unanswered count, and with it the odds; nothing else in the
    plan moves. So instead of re-planning at every send, the engine can look again at the
    earliest crossing under the largest odds those sends could give (``mails`` = 0: the
    exact plan). Returns the status, the next look, and the highest unanswered count that
    look covers: a later send that leaves the count at or below it, before the next look,
    cannot make a decision due before that look. Looking again early is harmless (the
    plan is a function of the state and the time only); looking late never happens. When
    the bound is not ahead of ``t`` the plan is the exact one (covering no more mail).
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
    if state.last_order_at is not None:
        exact_lr, most_lr = email_silence_odds_ahead(state, policy, mails)
        most = odds_of_leaving(state, t, policy, most_lr) if mails > 0 else None
        threshold = policy.at_risk_risk if target == ACTIVE else policy.lost_risk
        if most is not None:
            bound = _crossing_time(state, most, threshold, policy) - _AHEAD_MARGIN
            if t < bound:
                return target, min(wake, bound), covers + mails
        odds = odds_of_leaving(state, t, policy, exact_lr)
        if target == ACTIVE:
            at_risk_at = _crossing_time(state, odds, policy.at_risk_risk, policy)
            if t < at_risk_at:
                # The lost crossing comes later still: look again at the at_risk one.
                return ACTIVE, min(wake, at_risk_at), covers
            target = AT_RISK
            if most is not None:
                bound = _crossing_time(state, most, policy.lost_risk, policy) - _AHEAD_MARGIN
                if t < bound:
                    return target, min(wake, bound), covers + mails
        lost_at = _crossing_time(state, odds, policy.lost_risk, policy)
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
