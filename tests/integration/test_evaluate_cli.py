"""`churnwatch simulate` then `churnwatch evaluate --report`, end to end, as a user runs them."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

METHODS = ("detector", "recency_90d", "own_interval_2x", "bg_nbd", "pareto_nbd")
PER_METHOD = (
    "auc_churned",
    "auc_no_order",
    "lost",
    "recall_by_cause",
    "delay_days",
    "delay_intervals",
    "lost_within_2_intervals",
    "lead_days",
    "lead_intervals",
    "false_alarms",
    "calibration",
    "by_kind",
)


def churnwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("simulated")
    events, truth = directory / "events.jsonl", directory / "truth.jsonl"
    result = churnwatch(
        "simulate", "--customers", "300", "--days", "365", "--seed", "5",
        "--output", str(events), "--truth", str(truth),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return events, truth


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_evaluate_writes_metrics_for_every_method_and_a_self_contained_page(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    events, truth = simulated
    report = tmp_path / "report"
    result = churnwatch(
        "evaluate", "--events", str(events), "--truth", str(truth),
        "--cutoff", "2025-10-01T00:00:00Z", "--horizon", "60", "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    metrics = orjson.loads((report / "metrics.json").read_bytes())
    assert set(metrics["methods"]) == set(METHODS)
    for key in METHODS:
        block = metrics["methods"][key]
        assert set(PER_METHOD) <= set(block), key
        assert 0.5 < block["auc_churned"] <= 1.0, key
        assert _number(block["lost"]["precision"]) and _number(block["lost"]["recall"]), key
        assert _number(block["false_alarms"]["per_1000_per_month"]), key
        assert block["delay_days"]["count"] > 0, key
    detector = metrics["methods"]["detector"]
    assert _number(detector["at_risk"]["recall"])
    assert len(detector["calibration"]["churned"]) >= 2
    assert set(detector["matched"]) == set(METHODS) - {"detector"}
    assert metrics["methods"]["recency_90d"]["calibration"] is None
    assert metrics["methods"]["bg_nbd"]["params"]["converged"] is True
    population = metrics["population"]
    assert population["evaluated"] + population["excluded_no_order_before_cutoff"] == 300
    assert 0 < population["churned_by_cutoff"] < population["evaluated"]
    assert metrics["run"]["horizon_complete"] is True
    assert isinstance(metrics["bar"]["passed"], bool)

    page = (report / "index.html").read_text(encoding="utf-8")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4 and all(len(image) > 1000 for image in images)
    assert not re.search(r"(src|href)=['\"]?https?:", page)

    table = result.stdout
    assert "Churnwatch" in table and "Pareto/NBD" in table and "BG/NBD" in table
    assert re.search(r"AUC, churned by cutoff\s+0\.\d{3}", table)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cutoff", "yesterday"), "--cutoff"),
        (("--cutoff", "2025-10-01T00:00:00Z", "--horizon", "0"), "horizon"),
        (
            ("--cutoff", "2030-01-01T00:00:00Z", "--truth", "/nonexistent/truth.jsonl"),
            "cannot read",
        ),
    ],
)
def test_evaluate_refuses_unusable_arguments_with_exit_2(
    simulated: tuple[Path, Path], args: tuple[str, ...], message: str
) -> None:
    events, truth = simulated
    base = {"--events": str(events), "--truth": str(truth)}
    overrides = dict(zip(args[::2], args[1::2], strict=True))
    argv = [part for key, value in {**base, **overrides}.items() for part in (key, value)]
    result = churnwatch("evaluate", *argv)
    assert result.returncode == 2
    assert message in result.stderr


def test_evaluate_in_both_modes_reports_replays_churn_rate_table(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    events, truth = simulated
    cutoff = "2025-10-01T00:00:00Z"
    model = tmp_path / "model.json"
    done = churnwatch("fit", str(events), "--until", cutoff, "--output", str(model))
    assert done.returncode == 0, done.stderr
    replayed = tmp_path / "churn-rate.jsonl"
    done = churnwatch(
        "replay", str(events), "--until", cutoff, "--model", str(model),
        "--output", str(tmp_path / "decisions.jsonl"), "--churn-rate", str(replayed),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = [orjson.loads(line) for line in replayed.read_bytes().splitlines()]
    # January to the cutoff's own month (October), four segments and their total each.
    assert [row["month"] for row in expected[::5]] == [f"2025-{m:02d}" for m in range(1, 11)]
    assert sum(row["lost"] for row in expected if row["segment"] == "all") > 0
    assert "churn rate by month (UTC, event time) and segment" in done.stderr

    for mode in (("--truth", str(truth)), ()):
        report = tmp_path / ("truth" if mode else "no-truth")
        report.mkdir()
        result = churnwatch(
            "evaluate", "--events", str(events), *mode, "--cutoff", cutoff,
            "--horizon", "60", "--model", str(model), "--report", str(report),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        metrics = orjson.loads((report / "metrics.json").read_bytes())
        assert metrics["churn_rate"] == expected, mode
        march = next(r for r in expected if (r["month"], r["segment"]) == ("2025-03", "all"))
        assert re.search(
            rf"2025-03\s+all\s+{march['active_at_start']:,}\s+{march['lost_at_start']:,}\s+"
            rf"{march['new']:,}\s+{march['lost']:,}\s+{march['recovered']:,}\s",
            result.stdout,
        ), result.stdout
        page = (report / "index.html").read_text(encoding="utf-8")
        assert "<h2>Churn rate by month and segment</h2>" in page
