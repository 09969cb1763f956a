"""What to do about a customer at risk or lost: the vocabulary and the default action table.

Every ``at_risk`` and ``lost`` decision carries a ``suggested_action`` looked up in a table
keyed on the decision's type and the likely cause of the churn
(:func:`models.assessment.likely_cause`), then checked against the customer's value
(:meth:`models.policy.Policy.action_for`). The defaults follow the practices the product is
built on:

* a habit lapsing (the customer is just late): **remind** them before they forget for good,
  with the expected next order date;
* a service failure (an unresolved complaint): **resolve_and_call** — customers whose
  complaint was resolved buy again more often than average;
* declining value, or an inquiry not followed by an order: an **offer**;
* lost: **win_back**, unless what the customer would bring over the value horizon is below
  the cost of a win-back (``win_back_cost``): then **none**, not worth it.

Users may override any cell; a table naming an unknown decision type, cause or action is
refused at start.
"""

from __future__ import annotations

from collections.abc import Mapping

# Causes of churn, most specific first (models.assessment.likely_cause picks one).
CAUSES = ("service_failure", "disengagement", "declining_value", "habit_lapse", "unknown")
# What a subscriber may be asked to do.
ACTIONS = ("remind", "resolve_and_call", "offer", "win_back", "none")
NO_ACTION = "none"
# The decision types that suggest an action (a recovery is the outcome, not a trigger).
ACTING_DECISIONS = ("at_risk", "lost")

DEFAULT_ACTIONS: Mapping[str, Mapping[str, str]] = {
    "at_risk": {
        "service_failure": "resolve_and_call",
        "disengagement": "remind",
        "declining_value": "offer",
        "habit_lapse": "remind",
        "unknown": "remind",
    },
    "lost": {
        "service_failure": "resolve_and_call",
        "disengagement": "win_back",
        "declining_value": "offer",
        "habit_lapse": "win_back",
        "unknown": "win_back",
    },
}


def action_table(overrides: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The default table with ``overrides`` applied cell by cell; ``ValueError`` naming the
    first unknown decision type, cause or action."""
    table = {kind: dict(row) for kind, row in DEFAULT_ACTIONS.items()}
    if not isinstance(overrides, Mapping):
        raise ValueError("actions must be a table of decision type -> cause -> action")
    for kind, row in overrides.items():
        if kind not in table:
            raise ValueError(
                f"actions: unknown decision type {kind!r} (expected one of "
                f"{', '.join(ACTING_DECISIONS)})"
            )
        if not isinstance(row, Mapping):
            raise ValueError(f"actions.{kind} must be a table of cause -> action")
        for cause, action in row.items():
            if cause not in CAUSES:
                raise ValueError(
                    f"actions.{kind}: unknown cause {cause!r} (expected one of {', '.join(CAUSES)})"
                )
            if action not in ACTIONS:
                raise ValueError(
                    f"actions.{kind}.{cause}: unknown action {action!r} (expected one of "
                    f"{', '.join(ACTIONS)})"
                )
            table[kind][cause] = action
    return table
