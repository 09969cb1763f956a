"""How each event updates a customer's rolling table, and the compact record form."""

from __future__ import annotations

from models.customer import CustomerState, record, seen_before
from models.events import Event
from models.policy import Policy
from tests.builders import a_call, a_customer, an_email, an_order, day

POLICY = Policy()


def fold(*events: Event) -> CustomerState:
    return a_customer(*events, policy=POLICY)


def test_orders_build_the_rolling_window_of_intervals() -> None:
    count = POLICY.interval_window + 4
    state = fold(*(an_order(at=day(i * 10)) for i in range(count)))
    assert state.orders == count
    assert len(state.intervals) == POLICY.interval_window
    assert state.first_order_at == day(0)
    assert state.last_order_at == day(10 * (count - 1))
    assert state.total_spend == count * 25.0


def test_recent_order_value_is_a_moving_average() -> None:
    state = fold(an_order(at=day(0), amount=100.0), an_order(at=day(10), amount=0.0))
    assert state.recent_amount == 60.0  # 0.4 * 0 + 0.6 * 100


def test_refunds_take_value_out_but_are_not_purchases() -> None:
    state = fold(
        an_order(at=day(0), amount=30.0), an_order(at=day(1), amount=50.0, status="refunded")
    )
    assert (state.orders, state.total_spend) == (1, 0.0)


def test_email_engagement_counts_sends_since_the_last_open_or_click() -> None:
    state = fold(
        an_email(action="sent"),
        an_email(action="clicked", at=day(1)),
        an_email(action="sent", at=day(2)),
        an_email(action="sent", at=day(9)),
    )
    assert (state.sends_since_engaged, state.last_engaged_at) == (2, day(1))
    assert (state.delivered_mails, state.engaged_mails) == (1.0, 1.0)
    assert state.alive_at == day(1)
    assert not state.unsubscribed
    assert fold(an_email(action="unsubscribed")).unsubscribed


def test_a_bounced_mail_is_not_an_unanswered_one() -> None:
    state = fold(an_email(action="sent"), an_email(action="bounced", at=day(0) + 60))
    assert state.sends_since_engaged == 0


def test_a_sign_of_life_folds_the_quiet_mails_into_the_engagement_history() -> None:
    """Four unanswered mails, then an order: four misses to someone still there."""
    state = fold(
        an_order(at=day(0)),
        *(an_email(action="sent", at=day(1 + 7 * i)) for i in range(4)),
        an_order(at=day(30)),
        an_email(action="sent", at=day(31)),
        an_email(action="opened", at=day(31.5)),
    )
    assert (state.delivered_mails, state.engaged_mails) == (5.0, 1.0)
    assert (state.sends_since_engaged, state.alive_at) == (0, day(31.5))


def test_calling_in_is_a_sign_of_life_but_answering_a_sales_call_is_not() -> None:
    base: list[Event] = [an_order(at=day(0)), an_email(action="sent", at=day(1))]
    answered = fold(*base, a_call(direction="outbound", reason="sales", at=day(2)))
    assert (answered.alive_at, answered.sends_since_engaged) == (day(0), 1)
    inbound = fold(*base, a_call(direction="inbound", reason="inquiry", at=day(2)))
    assert (inbound.alive_at, inbound.sends_since_engaged) == (day(2), 0)


def test_machine_opens_are_not_engagement() -> None:
    """A privacy proxy opens within minutes of the send; a person reads later."""
    sent = an_email(action="sent", at=day(1))
    proxy = fold(an_order(at=day(0)), sent, an_email(action="opened", at=day(1) + 120))
    assert (proxy.sends_since_engaged, proxy.last_engaged_at) == (1, None)
    person = fold(an_order(at=day(0)), sent, an_email(action="opened", at=day(1) + 3 * 3600))
    assert (person.sends_since_engaged, person.last_engaged_at) == (0, day(1) + 3 * 3600)


def test_a_customer_who_opens_every_mail_has_machine_opens() -> None:
    events: list[Event] = [an_order(at=day(0))]
    for week in range(40):
        events += [
            an_email(action="sent", at=day(1 + 7 * week)),
            an_email(action="opened", at=day(1.5 + 7 * week)),  # hours later: looks human
        ]
    state = fold(*events)
    assert state.open_rate >= POLICY.machine_open_rate
    # Once opens are machine-like, an open no longer ends the quiet run; a click does.
    quiet = state.sends_since_engaged
    assert quiet > 0
    record(state, an_email(action="sent", at=day(400)), POLICY)
    record(state, an_email(action="opened", at=day(400.5)), POLICY)
    assert state.sends_since_engaged == quiet + 1
    record(state, an_email(action="clicked", at=day(400.6)), POLICY)
    assert state.sends_since_engaged == 0


def test_engagement_history_keeps_a_bounded_memory() -> None:
    events: list[Event] = []
    for week in range(100):
        events += [
            an_email(action="sent", at=day(7 * week)),
            an_email(action="clicked", at=day(7 * week + 1)),
        ]
    state = fold(*events)
    assert state.delivered_mails == POLICY.engagement_memory_mails
    assert abs(state.engaged_mails - POLICY.engagement_memory_mails) < 1e-9


def test_which_email_events_ask_for_a_new_plan() -> None:
    """Mail can change the judgement once the customer has ordered; machine opens never."""
    state = CustomerState("c1")

    def changes(*events: Event) -> list[bool]:
        return [record(state, e, POLICY) for e in events]

    assert changes(an_email(action="sent"), an_email(action="clicked", at=day(0.5))) == [
        False,
        False,
    ]
    record(state, an_order(at=day(1)), POLICY)
    assert changes(
        an_email(action="sent", at=day(2)),
        an_email(action="opened", at=day(2) + 60),  # machine
        an_email(action="opened", at=day(2.5)),  # a person
        an_email(action="bounced", at=day(3)),  # nothing quiet left to take back
        an_email(action="unsubscribed", at=day(4)),
        an_email(action="unsubscribed", at=day(5)),
    ) == [True, False, True, False, True, False]


def test_unanswered_outbound_calls_form_a_streak_that_any_answer_ends() -> None:
    state = fold(
        *(a_call(direction="outbound", outcome="missed", reason="sales") for _ in range(2)),
        a_call(direction="outbound", outcome="voicemail", reason="sales"),
    )
    assert state.unanswered_calls == 3
    assert (
        fold(
            a_call(direction="outbound", outcome="missed"),
            a_call(direction="inbound", outcome="missed"),
        ).unanswered_calls
        == 0
    )


def test_complaints_open_issues_until_resolved_or_an_order() -> None:
    state = fold(
        a_call(reason="complaint", at=day(1)), a_call(reason="support", resolved=False, at=day(2))
    )
    assert (state.open_issues, state.issue_opened_at) == (2, day(1))
    assert (
        fold(a_call(reason="complaint"), a_call(reason="complaint", resolved=True)).open_issues == 0
    )
    assert fold(a_call(reason="complaint"), an_order(at=day(1))).open_issues == 0
    assert fold(a_call(reason="support")).open_issues == 0  # routine support call


def test_inquiries_are_remembered() -> None:
    assert fold(a_call(reason="inquiry", at=day(3))).last_inquiry_at == day(3)


def test_recent_event_ids_are_remembered_within_bounded_memory() -> None:
    state = CustomerState("c1")
    assert not seen_before(state, "a", 4)
    assert seen_before(state, "a", 4)
    for i in range(4):
        seen_before(state, f"other{i}", 4)
    assert len(state.recent_ids) == 16
    assert not seen_before(state, "a", 4)  # forgotten after four newer ids
