"""The installed kafka-python accepts every option the admin client is given: without a
broker it fails for want of one, never for its configuration (kafka-python 2.x lacks
``bootstrap_timeout_ms``)."""

from __future__ import annotations

import socket

import pytest

from config.settings import Settings
from streams.kafka.topics import BrokerError, admin_client


@pytest.fixture
def nowhere() -> Settings:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return Settings(broker=f"kafka://127.0.0.1:{port}", broker_timeout_seconds=1)


def test_the_admin_client_accepts_our_options(nowhere: Settings) -> None:
    with pytest.raises(BrokerError) as raised, admin_client(nowhere):
        pass
    assert "Configuration" not in str(raised.value)
    assert "cannot reach the Kafka broker" in str(raised.value)
