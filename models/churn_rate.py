"""The monthly churn and recovery accounting, per value segment, by event time.

A :class:`ChurnLedger` keeps, for every UTC calendar month and value segment, five counts
(:data:`MEASURES`), from which the churn rate and the recovery rate follow:

* ``active_at_start``: customers who had ordered and were not ``lost`` (``active`` or
  ``at_risk``) at the month's first instant (00:00 UTC on the 1st);
* ``lost_at_start``: customers who had ordered and were ``lost`` at that instant;
* ``new``: customers whose first placed order fell in the month;
* ``lost``: ``lost`` decisions in the month about customers who had ordered;
* ``recovered``: ``recovered`` decisions in the month from ``lost`` (win-backs), about
  customers who had ordered before (a first order after a ``lost`` decision about someone
  who never ordered is a new customer, not a win-back).

``churn_rate = lost / active_at_start`` (the usual definition: what share of the month's
starting customers it lost) and ``recovery_rate = recovered / (lost_at_start + lost)`` (what
share of the customers who were lost at some time in the month it won back); None when the
denominator is 0. A customer lost and won back in the same month counts in both ``lost``
and ``recovered`` (each decision counts once); one new and lost in the same month counts in
``new`` and ``lost``. So ``lost <= active_at_start + new + recovered`` and
``recovered <= lost_at_start + lost``, and the stocks roll over exactly: summed over segments,
``active_at_start`` of the next month is ``active_at_start + new - lost + recovered`` and
``lost_at_start`` is ``lost_at_start + lost - recovered``.

Beside the counts, the **value flagged** in the month (:data:`VALUE_MEASURES`): the sum of
the ``value_at_risk`` of its ``at_risk`` and of its ``lost`` decisions about customers who
had ordered (risk x their spend over the value horizon if they stay, as each decision judged
it), by the decision's segment: what the month's warnings put at stake.

Segments: a customer counts in their segment (:meth:`Policy.segment_for` of their total
spend) at the moment counted: at the month's first instant for the stocks, just after the
first order for ``new``, at the decision for ``lost`` and ``recovered`` (the decision's own
``segment``). A customer's spend moves them between segments without a decision, so the
roll-over identities hold for all segments together, not for each one.

The engine (:class:`models.engine.Engine`) feeds a ledger it is given, in its own strict
event-time order: :meth:`ChurnLedger.census` right before the first entry of a new month
(the stocks are then exactly those of the month's first instant, whichever process runs
the engine), :meth:`ChurnLedger.first_order` and :meth:`ChurnLedger.decided` as they happen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models.customer import LOST, CustomerState, Status
from models.decisions import AT_RISK as AT_RISK_DECISION
from models.decisions import LOST as LOST_DECISION
from models.decisions import RECOVERED
from models.policy import Policy

MEASURES = ("active_at_start", "lost_at_start", "new", "lost", "recovered")
# Value flagged in the month: the sum of value_at_risk (models.value) of its at_risk and
# lost decisions about customers who had ordered, each as the decision judged it.
VALUE_MEASURES = ("at_risk_value", "lost_value")
_ACTIVE_AT_START, _LOST_AT_START, _NEW, _LOST, _RECOVERED, _AT_RISK_VALUE, _LOST_VALUE = range(
    len(MEASURES) + len(VALUE_MEASURES)
)
_WIDTH = len(MEASURES) + len(VALUE_MEASURES)
# The label of the total over every segment in tables (never a segment's name in metrics).
ALL_SEGMENTS = "all"


def month_of(t: float) -> str:
    """The UTC calendar month of epoch seconds ``t``, as ``YYYY-MM``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m")


def month_start(month: str) -> float:
    """Epoch seconds of the first instant of ``month`` (``YYYY-MM``)."""
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=UTC).timestamp()


def next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


@dataclass(frozen=True)
class MonthRow:
    """One month and segment of the table: the counts and the rates that follow."""

    month: str
    segment: str
    active_at_start: int
    lost_at_start: int
    new: int
    lost: int
    recovered: int
    at_risk_value: float = 0.0
    lost_value: float = 0.0

    @property
    def churn_rate(self) -> float | None:
        return self.lost / self.active_at_start if self.active_at_start else None

    @property
    def recovery_rate(self) -> float | None:
        lost = self.lost_at_start + self.lost
        return self.recovered / lost if lost else None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-able data, rates rounded to 6 places (None when undefined)."""
        return {
            "month": self.month,
            "segment": self.segment,
            **{name: getattr(self, name) for name in MEASURES},
            **{name: round(getattr(self, name), 2) for name in VALUE_MEASURES},
            "churn_rate": _round(self.churn_rate),
            "recovery_rate": _round(self.recovery_rate),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class ChurnLedger:
    """Monthly counts per segment, fed by an engine in event-time order.

    ``keep_months``: only the newest this many months are kept (a long-running worker's
    bound); None keeps every month (replay, evaluation).
    """

    def __init__(self, policy: Policy, keep_months: int | None = None) -> None:
        if keep_months is not None and keep_months < 1:
            raise ValueError("keep_months must be >= 1")
        self.policy = policy
        self.segments = tuple(name for name, _ in policy.segments)
        self.keep_months = keep_months
        # month -> segment -> MEASURES (ints) then VALUE_MEASURES (floats), in that order
        self.months: dict[str, dict[str, list[Any]]] = {}
        self.month: str | None = None  # the month of the latest census
        # Event time at which the next census is due: -inf before the first (it then takes
        # place at the first entry the engine works off, dated that entry's month).
        self.next_census = -math.inf
        self.version = 0  # changes whenever any count does (for the worker's metrics)

    # -- fed by the engine ------------------------------------------------------------------

    def census(self, customers: Iterable[CustomerState], at: float) -> float:
        """Open every month from the one after the latest census up to the month of ``at``
        with the stocks of ``customers`` (their state right before ``at``); the event time
        of the next census."""
        policy = self.policy
        stocks = {segment: [0, 0] for segment in self.segments}
        for state in customers:
            if state.orders:
                pair = stocks[policy.segment_for(state.total_spend)]
                pair[1 if state.status == LOST else 0] += 1
        month = month_of(at) if self.month is None else next_month(self.month)
        last = month_of(at)
        while True:
            self.months[month] = {
                segment: [active, lost, 0, 0, 0, 0.0, 0.0]
                for segment, (active, lost) in stocks.items()
            }
            if month >= last:
                break
            month = next_month(month)
        self.month = last
        self._prune()
        self.version += 1
        self.next_census = month_start(next_month(last))
        return self.next_census

    def first_order(self, at: float, total_spend: float) -> None:
        """A customer placed their first order at ``at``."""
        self._count(at, self.policy.segment_for(total_spend), _NEW)

    def decided(
        self,
        kind: str,
        previous_status: Status,
        state: CustomerState,
        at: float,
        value_at_risk: float = 0.0,
    ) -> None:
        """The engine made a decision of ``kind`` about ``state`` (already updated) at ``at``,
        judging the customer's value at risk ``value_at_risk``."""
        if kind == LOST_DECISION and state.orders >= 1:
            segment = self.policy.segment_for(state.total_spend)
            self._count(at, segment, _LOST)
            self._count(at, segment, _LOST_VALUE, value_at_risk)
        elif kind == AT_RISK_DECISION and state.orders >= 1:
            self._count(
                at, self.policy.segment_for(state.total_spend), _AT_RISK_VALUE, value_at_risk
            )
        elif kind == RECOVERED and previous_status == LOST and state.orders >= 2:
            self._count(at, self.policy.segment_for(state.total_spend), _RECOVERED)

    def _count(self, at: float, segment: str, measure: int, amount: float = 1) -> None:
        month = month_of(at)
        counts = self.months.get(month)
        if counts is None:  # before the first census (an engine that never took one)
            counts = self.months[month] = {s: empty_counts() for s in self.segments}
        counts[segment][measure] += amount
        self.version += 1

    def _prune(self) -> None:
        keep = self.keep_months
        if keep is not None and len(self.months) > keep:
            for month in sorted(self.months)[:-keep]:
                del self.months[month]

    # -- reading ----------------------------------------------------------------------------

    def rows(self, totals: bool = False) -> list[MonthRow]:
        """Every month and segment in month order (segments in the policy's order), with a
        row per month summing every segment (segment ``all``) when ``totals``."""
        out: list[MonthRow] = []
        for month in sorted(self.months):
            by_segment = self.months[month]
            out.extend(MonthRow(month, segment, *by_segment[segment]) for segment in self.segments)
            if totals:
                summed = [sum(counts[i] for counts in by_segment.values()) for i in range(_WIDTH)]
                out.append(MonthRow(month, ALL_SEGMENTS, *summed))
        return out

    def counts(self) -> Iterator[tuple[tuple[str, str], tuple[int, ...]]]:
        """((month, segment), counts in MEASURES order) for every month and segment."""
        for month, by_segment in self.months.items():
            for segment, counts in by_segment.items():
                yield (month, segment), tuple(counts[: len(MEASURES)])

    def values(self) -> Iterator[tuple[tuple[str, str, str], float]]:
        """((month, segment, status), value flagged) for every month and segment, status
        ``at_risk`` and ``lost`` (:data:`VALUE_MEASURES`)."""
        for month, by_segment in self.months.items():
            for segment, counts in by_segment.items():
                yield (month, segment, AT_RISK_DECISION), counts[_AT_RISK_VALUE]
                yield (month, segment, LOST_DECISION), counts[_LOST_VALUE]

    # -- resuming ---------------------------------------------------------------------------

    @classmethod
    def resume(
        cls,
        policy: Policy,
        month: str | None,
        months: dict[str, dict[str, list[Any]]],
        keep_months: int | None = None,
    ) -> ChurnLedger:
        """A ledger that goes on from saved counts (``months``: month -> segment -> counts in
        :data:`MEASURES` then :data:`VALUE_MEASURES` order) as of its latest census
        ``month``. Counts of segments the policy no longer has are dropped; new segments
        start at zero. The stored form is :mod:`streams.records`'."""
        ledger = cls(policy, keep_months)
        ledger.month = month
        for name, by_segment in months.items():
            ledger.months[name] = {
                segment: list(by_segment.get(segment) or empty_counts())
                for segment in ledger.segments
            }
        if month is not None:
            ledger.next_census = month_start(next_month(month))
        ledger._prune()
        return ledger


def empty_counts() -> list[Any]:
    """One month and segment's counts before anything is counted."""
    return [0] * len(MEASURES) + [0.0] * len(VALUE_MEASURES)
