"""The suggested-action table: defaults, overrides cell by cell, bad tables, the value rule."""

from __future__ import annotations

import dataclasses

import pytest

from models.actions import ACTIONS, CAUSES, DEFAULT_ACTIONS, action_table
from models.assessment import likely_cause
from models.policy import Policy


def test_the_defaults_follow_the_practices() -> None:
    policy = Policy()
    assert policy.action_for("at_risk", "habit_lapse", 500.0) == "remind"
    assert policy.action_for("at_risk", "service_failure", 500.0) == "resolve_and_call"
    assert policy.action_for("lost", "service_failure", 500.0) == "resolve_and_call"
    assert policy.action_for("at_risk", "declining_value", 500.0) == "offer"
    assert policy.action_for("lost", "habit_lapse", 500.0) == "win_back"
    assert policy.action_for("lost", "disengagement", 500.0) == "win_back"


def test_a_lost_customer_worth_less_than_a_win_back_gets_none() -> None:
    policy = Policy(win_back_cost=30.0)
    assert policy.action_for("lost", "habit_lapse", 29.99) == "none"
    assert policy.action_for("lost", "service_failure", 29.99) == "none"
    assert policy.action_for("lost", "habit_lapse", 30.0) == "win_back"
    # A reminder is cheap: at_risk is never priced out.
    assert policy.action_for("at_risk", "habit_lapse", 0.0) == "remind"


def test_every_cause_and_acting_decision_has_a_default_action() -> None:
    for kind, row in DEFAULT_ACTIONS.items():
        assert set(row) == set(CAUSES), kind
        assert set(row.values()) <= set(ACTIONS)
    every_reason = {
        "overdue_order",
        "declining_orders",
        "email_disengaged",
        "email_unsubscribed",
        "calls_unanswered",
        "complaint_unresolved",
        "inquiry_without_order",
    }
    for size in range(len(every_reason) + 1):
        codes = set(sorted(every_reason)[:size])
        assert likely_cause(codes) in CAUSES


def test_overrides_replace_single_cells_and_keep_the_rest() -> None:
    policy = Policy(actions={"lost": {"declining_value": "win_back"}})
    assert policy.actions["lost"]["declining_value"] == "win_back"
    assert policy.actions["lost"]["habit_lapse"] == "win_back"
    assert policy.actions["at_risk"] == DEFAULT_ACTIONS["at_risk"]
    # Completing the table is idempotent: a copy of the policy is the same policy.
    assert dataclasses.replace(policy, lost_risk=0.9).actions == policy.actions


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"recovered": {"unknown": "remind"}}, "unknown decision type 'recovered'"),
        ({"lost": {"bored": "offer"}}, "actions.lost: unknown cause 'bored'"),
        ({"at_risk": {"habit_lapse": "spam"}}, "at_risk.habit_lapse: unknown action 'spam'"),
        ({"lost": "none"}, "actions.lost must be a table"),
    ],
)
def test_bad_tables_are_refused_naming_the_cell(table: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(actions=table)  # type: ignore[arg-type]


def test_the_table_is_its_own_copy() -> None:
    table = action_table({})
    table["lost"]["habit_lapse"] = "none"
    assert DEFAULT_ACTIONS["lost"]["habit_lapse"] == "win_back"
