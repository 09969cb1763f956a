"""The ``churnwatch`` entry point's own behaviour: version, config show, stdout outputs, and
one-line errors for Ctrl-C and missing extras (in process, no subprocess)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import cli, evaluation_commands
from streams.config_commands import MASK


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_version_names_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"churnwatch {version('churnwatch')}"


def test_config_show_prints_the_effective_settings_with_secrets_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "churnwatch.toml"
    config.write_text('source = "urn:from-file"\n[detection]\nlost_risk = 0.8\n')
    monkeypatch.setenv("CHURNWATCH_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CHURNWATCH_SASL_USERNAME", "churnwatch")
    monkeypatch.setenv("CHURNWATCH_SASL_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("CHURNWATCH_PARTITIONS", "12")
    status, out, _ = run(capsys, "config", "show", "--config", str(config))
    assert status == 0
    shown = orjson.loads(out)
    assert shown["source"] == "urn:from-file"
    assert shown["detection"]["lost_risk"] == 0.8
    assert shown["partitions"] == 12
    assert shown["sasl_username"] == "churnwatch"
    assert shown["sasl_password"] == MASK
    assert "hunter2" not in out


def test_config_show_reports_a_bad_setting_in_one_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNWATCH_PARTITIONS", "0")
    status, out, err = run(capsys, "config", "show")
    assert (status, out) == (2, "")
    assert err.startswith("churnwatch: invalid configuration") and "partitions = '0'" in err


def test_ctrl_c_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_replay", interrupted)
    status, _, err = run(capsys, "replay")
    assert status == 130
    assert err == "churnwatch: interrupted\n"


def test_evaluate_without_the_eval_extra_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec

    def without_scipy(name: str, *args: Any) -> Any:
        return None if name == "scipy" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_scipy)
    status, _, err = run(
        capsys,
        "evaluate",
        *("--events", str(tmp_path / "e"), "--truth", str(tmp_path / "t")),
        *("--cutoff", "2025-06-01T00:00:00Z"),
    )
    assert status == 2
    assert err == (
        "churnwatch: evaluate needs the 'eval' extra (scipy not installed): "
        "pip install 'churnwatch[eval]'\n"
    )
    assert evaluation_commands.EVAL_MODULES == ("numpy", "scipy", "matplotlib")


def test_simulate_writes_events_to_stdout_for_dash(
    capsys: pytest.CaptureFixture[bytes], tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    status = cli.main(
        ["simulate", "--customers", "3", "--days", "20", "--output", "-", "--truth", str(truth)]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert not (tmp_path / "-").exists() and not Path("-").exists()
    events = [orjson.loads(line) for line in out.splitlines()]
    assert events and all("event_type" in event for event in events)
    assert len(truth.read_text().splitlines()) == 3


def test_simulate_refuses_both_outputs_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(
        capsys, "simulate", "--customers", "1", "--days", "1", "--output", "-", "--truth", "-"
    )
    assert status == 2 and "cannot both be '-'" in err


def test_replay_writes_decisions_to_stdout_for_dash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.jsonl"
    assert (
        cli.main(
            [
                "simulate",
                "--customers",
                "30",
                "--days",
                "200",
                "--output",
                str(events),
                "--truth",
                str(tmp_path / "truth.jsonl"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    status = cli.main(["replay", str(events), "--output", "-"])
    out = capsys.readouterr().out
    assert status == 0 and not (tmp_path / "-").exists()
    assert out and all(orjson.loads(line)["specversion"] == "1.0" for line in out.splitlines())


def test_produce_to_an_unreachable_broker_says_so_in_one_line(tmp_path: Path) -> None:
    # A subprocess: in-process, pytest's log capture would hide the client's raw log line.
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_type":"order"}\n')
    env = {
        **os.environ,
        "CHURNWATCH_BROKER": f"kafka://127.0.0.1:{port}",
        "CHURNWATCH_BROKER_TIMEOUT_SECONDS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "produce", str(events)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"churnwatch produce: cannot reach the Kafka broker at kafka://127.0.0.1:{port} "
        "within 1 s (KafkaConnectionError)"
    ]
