"""The settings that bound what input may do: validated, and wired into the worker."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings
from streams.kafka.runtime.workers import limits_for


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHURNWATCH_CONFIG", raising=False)


def test_the_worker_gets_the_bounds_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNWATCH_MAX_EVENT_AHEAD_SECONDS", "120")
    monkeypatch.setenv("CHURNWATCH_MAX_MESSAGE_BYTES", "500000")
    limits = limits_for(load_settings())
    assert (limits.max_ahead_seconds, limits.max_message_bytes) == (120.0, 500_000)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.max_event_ahead_seconds == 3600.0
    assert settings.replay_max_event_jump_seconds == 366 * 86_400
    assert settings.max_message_bytes == 1_000_000


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_EVENT_AHEAD_SECONDS", "-1", "max_event_ahead_seconds = '-1'"),
        ("REPLAY_MAX_EVENT_JUMP_SECONDS", "1e12", "100 years"),
        ("MAX_MESSAGE_BYTES", "1000", "between 16384 and"),
    ],
)
def test_unusable_bounds_are_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"CHURNWATCH_{variable}", value)
    with pytest.raises(ConfigError, match=message):
        load_settings()
