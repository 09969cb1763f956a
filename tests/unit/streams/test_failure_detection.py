"""The worker's consumer settings as handed to Faust and aiokafka: heartbeats, fetch wait."""

from __future__ import annotations

import pytest

from streams.kafka.app import heartbeat_interval
from streams.kafka.runtime.fixes import short_fetch_wait


@pytest.mark.parametrize(
    ("session", "heartbeat"), [(6.0, 1.0), (10.0, 1.0), (45.0, 1.0), (1.5, 0.5)]
)
def test_heartbeats_come_every_second_at_most_a_third_of_the_session(
    session: float, heartbeat: float
) -> None:
    assert heartbeat_interval(session) == heartbeat


def test_the_consumer_is_created_with_a_short_fetch_wait() -> None:
    class Client:
        _fetch_max_wait_ms = 1500  # what Faust asks for

    class Thread:
        def _create_worker_consumer(self, transport: object) -> Client:
            return Client()

    consumer = type("Consumer", (), {"_thread": Thread()})()
    short_fetch_wait(consumer)
    assert consumer._thread._create_worker_consumer("transport")._fetch_max_wait_ms == 100
