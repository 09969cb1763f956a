"""Decisions in the output contract: CloudEvents 1.0, structured-mode JSON (``docs/events.md``).

The one place a :class:`models.decisions.Decision` becomes what subscribers receive, for
every driver (replay's files, the worker's topics).
"""

from __future__ import annotations

from typing import Any

from models.decisions import DECISION_TYPES, Decision, format_time

CLOUDEVENT_TYPES = {kind: f"churnwatch.customer.{kind}" for kind in DECISION_TYPES}
# The schema of a decision's data (schemas/decision-data.schema.json), as its dataschema.
DATA_SCHEMA = "urn:churnwatch:schema:decision-data:1"


def to_cloudevent(decision: Decision, source: str) -> dict[str, Any]:
    """The decision as a CloudEvents 1.0 structured-mode JSON object."""
    data = dict(decision.view)
    data["status"] = str(decision.status)
    data["previous_status"] = str(decision.previous_status)
    data["previous_action"] = decision.previous_action
    data["episode"] = decision.episode
    return {
        "specversion": "1.0",
        "id": decision.id,
        "source": source,
        "type": CLOUDEVENT_TYPES[decision.kind],
        "subject": decision.customer_id,
        "time": format_time(decision.at),
        "datacontenttype": "application/json",
        "dataschema": DATA_SCHEMA,
        "data": data,
    }
