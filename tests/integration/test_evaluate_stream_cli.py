"""`churnwatch evaluate` judges the stream: every decision at its own time, with an oracle row."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from models.parse import parse_time_argument
from tests.integration.test_evaluate_cli import churnwatch

METHODS = ("detector", "recency_90d", "own_interval_2x", "bg_nbd", "pareto_nbd")
ORACLE_FIELDS = (
    b"observed_from",
    b"churn_hazard_per_year",
    b"hazard_ratio_after_resolution",
    b"complaint_resolved_at",
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("simulated")
    events, truth = directory / "events.jsonl", directory / "truth.jsonl"
    result = churnwatch(
        "simulate", "--customers", "400", "--days", "365", "--seed", "3",
        "--output", str(events), "--truth", str(truth),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return events, truth


def evaluate(events: Path, truth: Path, report: Path, *extra: str) -> dict[str, object]:
    result = churnwatch(
        "evaluate", "--events", str(events), "--truth", str(truth),
        "--cutoff", "2025-11-01T00:00:00Z", "--report", str(report), *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the stream, every decision judged at its own time" in result.stdout
    metrics: dict[str, object] = orjson.loads((report / "metrics.json").read_bytes())
    return metrics | {"stdout": result.stdout}


def test_every_method_and_the_oracle_are_scored_in_the_window(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    metrics = evaluate(*simulated, tmp_path / "r", "--score-from", "2025-06-01T00:00:00Z")
    stream = metrics["stream"]
    assert isinstance(stream, dict)
    assert stream["window"] == {"from": "2025-06-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}
    # The detector's population model was fitted on what came before the scored window.
    run = metrics["run"]
    assert isinstance(run, dict)
    assert run["model"]["fitted_until"] == parse_time_argument("2025-06-01T00:00:00Z")
    methods = metrics["methods"]
    assert isinstance(methods, dict)
    for key in METHODS:
        block = methods[key]["stream"]
        assert block["lost"]["events"] > 0, key
        assert 0 <= block["lost"]["precision"] <= 1, key
        assert block["churners"]["eligible"] > 0, key
    baseline = methods["recency_90d"]["stream"]
    assert baseline["at_risk"]["events"] == 0 and baseline["lost"]["repeats"] == 0
    oracle = stream["oracle"]
    assert oracle["label"] == "Oracle" and oracle["lost"]["events"] > 0
    assert oracle["lost"]["repeats"] == oracle["at_risk"]["repeats"] == 0
    assert oracle["at_risk_lead"]["share_without_at_risk"] == 0.0
    bar = metrics["bar"]
    assert isinstance(bar, dict) and isinstance(bar["stream"]["passed"], bool)
    assert "Oracle" in str(metrics["stdout"])
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "every decision judged at its own time" in page and "Oracle" in page


def test_the_window_skips_half_the_history_by_default_and_old_truth_has_no_oracle(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    events, truth = simulated
    old_truth = tmp_path / "old-truth.jsonl"
    lines = []
    for line in truth.read_bytes().splitlines():
        row = orjson.loads(line)
        lines.append(
            orjson.dumps({k: v for k, v in row.items() if k.encode() not in ORACLE_FIELDS})
        )
    old_truth.write_bytes(b"\n".join(lines) + b"\n")
    metrics = evaluate(events, old_truth, tmp_path / "r")
    stream = metrics["stream"]
    assert isinstance(stream, dict)
    # less than a year of history: halfway between the first order and the cutoff
    assert stream["window"]["from"].startswith("2025-06-0")
    assert stream["oracle"] is None and "no oracle" in stream["oracle_note"]
    assert "no oracle" in str(metrics["stdout"])


def test_a_window_starting_after_the_cutoff_is_refused(simulated: tuple[Path, Path]) -> None:
    events, truth = simulated
    result = churnwatch(
        "evaluate", "--events", str(events), "--truth", str(truth),
        "--cutoff", "2025-11-01T00:00:00Z", "--score-from", "2025-12-01T00:00:00Z",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--score-from" in result.stderr
