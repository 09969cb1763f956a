"""The Faust app factory: settings in, a configured detector app out.

Nothing here runs at import time; :func:`build_app` wires, from one :class:`Settings`:

* the app (consumer group and transactional ids = ``app_id``), tuned per the measurements
  in docs/performance.md: no Monitor sensor, a 20 ms producer linger and 256 KB batches;
* the ``customers`` table (bytes keys and values, changelogged, ``store`` from settings);
* the co-partitioned input + tick channel (raw bytes, decoded by our code), whose records
  the batch drain (:mod:`streams.kafka.runtime.drain`) hands to the partition workers;
* the per-partition workers (:mod:`streams.kafka.runtime.workers`), built from the table
  after a rebalance or kept through it;
* the table's recovery of active partitions in large batches (:mod:`streams.kafka.runtime.restore`);
* the :class:`~streams.kafka.runtime.commit.Committer` hooked in front of every offset commit;
* what operators see (:mod:`streams.kafka.operations.install`): metrics fed before every commit,
  readiness, ``/healthz``, ``/readyz``, ``/metrics`` and ``/customers/{id}``;
* Kafka security from the settings (:mod:`streams.kafka.security`);
* the tick timer (:mod:`streams.kafka.runtime.ticks`): wall-clock time with ``clock = "wall"``;
  with either clock, the moment to end a caught-up topic's hold on the watermark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import faust

from config.settings import Settings
from models.decisions import AT_RISK, LOST, RECOVERED
from streams.kafka.operations.install import Operations, install_operations
from streams.kafka.operations.web import web_application_options
from streams.kafka.runtime.commit import Committer
from streams.kafka.runtime.drain import BatchDrain
from streams.kafka.runtime.fixes import install_fixes
from streams.kafka.runtime.partition import Routes
from streams.kafka.runtime.restore import changelog_consumer, install_fast_restore
from streams.kafka.runtime.ticks import install_wall_ticks
from streams.kafka.runtime.workers import PartitionWorkers
from streams.kafka.security import faust_credentials

TABLE_NAME = "customers"
HEARTBEAT_SECONDS = 1.0  # at most; a third of the session timeout below 3 s


class _DetectorApp(faust.App):
    committer: Committer | None = None
    drain: Callable[[Any], BatchDrain] | None = None  # builds the drain for a consumer
    fast_restore: Callable[[], None] | None = None  # installs the table restore, once

    def _new_consumer(self) -> Any:
        # The consumer must be created by the running worker (it reads the processing
        # guarantee then), so the commit hook and the batch drain are installed here
        # rather than in build_app.
        consumer = super()._new_consumer()
        if self.committer is not None:
            self.committer.install(consumer)
            install_fixes(
                consumer,
                exactly_once=self.in_transaction,
                transactional_id=self.committer.transactional_id,
                group_topic=self.committer.group_topic,
            )
        if self.drain is not None:
            self.drain(consumer).install()
        if self.fast_restore is not None:
            self.fast_restore()
            self.fast_restore = None
        return consumer

    def on_init_dependencies(self) -> Any:
        services = super().on_init_dependencies()
        # The Monitor sensor costs a fifth of the per-message time and feeds only Faust's
        # own /stats page; Churnwatch's metrics are its own.
        self.sensors.remove(self.monitor)
        return services


@dataclass
class DetectorApp:
    """The app and the parts tests and the runner need to reach."""

    app: Any
    table: Any
    workers: PartitionWorkers
    committer: Committer
    settings: Settings
    operations: Operations | None = None  # metrics, readiness, web views


def changelog_config(settings: Settings) -> dict[str, str]:
    """Topic configs of the table's changelog, beyond Faust's ``cleanup.policy=compact``.

    The log cleaner compacts only closed segments, and Kafka closes one at 1 GiB or after
    7 days by default: until then a restore from the changelog reads every record written,
    not one per customer. Applied when the worker creates the topic (an existing one keeps
    its configs: ``kafka-configs --alter``, docs/worker.md).
    """
    return {
        "segment.bytes": str(settings.changelog_segment_bytes),
        "segment.ms": str(int(settings.changelog_segment_seconds * 1000)),
    }


def heartbeat_interval(session_timeout: float) -> float:
    """Seconds between the consumer's heartbeats for a ``session_timeout``.

    The group coordinator tells the surviving workers that a dead one's session expired
    only in the answer to their next heartbeat, so this interval is part of failover; a
    heartbeat costs one small request (docs/worker.md, "Failure detection").
    """
    return min(HEARTBEAT_SECONDS, session_timeout / 3)


def routes_for(settings: Settings) -> Routes:
    return Routes(
        input_types={
            settings.orders_topic: "order",
            settings.emails_topic: "email",
            settings.calls_topic: "call",
        },
        decision_topics={
            AT_RISK: settings.at_risk_topic,
            LOST: settings.lost_topic,
            RECOVERED: settings.recovered_topic,
        },
        dead_letter_topic=settings.dead_letter_topic,
        tick_topic=settings.tick_topic,
        source=settings.source,
    )


def build_app(settings: Settings) -> DetectorApp:
    """A detector app for ``settings`` (not started)."""
    exactly_once = settings.processing_guarantee == "exactly_once"
    app = _DetectorApp(
        settings.app_id,
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        processing_guarantee=settings.processing_guarantee,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.canonical_url(),
        web_tables_enabled=False,  # raw table values by key, no access control
        web_application_options=web_application_options(),
        broker_credentials=faust_credentials(settings),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=heartbeat_interval(settings.session_timeout_seconds),
        producer_linger=0.02,
        producer_max_batch_size=256 * 1024,
        producer_max_request_size=settings.max_message_bytes,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
    )
    table = app.Table(
        TABLE_NAME,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        help="Customer state (to_record as JSON) and one clock record per partition.",
        extra_topic_configs=changelog_config(settings),
    )
    routes = routes_for(settings)
    workers = PartitionWorkers(settings, routes, table)
    operations = install_operations(app, table, workers, workers.restore, routes, settings)
    committer = Committer(
        app,
        table,
        workers,
        exactly_once=exactly_once,
        group_topic=settings.tick_topic,
        on_flush=operations.on_flush,
    )
    app.committer = committer

    async def on_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        (revoked,) = args
        # Commit what was processed before the partitions move (Faust does not, with
        # exactly_once: the new owner would redo it, and this worker's local store would
        # keep writes of an aborted transaction, which a standby never overwrites).
        await app.consumer.commit()
        workers.drop(revoked)

    async def on_recovered(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        workers.prepare()

    # mode's signal-handler type cannot be met by a plain function under mypy: cast.
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_rebalance_complete.connect(cast(Any, on_recovered))
    channel = app.topic(
        *routes.consumed,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    app.topics.add(channel)  # subscribe; the records go to the drain, not to an agent

    def drain(consumer: Any) -> BatchDrain:
        return BatchDrain(
            app,
            consumer,
            workers,
            workers.restore,
            committer,
            routes=routes,
            send_at_once=not exactly_once,
            on_batch=operations.metrics.observe_processing,
            first_batch=workers.first_batch,
        )

    app.drain = drain
    app.fast_restore = lambda: install_fast_restore(
        cast(Any, app.tables).recovery,
        table,
        changelog_consumer(settings),
        on_restored=workers.kept.on_restored,
    )
    # With clock = "event" the ticks do not move time: they only let a partition's
    # watermark pass input topics whose hold (topic_idle_seconds) has run out.
    interval = settings.tick_interval_seconds
    if settings.clock == "event" and settings.topic_idle_seconds > 0:
        interval = min(interval, settings.topic_idle_seconds)
    install_wall_ticks(app, settings.tick_topic, interval)
    return DetectorApp(app, table, workers, committer, settings, operations)
