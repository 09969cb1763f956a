"""Settings: defaults, TOML, environment, and errors that name the key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, load_settings
from models.policy import Policy


def test_defaults_work_with_no_configuration_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHURNWATCH_CONFIG", raising=False)
    settings = load_settings()
    assert settings.detection == Policy()
    assert settings.source == "urn:churnwatch:detector"


def test_a_toml_file_sets_values(tmp_path: Path) -> None:
    path = tmp_path / "churnwatch.toml"
    path.write_text(
        'source = "https://shop.example/churn"\n'
        "[detection]\nat_risk_risk = 0.4\nallowed_lateness_seconds = 60\n"
        'segments = [["small", 0], ["big", 100]]\n'
    )
    settings = load_settings(path)
    assert settings.source == "https://shop.example/churn"
    assert settings.detection.at_risk_risk == 0.4
    assert settings.detection.allowed_lateness_seconds == 60
    assert settings.detection.segment_for(150) == "big"
    assert settings.detection.lost_risk == Policy().lost_risk


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "churnwatch.toml"
    path.write_text("[detection]\nat_risk_risk = 0.4\nlost_risk = 0.8\n")
    monkeypatch.setenv("CHURNWATCH_DETECTION__LOST_RISK", "0.95")
    monkeypatch.setenv("CHURNWATCH_CONFIG", str(path))
    settings = load_settings()
    assert (settings.detection.at_risk_risk, settings.detection.lost_risk) == (0.4, 0.95)


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("[detection]\nlost_risk = 2.0\n", "at_risk_risk < lost_risk"),
        ("[detection]\ndedup_memory = 'many'\n", "detection.dedup_memory = 'many'"),
        ("[detection]\nunknown_knob = 1\n", "detection.unknown_knob = 1"),
        ("colour = 'blue'\n", "colour = 'blue'"),
        ('source = "has spaces"\n', "source = 'has spaces'"),
        ("[detection]\nsegments = [['vip', 10]]\n", "first segment must start at spend 0"),
        ("[detection]\ncomplaint_odds = 0.5\n", "complaint_odds must be >= 1"),
    ],
)
def test_bad_values_fail_with_the_key_and_value(tmp_path: Path, toml: str, fragment: str) -> None:
    path = tmp_path / "churnwatch.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as failure:
        load_settings(path)
    assert fragment in str(failure.value)


def test_bad_environment_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNWATCH_DETECTION__INTERVAL_WINDOW", "1")
    with pytest.raises(ConfigError, match=r"interval_window must be in 2\.\.64"):
        load_settings()


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[detection\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_the_action_table_is_set_cell_by_cell_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[detection]\nwin_back_cost = 40\n[detection.actions.lost]\ndeclining_value = "win_back"\n'
    )
    monkeypatch.setenv("CHURNWATCH_DETECTION__ACTIONS__AT_RISK__HABIT_LAPSE", "offer")
    settings = load_settings(path)
    policy = settings.detection
    assert policy.win_back_cost == 40.0
    assert policy.actions["lost"]["declining_value"] == "win_back"
    assert policy.actions["at_risk"]["habit_lapse"] == "offer"
    assert policy.actions["at_risk"]["service_failure"] == "resolve_and_call"


def test_a_bad_action_table_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[detection.actions.lost]\nhabit_lapse = "call_them_maybe"\n')
    with pytest.raises(ConfigError, match="unknown action 'call_them_maybe'"):
        load_settings(path)
