"""`churnwatch fit` end to end: a history in, a population model out, used by replay."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from tests.integration.test_replay_cli import churnwatch
from tests.schemas import assert_valid


def simulated(tmp_path: Path) -> Path:
    events = tmp_path / "events.jsonl"
    done = churnwatch(
        "simulate", "--customers", "400", "--days", "300", "--seed", "5",
        "--output", str(events), "--truth", str(tmp_path / "truth.jsonl"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return events


def test_fit_writes_a_model_that_replay_and_the_setting_both_use(tmp_path: Path) -> None:
    events = simulated(tmp_path)
    model = tmp_path / "model.json"
    done = churnwatch("fit", str(events), "--until", "2025-09-01T00:00:00Z", "--output", str(model))
    assert done.returncode == 0, done.stderr
    assert b"fitted on" in done.stderr
    document = orjson.loads(model.read_bytes())
    assert_valid("population-model", document)
    assert document["customers"] > 100
    assert document["interval_distribution"] in ("weibull", "lognormal")

    by_flag = churnwatch("replay", str(events), "--model", str(model))
    env = {**os.environ, "CHURNWATCH_MODEL": str(model)}
    by_setting = churnwatch("replay", str(events), env=env)
    prior = churnwatch("replay", str(events))
    assert by_flag.returncode == by_setting.returncode == prior.returncode == 0
    assert by_flag.stdout == by_setting.stdout  # one model, the same decisions
    assert by_flag.stdout != prior.stdout  # and the model matters
    for decision in by_flag.stdout.splitlines():
        assert_valid("decision.cloudevent", orjson.loads(decision))


def test_an_unusable_model_is_a_clear_usage_error(tmp_path: Path) -> None:
    events = simulated(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "churnwatch.population-model/1", "dropout_shape": -1}')
    done = churnwatch("replay", str(events), "--model", str(bad))
    assert done.returncode == 2
    assert b"model" in done.stderr and b"Traceback" not in done.stderr
