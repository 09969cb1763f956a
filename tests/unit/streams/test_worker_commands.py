"""The Kafka commands' failure paths and the worker's settings, without a broker."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from config.settings import ConfigError, load_settings
from streams.cli import main


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings pointing at a port nothing listens on, with a short timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("CHURNWATCH_BROKER", f"kafka://127.0.0.1:{port}")
    monkeypatch.setenv("CHURNWATCH_BROKER_TIMEOUT_SECONDS", "1")


@pytest.mark.parametrize("command", [["worker"], ["topics", "create"]])
def test_an_unreachable_broker_fails_with_a_message(
    unreachable: None, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Kafka broker at kafka://127.0.0.1:" in err
    assert "within 1 s" in err


def test_produce_fails_with_a_message_when_the_broker_is_unreachable(
    unreachable: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"")
    assert main(["produce", str(events)]) == 1
    assert "cannot reach the Kafka broker" in capsys.readouterr().err


def test_produce_refuses_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce", "/nonexistent/events.jsonl"]) == 2
    assert "cannot read /nonexistent/events.jsonl" in capsys.readouterr().err


def test_worker_settings_have_working_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHURNWATCH_BROKER", "CHURNWATCH_CLOCK", "CHURNWATCH_STORE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.broker == "kafka://127.0.0.1:9092"
    assert (settings.clock, settings.processing_guarantee) == ("wall", "exactly_once")
    assert settings.topic_names() == (
        "orders",
        "email-events",
        "calls",
        "churn.at-risk",
        "churn.lost",
        "churn.recovered",
        "churnwatch.dead-letters",
        "churnwatch.ticks",
    )


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CHURNWATCH_BROKER", "localhost:9092", "broker = 'localhost:9092'"),
        ("CHURNWATCH_CLOCK", "lunar", "clock = 'lunar'"),
        ("CHURNWATCH_PARTITIONS", "0", "partitions = '0'"),
        ("CHURNWATCH_PROCESSING_GUARANTEE", "twice", "processing_guarantee = 'twice'"),
        ("CHURNWATCH_STORE", "redis://", "store = 'redis://'"),
        ("CHURNWATCH_WEB_PORT", "70000", "web_port = '70000'"),
        ("CHURNWATCH_TICK_INTERVAL_SECONDS", "0", "tick_interval_seconds = '0'"),
        ("CHURNWATCH_ORDERS_TOPIC", "orders!", "orders_topic = 'orders!'"),
        ("CHURNWATCH_LOST_TOPIC", "calls", "lost_topic and calls_topic are both 'calls'"),
    ],
)
def test_bad_worker_settings_name_the_key_and_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert named in str(error.value)
