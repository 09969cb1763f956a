"""Judging one customer at a moment: odds, risk, reasons, cause and the plan."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.assessment import (
    COMPLAINT_UNRESOLVED,
    OVERDUE_ORDER,
    email_silence_odds,
    evidence_odds,
    likely_cause,
    plan,
    plan_ahead,
    reasons_at,
    risk_at,
)
from models.customer import ACTIVE, AT_RISK, LOST, CustomerState, record
from models.events import Event
from models.policy import DAY, Policy
from models.population import PopulationModel
from models.rhythm import predict, silence_for_survival
from streams.records import from_record, to_record
from tests.builders import a_call, an_email, an_order, day

POLICY = Policy()
MODEL = PopulationModel.from_policy(POLICY)


def customer(*events: Event) -> CustomerState:
    state = CustomerState("c1")
    for event in events:
        record(state, event, POLICY)
        rhythm = predict(state.intervals, MODEL, POLICY)
        state.mu, state.sd = rhythm.mu, rhythm.sd
    return state


def monthly(orders: int = 6) -> CustomerState:
    return customer(*(an_order(at=day(30 * i)) for i in range(orders)))


def test_without_evidence_only_the_silence_counts() -> None:
    assert evidence_odds(monthly(), day(152), POLICY, MODEL) == 1.0


@pytest.mark.parametrize(
    ("extra", "factor"),
    [
        (an_email(action="unsubscribed", at=day(151)), 2.0),
        (a_call(direction="outbound", outcome="missed", reason="sales", at=day(151)), 1.0),
    ],
)
def test_evidence_multiplies_the_odds(extra: Event, factor: float) -> None:
    base = monthly()
    with_evidence = customer(*(an_order(at=day(30 * i)) for i in range(6)), extra)
    ratio = evidence_odds(with_evidence, day(152), POLICY, MODEL) / evidence_odds(
        base, day(152), POLICY, MODEL
    )
    assert math.isclose(ratio, factor)


def test_a_complaint_counts_only_after_the_grace_period() -> None:
    state = customer(
        *(an_order(at=day(30 * i)) for i in range(6)), a_call(reason="complaint", at=day(151))
    )
    before = evidence_odds(state, day(151.5), POLICY, MODEL)
    after = evidence_odds(state, day(152.5), POLICY, MODEL)
    assert math.isclose(after / before, MODEL.complaint_odds)
    assert COMPLAINT_UNRESOLVED not in [r.code for r in reasons_at(state, day(151.5), POLICY)]
    assert COMPLAINT_UNRESOLVED in [r.code for r in reasons_at(state, day(152.5), POLICY)]


def test_risk_grows_with_silence_and_is_a_probability() -> None:
    state = monthly()
    risks = [risk_at(state, day(150 + d), POLICY, MODEL) for d in (0, 20, 40, 60, 120, 400)]
    assert risks == sorted(risks)
    assert risks[0] == 0.0 < risks[1] < 0.2 and risks[-1] > 0.99  # just ordered: still there


def test_the_plan_wakes_at_the_at_risk_moment_then_at_the_lost_crossing() -> None:
    state = monthly()
    status, wake = plan(state, day(150), POLICY, MODEL)
    assert status == ACTIVE and wake is not None
    status, later = plan(state, wake, POLICY, MODEL)
    assert status == AT_RISK
    state.status = AT_RISK
    assert later is not None and later > wake
    # at_risk comes when risk reaches at_risk_risk or half an interval before lost, but
    # not while the order would still be on rhythm.
    median = math.exp(state.mu) * DAY
    on_time = day(150) + silence_for_survival(state.mu, state.sd, POLICY.on_rhythm_share)
    reached = risk_at(state, wake, POLICY, MODEL) >= POLICY.at_risk_risk - 1e-3
    lead = later - wake
    assert wake >= on_time - 1.0
    assert reached or wake <= on_time + 1.0 or lead >= POLICY.at_risk_lead_intervals * median * 0.99
    assert math.isclose(risk_at(state, later, POLICY, MODEL), POLICY.lost_risk, abs_tol=2e-3)
    assert risk_at(state, later, POLICY, MODEL) >= POLICY.lost_risk
    assert plan(state, later, POLICY, MODEL) == (LOST, None)


def test_nobody_is_flagged_before_their_expected_order() -> None:
    state = customer(
        an_order(at=day(0)),
        an_email(action="unsubscribed", at=day(1)),
        *(a_call(direction="outbound", outcome="missed", at=day(2 + i)) for i in range(3)),
    )
    status, wake = plan(state, day(3), POLICY, MODEL)
    assert status == ACTIVE
    assert wake is not None and wake >= day(0) + math.exp(state.mu) * DAY


def test_reasons_list_overdue_with_a_readable_detail() -> None:
    reasons = reasons_at(monthly(), day(150 + 45), POLICY)
    assert reasons[0].code == OVERDUE_ORDER
    assert "no order for 45 days" in reasons[0].detail
    assert "usually every 30 days" in reasons[0].detail


@pytest.mark.parametrize(
    ("codes", "cause"),
    [
        ({"complaint_unresolved", "overdue_order", "declining_orders"}, "service_failure"),
        ({"declining_orders", "email_disengaged"}, "declining_value"),
        ({"inquiry_without_order"}, "declining_value"),
        ({"email_unsubscribed", "overdue_order"}, "disengagement"),
        ({"calls_unanswered"}, "disengagement"),
        ({"overdue_order"}, "habit_lapse"),
        (set(), "unknown"),
    ],
)
def test_the_likely_cause_is_the_most_specific_reason(codes: set[str], cause: str) -> None:
    assert likely_cause(codes) == cause


def reader_then_quiet(quiet_mails: int) -> CustomerState:
    """Monthly orders, reads every other weekly mail (at noon), then goes quiet."""
    events: list[Event] = [an_order(at=day(30 * i)) for i in range(6)]
    events += [an_email(action="sent", at=day(7 * w)) for w in range(22)]
    events += [an_email(action="opened", at=day(7 * w + 0.5)) for w in range(0, 22, 2)]
    events += [an_email(action="sent", at=day(154 + 7 * w)) for w in range(quiet_mails)]
    return customer(*sorted(events, key=lambda e: e.at))


def test_unanswered_mail_multiplies_the_odds_by_its_likelihood_ratio() -> None:
    quiet, answered = reader_then_quiet(6), reader_then_quiet(0)
    t = day(200)
    ratio = evidence_odds(quiet, t, POLICY, MODEL) / evidence_odds(answered, t, POLICY, MODEL)
    assert math.isclose(ratio, email_silence_odds(quiet, POLICY))
    assert ratio > POLICY.email_disengaged_evidence
    codes = {r.code for r in reasons_at(quiet, t, POLICY)}
    assert "email_disengaged" in codes


def test_a_sign_of_life_discounts_the_silence_before_it() -> None:
    """Same 60 days without an order; a click on day 50 leaves only 10 days as evidence."""
    orders = [an_order(at=day(30 * i)) for i in range(6)]
    silent = customer(*orders)
    clicked = customer(
        *orders, an_email(action="sent", at=day(199)), an_email(action="clicked", at=day(200))
    )
    t = day(150 + 60)
    assert clicked.alive_at == day(200)
    assert risk_at(clicked, t, POLICY, MODEL) < risk_at(silent, t, POLICY, MODEL)
    assert (
        risk_at(clicked, t, POLICY, MODEL)
        < 0.1
        < POLICY.at_risk_risk
        < risk_at(silent, t, POLICY, MODEL)
    )


def test_the_planned_crossing_is_where_risk_reaches_the_threshold() -> None:
    """With a sign of life and unanswered mail, the searched crossing still lands on the
    threshold (the plan's wake-up after at_risk is the lost crossing)."""
    state = reader_then_quiet(3)
    state.status = AT_RISK
    status, wake = plan(state, day(160), POLICY, MODEL)
    assert status == AT_RISK and wake is not None
    assert POLICY.lost_risk <= risk_at(state, wake, POLICY, MODEL) < POLICY.lost_risk + 2e-3


@given(
    st.lists(st.floats(min_value=2, max_value=90), min_size=1, max_size=5),
    st.floats(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=6),
    st.booleans(),
    st.sampled_from([1, 4]),
)
def test_a_plan_ahead_looks_again_no_later_than_the_exact_plans_it_covers(
    gaps: list[float], since: float, sends: int, complaint: bool, mails: int
) -> None:
    # Planning ahead (the engine's lookahead for mail, and its quiet start after an order)
    # may look again earlier than the exact plan, never later, whatever covered mail comes.
    orders = [an_order(at=day(sum(gaps[:i]))) for i in range(len(gaps) + 1)]
    last = day(sum(gaps))
    extra: list[Event] = [an_email(action="sent", at=last + (i + 1) * 3600.0) for i in range(sends)]
    if complaint:
        extra.append(a_call(reason="complaint", at=last + 7200.0))
    state = customer(*orders, *extra)
    t = last + since * DAY
    target, wake, covers = plan_ahead(state, t, POLICY, MODEL, mails)
    assert target == plan_ahead(state, t, POLICY, MODEL, 0)[0]
    for more in range(min(covers - state.sends_since_engaged, 8) + 1):
        later = from_record(to_record(state))
        later.sends_since_engaged += more
        later_target, later_wake, _ = plan_ahead(later, t, POLICY, MODEL, 0)
        assert later_target == target
        assert (math.inf if wake is None else wake) <= (
            math.inf if later_wake is None else later_wake
        )
