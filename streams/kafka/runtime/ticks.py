"""Wall-clock ticks: the timer that lets idle partitions fire their deadlines.

A Faust timer cannot write a table (there is no stream event to tie the write to), and it
runs once per worker, not per partition. So with ``clock = "wall"`` the timer only
*produces*: every ``tick_interval_seconds`` one :class:`~streams.kafka.wire.WallTick` to each
partition of the tick topic that this worker is assigned. The batch drain consumes the
tick topic with the inputs (same partitions), and advancing the clock happens there, inside
stream processing, in the same transaction as everything else.

Ticks are sent outside any transaction: they are input, like an order, and must be visible
to the consumer at once.
"""

from __future__ import annotations

import time
from typing import Any

from streams.kafka import wire


def install_wall_ticks(app: Any, tick_topic: str, interval: float) -> None:
    """Start a timer on ``app`` that ticks every assigned partition of ``tick_topic``."""

    async def send_wall_ticks() -> None:
        partitions = sorted(
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == tick_topic
        )
        if not partitions:
            return
        value = wire.encode_tick(wire.WallTick(time.time()))
        for partition in partitions:
            await app.producer.send(
                tick_topic, None, value, partition, None, None, transactional_id=None
            )

    app.timer(interval=interval, name="churnwatch.wall_ticks")(send_wall_ticks)
