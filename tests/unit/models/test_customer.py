"""How each event updates a customer's rolling table, and the compact record form."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from models.customer import CustomerState, from_record, record, seen_before, to_record
from models.events import Event
from models.policy import Policy
from models.rhythm import Population
from tests.builders import a_call, an_email, an_order, day

POLICY = Policy()


def fold(*events: Event) -> CustomerState:
    state = CustomerState("c1")
    population = Population.from_policy(POLICY)
    for event in events:
        record(state, event, POLICY, population)
    return state


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
        an_email(action="bounced", at=day(3)),
    )
    assert (state.sends_since_engaged, state.last_engaged_at) == (1, day(1))
    assert not state.unsubscribed
    assert fold(an_email(action="unsubscribed")).unsubscribed


def test_only_threshold_crossings_in_email_ask_for_a_new_plan() -> None:
    state = CustomerState("c1")
    population = Population.from_policy(POLICY)
    changes = [
        record(state, e, POLICY, population)
        for e in [
            an_email(action="opened"),
            *(an_email(action="sent") for _ in range(5)),
            an_email(action="opened"),
            an_email(action="unsubscribed"),
            an_email(action="unsubscribed"),
        ]
    ]
    assert changes == [False, False, False, False, True, False, True, True, False]


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


event_lists = st.lists(
    st.one_of(
        st.builds(
            lambda d, a: an_order(at=day(d), amount=a), st.integers(0, 500), st.floats(0, 500)
        ),
        st.builds(
            lambda d, a: an_email(at=day(d), action=a),
            st.integers(0, 500),
            st.sampled_from(["sent", "opened", "clicked", "unsubscribed"]),
        ),
        st.builds(
            lambda d, r, ok: a_call(at=day(d), reason=r, resolved=ok),
            st.integers(0, 500),
            st.sampled_from(["complaint", "support", "inquiry"]),
            st.sampled_from([True, False, None]),
        ),
    ),
    max_size=20,
)


@given(event_lists)
def test_the_record_form_round_trips_exactly(events: list[Event]) -> None:
    state = fold(*sorted(events, key=lambda e: e.at))
    state.pending = [e for e in events[:2]] or None
    seen_before(state, "x", 8)
    restored = from_record(to_record(state))
    assert restored == state
    assert to_record(restored) == to_record(state)
