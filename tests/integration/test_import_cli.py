"""`churnwatch import` of a shop's export, then `churnwatch evaluate` without truth, end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from models.events import OrderRecorded
from models.parse import parse_event
from tests.schemas import assert_valid

BAD_ROWS = 3


def churnwatch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def write_export(path: Path, customers: int = 400, seed: int = 9) -> int:
    """A CSV export like a shop's: Pareto/NBD buyers over 18 months, sorted by customer, with
    dates as dd/mm/yyyy, a few bad rows, and a quoted customer name. Returns the good rows."""
    rng = np.random.default_rng(seed)
    start = date(2024, 1, 1)
    rows = ["Customer,Order date,Total"]
    good = 0
    for i in range(customers):
        first = rng.uniform(0, 120)
        rate = rng.gamma(1.5, 1 / 40)  # orders per day
        life = rng.exponential(250)
        times = [first]
        while True:
            nxt = times[-1] + rng.exponential(1 / rate)
            if nxt > min(first + life, 545):
                break
            times.append(nxt)
        for t in times:
            day = start + timedelta(days=int(t))
            name = f'"Shop {i:03d}, Ltd"' if i % 50 == 0 else f"C{i:03d}"
            rows.append(f"{name},{day:%d/%m/%Y},{rng.gamma(2, 20):.2f}")
            good += 1
    rows.insert(5, "C999,31/02/2024,10.00")  # no such day
    rows.insert(9, "C998,01/03/2024,ten")
    rows.insert(12, ",01/03/2024,5")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return good


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    directory = tmp_path_factory.mktemp("import")
    export, events, rejects = (
        directory / "export.csv",
        directory / "events.jsonl",
        directory / "rejects.jsonl",
    )
    good = write_export(export)
    result = churnwatch(
        "import", str(export), "--customer", "Customer", "--date", "Order date",
        "--amount", "Total", "--date-format", "%d/%m/%Y", "--currency", "GBP",
        "--output", str(events), "--rejects", str(rejects),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{good:,} orders" in result.stderr and f"{BAD_ROWS} rows rejected" in result.stderr
    return events, rejects, good


def test_import_writes_contract_events_in_time_order_and_reports_bad_rows(
    imported: tuple[Path, Path, int],
) -> None:
    events, rejects, good = imported
    lines = events.read_bytes().splitlines()
    assert len(lines) == good
    parsed = [parse_event(raw) for raw in lines]
    assert all(isinstance(event, OrderRecorded) for event in parsed)
    times = [event.at for event in parsed if isinstance(event, OrderRecorded)]
    assert times == sorted(times)
    assert_valid("input-event", orjson.loads(lines[0]))
    assert {orjson.loads(raw)["currency"] for raw in lines} == {"GBP"}
    assert "Shop 000, Ltd" in {orjson.loads(raw)["customer_id"] for raw in lines}
    refused = [orjson.loads(raw) for raw in rejects.read_bytes().splitlines()]
    assert [r["line"] for r in refused] == [6, 10, 13]
    assert "does not match" in refused[0]["reason"]
    assert "not a number" in refused[1]["reason"]
    assert refused[2]["reason"] == "empty customer id"


def test_import_to_stdout_gives_the_same_events_as_to_a_file(
    imported: tuple[Path, Path, int], tmp_path: Path
) -> None:
    events, _, _ = imported
    export = events.parent / "export.csv"
    result = churnwatch(
        "import", "-", "--customer", "1", "--date", "2", "--amount", "3",
        "--date-format", "%d/%m/%Y", "--currency", "GBP",
        stdin=export.read_text(encoding="utf-8"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == events.read_bytes()
    assert "line 6:" in result.stderr  # without --rejects, examples go to stderr


def test_evaluate_without_truth_scores_every_method_on_the_holdout(
    imported: tuple[Path, Path, int], tmp_path: Path
) -> None:
    events, _, _ = imported
    report = tmp_path / "report"
    result = churnwatch(
        "evaluate", "--events", str(events), "--cutoff", "2025-01-01T00:00:00Z",
        "--horizon", "150", "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no ground truth" in result.stdout
    assert re.search(r"lost: precision\s+(\d\.\d{3}|-)\s+\d\.\d{3}", result.stdout)
    metrics = orjson.loads((report / "metrics.json").read_bytes())
    assert metrics["run"]["mode"] == "holdout" and metrics["run"]["horizon_complete"] is True
    methods = metrics["methods"]
    assert set(methods) == {
        "detector", "recency_90d", "recency_182d", "own_interval_2x", "bg_nbd", "pareto_nbd",
        "mbg_cnbd_k",
    }  # fmt: skip
    population = metrics["population"]
    assert 0 < population["no_order_in_horizon"] < population["evaluated"] <= 400
    for key, block in methods.items():
        assert 0.5 < block["auc_no_order"] <= 1.0, key
    assert 0 < methods["pareto_nbd"]["p_no_order"]["brier"] < population["brier_base_rate"]
    assert (report / "index.html").read_text(encoding="utf-8").count("data:image/png") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customer", "Client"), "'Client' is not in the header"),
        (("--date-format", "%Y-%m-%d"), "no row of"),
        (("--no-header", "--customer", "Customer"), "no header"),
        (("--currency", "pounds"), "three capital letters"),
        (("--time-of-day", "noon"), "--time-of-day"),
    ],
)
def test_import_refuses_options_that_do_not_fit_with_exit_2(
    imported: tuple[Path, Path, int], args: tuple[str, ...], message: str
) -> None:
    export = imported[0].parent / "export.csv"
    base = {
        "--customer": "Customer", "--date": "Order date", "--amount": "Total",
        "--date-format": "%d/%m/%Y",
    }  # fmt: skip
    options = list(args)
    flags = [a for a in options if a.startswith("--no-")]
    overrides = dict(zip(options[len(flags) :: 2], options[len(flags) + 1 :: 2], strict=True))
    argv = [part for key, value in {**base, **overrides}.items() for part in (key, value)]
    result = churnwatch("import", str(export), *flags, *argv, "--output", "/dev/null")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_import_of_a_missing_file_is_exit_2() -> None:
    result = churnwatch(
        "import", "/nonexistent/export.csv", "--customer", "1", "--date", "2", "--amount", "3"
    )
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_import_merges_a_customers_rows_of_one_day_when_asked(tmp_path: Path) -> None:
    export = tmp_path / "daily.txt"
    export.write_text(
        "id  date  cds  value\r\n 001 19970101 1 11.77\r\n 002 19970112 1 12.00\r\n"
        " 002 19970112 5 77.00\r\n 001 19970102 2 20.76\r\n",
        encoding="utf-8",
    )
    args = (
        "import", str(export), "--delimiter", "whitespace", "--customer", "id",
        "--date", "date", "--amount", "value", "--date-format", "%Y%m%d", "--currency", "USD",
    )  # fmt: skip
    kept = churnwatch(*args)
    merged = churnwatch(*args, "--merge-same-time")
    assert kept.returncode == merged.returncode == 0, kept.stderr + merged.stderr
    assert len(kept.stdout.splitlines()) == 4
    events = [orjson.loads(raw) for raw in merged.stdout.splitlines()]
    assert [(e["customer_id"], e["occurred_at"], e["amount"]) for e in events] == [
        ("001", "1997-01-01T12:00:00Z", 11.77),
        ("001", "1997-01-02T12:00:00Z", 20.76),
        ("002", "1997-01-12T12:00:00Z", 89.0),
    ]
    assert "(1 row merged into an order); 0 rows rejected" in merged.stderr
