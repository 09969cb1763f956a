"""One input partition's detector: its engine, its clock, and what it has to send and save.

Pure Python, no Faust: the batch drain (:mod:`streams.kafka.runtime.drain`) hands every fetched
message to the :class:`PartitionWorker` of its partition, which decodes it, feeds the
engine, queues the output messages in :attr:`PartitionWorker.outbox`, and remembers which
customers changed.
:meth:`PartitionWorker.snapshot` turns those changes into table records
(``wire.partition_key`` + customer keys) when the worker commits.

The engine keeps the partition's monthly churn accounting (:mod:`models.churn_rate`), the
newest :data:`CHURN_RATE_MONTHS` months of it; it is saved in the table with the customers
(``wire.churn_rate_key``) and restored with them, so the counts survive restarts and
rebalances exactly as the customers do.

Event time across several input topics: the consumer fetches a partition's input topics in
separate batches, so during a backfill one topic can run months ahead of another in event
time.
The watermark is therefore the partition's, not the engine's own: the newest event time of
the input topic that lags most, among the topics that still have unread messages on this
partition (all of them caught up: the newest event time overall), minus the allowed
lateness. The engine keeps events beyond it pending in the customer state (persisted), so
the outcome does not depend on how Faust interleaves the topics.

Input must neither stop nor mislead the worker (:class:`Limits`): an event or tick dated
too far after its record's timestamp is refused as ``future_event`` before it can move the
clock (:mod:`streams.ahead`), and every dead letter is cut to fit the largest message the
producer may send (:func:`streams.kafka.wire.dead_letter`).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from models.churn_rate import ChurnLedger
from models.customer import CustomerState
from models.decisions import Decision
from models.engine import Engine
from models.events import Event
from models.parse import Rejected, parse_event
from models.policy import Policy
from models.population import PopulationModel
from streams.ahead import too_far_ahead
from streams.kafka import wire
from streams.kafka.wire import AdvanceTick, Headers, PartitionClock, WallTick
from streams.metrics import BatchTally
from streams.records import from_record, ledger_from_record, ledger_to_record, to_record


class Message(Protocol):
    """What the worker reads of a consumed message (aiokafka's ConsumerRecord has it)."""

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
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def timestamp(self) -> int:
        """Epoch milliseconds the record was produced (or appended) at; negative: unknown."""
        ...


@dataclass(frozen=True)
class Inbound:
    """One consumed message, built by hand (tests, tools)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp: int = -1


@dataclass(frozen=True)
class Limits:
    """What input may do: how far after its record's timestamp an event or tick may be
    dated (seconds), and the largest message the worker may produce (bytes)."""

    max_ahead_seconds: float = math.inf
    max_message_bytes: int = 1_000_000


@dataclass(frozen=True)
class Outbound:
    """One message to produce (partition None: by key, with the default partitioner)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class Routes:
    """Topic names and what they mean, from the settings."""

    input_types: dict[str, str]  # input topic -> event_type it implies
    decision_topics: dict[str, str]  # decision kind -> output topic
    dead_letter_topic: str
    tick_topic: str
    source: str  # CloudEvents source

    @property
    def consumed(self) -> tuple[str, ...]:
        """Every topic the detector reads, co-partitioned: the inputs, then the ticks."""
        return (*self.input_types, self.tick_topic)


# Months of churn accounting a partition keeps: the one in progress and the twelve before.
CHURN_RATE_MONTHS = 13

# An event ready to merge across topics: (occurred_at, offset, topic, message, event).
_Decoded = tuple[float, int, str, "Message", Event]

# Highwater (next offset to be written) of an input topic on this partition, None if unknown.
Highwater = Callable[[str], int | None]


class PartitionWorker:
    """Engine, clock and pending output of one partition of the input topics."""

    def __init__(
        self,
        partition: int,
        policy: Policy,
        routes: Routes,
        wall_clock: bool,
        states: Iterable[CustomerState] = (),
        clock: PartitionClock | None = None,
        topic_idle_seconds: float = 0.0,
        limits: Limits = Limits(),
        model: PopulationModel | None = None,
        ledger: ChurnLedger | None = None,
    ) -> None:
        self.partition = partition
        self.limits = limits
        self.topic_idle_seconds = topic_idle_seconds
        self.routes = routes
        self.wall_clock = wall_clock
        self.clock = clock or PartitionClock()
        self.lateness = policy.allowed_lateness_seconds
        # The watermark is ours (see the module docstring), not the engine's.
        self.engine = Engine(policy, model, external_watermark=True)
        self.engine.restore(states, self.clock.watermark)
        self.engine.touched.clear()
        self.engine.ledger = ledger or ChurnLedger(policy, CHURN_RATE_MONTHS)
        self._ledger_saved = self.engine.ledger.version
        self.outbox: list[Outbound] = []
        self.stats: Counter[str] = Counter()  # redelivered messages and ticks, for diagnosis
        # For the metrics, taken at every commit (streams.kafka.runtime.commit): what was consumed
        # and refused, and the decisions published, since the last take.
        self.tally = BatchTally()
        self.published: list[Decision] = []
        self._changed = False  # anything to save since the last snapshot
        self._now = 0.0  # monotonic seconds of the fetch being handled
        self._caught_up_since: dict[str, float] = {}  # input topic -> monotonic seconds

    @classmethod
    def from_records(
        cls,
        partition: int,
        records: Iterable[tuple[bytes, bytes]],
        policy: Policy,
        routes: Routes,
        wall_clock: bool,
        topic_idle_seconds: float = 0.0,
        limits: Limits = Limits(),
        model: PopulationModel | None = None,
    ) -> PartitionWorker:
        """Rebuild from the partition's table records (recovery)."""
        states: list[CustomerState] = []
        clock = None
        ledger = None
        for key, value in records:
            if wire.is_churn_rate_key(key):
                ledger = ledger_from_record(orjson.loads(value), policy, CHURN_RATE_MONTHS)
            elif wire.is_partition_key(key):
                clock = wire.decode_clock(value)
            else:
                states.append(from_record(orjson.loads(value)))
        return cls(
            partition,
            policy,
            routes,
            wall_clock,
            states,
            clock,
            topic_idle_seconds,
            limits,
            model,
            ledger,
        )

    # -- input -----------------------------------------------------------------------------

    def handle(self, message: Message, highwater: Highwater, now: float = 0.0) -> None:
        """Process one message of an input topic or of the tick topic."""
        self.handle_fetch({message.topic: (message,)}, highwater, now)

    def handle_fetch(
        self, fetched: Mapping[str, Sequence[Message]], highwater: Highwater, now: float = 0.0
    ) -> None:
        """Process the messages fetched together for this partition, by topic.

        Events of the input topics are applied in event-time order across topics (each
        topic's own order kept), as Kafka Streams does for co-partitioned inputs, so a
        topic fetched in a large batch does not run ahead of the others; ticks come last.
        ``now``: monotonic seconds, for how long a topic has been caught up.
        """
        self._now = now
        ticks: Sequence[Message] = ()
        streams = []
        for topic, messages in fetched.items():
            if topic == self.routes.tick_topic:
                ticks = messages
            else:
                streams.append(self._decode_all(topic, messages))
        events = streams[0] if len(streams) == 1 else heapq.merge(*streams)
        for _at, _order, topic, message, event in events:
            self._apply(topic, message, event, highwater)
        if streams:
            self._advance(highwater)  # a refused last message may have ended a lag
        for message in ticks:
            if self._first_delivery(self.routes.tick_topic, message.offset):
                self._handle_tick(message)
        if ticks:
            self._advance(highwater)  # a tick is also the time to end a topic's hold

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
        event_type = self.routes.input_types[topic]
        read = self.clock.offsets.get(topic, -1)
        decoded: list[_Decoded] = []
        for message in messages:
            if message.offset <= read:
                self.stats["redelivered"] += 1
                continue
            event = self._decode(message, event_type)
            if event is None:
                self._first_delivery(topic, message.offset)
            else:
                decoded.append((event.at, message.offset, topic, message, event))
        return decoded

    def _apply(self, topic: str, message: Message, event: Event, highwater: Highwater) -> None:
        self._mark_read(topic, message.offset)
        self._caught_up_since.pop(topic, None)  # it had news: the hold starts again
        newest = self.clock.newest
        if event.at > newest.get(topic, -math.inf):
            newest[topic] = event.at
        outcome = self.engine.process(event)
        if type(outcome) is Rejected:
            self._dead_letter(message, outcome)
        else:
            self.tally.accepted(topic, event)
            if outcome:
                self._emit(outcome)  # type: ignore[arg-type]
        self._advance(highwater)

    def _advance(self, highwater: Highwater) -> None:
        decisions = self.engine.advance(self._event_watermark(highwater))
        if decisions:
            self._emit(decisions)
        if self.clock.advance is not None:
            self._try_advance(self.clock.advance)

    def _decode(self, message: Message, event_type: str) -> Event | None:
        parsed = parse_event(message.value or b"", event_type)
        if type(parsed) is Rejected:
            self._dead_letter(message, parsed)
            return None
        event: Event = parsed  # type: ignore[assignment]
        mismatch = wire.check_key(message.key, event.customer_id)
        if mismatch is not None:
            self._dead_letter(message, mismatch)
            return None
        ahead = self._too_far_ahead(message, event.at, "occurred_at")
        if ahead is not None:
            self._dead_letter(message, ahead)
            return None
        return event

    def _too_far_ahead(self, message: Message, at: float, name: str) -> Rejected | None:
        """``future_event`` if ``at`` is too far after the record's timestamp."""
        stamp = message.timestamp
        if stamp < 0:
            return None
        return too_far_ahead(
            at, stamp / 1000.0, self.limits.max_ahead_seconds, "the message's timestamp", name
        )

    def _event_watermark(self, highwater: Highwater) -> float:
        """The newest event time of the most-lagging input topic, minus the lateness.

        A topic holds the watermark at its newest event while it has unread messages, and
        for ``topic_idle_seconds`` after it caught up (Kafka Streams' max.task.idle.ms): a
        producer sends each topic in its own batches, so a topic that looks caught up may
        just be waiting for its next batch. All topics caught up for longer than that, the
        newest event of any topic moves the watermark.
        """
        clock = self.clock
        newest = clock.newest
        since = self._caught_up_since
        idle = self.topic_idle_seconds
        holding = []
        for topic in self.routes.input_types:
            end = highwater(topic)
            if end is not None and clock.offsets.get(topic, -1) < end - 1:
                holding.append(newest.get(topic, -math.inf))
                since.pop(topic, None)
            elif idle > 0 and self._now - since.setdefault(topic, self._now) < idle:
                holding.append(newest.get(topic, -math.inf))
        if not holding:
            return max(newest.values(), default=-math.inf) - self.lateness
        return min(holding) - self.lateness

    def _handle_tick(self, message: Message) -> None:
        tick = wire.decode_tick(message.value)
        if not isinstance(tick, Rejected):
            at = tick.at if isinstance(tick, WallTick) else tick.to
            tick = self._too_far_ahead(message, at, "tick time") or tick
        if isinstance(tick, Rejected):
            self._dead_letter(message, tick)
        elif isinstance(tick, WallTick):
            self.stats["wall_ticks"] += 1
            if self.wall_clock:
                self._emit(self.engine.advance(tick.at - self.lateness))
        else:
            self.stats["advance_ticks"] += 1
            self.clock.advance = tick
            self._try_advance(tick)

    def _try_advance(self, tick: AdvanceTick) -> None:
        offsets = self.clock.offsets
        if all(offsets.get(topic, -1) >= offset for topic, offset in tick.after.items()):
            self.clock.advance = None
            self._emit(self.engine.advance(tick.to))

    # -- output ----------------------------------------------------------------------------

    def _emit(self, decisions: list[Decision]) -> None:
        if decisions:
            self.published += decisions
        for decision in decisions:
            key, value, headers = wire.decision_message(decision, self.routes.source)
            topic = self.routes.decision_topics[decision.kind]
            self.outbox.append(Outbound(topic, key, value, headers))

    def _dead_letter(self, message: Message, rejection: Rejected) -> None:
        self.tally.refused(rejection.code)
        key, value, headers = wire.dead_letter(
            message.key,
            message.value or b"",
            message.headers,
            rejection,
            (message.topic, message.partition, message.offset),
            self.limits.max_message_bytes,
        )
        self.outbox.append(Outbound(self.routes.dead_letter_topic, key, value, headers))

    def take_published(self) -> list[Decision]:
        """Decisions emitted since the last call (for the metrics)."""
        published, self.published = self.published, []
        return published

    def take_outbox(self) -> list[Outbound]:
        outbox, self.outbox = self.outbox, []
        return outbox

    def snapshot(self) -> list[tuple[bytes, bytes]]:
        """Table records for every customer changed since the last snapshot, the clock, and
        the churn accounting if it changed."""
        if not self._changed:
            return []
        self._changed = False
        engine = self.engine
        customers = engine.customers
        dumps = orjson.dumps
        records = [
            (customer_id.encode(), dumps(to_record(customers[customer_id])))
            for customer_id in engine.touched
        ]
        engine.touched.clear()
        self.clock.watermark = engine.watermark
        records.append((wire.partition_key(self.partition), wire.encode_clock(self.clock)))
        ledger = engine.ledger
        if ledger is not None and ledger.version != self._ledger_saved:
            self._ledger_saved = ledger.version
            records.append((wire.churn_rate_key(self.partition), dumps(ledger_to_record(ledger))))
        return records
