"""One input partition's detector: its engine, its clock, and what it has to send and save.

Pure Python, no Faust: the agent hands every consumed message to the
:class:`PartitionWorker` of its partition, which decodes it, feeds the engine, queues the
output messages in :attr:`PartitionWorker.outbox`, and remembers which customers changed.
:meth:`PartitionWorker.snapshot` turns those changes into table records
(``wire.partition_key`` + customer keys) when the worker commits.

Event time across several input topics: Faust consumes the input topics of a partition
round-robin, so during a backfill one topic can run months ahead of another in event time.
The watermark is therefore the partition's, not the engine's own: the newest event time of
the input topic that lags most, among the topics that still have unread messages on this
partition (all of them caught up: the newest event time overall), minus the allowed
lateness. The engine keeps events beyond it pending in the customer state (persisted), so
the outcome does not depend on how Faust interleaves the topics.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from models.customer import CustomerState, from_record, to_record
from models.decisions import Decision
from models.engine import Engine
from models.events import Event
from models.parse import Rejected, parse_event
from models.policy import Policy
from streams.kafka import wire
from streams.kafka.wire import AdvanceTick, Headers, PartitionClock, WallTick
from streams.metrics import BatchTally


@dataclass(frozen=True)
class Inbound:
    """One consumed message, as the worker needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers


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
    ) -> None:
        self.partition = partition
        self.routes = routes
        self.wall_clock = wall_clock
        self.clock = clock or PartitionClock()
        self.lateness = policy.allowed_lateness_seconds
        # The watermark is ours (see the module docstring), not the engine's.
        self.engine = Engine(policy, external_watermark=True)
        self.engine.restore(states, self.clock.watermark)
        self.engine.touched.clear()
        self.outbox: list[Outbound] = []
        self.stats: Counter[str] = Counter()
        # For the metrics, taken at every commit (streams.kafka.commit): what was consumed
        # and refused, and the decisions published, since the last take.
        self.tally = BatchTally()
        self.published: list[Decision] = []
        self._changed = False  # anything to save since the last snapshot

    @classmethod
    def from_records(
        cls,
        partition: int,
        records: Iterable[tuple[bytes, bytes]],
        policy: Policy,
        routes: Routes,
        wall_clock: bool,
    ) -> PartitionWorker:
        """Rebuild from the partition's table records (recovery)."""
        states: list[CustomerState] = []
        clock = None
        for key, value in records:
            if wire.is_partition_key(key):
                clock = wire.decode_clock(value)
            else:
                states.append(from_record(orjson.loads(value)))
        return cls(partition, policy, routes, wall_clock, states, clock)

    # -- input -----------------------------------------------------------------------------

    def handle(self, message: Inbound, highwater: Highwater) -> None:
        """Process one message of an input topic or of the tick topic."""
        clock = self.clock
        topic = message.topic
        if message.offset <= clock.offsets.get(topic, -1):
            # Delivered again (after a crash, a rebalance, or Faust re-reading what it had
            # prefetched): its effects are already in this partition's state.
            self.stats["redelivered"] += 1
            return
        self._changed = True
        clock.offsets[topic] = message.offset  # read, even if refused: not lagging
        if topic == self.routes.tick_topic:
            self._handle_tick(message)
            return
        event = self._decode(message)
        if event is not None:
            if event.at > clock.newest.get(topic, -math.inf):
                clock.newest[topic] = event.at
            outcome = self.engine.process(event)
            if type(outcome) is Rejected:
                self._dead_letter(message, outcome)
            else:
                self.stats["events"] += 1
                self.tally.accepted(topic, event)
                self._emit(outcome)  # type: ignore[arg-type]
        self._emit(self.engine.advance(self._event_watermark(highwater)))
        if clock.advance is not None:
            self._try_advance(clock.advance)

    def _decode(self, message: Inbound) -> Event | None:
        parsed = parse_event(message.value or b"", self.routes.input_types[message.topic])
        if type(parsed) is Rejected:
            self._dead_letter(message, parsed)
            return None
        event: Event = parsed  # type: ignore[assignment]
        mismatch = wire.check_key(message.key, event.customer_id)
        if mismatch is not None:
            self._dead_letter(message, mismatch)
            return None
        return event

    def _event_watermark(self, highwater: Highwater) -> float:
        clock = self.clock
        lagging = []
        for topic in self.routes.input_types:
            end = highwater(topic)
            if end is not None and clock.offsets.get(topic, -1) < end - 1:
                lagging.append(clock.newest.get(topic, -math.inf))
        # Lagging topics hold the watermark back; all caught up, the newest event moves it.
        newest = min(lagging) if lagging else max(clock.newest.values(), default=-math.inf)
        return newest - self.lateness

    def _handle_tick(self, message: Inbound) -> None:
        tick = wire.decode_tick(message.value)
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
            self.stats[decision.kind] += 1
            key, value, headers = wire.decision_message(decision, self.routes.source)
            topic = self.routes.decision_topics[decision.kind]
            self.outbox.append(Outbound(topic, key, value, headers))

    def _dead_letter(self, message: Inbound, rejection: Rejected) -> None:
        self.stats[f"rejected:{rejection.code}"] += 1
        self.tally.refused(rejection.code)
        headers = wire.dead_letter_headers(
            message.headers, rejection, message.topic, message.partition, message.offset
        )
        self.outbox.append(
            Outbound(self.routes.dead_letter_topic, message.key, message.value or b"", headers)
        )

    def take_published(self) -> list[Decision]:
        """Decisions emitted since the last call (for the metrics)."""
        published, self.published = self.published, []
        return published

    def take_outbox(self) -> list[Outbound]:
        outbox, self.outbox = self.outbox, []
        return outbox

    def snapshot(self) -> list[tuple[bytes, bytes]]:
        """Table records for every customer changed since the last snapshot, and the clock."""
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
        return records
