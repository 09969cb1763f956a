"""Everything operators see of a worker, wired into the Faust app in one call.

:func:`install_operations` creates the worker's Prometheus registry and metrics
(:mod:`streams.metrics`), the :class:`~streams.kafka.operations.observe.WorkerObserver` that feeds
them, and installs on the app:

* the observer on every partition assignment, and on a timer (lag, table recovery);
* the :class:`~streams.kafka.operations.sensor.CommitSensor` (commit duration);
* the HTTP views (:mod:`streams.kafka.operations.web`): ``/healthz``, ``/readyz``, ``/metrics``,
  ``/customers/{customer_id}``.

The caller passes :attr:`Operations.on_flush` to the committer, so the partitions' tallies
and decisions reach the metrics before every commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import CollectorRegistry

from config.settings import Settings
from streams.kafka.operations.observe import SAMPLE_SECONDS, WorkerObserver
from streams.kafka.operations.sensor import CommitSensor
from streams.kafka.operations.web import CustomerLookup, install_web
from streams.kafka.runtime.partition import PartitionWorker, Routes
from streams.metrics import ChurnwatchMetrics, create_metrics

log = logging.getLogger(__name__)


@dataclass
class Operations:
    """The worker's metrics and their feeder."""

    metrics: ChurnwatchMetrics
    observer: WorkerObserver

    def on_flush(self, workers: Mapping[int, PartitionWorker]) -> None:
        self.observer.on_flush(workers)


def install_operations(
    app: Any,
    table: Any,
    workers: Mapping[int, PartitionWorker],
    restore: Callable[[int], PartitionWorker],
    routes: Routes,
    settings: Settings,
) -> Operations:
    """Metrics, sensor, timer and web views for the detector ``app``."""
    metrics = create_metrics(
        CollectorRegistry(),
        input_topics=routes.input_types,
        clock=settings.clock,
        processing_guarantee=settings.processing_guarantee,
    )
    observer = WorkerObserver(metrics, app, workers, restore, routes.consumed)

    def on_assigned(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        (assigned,) = args
        observer.on_assigned(assigned)

    # mode's signal-handler type cannot be met by a plain function under mypy: cast.
    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    app.timer(interval=SAMPLE_SECONDS, name="churnwatch.observe")(_sampler(observer))
    app.sensors.add(CommitSensor(metrics))
    lookup = CustomerLookup(app, table, workers, restore, observer, settings.partitions)
    install_web(app, observer, lookup)
    return Operations(metrics, observer)


def _sampler(observer: WorkerObserver) -> Callable[[], Any]:
    failures = 0

    async def sample_worker() -> None:
        nonlocal failures
        try:
            observer.sample()
        except Exception:
            # A metric must never stop the worker; say so once, then quietly.
            level = logging.WARNING if failures == 0 else logging.DEBUG
            log.log(level, "sampling the worker's metrics failed", exc_info=True)
            failures += 1

    return sample_worker
