"""Per-customer state (the rolling table) and how each input event updates it.

The state is one compact slotted object per customer. :func:`record` folds one event into
it; it decides nothing (that is :mod:`models.assessment`). Its stored form (the streaming
worker's changelogged table) is the adapters' business: :mod:`streams.records`.
"""

from __future__ import annotations

import math
import zlib
from enum import IntEnum

from models.engagement import OPEN_RATE_WEIGHT, is_machine_open
from models.events import CallRecorded, EmailRecorded, Event, OrderRecorded
from models.policy import Policy
from models.rhythm import log_interval_days


class Status(IntEnum):
    """Where a customer stands. Ordered: within an episode the status only rises. One type
    everywhere (state, decisions, metrics); ``str(status)`` is its name in the output
    contract, and the record keeps the number."""

    ACTIVE = 0
    AT_RISK = 1
    LOST = 2

    def __str__(self) -> str:
        return self.name.lower()


ACTIVE, AT_RISK, LOST = Status.ACTIVE, Status.AT_RISK, Status.LOST
STATUS_NAMES = tuple(str(status) for status in Status)

# Fingerprints of recent event ids are 4-byte crc32 values packed in one bytes object.
_FP = 4


class CustomerState:
    """Everything Churnwatch remembers about one customer."""

    __slots__ = (
        "alive_at",
        "customer_id",
        "delivered_mails",
        "due_at",
        "engaged_mails",
        "episode",
        "first_order_at",
        "intervals",
        "issue_opened_at",
        "last_action",
        "last_engaged_at",
        "last_inquiry_at",
        "last_opened_at",
        "last_order_at",
        "last_sent_at",
        "mu",
        "open_issues",
        "open_rate",
        "orders",
        "pending",
        "plan_covers",
        "recent_amount",
        "recent_ids",
        "revivals",
        "sd",
        "sends_since_engaged",
        "status",
        "total_spend",
        "unanswered_calls",
        "unsubscribed",
    )

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.status: Status = ACTIVE
        self.episode = 1
        self.orders = 0
        self.first_order_at: float | None = None
        self.last_order_at: float | None = None
        self.intervals: tuple[float, ...] = ()  # rolling window of recent log-day intervals
        self.mu = 0.0  # predictive rhythm (log-days), refreshed at orders and wake-ups
        self.sd = 1.0
        self.total_spend = 0.0
        self.recent_amount = 0.0  # EWMA of order amounts
        # Email: the last real (not machine) open or click; mails sent since the customer was
        # last known to be around (an order, a real open or click, an inbound call), all
        # unanswered; their engagement history before that (own counts, capped); machine
        # open detection (last send and open, moving open rate).
        self.last_engaged_at: float | None = None
        self.sends_since_engaged = 0
        self.delivered_mails = 0.0
        self.engaged_mails = 0.0
        self.last_sent_at: float | None = None
        self.last_opened_at: float | None = None
        self.open_rate = 0.0
        self.unsubscribed = False
        self.alive_at: float | None = None  # the last sign of life: order, engagement, call
        self.unanswered_calls = 0
        self.open_issues = 0
        self.issue_opened_at: float | None = None
        self.last_inquiry_at: float | None = None
        self.due_at: float | None = None  # next time the engine must look at this customer
        # Times this episode a sign of life took the customer from lost back to at_risk, in
        # earlier versions (numbers the ids of the episode's later decisions); 0 now.
        self.revivals = 0
        self.recent_ids = b""
        self.pending: list[Event] | None = None  # buffered events (persisted by the worker)
        # The engine's bookkeeping: the highest count of unanswered mails the current plan's
        # next look stays early enough for (-1: none; the engine re-plans at the next mail).
        self.plan_covers = -1
        # The action suggested by this episode's last at_risk or lost decision, if any.
        self.last_action: str | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"CustomerState({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerState):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


def seen_before(state: CustomerState, event_id: str, memory: int) -> bool:
    """Remember ``event_id``; True when it is among the customer's recent ones."""
    fingerprint = zlib.crc32(event_id.encode()).to_bytes(_FP, "little")
    ids = state.recent_ids
    start = ids.find(fingerprint)
    while start != -1:
        if start % _FP == 0:
            return True
        start = ids.find(fingerprint, start + 1)
    state.recent_ids = (ids + fingerprint)[-memory * _FP :]
    return False


def record(state: CustomerState, event: Event, policy: Policy) -> bool:
    """Fold one event into the customer's state.

    Returns whether the event can change the customer's judgement (risk, reasons or
    deadlines); machine opens, mail before the first order and outbound calls that change
    no signal cannot, and the engine skips re-planning for them.
    """
    if type(event) is OrderRecorded:
        _record_order(state, event, policy)
        return True
    if type(event) is EmailRecorded:
        return _record_email(state, event, policy) and state.last_order_at is not None
    assert type(event) is CallRecorded
    if event.direction == "inbound":
        _record_call(state, event, policy)
        return True  # a sign of life
    before = _call_signals(state, policy)
    _record_call(state, event, policy)
    return _call_signals(state, policy) != before


def _call_signals(state: CustomerState, policy: Policy) -> tuple[object, ...]:
    """What an outbound call can change of the judgement: the unanswered-calls signal and
    the open issues and inquiries (a sales call nobody answers, the second of three, changes
    nothing)."""
    return (
        state.unanswered_calls >= policy.unanswered_calls,
        state.open_issues,
        state.issue_opened_at,
        state.last_inquiry_at,
    )


def _record_order(state: CustomerState, order: OrderRecorded, policy: Policy) -> None:
    if order.status != "placed":
        # A cancelled or refunded order is not a purchase: take its value back out.
        state.total_spend = max(state.total_spend - order.amount, 0.0)
        return
    last = state.last_order_at
    if last is None:
        state.first_order_at = order.at
        state.recent_amount = order.amount
    elif order.at - last < policy.same_occasion_seconds:
        # The same purchase occasion (a second basket, or a date-only export's rows of one
        # day): more spend, but no new interval between orders.
        state.orders += 1
        state.total_spend += order.amount
        state.last_order_at = max(last, order.at)
        return
    else:
        window = state.intervals
        state.intervals = (*window, log_interval_days(order.at - last))[-policy.interval_window :]
        weight = policy.recent_amount_weight
        state.recent_amount = weight * order.amount + (1.0 - weight) * state.recent_amount
    state.orders += 1
    state.last_order_at = order.at
    state.total_spend += order.amount
    _sign_of_life(state, order.at, engaged_mail=False, policy=policy)
    # Ordering again answers a complaint as far as churn goes: they stayed.
    state.open_issues = 0
    state.issue_opened_at = None


def _record_email(state: CustomerState, email: EmailRecorded, policy: Policy) -> bool:
    """Returns whether the email changed the evidence (a mail sent or bounced, a real open
    or click, an unsubscription)."""
    action = email.action
    if action == "sent":
        state.sends_since_engaged += 1
        state.last_sent_at = email.at
        state.open_rate *= 1.0 - OPEN_RATE_WEIGHT
        return True
    if action == "opened":
        sent = state.last_sent_at
        opened = state.last_opened_at
        if sent is not None and (opened is None or opened < sent):
            state.open_rate += OPEN_RATE_WEIGHT  # the first open of the latest mail
        state.last_opened_at = email.at
        after_send = math.inf if sent is None else email.at - sent
        if is_machine_open(after_send, state.open_rate, policy):
            return False
        _sign_of_life(state, email.at, engaged_mail=True, policy=policy)
        return True
    if action == "clicked":
        _sign_of_life(state, email.at, engaged_mail=True, policy=policy)
        return True
    if action == "unsubscribed":
        already = state.unsubscribed
        state.unsubscribed = True
        return not already
    # A bounce tells us about the mailbox, not the customer's intent: the mail was never
    # delivered, so it is not an unanswered one.
    if state.sends_since_engaged > 0:
        state.sends_since_engaged -= 1
        return True
    return False


def _sign_of_life(state: CustomerState, at: float, engaged_mail: bool, policy: Policy) -> None:
    """The customer was around at ``at`` (they ordered, really opened or clicked a mail, or
    called in). The mails sent since the previous sign of life went to a customer who was
    still there: they join the engagement history, the latest one engaged if this sign is
    an engagement."""
    quiet = state.sends_since_engaged
    if quiet > 0:
        _add_mail_history(state, quiet, 1 if engaged_mail else 0, policy)
        state.sends_since_engaged = 0
    if engaged_mail:
        state.last_engaged_at = at
    if state.alive_at is None or at > state.alive_at:
        state.alive_at = at


def _add_mail_history(state: CustomerState, delivered: int, engaged: int, policy: Policy) -> None:
    """Count mails into the customer's engagement history, keeping at most the configured
    memory (older mails fade proportionally, so the rate follows slow changes)."""
    total = state.delivered_mails + delivered
    engaged_total = state.engaged_mails + engaged
    memory = policy.engagement_memory_mails
    if total > memory:
        engaged_total *= memory / total
        total = memory
    state.delivered_mails = total
    state.engaged_mails = engaged_total


def _record_call(state: CustomerState, call: CallRecorded, policy: Policy) -> None:
    if call.outcome == "answered" or call.direction == "inbound":
        state.unanswered_calls = 0
    if call.direction == "outbound" and call.outcome != "answered":
        state.unanswered_calls += 1
    if call.direction == "inbound":
        # Calling in is a sign of life (answering a sales call is not: people who have
        # left still pick up the phone).
        _sign_of_life(state, call.at, engaged_mail=False, policy=policy)
    reason = call.reason
    if reason == "complaint" or reason == "support":
        if call.resolved is True:
            state.open_issues = 0
            state.issue_opened_at = None
        elif call.resolved is False or reason == "complaint":
            state.open_issues += 1
            if state.issue_opened_at is None:
                state.issue_opened_at = call.at
    elif reason == "inquiry":
        state.last_inquiry_at = call.at
