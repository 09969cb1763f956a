"""`churnwatch replay` end to end, as a user runs it: files in, files and exit codes out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.builders import call_json, email_json, line, order_json
from tests.schemas import assert_valid


def churnwatch(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


def orders(customer: str, days: list[int], start_id: int = 0) -> list[dict[str, Any]]:
    return [
        order_json(
            event_id=f"{customer}-{i + start_id}",
            customer_id=customer,
            order_id=f"{customer}-o{i}",
            occurred_at=f"2025-{1 + d // 28:02d}-{1 + d % 28:02d}T10:00:00Z",
        )
        for i, d in enumerate(days)
    ]


def summary(result: subprocess.CompletedProcess[bytes], label: str) -> int:
    """A count from the summary printed on stderr ("events applied      1,234")."""
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d,]+)", result.stderr.decode(), re.M)
    assert match, f"{label!r} not in summary:\n{result.stderr.decode()}"
    return int(match.group(1).replace(",", ""))


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Two customers: a weekly buyer who stops, and a monthly buyer who keeps going."""
    events = orders("weekly", [0, 7, 14, 21, 28]) + orders("monthly", [0, 28, 56, 84, 112])
    events.sort(key=lambda e: e["occurred_at"])
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(line(e) for e in events))
    return path


def test_replay_writes_valid_cloudevents_a_snapshot_and_a_summary(
    history: Path, tmp_path: Path
) -> None:
    out, snap = tmp_path / "out.jsonl", tmp_path / "snap.jsonl"
    result = churnwatch("replay", str(history), "--output", str(out), "--snapshot", str(snap))
    assert result.returncode == 0, result.stderr
    decisions = read_lines(out)
    assert [(d["subject"], d["type"]) for d in decisions] == [
        ("weekly", "churnwatch.customer.at_risk"),
        ("weekly", "churnwatch.customer.lost"),
    ]
    for decision in decisions:
        assert_valid("decision.cloudevent", decision)
    views = {v["customer_id"]: v for v in read_lines(snap)}
    assert set(views) == {"weekly", "monthly"}
    for view in views.values():
        assert_valid("customer-view", view)
    assert views["monthly"]["status"] == "active"
    assert views["weekly"]["status"] == "lost"
    assert summary(result, "events applied") == 10
    assert summary(result, "lost") == 1
    # The end-of-run report includes the churn-rate table, the same as --churn-rate writes.
    report = result.stderr.decode()
    assert "churn rate by month (UTC, event time) and segment" in report
    rates = tmp_path / "rates.jsonl"
    again = churnwatch("replay", str(history), "--output", os.devnull, "--churn-rate", str(rates))
    table = again.stderr.decode()[again.stderr.decode().index("churn rate by month") :]
    assert table in report
    lost = sum(r["lost"] for r in read_lines(rates) if r["segment"] == "all")
    assert lost == 1


def test_decisions_go_to_stdout_by_default_and_are_deterministic(history: Path) -> None:
    first = churnwatch("replay", str(history))
    second = churnwatch("replay", str(history))
    assert first.returncode == 0
    assert first.stdout == second.stdout
    assert len(first.stdout.splitlines()) == 2


def test_stdin_is_read_when_no_file_or_dash_is_given(history: Path) -> None:
    from_file = churnwatch("replay", str(history)).stdout
    assert churnwatch("replay", stdin=history.read_bytes()).stdout == from_file
    assert churnwatch("replay", "-", stdin=history.read_bytes()).stdout == from_file


def test_until_ignores_later_events_and_advances_the_clock(history: Path) -> None:
    early = churnwatch("replay", str(history), "--until", "2025-01-30T00:00:00Z")
    assert early.returncode == 0
    assert early.stdout == b""  # nobody overdue yet
    assert summary(early, "after --until") == 5
    late = churnwatch("replay", str(history), "--until", "2026-06-01T00:00:00Z")
    kinds = [orjson.loads(x)["type"] for x in late.stdout.splitlines()]
    assert kinds.count("churnwatch.customer.lost") == 2  # monthly has gone silent too


def test_every_kind_of_bad_line_is_dead_lettered_and_the_run_carries_on(tmp_path: Path) -> None:
    good = orders("c1", [0, 7, 14])
    bad_lines = [
        b"this is not json\n",
        b"[1, 2, 3]\n",
        line(order_json(event_id="x1", event_type="refund")),
        line(order_json(event_id="x2", customer_id=None)),
        line(order_json(event_id="x3", amount=-3)),
        line(order_json(event_id="x4", occurred_at="last tuesday")),
        line(email_json(event_id="x5", action="forwarded")),
        line(call_json(event_id="x6", resolved="maybe")),
        b'{"event_type": "order", "customer_id": "\xff\xfe"}\n',
        line(order_json(event_id="x7", customer_id="c1", occurred_at="2024-06-01T00:00:00Z")),
    ]
    data = line(good[0]) + line(good[1]) + b"".join(bad_lines) + b"\n" + line(good[2])
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(data)
    dead = tmp_path / "dead.jsonl"
    result = churnwatch(
        "replay",
        str(source),
        "--dead-letter",
        str(dead),
        "--snapshot",
        str(tmp_path / "snap.jsonl"),
    )
    assert result.returncode == 0
    letters = read_lines(dead)
    for letter in letters:
        assert_valid("dead-letter", letter)
    assert [(d["line"], d["code"]) for d in letters] == [
        (3, "invalid_json"),
        (4, "not_an_object"),
        (5, "unknown_event_type"),
        (6, "missing_field"),
        (7, "invalid_field"),
        (8, "invalid_time"),
        (9, "invalid_field"),
        (10, "invalid_field"),
        (11, "invalid_json"),
        (12, "late_event"),
    ]
    assert letters[0]["raw"] == "this is not json"
    assert "raw_base64" in letters[8]
    assert "amount -3 is negative" in letters[4]["error"]
    snapshot = read_lines(tmp_path / "snap.jsonl")
    assert snapshot[0]["order_count"] == 3  # the good lines around the bad ones all landed
    assert summary(result, "rejected") == 10
    assert summary(result, "late_event") == 1


def test_duplicates_are_ignored_not_dead_lettered(tmp_path: Path) -> None:
    events = orders("c1", [0, 7])
    source = tmp_path / "dup.jsonl"
    source.write_bytes(line(events[0]) + line(events[0]) + line(events[1]))
    dead = tmp_path / "dead.jsonl"
    result = churnwatch("replay", str(source), "--dead-letter", str(dead))
    assert result.returncode == 0
    assert dead.read_bytes() == b""
    assert summary(result, "duplicates") == 1


def test_files_are_replayed_in_the_order_given(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    events = orders("c1", [0, 7, 14, 21])
    first.write_bytes(b"".join(line(e) for e in events[:2]))
    second.write_bytes(b"".join(line(e) for e in events[2:]))
    both = churnwatch("replay", str(first), str(second), "--until", "2025-12-01T00:00:00Z")
    reversed_order = churnwatch(
        "replay", str(second), str(first), "--dead-letter", str(tmp_path / "dead.jsonl")
    )
    assert both.returncode == reversed_order.returncode == 0
    assert len(both.stdout.splitlines()) == 2
    assert len(read_lines(tmp_path / "dead.jsonl")) == 2  # a's events are late after b's


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "/nonexistent/events.jsonl"], "cannot read /nonexistent/events.jsonl"),
        (["replay", "--until", "next week"], "--until"),
        (["replay", "--config", "/nonexistent/churnwatch.toml"], "does not exist"),
        (["replay", "--output", "/nonexistent/dir/out.jsonl"], "cannot write"),
    ],
)
def test_unusable_arguments_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = churnwatch(*args, stdin=b"")
    assert result.returncode == 2
    assert message in result.stderr.decode()


def test_bad_configuration_names_the_key_and_value(tmp_path: Path, history: Path) -> None:
    config = tmp_path / "churnwatch.toml"
    config.write_text("[detection]\nlost_risk = 1.5\n")
    result = churnwatch("replay", str(history), "--config", str(config))
    assert result.returncode == 2
    assert "detection" in result.stderr.decode()
    assert "lost_risk" in result.stderr.decode()
    config.write_text("[detection]\nat_risk_rsik = 0.4\n")
    result = churnwatch("replay", str(history), "--config", str(config))
    assert result.returncode == 2
    assert "detection.at_risk_rsik = 0.4" in result.stderr.decode()


def test_config_file_and_environment_change_the_run(tmp_path: Path, history: Path) -> None:
    config = tmp_path / "churnwatch.toml"
    config.write_text('source = "https://shop.example/churn"\n')
    result = churnwatch("replay", str(history), "--config", str(config))
    assert orjson.loads(result.stdout.splitlines()[0])["source"] == "https://shop.example/churn"
    env = {**os.environ, "CHURNWATCH_SOURCE": "urn:from-env"}
    result = churnwatch("replay", str(history), "--config", str(config), env=env)
    assert orjson.loads(result.stdout.splitlines()[0])["source"] == "urn:from-env"


def test_a_progress_bar_runs_only_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    import pty

    events = [e for i in range(300) for e in orders(f"c{i}", [0, 7, 14], start_id=0)]
    events.sort(key=lambda e: e["occurred_at"])
    source = tmp_path / "many.jsonl"
    source.write_bytes(b"".join(line(e) for e in events))
    main_fd, replica_fd = pty.openpty()
    with open(os.devnull, "wb") as devnull:
        process = subprocess.run(
            [sys.executable, "-m", "streams.cli", "replay", str(source)],
            stdout=devnull,
            stderr=replica_fd,
            timeout=120,
            check=False,
        )
    os.close(replica_fd)
    drawn = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main_fd)
    assert process.returncode == 0
    assert b"\r" in drawn and b"events" in drawn and b"/s" in drawn and b"100%" in drawn
    last_redraw = drawn.split(b"lines read")[0].rstrip().rsplit(b"\r", 1)[-1]
    assert b"900 events" in last_redraw  # the true final count, not a periodic one
    assert b"00:00<" in last_redraw  # elapsed<remaining: an ETA
    piped = churnwatch("replay", str(source))
    assert b"\r" not in piped.stderr
