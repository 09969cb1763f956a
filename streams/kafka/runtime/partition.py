"""One input partition of the Kafka worker: the shared partition logic, fed by fetches, with
its output queued for the commit and its state kept in the table.

:class:`PartitionWorker` is :class:`streams.partition.Partition` (engine, clock, input order:
the same logic replay runs) plus what Kafka adds: the batch drain
(:mod:`streams.kafka.runtime.drain`) hands it every fetched message of its partition, tick
messages included; decisions and dead letters are queued in :attr:`PartitionWorker.outbox`
as messages to produce; :meth:`PartitionWorker.snapshot` turns the customers that changed
into table records (``wire.partition_key`` + customer keys) when the worker commits, and
:meth:`PartitionWorker.from_records` rebuilds the partition from them.

The engine keeps the partition's monthly churn accounting (:mod:`models.churn_rate`), the
newest :data:`CHURN_RATE_MONTHS` months of it; it is saved in the table with the customers
(``wire.churn_rate_key``) and restored with them, so the counts survive restarts and
rebalances exactly as the customers do.

Every dead letter is cut to fit the largest message the producer may send
(:func:`streams.kafka.wire.dead_letter`), and a tick dated too far after its record's
timestamp is refused as ``future_event`` like an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from models.churn_rate import ChurnLedger
from models.customer import CustomerState
from models.decisions import Decision
from models.engine import Engine
from models.events import Event
from models.parse import Rejected
from models.policy import Policy
from models.population import PopulationModel
from streams.jsonbytes import dumps_held
from streams.kafka import wire
from streams.kafka.wire import Headers
from streams.metrics import BatchTally
from streams.partition import (
    Highwater,
    Inbound,
    Limits,
    Message,
    Partition,
    PartitionClock,
    WallTick,
)
from streams.records import from_record, ledger_from_record, ledger_to_record, to_record

__all__ = ["Inbound", "Limits", "Message", "Outbound", "PartitionWorker", "Routes"]


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


class PartitionWorker(Partition):
    """One partition of the input topics: its detector, pending output and table records."""

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
        clock = clock or PartitionClock()
        engine = Engine(policy, model)  # the partition moves its watermark (Partition)
        engine.restore(states, clock.watermark)
        engine.touched.clear()
        engine.ledger = ledger or ChurnLedger(policy, CHURN_RATE_MONTHS)
        super().__init__(
            engine,
            routes.input_types,
            clock,
            topic_idle_seconds=topic_idle_seconds,
            limits=limits,
        )
        self.partition = partition
        self.routes = routes
        self.wall_clock = wall_clock
        self._ledger_saved = engine.ledger.version
        self.outbox: list[Outbound] = []
        # For the metrics, taken at every commit (streams.kafka.runtime.commit): what was consumed
        # and refused, and the decisions published, since the last take.
        self.tally = BatchTally()
        self.published: list[Decision] = []

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
        """Process the messages fetched together for this partition, by topic: the input
        topics' events in event-time order (:meth:`Partition.handle_fetch`), ticks last."""
        tick_topic = self.routes.tick_topic
        ticks = fetched.get(tick_topic, ())
        if ticks:
            fetched = {topic: batch for topic, batch in fetched.items() if topic != tick_topic}
        super().handle_fetch(fetched, highwater, now)
        for message in ticks:
            if self._first_delivery(tick_topic, message.offset):
                self._handle_tick(message)
        if ticks:
            self._advance(highwater)  # a tick is also the time to end a topic's hold

    def _handle_tick(self, message: Message) -> None:
        tick = wire.decode_tick(message.value)
        if not isinstance(tick, Rejected):
            at = tick.at if isinstance(tick, WallTick) else tick.to
            tick = self._too_far_ahead(message, at, "tick time") or tick
        if isinstance(tick, Rejected):
            self._refuse(message, tick)
        elif isinstance(tick, WallTick):
            self.stats["wall_ticks"] += 1
            if self.wall_clock:
                self.advance_to(tick.at - self.lateness)
        else:
            self.stats["advance_ticks"] += 1
            self.clock.advance = tick
            self._try_advance(tick)

    # -- output ----------------------------------------------------------------------------

    def _accepted(self, topic: str, event: Event) -> None:
        self.tally.accepted(topic, event)

    def _publish(self, decisions: list[Decision]) -> None:
        self.published += decisions
        for decision in decisions:
            key, value, headers = wire.decision_message(decision, self.routes.source)
            topic = self.routes.decision_topics[decision.kind]
            self.outbox.append(Outbound(topic, key, value, headers))

    def _refuse(self, message: Message, rejection: Rejected) -> None:
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
        dumps = dumps_held
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
