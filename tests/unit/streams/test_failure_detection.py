"""The worker's group and changelog settings as handed to Faust: heartbeats, segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings
from streams.kafka.app import build_app, changelog_config, heartbeat_interval
from streams.kafka.runtime.fixes import short_fetch_wait


@pytest.mark.parametrize(
    ("session", "heartbeat"), [(6.0, 1.0), (10.0, 1.0), (45.0, 1.0), (1.5, 0.5)]
)
def test_heartbeats_come_every_second_at_most_a_third_of_the_session(
    session: float, heartbeat: float
) -> None:
    assert heartbeat_interval(session) == heartbeat


def test_the_default_session_is_the_brokers_minimum() -> None:
    # Kafka's default group.min.session.timeout.ms: a worker cannot join below it.
    assert Settings().session_timeout_seconds == 6.0


def test_the_app_gets_the_session_and_its_heartbeat(tmp_path: Path) -> None:
    conf = build_app(Settings(data_dir=tmp_path, session_timeout_seconds=9.0)).app.conf
    assert (conf.broker_session_timeout, conf.broker_heartbeat_interval) == (9.0, 1.0)


def test_the_changelog_is_created_with_closing_segments(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, changelog_segment_bytes=1 << 20, changelog_segment_seconds=90.0
    )
    expected = {"segment.bytes": "1048576", "segment.ms": "90000"}
    assert changelog_config(settings) == expected
    table = build_app(settings).table
    assert dict(table.changelog_topic.config) == expected
    assert changelog_config(Settings()) == {"segment.bytes": "67108864", "segment.ms": "3600000"}


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"CHANGELOG_SEGMENT_BYTES": "16384"}, "changelog_segment_bytes"),
        (
            {"CHANGELOG_SEGMENT_BYTES": "1048576", "MAX_MESSAGE_BYTES": "2000000"},
            "must be at least max_message_bytes",
        ),
    ],
)
def test_a_segment_a_batch_may_not_fit_is_refused(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], fragment: str
) -> None:
    # The broker refuses a record batch larger than a segment, which stops the worker.
    for name, value in variables.items():
        monkeypatch.setenv(f"CHURNWATCH_{name}", value)
    with pytest.raises(ConfigError, match=fragment):
        load_settings()


def test_the_consumer_is_created_with_a_short_fetch_wait() -> None:
    class Client:
        _fetch_max_wait_ms = 1500  # what Faust asks for

    class Thread:
        def _create_worker_consumer(self, transport: object) -> Client:
            return Client()

    consumer = type("Consumer", (), {"_thread": Thread()})()
    short_fetch_wait(consumer)
    assert consumer._thread._create_worker_consumer("transport")._fetch_max_wait_ms == 100
