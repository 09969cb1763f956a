"""The customer state's stored form: exact round trips, and every older version loads."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.customer import CustomerState, seen_before
from models.events import Event
from models.policy import DAY, Policy
from streams.records import FIELDS, from_record, to_record
from tests.builders import EPOCH, a_call, a_customer, an_email, an_order, day

POLICY = Policy()


def fold(*events: Event) -> CustomerState:
    return a_customer(*events, policy=POLICY)


def test_the_record_holds_every_field_of_the_state() -> None:
    state = fold(an_order("c1", day(0)), an_order("c1", day(20)))
    assert len(to_record(state)) == len(CustomerState.__slots__)
    assert sorted(FIELDS) == sorted(CustomerState.__slots__)


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


def test_a_version_1_record_still_loads() -> None:
    """Records written before email engagement was modelled (21 fields) load with the new
    fields at their defaults, the last sign of life being the last order."""
    version_1 = [
        "c1", None, 1, EPOCH, [2.3], None, None, None, EPOCH + 10 * DAY, 2.3, 0, 2, None,
        25.0, "", 0.5, 3, 0, 50.0, 0, False,
    ]  # fmt: skip
    state = from_record(version_1)
    assert (state.orders, state.last_order_at, state.sends_since_engaged) == (2, day(10), 3)
    assert state.alive_at == day(10)
    assert (state.delivered_mails, state.engaged_mails, state.open_rate) == (0.0, 0.0, 0.0)
    assert state.revivals == 0
    assert state.plan_covers == -1
    assert state.last_action is None
    # version 2's six fields, version 3's one, version 4's one, version 5's one
    assert len(to_record(state)) == len(version_1) + 6 + 1 + 1 + 1


def test_a_version_2_record_still_loads() -> None:
    """Records written before lost customers could be revived (27 fields) load with no
    revival counted."""
    state = fold(an_order("c1", day(0)), an_order("c1", day(20)))
    version_2 = to_record(state)[:-3]
    assert len(version_2) == 27
    restored = from_record(version_2)
    assert restored.revivals == 0
    assert restored.plan_covers == -1
    restored.plan_covers = state.plan_covers
    assert restored == state


def test_a_version_3_record_loads_without_a_mail_budget() -> None:
    """Records written before the plan's mail budget was kept (28 fields) load with none:
    the engine re-plans at the customer's next mail."""
    state = fold(an_order("c1", day(0)), an_order("c1", day(20)))
    state.plan_covers = 5
    version_3 = to_record(state)[:-2]
    assert len(version_3) == 28
    assert from_record(version_3).plan_covers == -1
    assert from_record(to_record(state)).plan_covers == 5


def test_a_version_4_record_loads_without_a_suggested_action() -> None:
    """Records written before the suggested action was kept (29 fields) load with none:
    a recovery in that episode says no action preceded it."""
    state = fold(an_order("c1", day(0)), an_order("c1", day(20)))
    state.last_action = "remind"
    version_4 = to_record(state)[:-1]
    assert len(version_4) == 29
    assert from_record(version_4).last_action is None
    assert from_record(to_record(state)).last_action == "remind"


def test_a_record_of_unknown_length_is_refused() -> None:
    with pytest.raises(ValueError):
        from_record(["c1", None, 1])


def test_a_float_that_is_not_finite_is_stored_as_null() -> None:
    state = fold()
    state.due_at = math.inf
    state.mu = math.nan
    record = to_record(state)
    assert record[FIELDS.index("due_at")] is None
    assert record[FIELDS.index("mu")] is None
    assert orjson.loads(orjson.dumps(record)) == record
