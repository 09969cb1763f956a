"""The one thing taken from Faust's sensors: how long each offset commit takes.

Faust's Prometheus sensor (``faust.sensors.prometheus``) is not used: it is a per-message
monitor and counts the same messages as Churnwatch's own metrics (see
:mod:`streams.metrics`). What it measures that nothing else can is the commit: a Faust
consumer commit is where the worker sends the output and table changes of the
transaction and waits for the broker (:mod:`streams.kafka.runtime.commit`), so its duration is
the latency floor of every decision and the first thing to look at when commits stall.

:class:`CommitSensor` implements only ``on_commit_initiated`` and
``on_commit_completed``; Faust still calls its other (inherited, empty) hooks per
message, a few no-op calls each.
"""

from __future__ import annotations

import time
from typing import Any

import faust

from streams.metrics import ChurnwatchMetrics


class CommitSensor(faust.Sensor):
    """Times every consumer commit into ``churnwatch_commit_duration_seconds``."""

    def __init__(self, metrics: ChurnwatchMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics

    def on_commit_initiated(self, consumer: Any) -> float:
        return time.perf_counter()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        if isinstance(state, float):
            self._metrics.observe_commit(time.perf_counter() - state)
