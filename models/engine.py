"""The detection engine: events and time in, decisions out. Pure and synchronous.

Time is event time only. ``process(event)`` files an event; ``advance(to)`` declares
that no event older than ``to`` will come. Both move the *watermark* (the newest event
time seen minus the allowed lateness, or ``to``) and then work off, in strict time order,
everything due up to it from three queues (below), in one strict order: buffered events
and customers' wake-up times.
Processing strictly in ``(time, events-before-wake-ups, customer, kind, event_id)`` order
makes the outcome independent of arrival order within the lateness, and advancing costs
O(due · log n), never a scan of all customers.

Three queues feed that order: a FIFO of events that arrived in order (the common case,
O(1) each), a heap of stragglers that arrived out of order, and a heap of wake-ups.
Wake-up entries are lazy: a customer's ``due_at`` is authoritative and stale heap entries
are skipped when popped (and compacted away when they pile up).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from models.assessment import plan_ahead
from models.churn_rate import ChurnLedger
from models.customer import (
    ACTIVE,
    CustomerState,
    Status,
    record,
    seen_before,
)
from models.customer import (
    LOST as LOST_STATUS,
)
from models.decisions import AT_RISK, LOST, RECOVERED, Decision, customer_view
from models.events import KIND_RANK, EmailRecorded, Event, OrderRecorded
from models.parse import LATE_EVENT, Rejected
from models.policy import Policy
from models.population import PopulationModel
from models.rhythm import Rhythm, predict

_EVENT, _WAKE = 0, 1


def _event_entry(event: Event, state: CustomerState) -> tuple[Any, ...]:
    """Queue entry of a buffered event, in processing order.

    The event and its customer's state ride along at the end; they are never compared,
    because the first five fields are unique (duplicate event ids are refused).
    """
    return (
        event.at,
        _EVENT,
        event.customer_id,
        KIND_RANK[type(event)],
        event.event_id,
        event,
        state,
    )


_DECISION_FOR_STATUS = {Status.AT_RISK: AT_RISK, Status.LOST: LOST}

# How many further sends a plan looks ahead for (see Engine._apply): sends between looks
# then cost no re-plan. Any value gives the same decisions; this one is the fastest measured.
PLAN_AHEAD_MAILS = 4


class Engine:
    """Per-customer churn state for a set of customers (all of them, or one partition's)."""

    def __init__(
        self,
        policy: Policy | None = None,
        model: PopulationModel | None = None,
        *,
        external_watermark: bool = False,
    ) -> None:
        """``model``: the population model every judgement leans on (default: the policy's
        starting prior; see :mod:`models.population`).

        ``external_watermark``: only :meth:`advance` moves the watermark; ``process``
        files events (and still refuses those older than the watermark) but never moves
        it. For callers that know more about event time than the events they pass in, e.g.
        a stream worker whose partition interleaves several input topics."""
        self.policy = policy or Policy()
        self.customers: dict[str, CustomerState] = {}
        self.model = model or PopulationModel.from_policy(self.policy)
        self.watermark = -math.inf
        self.newest_event_at = -math.inf
        self.duplicates = 0
        self.wakeups = 0  # customers looked at again because a deadline of theirs came due
        self.stale_wakeups = 0  # index entries skipped because the deadline had moved
        # Customers whose state changed since the caller last cleared this set (the
        # streaming worker writes exactly these to its changelogged table).
        self.touched: set[str] = set()
        self._arrivals: deque[tuple[Any, ...]] = deque()  # in key order
        self._stragglers: list[tuple[Any, ...]] = []  # heap
        self._wakes: list[tuple[Any, ...]] = []  # heap
        self._seq = 0
        self._lateness = math.inf if external_watermark else self.policy.allowed_lateness_seconds
        self.plan_ahead = PLAN_AHEAD_MAILS  # a speed setting only: decisions never depend on it
        # The monthly churn accounting, kept only when a caller sets one (models.churn_rate).
        self.ledger: ChurnLedger | None = None

    @property
    def external_watermark(self) -> bool:
        """Only :meth:`advance` moves the watermark (see ``__init__``)."""
        return self._lateness == math.inf

    @external_watermark.setter
    def external_watermark(self, external: bool) -> None:
        self._lateness = math.inf if external else self.policy.allowed_lateness_seconds

    # -- input -------------------------------------------------------------------------

    def process(self, event: Event, then: float | None = None) -> list[Decision] | Rejected:
        """File one event; returns the decisions that became due, or why it was refused.

        ``then``: event time has also reached this watermark (as :meth:`advance` after the
        event, in one call: a driver that owns the watermark passes it with each event).
        None: the engine's own rule (the event's time minus the allowed lateness), or no
        move with an external watermark. A refused event moves nothing.

        A duplicate ``event_id`` (among the customer's recent ones) is ignored and counted
        in :attr:`duplicates`; it is not an error.
        """
        at = event.at
        if at < self.watermark:
            return Rejected(
                LATE_EVENT,
                f"occurred_at is {self.watermark - at:.0f} s older than the watermark "
                f"(allowed lateness {self.policy.allowed_lateness_seconds:.0f} s)",
            )
        customer_id = event.customer_id
        state = self.customers.get(customer_id)
        if state is None:
            state = self.customers[customer_id] = CustomerState(customer_id)
        self.touched.add(customer_id)
        if seen_before(state, event.event_id, self.policy.dedup_memory):
            self.duplicates += 1
            if then is None or then <= self.watermark:
                return []
            return self._run_until(then)
        if state.pending is None:
            state.pending = [event]
        else:
            state.pending.append(event)
        entry = _event_entry(event, state)
        arrivals = self._arrivals
        if not arrivals or entry > arrivals[-1]:
            arrivals.append(entry)
        else:
            heapq.heappush(self._stragglers, entry)
        if at > self.newest_event_at:
            self.newest_event_at = at
        watermark = at - self._lateness if then is None else then
        if watermark > self.watermark:
            return self._run_until(watermark)
        if at > self.watermark:
            return []  # the watermark stays, and everything up to it has run already
        return self._run_until(self.watermark)  # the event is due at the watermark itself

    def advance(self, to: float) -> list[Decision]:
        """Event time has reached ``to``: apply and fire everything due up to it."""
        if to <= self.watermark:
            return []
        return self._run_until(to)

    # -- queries -----------------------------------------------------------------------

    def view(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's current picture at the watermark, or None if unknown."""
        state = self.customers.get(customer_id)
        if state is None:
            return None
        return customer_view(
            state, self._now(), self.policy, self.model, self._current_rhythm(state)
        )

    def views(self) -> Iterator[dict[str, Any]]:
        """Every customer's picture at the watermark, in first-seen order."""
        now = self._now()
        for state in self.customers.values():
            yield customer_view(state, now, self.policy, self.model, self._current_rhythm(state))

    def pending_events(self) -> int:
        """Events filed but not applied yet (waiting for the watermark)."""
        return len(self._arrivals) + len(self._stragglers)

    def scheduled_wakes(self) -> int:
        """Wake-up entries in the index, stale ones included."""
        return len(self._wakes)

    def restore(self, states: Iterable[CustomerState], watermark: float) -> None:
        """Rebuild the engine from persisted customer states (the worker's recovery)."""
        self.watermark = watermark
        for state in states:
            self.customers[state.customer_id] = state
            for event in state.pending or ():
                self._stragglers.append(_event_entry(event, state))
                self.newest_event_at = max(self.newest_event_at, event.at)
            if state.due_at is not None:
                self._wakes.append(self._wake_entry(state.due_at, state.customer_id))
        heapq.heapify(self._stragglers)
        heapq.heapify(self._wakes)

    # -- the loop ----------------------------------------------------------------------

    def _now(self) -> float:
        return self.watermark if self.watermark > -math.inf else self.newest_event_at

    def _run_until(self, watermark: float) -> list[Decision]:
        self.watermark = watermark
        decisions: list[Decision] = []
        arrivals, stragglers, wakes = self._arrivals, self._stragglers, self._wakes
        customers, touched = self.customers, self.touched
        ledger = self.ledger
        census_at = math.inf if ledger is None else ledger.next_census
        while True:
            # The smallest head of the three queues, if it is due.
            entry: tuple[Any, ...] | None = arrivals[0] if arrivals else None
            heap: list[tuple[Any, ...]] | None = None
            if stragglers and (entry is None or stragglers[0] < entry):
                entry, heap = stragglers[0], stragglers
            if wakes and (entry is None or wakes[0] < entry):
                entry, heap = wakes[0], wakes
            if entry is None or entry[0] > watermark:
                break
            if entry[0] >= census_at:
                # The first entry of a new month: count the month's stocks as they stand.
                assert ledger is not None
                census_at = ledger.census(customers.values(), entry[0])
            if heap is None:
                arrivals.popleft()
            else:
                heapq.heappop(heap)
            if entry[1] == _EVENT:
                state = entry[6]
                touched.add(entry[2])
                event = entry[5]
                pending = state.pending
                assert pending is not None
                if pending[0] is event:
                    del pending[0]
                else:
                    pending.remove(event)
                if not pending:
                    state.pending = None
                self._apply(state, event, decisions)
            else:
                state = customers[entry[2]]
                if state.due_at == entry[0]:
                    self.wakeups += 1
                    touched.add(entry[2])
                    state.due_at = None
                    self._replan(state, entry[0], decisions)
                else:
                    self.stale_wakeups += 1
        if ledger is not None and census_at <= watermark < math.inf and census_at > -math.inf:
            ledger.census(customers.values(), watermark)  # months that passed without an entry
        if len(wakes) > 100_000 and len(wakes) > 3 * len(customers):
            self._compact()
        return decisions

    def _apply(self, state: CustomerState, event: Event, decisions: list[Decision]) -> None:
        if not record(state, event, self.policy):
            return
        at = event.at
        if type(event) is OrderRecorded and event.status == "placed":
            if state.orders == 1 and self.ledger is not None:
                self.ledger.first_order(at, state.total_spend)
            self._refresh_rhythm(state)
            if state.status != ACTIVE:
                previous = state.status
                state.status = ACTIVE
                decisions.append(self._decide(RECOVERED, state, previous, at))
                state.episode += 1
                state.revivals = 0
        elif state.status == LOST_STATUS:
            # Lost stays lost until an order: a sign of life lowers the risk a lookup
            # shows, but one silence gets one lost decision.
            return
        elif (
            type(event) is EmailRecorded
            and event.action == "sent"
            and state.sends_since_engaged <= state.plan_covers
            and (state.due_at is None or at < state.due_at)
        ):
            # A send only raises the count of unanswered mail, and the last plan's next look
            # is early enough for this count (models.assessment.plan_ahead): nothing can
            # come due before that look, so the send needs no new plan.
            return
        self._replan(state, at, decisions)

    def _replan(self, state: CustomerState, at: float, decisions: list[Decision]) -> None:
        target, wake, covers = plan_ahead(state, at, self.policy, self.model, self.plan_ahead)
        if target > state.status:
            previous = state.status
            state.status = target
            decisions.append(self._decide(_DECISION_FOR_STATUS[target], state, previous, at))
        self._follow(state, wake, covers)

    def _follow(self, state: CustomerState, wake: float | None, covers: int) -> None:
        """Adopt a plan: its next look at the customer, and the sends it covers."""
        state.plan_covers = covers
        if wake != state.due_at:
            self._schedule(state, wake)

    def _schedule(self, state: CustomerState, wake: float | None) -> None:
        state.due_at = wake
        if wake is not None:
            heapq.heappush(self._wakes, self._wake_entry(wake, state.customer_id))

    def _current_rhythm(self, state: CustomerState) -> Rhythm:
        return predict(state.intervals, self.model, self.policy)

    def _refresh_rhythm(self, state: CustomerState) -> None:
        rhythm = self._current_rhythm(state)
        state.mu = rhythm.mu
        state.sd = rhythm.sd

    def _decide(self, kind: str, state: CustomerState, previous: Status, at: float) -> Decision:
        view = customer_view(state, at, self.policy, self.model)
        if self.ledger is not None:
            self.ledger.decided(kind, previous, state, at, view["value_at_risk"])
        decision = Decision(
            kind=kind,
            customer_id=state.customer_id,
            at=at,
            status=state.status,
            previous_status=previous,
            episode=state.episode,
            view=view,
            revival=state.revivals,
            previous_action=state.last_action,
        )
        state.last_action = view["suggested_action"]  # None once recovered
        return decision

    def _wake_entry(self, due: float, customer_id: str) -> tuple[Any, ...]:
        self._seq += 1
        return (due, _WAKE, customer_id, self._seq)

    def _compact(self) -> None:
        """Drop stale wake-up entries (lazy deletion leaves them behind)."""
        live: list[tuple[Any, ...]] = []
        kept: set[str] = set()
        for entry in self._wakes:
            customer_id = entry[2]
            if self.customers[customer_id].due_at == entry[0] and customer_id not in kept:
                kept.add(customer_id)
                live.append(entry)
        heapq.heapify(live)
        self._wakes = live
