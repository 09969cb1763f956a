"""One partition's detector: its engine, its clock, and the order in which input reaches them.

Both drivers run this same logic: replay (:mod:`streams.replay`) feeds it the lines of its
files as one in-memory topic, and the Kafka worker (:mod:`streams.kafka.runtime.partition`)
feeds it the messages fetched for one partition of its input topics. What differs is only
where messages come from and where the output goes (:meth:`Partition._publish`,
:meth:`Partition._refuse`), so replay/worker parity, a restore at any cut and the poison
cases are tested without a broker (``tests/unit/streams``).

Event time across several input topics: a consumer fetches a partition's input topics in
separate batches, so during a backfill one topic can run months ahead of another in event
time. The watermark is therefore the partition's, not the engine's own: the newest event
time of the input topic that lags most, among the topics that still have unread messages
(all of them caught up: the newest event time overall), minus the allowed lateness. The
engine keeps events beyond it pending, so the outcome does not depend on how the topics
are interleaved. With one topic (replay), that is the newest event time minus the lateness.

All the partition must remember besides its customers to resume exactly is its
:class:`PartitionClock`: the newest event time per topic, the last offset read per topic (a
message at or below it is a redelivery, skipped) and an advance waiting for its offsets.

Input must neither stop nor mislead the detector (:class:`Limits`): an event dated too far
after its record's timestamp, or after the newest event applied, is refused as
``future_event`` before it can move the clock (:mod:`streams.ahead`).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from models.decisions import Decision
from models.engine import Engine
from models.events import Event
from models.parse import Rejected, parse_event
from streams.ahead import too_far_ahead

Headers = Sequence[tuple[str, bytes]]


class Message(Protocol):
    """What the detector reads of a message (aiokafka's ConsumerRecord has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def timestamp(self) -> int:
        """Epoch milliseconds the record was produced (or appended) at; negative: unknown."""
        ...


class Inbound(NamedTuple):
    """One message built in memory (replay's lines, tests, tools)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: int = -1


@dataclass(frozen=True)
class Limits:
    """What input may do.

    ``max_ahead_seconds``: how far after its record's timestamp an event or tick may be
    dated; ``max_jump_seconds``: how far after the newest event applied an event may be
    dated (for input without timestamps: a file); ``max_message_bytes``: the largest
    message the worker may produce (a dead letter is cut to it)."""

    max_ahead_seconds: float = math.inf
    max_jump_seconds: float = math.inf
    max_message_bytes: int = 1_000_000


@dataclass(frozen=True)
class WallTick:
    """The timer's word that wall-clock time is ``at`` (epoch seconds)."""

    at: float


@dataclass(frozen=True)
class AdvanceTick:
    """Event time reached ``to`` once the input offsets in ``after`` have been processed."""

    to: float
    after: dict[str, int] = field(default_factory=dict)


@dataclass
class PartitionClock:
    """What a partition must remember besides its customers to resume exactly.

    ``newest`` is the newest event time seen per input topic and ``offsets`` the last
    offset processed per input and tick topic (both drive the event-time watermark, and a
    message at or below its topic's offset is a redelivery, skipped), ``advance`` a
    pending :class:`AdvanceTick` waiting for its offsets.
    """

    watermark: float = -math.inf
    newest: dict[str, float] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    advance: AdvanceTick | None = None


# An event ready to merge across topics: (occurred_at, offset, topic, message, event).
_Decoded = tuple[float, int, str, Message, Event]

_NEWEST_APPLIED = "the newest event applied"

# Highwater (next offset to be written) of an input topic on this partition, None if unknown.
Highwater = Callable[[str], int | None]


class Partition:
    """Engine, clock and input order of one partition; subclasses say where output goes."""

    def __init__(
        self,
        engine: Engine,
        input_types: Mapping[str, str | None],
        clock: PartitionClock | None = None,
        *,
        keyed: bool = True,
        topic_idle_seconds: float = 0.0,
        limits: Limits = Limits(),
        until: float = math.inf,
    ) -> None:
        """``engine``: the partition's customers; from now on only this partition moves
        its watermark. ``input_types``: each input topic and the event type it implies
        (None: each event names its own). ``keyed``: a message's key must be its
        customer id (Kafka topics); files have no keys. ``until``: events dated after it
        are read but not applied (counted in :attr:`after_until`)."""
        engine.external_watermark = True
        self.engine = engine
        self.input_types = dict(input_types)
        self._sole_topic = next(iter(input_types)) if len(input_types) == 1 else None
        self.clock = clock or PartitionClock()
        self.keyed = keyed
        self.topic_idle_seconds = topic_idle_seconds
        self.limits = limits
        self.until = until
        self.after_until = 0
        self.lateness = engine.policy.allowed_lateness_seconds
        self.stats: Counter[str] = Counter()  # redelivered messages and ticks, for diagnosis
        self._changed = False  # anything to save since the last snapshot
        self._now = 0.0  # monotonic seconds of the fetch being handled
        self._caught_up_since: dict[str, float] = {}  # input topic -> monotonic seconds

    # -- where output goes (the drivers') ---------------------------------------------------

    def _publish(self, decisions: list[Decision]) -> None:
        """Send decisions that became true (never called with an empty list)."""
        raise NotImplementedError

    def _refuse(self, message: Message, rejection: Rejected) -> None:
        """Dead-letter a message the detector refused."""
        raise NotImplementedError

    def _accepted(self, topic: str, event: Event) -> None:
        """An event of ``topic`` was taken (for metrics); nothing by default."""

    # -- input -----------------------------------------------------------------------------

    def handle_fetch(
        self, fetched: Mapping[str, Sequence[Message]], highwater: Highwater, now: float = 0.0
    ) -> None:
        """Process the messages of the input topics fetched together, by topic.

        Events are applied in event-time order across topics (each topic's own order kept),
        as Kafka Streams does for co-partitioned inputs, so a topic fetched in a large batch
        does not run ahead of the others. ``now``: monotonic seconds, for how long a topic
        has been caught up.
        """
        self._now = now
        if not fetched:
            return
        if len(fetched) == 1:  # nothing to merge: each message in its turn (replay's case)
            ((topic, messages),) = fetched.items()
            event_type = self.input_types[topic]
            read = self.clock.offsets.get(topic, -1)
            for message in messages:
                event = self._decode(topic, message, event_type, read)
                if event is not None:
                    self._apply(topic, message, event, highwater)
        else:
            streams = [self._decode_all(topic, messages) for topic, messages in fetched.items()]
            for _at, _order, topic, message, event in heapq.merge(*streams):
                self._apply(topic, message, event, highwater)
        self._advance(highwater)  # a refused last message may have ended a lag

    def advance_to(self, to: float) -> None:
        """Event time has reached ``to`` (an explicit advance: the end of a replay, a tick)."""
        decisions = self.engine.advance(to)
        if decisions:
            self._publish(decisions)

    def _first_delivery(self, topic: str, offset: int) -> bool:
        """Record ``offset`` as read on ``topic``; False if it was read before.

        A message delivered again (after a crash, a rebalance, or a re-fetch) has its
        effects in this partition's state already."""
        if offset <= self.clock.offsets.get(topic, -1):
            self.stats["redelivered"] += 1
            return False
        self._mark_read(topic, offset)
        return True

    def _mark_read(self, topic: str, offset: int) -> None:
        """``offset`` of ``topic`` is processed (even if refused: the topic is not lagging)."""
        offsets = self.clock.offsets
        if offset > offsets.get(topic, -1):
            offsets[topic] = offset
        self._changed = True

    def _decode_all(self, topic: str, messages: Sequence[Message]) -> list[_Decoded]:
        """The messages' events as merge entries; refused messages dead-lettered at once."""
        event_type = self.input_types[topic]
        read = self.clock.offsets.get(topic, -1)
        decoded: list[_Decoded] = []
        for message in messages:
            event = self._decode(topic, message, event_type, read)
            if event is not None:
                decoded.append((event.at, message.offset, topic, message, event))
        return decoded

    def _decode(
        self, topic: str, message: Message, event_type: str | None, read: int
    ) -> Event | None:
        """The message's event, or None: read before (at or below ``read``: skipped),
        refused (dead-lettered) or after ``until`` (both marked read)."""
        if message.offset <= read:
            self.stats["redelivered"] += 1
            return None
        parsed = parse_event(message.value or b"", event_type)
        if type(parsed) is Rejected:
            refusal: Rejected | None = parsed
        else:
            event: Event = parsed  # type: ignore[assignment]
            refusal = check_key(message.key, event.customer_id) if self.keyed else None
            if refusal is None and message.timestamp >= 0:
                refusal = self._too_far_ahead(message, event.at, "occurred_at")
            if refusal is None:
                if event.at <= self.until:
                    return event
                self.after_until += 1
        if refusal is not None:
            self._refuse(message, refusal)
        self._mark_read(topic, message.offset)
        return None

    def _too_far_ahead(self, message: Message, at: float, name: str) -> Rejected | None:
        """``future_event`` if ``at`` is too far after the record's timestamp."""
        stamp = message.timestamp
        if stamp < 0:
            return None
        return too_far_ahead(
            at, stamp / 1000.0, self.limits.max_ahead_seconds, "the message's timestamp", name
        )

    def _apply(self, topic: str, message: Message, event: Event, highwater: Highwater) -> None:
        offsets = self.clock.offsets
        if message.offset > offsets.get(topic, -1):
            offsets[topic] = message.offset
        self._changed = True
        engine = self.engine
        at = event.at
        jump = self.limits.max_jump_seconds
        if at - engine.newest_event_at > jump:  # (never for the first event)
            refusal = too_far_ahead(at, engine.newest_event_at, jump, _NEWEST_APPLIED)
            if refusal is not None:
                self._refuse(message, refusal)
                return
        if self._caught_up_since:
            self._caught_up_since.pop(topic, None)  # it had news: the hold starts again
        newest_of = self.clock.newest
        if at > newest_of.get(topic, -math.inf):
            newest_of[topic] = at
        if self._sole_topic is None:
            watermark = self._event_watermark(highwater)
        else:  # the same, inline: with one topic the watermark trails its newest event
            watermark = newest_of[topic] - self.lateness
        outcome = engine.process(event, watermark)
        if type(outcome) is Rejected:
            self._refuse(message, outcome)
            self._advance(highwater)  # its offset may have ended a topic's lag
            return
        self._accepted(topic, event)
        if outcome:
            self._publish(outcome)  # type: ignore[arg-type]
        if self.clock.advance is not None:
            self._try_advance(self.clock.advance)

    def _advance(self, highwater: Highwater) -> None:
        decisions = self.engine.advance(self._event_watermark(highwater))
        if decisions:
            self._publish(decisions)
        if self.clock.advance is not None:
            self._try_advance(self.clock.advance)

    def _try_advance(self, tick: AdvanceTick) -> None:
        offsets = self.clock.offsets
        if all(offsets.get(topic, -1) >= offset for topic, offset in tick.after.items()):
            self.clock.advance = None
            self.advance_to(tick.to)

    def _event_watermark(self, highwater: Highwater) -> float:
        """The newest event time of the most-lagging input topic, minus the lateness.

        A topic holds the watermark at its newest event while it has unread messages, and
        for ``topic_idle_seconds`` after it caught up (Kafka Streams' max.task.idle.ms): a
        producer sends each topic in its own batches, so a topic that looks caught up may
        just be waiting for its next batch. All topics caught up for longer than that, the
        newest event of any topic moves the watermark. With one topic, either way that is
        its newest event.
        """
        clock = self.clock
        if self._sole_topic is not None:
            return clock.newest.get(self._sole_topic, -math.inf) - self.lateness
        newest = clock.newest
        since = self._caught_up_since
        idle = self.topic_idle_seconds
        holding = []
        for topic in self.input_types:
            end = highwater(topic)
            if end is not None and clock.offsets.get(topic, -1) < end - 1:
                holding.append(newest.get(topic, -math.inf))
                since.pop(topic, None)
            elif idle > 0 and self._now - since.setdefault(topic, self._now) < idle:
                holding.append(newest.get(topic, -math.inf))
        if not holding:
            return max(newest.values(), default=-math.inf) - self.lateness
        return min(holding) - self.lateness


KEY_MISMATCH = "key_mismatch"


def check_key(key: bytes | None, customer_id: str) -> Rejected | None:
    """None when the message key is the customer id in UTF-8, else why not."""
    if key is None:
        return Rejected(KEY_MISMATCH, f"message has no key; expected {customer_id!r}")
    if key != customer_id.encode():
        shown = key.decode("utf-8", "backslashreplace")
        return Rejected(KEY_MISMATCH, f"message key {shown!r} is not customer_id {customer_id!r}")
    return None
