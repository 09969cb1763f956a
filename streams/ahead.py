"""Input too far ahead in time: the rule both drivers apply before an event can move time.

One event dated years ahead (2199 instead of 2025) would otherwise move a partition's
watermark there: every deadline up to it fires at once, and every real event after it is
refused as late. Such input is refused as ``future_event`` and never applied, so time
never moves on its word. What it is compared with is the driver's: the Kafka record's
timestamp in the worker (when the event reached Kafka, at the latest), the newest event
applied so far in replay (a file has no other clock).
"""

from __future__ import annotations

import math

from models.decisions import format_time
from models.parse import FUTURE_EVENT, Rejected


def too_far_ahead(
    at: float, reference: float, bound: float, what: str, name: str = "occurred_at"
) -> Rejected | None:
    """``future_event`` if ``at`` is more than ``bound`` seconds after ``reference``.

    ``what`` names the reference in the detail ("the message's timestamp"), ``name`` the
    time refused (a tick's time, say). No finite reference (nothing seen yet, a record
    without a timestamp): nothing to compare with.
    """
    if not math.isfinite(reference) or at - reference <= bound:
        return None
    return Rejected(
        FUTURE_EVENT,
        f"{name} {format_time(at)} is {at - reference:.0f} s after {what} "
        f"{format_time(reference)}; at most {bound:.0f} s allowed",
    )
