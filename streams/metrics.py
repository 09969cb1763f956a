"""Every Prometheus metric Churnwatch exports, in one module.

Built by :func:`create_metrics` into the :class:`~prometheus_client.CollectorRegistry` it
is given (tests use a fresh one and read values back; the worker serves it at ``/metrics``
on its web port with :func:`exposition`). Nothing is registered at import time.

Names follow ``churnwatch_<noun>_<verb>_<unit>`` in base units (seconds, ratios,
messages): counters end in ``_total``, histograms and time gauges in ``_seconds``. Every
label value that comes from a contract enum (input topics × event types, rejection
reasons, decision types, customer statuses, status transitions) is created at start-up,
so dashboards and alerts see zeros before the first event, and ``rate()`` and
``increase()`` work from the first scrape. Per-partition series appear when the partition
is assigned (or first measured) and are removed when it is revoked, so a partition is
only ever reported by the worker that owns it and sums across workers stay right.

The hot path never touches Prometheus per event. Per message the worker only does plain
dict and list operations on a :class:`BatchTally`; once per batch (or commit) it calls:

* :meth:`ChurnwatchMetrics.flush` with the tally: consumed and rejected counts, event-time
  lag (bucketed with one ``bisect`` per event into a plain list, no lock per event);
* :meth:`ChurnwatchMetrics.observe_engine` per partition with the engine and the decisions
  it returned since the last call: turns the engine's monotonic counters (``duplicates``,
  ``wakeups``, ``stale_wakeups``) into counter increments by remembering the last values
  seen (idempotent; a new engine after a rebalance starts again from zero), and keeps the
  customers-by-status gauge exact from the decisions' transitions, scanning a partition's
  customers only once, when a new engine is first seen;
  the same call brings the churn-rate gauges up to date from the partition's churn
  accounting (:mod:`models.churn_rate`), only when its counts changed;
* :meth:`ChurnwatchMetrics.observe_processing`, :meth:`~ChurnwatchMetrics.set_consumer_lag`,
  :meth:`~ChurnwatchMetrics.assign`, :meth:`~ChurnwatchMetrics.set_recovery_progress`,
  :meth:`~ChurnwatchMetrics.set_recovery_complete` as those things happen.

Churn rate by event time: five gauges per UTC month and segment
(``churnwatch_customers_active_at_month_start``, ``..._lost_at_month_start``,
``..._acquired_in_month``, ``..._lost_in_month``, ``..._recovered_in_month``) are the
numerators and denominators of the monthly churn and recovery rates, summed over this
worker's partitions (:class:`PartitionSums`); ratios are computed in PromQL after summing
across workers. They are gauges, not counters, because a partition's counts move with it:
its accounting is part of its table state (saved with the customers, restored on
assignment), and a revoked partition's contribution leaves this worker's sums at once.
Their ``month`` label comes from event time, so those series appear when a partition's
accounting reaches the month rather than at start-up; a partition keeps its newest 13
months. Beside them, from the same accounting, ``churnwatch_value_flagged_in_month``
(labels month, segment and status ``at_risk`` or ``lost``): the value at risk of the month's
warnings, as each decision judged it.

Counting conventions: a message read from an input topic is *either* consumed (accepted
by the engine, duplicates included, labelled by topic and event type) *or* rejected
(dead-lettered, labelled by reason), never both; so input messages = consumed + rejected.

faust-streaming's Prometheus sensor (``faust/sensors/prometheus.py``:
``setup_prometheus_sensors`` and ``PrometheusMonitor``) is deliberately not used:

* ``PrometheusMonitor`` is a subclass of ``faust.sensors.Monitor``, the sensor the worker
  removes because it costs about a fifth of Faust's per-message time, and it updates
  several metrics for every message on top of that;
* it would double-count: ``<app>_messages_received_total``,
  ``<app>_messages_received_per_topic_total``, ``<app>_total_events_total`` and
  ``<app>_total_events_per_stream_total`` count the same input as
  ``churnwatch_events_consumed_total`` / ``churnwatch_events_rejected_total`` (ticks
  included, without event type or reason); ``<app>_events_runtime_ms`` times the same work
  as ``churnwatch_batch_process_duration_seconds`` (in milliseconds);
  ``<app>_topic_messages_sent_total`` and ``<app>_total_sent_messages_total`` count
  decisions and dead letters again, mixed with changelog writes;
  ``<app>_messages_received_per_topics_partition``, ``<app>_topic_partition_end_offset``
  and ``<app>_topic_partition_offset_commited`` are the inputs of
  ``churnwatch_consumer_lag_messages``; ``<app>_total_rebalances`` and
  ``<app>_total_rebalances_recovering`` (gauges of rebalances in progress) overlap
  ``churnwatch_rebalances_completed_total`` and ``churnwatch_table_recovery_complete``;
  ``<app>_table_operations_total`` counts our once-per-commit table writes;
* with the app id ``churnwatch`` its names would land in our own ``churnwatch_`` namespace
  (``churnwatch_messages_received_total``), it defaults to the global registry, registers
  its own ``/metrics`` page, and measures latencies in milliseconds, not base units.

What it has that we lack is rare-event data. Commit latency matters (a commit is where the
exactly-once output is sent and acknowledged): a slim ``faust.Sensor``
(:mod:`streams.kafka.operations.sensor`) feeds ``churnwatch_commit_duration_seconds``. Lookups are
counted by our own view (``churnwatch_customer_lookups_total``). Faust's send-error hook
never sees our sends (the committer uses the transport producer directly, and a failed
send fails the commit instead).
"""

from __future__ import annotations

import bisect
import contextlib
import math
import threading
import weakref
from collections import Counter as Tally
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from models.churn_rate import MEASURES as CHURN_MEASURES
from models.customer import ACTIVE, STATUS_NAMES
from models.decisions import DECISION_TYPES, Decision
from models.engine import Engine
from models.events import CallRecorded, EmailRecorded, Event, OrderRecorded
from models.parse import REJECTION_CODES

PREFIX = "churnwatch"

# Event types of the input contract (docs/events.md), by the engine's event class.
EVENT_TYPE_OF: dict[type, str] = {
    OrderRecorded: "order",
    EmailRecorded: "email",
    CallRecorded: "call",
}
EVENT_TYPES = tuple(EVENT_TYPE_OF.values())
# Input topic -> event type it implies: the settings' defaults.
DEFAULT_INPUT_TOPICS: Mapping[str, str] = {
    "orders": "order",
    "email-events": "email",
    "calls": "call",
}

# Rejection reasons: the contract's codes plus the two the worker adds (a message key that
# is not the customer id; an undecodable message on the internal tick topic).
KEY_MISMATCH = "key_mismatch"
INVALID_TICK = "invalid_tick"
REJECTION_REASONS = (*REJECTION_CODES, KEY_MISMATCH, INVALID_TICK)

_ACTIVE, _AT_RISK, _LOST = STATUS_NAMES
# Every status change a decision can make (docs/events.md, "The life cycle").
STATUS_TRANSITIONS = (
    (_ACTIVE, _AT_RISK),
    (_ACTIVE, _LOST),
    (_AT_RISK, _LOST),
    (_AT_RISK, _ACTIVE),
    (_LOST, _ACTIVE),
)

# The churn-rate gauges, one per measure of models.churn_rate (in its order): name, help.
CHURN_RATE_GAUGES: dict[str, tuple[str, str]] = {
    "active_at_start": (
        "customers_active_at_month_start",
        "Customers who had ordered and were not lost at the first instant of the month "
        "(UTC, event time), by value segment then.",
    ),
    "lost_at_start": (
        "customers_lost_at_month_start",
        "Customers who had ordered and were lost at the first instant of the month "
        "(UTC, event time), by value segment then.",
    ),
    "new": (
        "customers_acquired_in_month",
        "Customers whose first order fell in the month (UTC, event time), by value segment "
        "after it.",
    ),
    "lost": (
        "customers_lost_in_month",
        "Lost decisions in the month (UTC, event time) about customers who had ordered, by "
        "value segment at the decision.",
    ),
    "recovered": (
        "customers_recovered_in_month",
        "Recovered decisions from lost in the month (UTC, event time) about customers who "
        "had ordered before (win-backs), by value segment at the decision.",
    ),
}
assert tuple(CHURN_RATE_GAUGES) == CHURN_MEASURES

# Seconds for one batch of messages through the worker: 100 µs .. 10 s.
PROCESSING_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Seconds for one offset commit, exactly-once output and table writes included: 1 ms .. 1 min.
COMMIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# How a customer lookup (GET /customers/{id}) was answered by this worker.
LOOKUP_RESULTS = ("found", "unknown", "forwarded", "unavailable")
_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0
# Event-time lag, live (seconds) to backfills (days); older still lands in +Inf.
EVENT_LAG_BUCKETS = (
    1.0,
    5.0,
    15.0,
    _MINUTE,
    5 * _MINUTE,
    15 * _MINUTE,
    30 * _MINUTE,
    _HOUR,
    2 * _HOUR,
    6 * _HOUR,
    12 * _HOUR,
    _DAY,
    2 * _DAY,
    7 * _DAY,
    30 * _DAY,
    90 * _DAY,
)


# -- the hot path's side -------------------------------------------------------------------


@dataclass
class BatchTally:
    """What the worker counts between two flushes: plain dict and list operations only."""

    consumed: Tally[tuple[str, str]] = field(default_factory=Tally)  # (topic, event type)
    rejected: Tally[str] = field(default_factory=Tally)  # reason
    event_times: list[float] = field(default_factory=list)  # occurred_at of consumed events

    def accepted(self, topic: str, event: Event) -> None:
        """``event`` from ``topic`` went to the engine (a duplicate it ignores included)."""
        self.consumed[topic, EVENT_TYPE_OF[type(event)]] += 1
        self.event_times.append(event.at)

    def refused(self, reason: str) -> None:
        """A message was dead-lettered for ``reason`` (a rejection code)."""
        self.rejected[reason] += 1

    def clear(self) -> None:
        self.consumed.clear()
        self.rejected.clear()
        self.event_times.clear()


# -- a histogram fed in bulk ---------------------------------------------------------------


class BulkHistogram(Collector):
    """A Prometheus histogram that takes a whole batch of observations in one call.

    ``prometheus_client.Histogram`` takes one value per call, under a lock; this one buckets
    a batch into a local list with ``bisect`` and adds it under one lock. Exposed exactly
    like a histogram (``_bucket{le}``, ``_count``, ``_sum``).
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = tuple(sorted(float(b) for b in buckets if math.isfinite(b)))
        self._counts = [0] * (len(self._bounds) + 1)  # last: above every bound (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_all(self, values: Iterable[float]) -> None:
        bounds, counts = self._bounds, [0] * len(self._counts)
        total = 0.0
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1  # le is inclusive
            total += value
        with self._lock:
            self._counts = [a + b for a, b in zip(self._counts, counts, strict=True)]
            self._sum += total

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, count in zip((*self._bounds, math.inf), counts, strict=True):
            running += count
            cumulative.append((_le(bound), float(running)))
        yield HistogramMetricFamily(
            self.name, self.documentation, buckets=cumulative, sum_value=total
        )


def _le(bound: float) -> str:
    """A bucket's ``le`` label as Prometheus writes it."""
    return "+Inf" if bound == math.inf else repr(bound)


# -- gauges summed over partitions ---------------------------------------------------------


Labels = tuple[str, ...]


class PartitionSums:
    """Gauges with the same labels whose values are sums of what each partition contributes.

    A partition's contribution (label values -> one value per gauge) is replaced whole by
    :meth:`set` and removed by :meth:`drop`; only the series whose sum changed are
    touched, and a series no partition contributes to any more is removed.
    """

    def __init__(self, gauges: Sequence[Gauge]) -> None:
        self._gauges = tuple(gauges)
        self._parts: dict[int, dict[Labels, tuple[float, ...]]] = {}

    def set(self, partition: int, values: Mapping[Labels, Sequence[float]]) -> None:
        old = self._parts.get(partition, {})
        new = {labels: tuple(v) for labels, v in values.items()}
        self._parts[partition] = new
        self._refresh(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))

    def drop(self, partition: int) -> None:
        self._refresh(self._parts.pop(partition, {}).keys())

    def _refresh(self, changed: Iterable[Labels]) -> None:
        for labels in changed:
            parts = [part[labels] for part in self._parts.values() if labels in part]
            for index, gauge in enumerate(self._gauges):
                if parts:
                    gauge.labels(*labels).set(sum(values[index] for values in parts))
                else:
                    _remove_series(gauge, *labels)


# -- what is remembered per partition ------------------------------------------------------


@dataclass
class _PartitionSeen:
    """The last engine seen on a partition and its counters at that moment."""

    engine: weakref.ref[Engine]
    duplicates: int = 0
    wakeups: int = 0
    stale_wakeups: int = 0
    customers: int = 0
    non_active: Tally[str] = field(default_factory=Tally)  # status -> customers
    ledger_version: int = -1  # of the churn accounting last turned into gauges


def _non_active_statuses(engine: Engine) -> Tally[str]:
    """Customers per status other than active (one pass, once per new engine)."""
    return Tally(str(state.status) for state in engine.customers.values() if state.status != ACTIVE)


def _delta(current: int, last: int) -> int:
    """Increase of a monotonic counter; a smaller value means it restarted from zero."""
    return current - last if current >= last else current


def _remove_series(metric: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never created: nothing to remove
        metric.remove(*labels)


# -- the metrics ----------------------------------------------------------------------------


class ChurnwatchMetrics:
    """Churnwatch's metrics in one registry, and the calls the worker makes to feed them."""

    def __init__(self, registry: CollectorRegistry, input_topics: Mapping[str, str]) -> None:
        self.registry = registry
        self.input_topics = dict(input_topics)
        self._define_counters(registry)
        self._define_gauges(registry)
        self._define_histograms(registry)
        self.worker_info = Info(
            f"{PREFIX}_worker",
            "The worker's version and how it runs (value always 1).",
            registry=registry,
        )
        self._seen: dict[int, _PartitionSeen] = {}
        self._assigned: set[int] = set()
        self._lag_topics: dict[int, set[str]] = {}

    def _define_counters(self, registry: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            f"{PREFIX}_events_consumed_total",
            "Input events accepted by the engine (duplicates included), "
            "by input topic and event type.",
            ["topic", "event_type"],
            registry=registry,
        )
        self.events_rejected = Counter(
            f"{PREFIX}_events_rejected_total",
            "Input messages dead-lettered, by rejection reason.",
            ["reason"],
            registry=registry,
        )
        self.decisions_published = Counter(
            f"{PREFIX}_decisions_published_total",
            "Churn decisions published, by decision type.",
            ["type"],
            registry=registry,
        )
        self.customers_transitioned = Counter(
            f"{PREFIX}_customers_transitioned_total",
            "Customer status changes made by decisions, by previous and new status.",
            ["from_status", "to_status"],
            registry=registry,
        )
        self.deadlines_fired = Counter(
            f"{PREFIX}_deadlines_fired_total",
            "Customer deadlines that came due and were acted on (engine wakeups).",
            registry=registry,
        )
        self.deadlines_skipped = Counter(
            f"{PREFIX}_deadlines_skipped_total",
            "Stale deadline entries skipped because the customer's deadline had moved.",
            registry=registry,
        )
        self.duplicates_ignored = Counter(
            f"{PREFIX}_duplicates_ignored_total",
            "Input events ignored because their event_id was seen recently.",
            registry=registry,
        )
        self.rebalances_completed = Counter(
            f"{PREFIX}_rebalances_completed_total",
            "Partition assignments this worker received.",
            registry=registry,
        )
        self.customer_lookups = Counter(
            f"{PREFIX}_customer_lookups_total",
            "GET /customers/{id} requests answered by this worker, by result.",
            ["result"],
            registry=registry,
        )

    def _define_gauges(self, registry: CollectorRegistry) -> None:
        self.customers_tracked = Gauge(
            f"{PREFIX}_customers_tracked",
            "Customers held by this worker (its assigned partitions), by status.",
            ["status"],
            registry=registry,
        )
        self.watermark = Gauge(
            f"{PREFIX}_watermark_timestamp_seconds",
            "Event-time watermark of the partition, Unix epoch seconds.",
            ["partition"],
            registry=registry,
        )
        self.events_pending = Gauge(
            f"{PREFIX}_events_pending",
            "Events buffered in the partition's engine, waiting for the watermark.",
            ["partition"],
            registry=registry,
        )
        self.deadlines_scheduled = Gauge(
            f"{PREFIX}_deadlines_scheduled",
            "Deadline entries in the partition's index (stale ones included).",
            ["partition"],
            registry=registry,
        )
        self.churn_rate = PartitionSums(
            [
                Gauge(f"{PREFIX}_{name}", help_text, ["month", "segment"], registry=registry)
                for name, help_text in CHURN_RATE_GAUGES.values()
            ]
        )
        self.value_flagged = PartitionSums(
            [
                Gauge(
                    f"{PREFIX}_value_flagged_in_month",
                    "Value at risk (risk x spend over the value horizon if the customer stays) "
                    "of the month's at_risk and lost decisions (UTC, event time) about customers "
                    "who had ordered, as each decision judged it, by value segment at the "
                    "decision and the status it reached (currency units).",
                    ["month", "segment", "status"],
                    registry=registry,
                )
            ]
        )
        self.table_recovery_progress = Gauge(
            f"{PREFIX}_table_recovery_progress_ratio",
            "Share of the partition's changelog recovered into the customer table (0..1).",
            ["partition"],
            registry=registry,
        )
        self.table_recovery_complete = Gauge(
            f"{PREFIX}_table_recovery_complete",
            "1 when the table recovery of every assigned partition is complete, else 0.",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{PREFIX}_consumer_lag_messages",
            "Messages on the topic partition not yet processed (end offset - position).",
            ["topic", "partition"],
            registry=registry,
        )
        self.partitions_assigned = Gauge(
            f"{PREFIX}_partitions_assigned",
            "Input partitions assigned to this worker.",
            registry=registry,
        )

    def _define_histograms(self, registry: CollectorRegistry) -> None:
        self.batch_process_duration = Histogram(
            f"{PREFIX}_batch_process_duration_seconds",
            "Wall time to process one batch of consumed messages (decode, engine, output).",
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.commit_duration = Histogram(
            f"{PREFIX}_commit_duration_seconds",
            "Wall time of each offset commit, including the output and table records sent "
            "in its transaction and the wait for the broker to acknowledge them.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.event_time_lag = BulkHistogram(
            f"{PREFIX}_event_time_lag_seconds",
            "Wall-clock time minus occurred_at of consumed events, when processed.",
            EVENT_LAG_BUCKETS,
        )
        registry.register(self.event_time_lag)

    def create_label_values(self) -> None:
        """Create every series whose label values come from the contract, at zero."""
        for topic in self.input_topics:
            for event_type in EVENT_TYPES:
                self.events_consumed.labels(topic=topic, event_type=event_type)
        for reason in REJECTION_REASONS:
            self.events_rejected.labels(reason=reason)
        for kind in DECISION_TYPES:
            self.decisions_published.labels(type=kind)
        for before, after in STATUS_TRANSITIONS:
            self.customers_transitioned.labels(from_status=before, to_status=after)
        for status in STATUS_NAMES:
            self.customers_tracked.labels(status=status).set(0)
        for result in LOOKUP_RESULTS:
            self.customer_lookups.labels(result=result)

    # -- per batch ---------------------------------------------------------------------------

    def flush(self, tally: BatchTally, now: float) -> None:
        """Add what the hot path counted (``now``: wall clock, epoch seconds); clear it."""
        for (topic, event_type), count in tally.consumed.items():
            self.events_consumed.labels(topic=topic, event_type=event_type).inc(count)
        for reason, count in tally.rejected.items():
            self.events_rejected.labels(reason=reason).inc(count)
        if tally.event_times:
            self.event_time_lag.observe_all(now - at for at in tally.event_times)
        tally.clear()

    def observe_processing(self, seconds: float) -> None:
        """One batch of messages took ``seconds`` of wall time to process."""
        self.batch_process_duration.observe(seconds)

    def observe_commit(self, seconds: float) -> None:
        """One offset commit (with its flush) took ``seconds``."""
        self.commit_duration.observe(seconds)

    def count_lookup(self, result: str) -> None:
        """A customer lookup was answered: one of :data:`LOOKUP_RESULTS`."""
        self.customer_lookups.labels(result=result).inc()

    def observe_engine(
        self, partition: int, engine: Engine, decisions: Iterable[Decision] = ()
    ) -> None:
        """Bring the partition's series up to date with its engine.

        ``decisions`` are those the engine returned since the previous call for this
        partition (each passed once; they are counted as published). Calling again with
        nothing new changes nothing. A different engine object on the partition (rebuilt
        after a rebalance or restart) starts from its own counters and a fresh status scan.
        """
        decisions = list(decisions)
        seen = self._seen.get(partition)
        if seen is None or seen.engine() is not engine:
            seen = self._seen[partition] = _PartitionSeen(
                weakref.ref(engine), non_active=_non_active_statuses(engine)
            )
        else:
            _apply_transitions(seen.non_active, decisions)
        self._count_decisions(decisions)
        self._count_engine_deltas(seen, engine)
        seen.customers = len(engine.customers)
        self._set_partition_gauges(partition, engine)
        self._set_customer_counts()
        self._set_churn_rate(partition, seen, engine)

    def _set_churn_rate(self, partition: int, seen: _PartitionSeen, engine: Engine) -> None:
        ledger = engine.ledger
        if ledger is not None and ledger.version != seen.ledger_version:
            seen.ledger_version = ledger.version
            self.churn_rate.set(partition, dict(ledger.counts()))
            self.value_flagged.set(partition, {k: (v,) for k, v in ledger.values()})

    def _count_decisions(self, decisions: Sequence[Decision]) -> None:
        for kind, count in Tally(d.kind for d in decisions).items():
            self.decisions_published.labels(type=kind).inc(count)
        moves = Tally((str(d.previous_status), str(d.status)) for d in decisions)
        for (before, after), count in moves.items():
            self.customers_transitioned.labels(from_status=before, to_status=after).inc(count)

    def _count_engine_deltas(self, seen: _PartitionSeen, engine: Engine) -> None:
        self.duplicates_ignored.inc(_delta(engine.duplicates, seen.duplicates))
        self.deadlines_fired.inc(_delta(engine.wakeups, seen.wakeups))
        self.deadlines_skipped.inc(_delta(engine.stale_wakeups, seen.stale_wakeups))
        seen.duplicates = engine.duplicates
        seen.wakeups = engine.wakeups
        seen.stale_wakeups = engine.stale_wakeups

    def _set_partition_gauges(self, partition: int, engine: Engine) -> None:
        label = str(partition)
        if math.isfinite(engine.watermark):  # no watermark before the first event or tick
            self.watermark.labels(partition=label).set(engine.watermark)
        self.events_pending.labels(partition=label).set(engine.pending_events())
        self.deadlines_scheduled.labels(partition=label).set(engine.scheduled_wakes())

    def _set_customer_counts(self) -> None:
        counts: Tally[str] = Tally()
        for seen in self._seen.values():
            counts.update(seen.non_active)
        customers = sum(seen.customers for seen in self._seen.values())
        counts[_ACTIVE] = customers - sum(counts.values())
        for status in STATUS_NAMES:
            self.customers_tracked.labels(status=status).set(counts[status])

    # -- partitions, recovery, lag -----------------------------------------------------------

    def assign(self, partitions: Collection[int]) -> None:
        """The worker now owns ``partitions`` (of the input topics); forget the others.

        Call on every assignment (active partitions only, not standbys). Table recovery
        starts again, so ``churnwatch_table_recovery_complete`` drops to 0 until the worker
        calls :meth:`set_recovery_complete` with True.
        """
        assigned = set(partitions)
        for partition in (self._assigned | set(self._seen)) - assigned:
            self._forget(partition)
        for partition in assigned - self._assigned:
            self.table_recovery_progress.labels(partition=str(partition)).set(0)
        self._assigned = assigned
        self.partitions_assigned.set(len(assigned))
        self.table_recovery_complete.set(0)
        self.rebalances_completed.inc()
        self._set_customer_counts()

    def _forget(self, partition: int) -> None:
        label = str(partition)
        self._seen.pop(partition, None)
        self.churn_rate.drop(partition)
        self.value_flagged.drop(partition)
        for gauge in (
            self.watermark,
            self.events_pending,
            self.deadlines_scheduled,
            self.table_recovery_progress,
        ):
            _remove_series(gauge, label)
        for topic in self._lag_topics.pop(partition, set()):
            _remove_series(self.consumer_lag, topic, label)

    def set_recovery_progress(self, partition: int, ratio: float) -> None:
        """Share (0..1) of the partition's changelog recovered so far."""
        value = min(1.0, max(0.0, ratio))
        self.table_recovery_progress.labels(partition=str(partition)).set(value)

    def set_recovery_complete(self, complete: bool) -> None:
        self.table_recovery_complete.set(1 if complete else 0)

    def set_consumer_lag(self, topic: str, partition: int, messages: int) -> None:
        """Messages of ``topic``/``partition`` not yet processed by this worker."""
        self._lag_topics.setdefault(partition, set()).add(topic)
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(0, messages))


def _apply_transitions(non_active: Tally[str], decisions: Iterable[Decision]) -> None:
    """Move customers between status tallies as decisions say."""
    for decision in decisions:
        if decision.previous_status != ACTIVE:
            non_active[str(decision.previous_status)] -= 1
        if decision.status != ACTIVE:
            non_active[str(decision.status)] += 1


def create_metrics(
    registry: CollectorRegistry,
    *,
    input_topics: Mapping[str, str] = DEFAULT_INPUT_TOPICS,
    clock: str = "wall",
    processing_guarantee: str = "exactly_once",
    process_collectors: bool = True,
) -> ChurnwatchMetrics:
    """Register every Churnwatch metric in ``registry``, contract label values at zero.

    ``input_topics`` maps each input topic to the event type it implies (the settings'
    topic names). ``clock`` and ``processing_guarantee`` label ``churnwatch_worker_info``
    (alerts use ``clock`` to tell backfills from live workers). ``process_collectors`` adds
    the standard ``process_*``, ``python_info`` and ``python_gc_*`` series to this registry
    (prometheus-client puts them only in its global one).
    """
    metrics = ChurnwatchMetrics(registry, input_topics)
    metrics.create_label_values()
    metrics.worker_info.info(
        {
            "version": _version(),
            "clock": clock,
            "processing_guarantee": processing_guarantee,
        }
    )
    if process_collectors:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return metrics


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The ``/metrics`` response body and its content type.

    Always the classic text format (version 0.0.4), which every Prometheus release
    parses, rather than prometheus-client's newer default content type.
    """
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


def _version() -> str:
    try:
        return metadata.version("churnwatch")
    except metadata.PackageNotFoundError:
        return "unknown"
