"""``churnwatch simulate`` and ``churnwatch evaluate``: the analyst's commands, wired to files.

The work itself lives in :mod:`evaluation`; this module only parses arguments, opens files
and prints summaries. numpy, scipy and matplotlib (the ``eval`` extra) are imported inside
the run functions only, so the worker's runtime never loads them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.errors import EXIT_OK, UsageError
from streams.progress import Progress


def register(commands: Any) -> None:
    """Add the subcommands to the ``churnwatch`` parser."""
    simulate = commands.add_parser(
        "simulate",
        help="write a realistic simulated event history with ground truth",
        description="Simulate customers ordering, reading email and calling, some of them "
        "churning for a known cause. Deterministic for a seed; streams its output.",
    )
    simulate.add_argument("--customers", type=int, required=True, metavar="N")
    simulate.add_argument("--days", type=int, required=True, metavar="D")
    simulate.add_argument("--seed", type=int, default=42, metavar="S")
    simulate.add_argument(
        "--start", default="2025-01-01", metavar="DATE", help="first day (default 2025-01-01)"
    )
    simulate.add_argument(
        "--output", required=True, metavar="PATH", help="events (JSON Lines); '-' is stdout"
    )
    simulate.add_argument(
        "--truth",
        required=True,
        metavar="PATH",
        help="one ground-truth line per customer; '-' is stdout",
    )
    simulate.set_defaults(run=run_simulate)
    _register_evaluate(commands)


def _register_evaluate(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score the detector and classic baselines against ground truth",
        description="Replay the events up to the cutoff through the engine, then score its "
        "risk, flags and timing against the truth, side by side with a 90-day recency rule, "
        "twice the customer's own interval, BG/NBD and Pareto/NBD fitted on the same events. "
        "Metric definitions: docs/evaluation.md.",
    )
    evaluate.add_argument("--events", required=True, metavar="PATH", help="events (JSON Lines)")
    evaluate.add_argument(
        "--truth",
        metavar="PATH",
        help="ground truth (churnwatch simulate); without it the label is no order in the "
        "horizon, read from the events (real purchase logs)",
    )
    evaluate.add_argument(
        "--cutoff", required=True, metavar="TIME", help="RFC 3339: the moment of judgement"
    )
    evaluate.add_argument(
        "--horizon",
        type=float,
        default=90.0,
        metavar="DAYS",
        help="no-order label: no order within this many days after the cutoff (default 90)",
    )
    evaluate.add_argument(
        "--score-from",
        metavar="TIME",
        help="RFC 3339: start of the window in which every decision is scored at its own time "
        "(default: a year after the first order; halfway to the cutoff if that is sooner)",
    )
    evaluate.add_argument(
        "--report", metavar="DIR", help="write metrics.json and a self-contained index.html here"
    )
    evaluate.add_argument("--config", metavar="PATH", help="TOML settings file ([detection])")
    evaluate.add_argument(
        "--model",
        metavar="PATH",
        help="population model to judge with (churnwatch fit); default: the model setting, "
        "else one fitted on the events up to --fit-until",
    )
    evaluate.add_argument(
        "--fit-until",
        metavar="TIME",
        help="RFC 3339: without a model, fit one on the events up to TIME (default: "
        "--score-from when given, else --cutoff)",
    )
    evaluate.set_defaults(run=run_evaluate)


def run_simulate(args: argparse.Namespace) -> int:
    from evaluation.simulator import SimulationSpec, simulate

    try:
        spec = SimulationSpec(
            customers=args.customers, days=args.days, seed=args.seed, start=_parse_start(args.start)
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.output == "-" and args.truth == "-":
        raise UsageError("--output and --truth cannot both be '-' (stdout)")
    with contextlib.ExitStack() as stack:
        events = _open_for_writing(args.output, stack)
        truth = _open_for_writing(args.truth, stack)
        progress = Progress.for_terminal(unit="events")
        if progress is not None:
            progress.start_file(args.output, events)
        summary = simulate(spec, events, truth, progress.update if progress else None)
        if progress is not None:
            progress.update(summary.events)
            progress.finish()
    causes = ", ".join(f"{cause} {count:,}" for cause, count in summary.by_cause.items())
    print(
        f"simulated {summary.customers:,} customers over {args.days} days: "
        f"{summary.events:,} events, {summary.churned:,} churned ({causes})",
        file=sys.stderr,
    )
    return EXIT_OK


def run_evaluate(args: argparse.Namespace) -> int:
    _require_eval_extra("evaluate")
    if args.truth is None:
        from streams.holdout_command import run_evaluate_holdout

        return run_evaluate_holdout(args)
    from config.settings import load_settings
    from evaluation.evaluate import EvaluationSpec, evaluate
    from evaluation.inputs import InputError, read_truth
    from evaluation.report import render_table, write_report
    from models.parse import parse_time_argument
    from streams.model_file import load_model
    from streams.replay import InputFile

    settings = load_settings(args.config)
    try:
        cutoff = parse_time_argument(args.cutoff)
    except ValueError as exc:
        raise UsageError(f"--cutoff: {exc}") from None
    score_from = None
    if args.score_from is not None:
        try:
            score_from = parse_time_argument(args.score_from)
        except ValueError as exc:
            raise UsageError(f"--score-from: {exc}") from None
        if not score_from < cutoff:
            raise UsageError("--score-from must be before --cutoff")
    try:
        spec = EvaluationSpec(cutoff=cutoff, horizon_days=args.horizon, score_from=score_from)
    except ValueError as exc:
        raise UsageError(f"--horizon: {exc}") from None
    report_dir = report_directory(args.report)
    model = load_model(args.model or settings.model)
    with contextlib.ExitStack() as stack:
        truth_handle = open_for_reading(args.truth, stack)
        events_handle = open_for_reading(args.events, stack)
        if model is None:
            # A stream scored from --score-from is judged by a model that knew nothing of it.
            default = score_from if score_from is not None else cutoff
            model = fit_model(args, settings, events_handle, default)
        try:
            truth = read_truth(truth_handle, args.truth)
            evaluation = evaluate(
                [InputFile(args.events, events_handle)],
                truth,
                spec,
                settings.detection,
                Progress.for_terminal(unit="lines"),
                model=model,
            )
        except InputError as exc:
            raise UsageError(str(exc)) from None
    return present(evaluation, render_table(evaluation), write_report, report_dir)


def fit_model(
    args: argparse.Namespace, settings: Any, events_handle: Any, default_until: float
) -> Any:
    """The population model fitted on the events up to ``--fit-until`` (default
    ``default_until``), leaving the events file at its start for the evaluation."""
    from streams.cli import parse_until
    from streams.fit_command import fit_events
    from streams.replay import InputFile

    until = parse_until(args.fit_until) if args.fit_until else default_until
    model, _ = fit_events([InputFile(args.events, events_handle)], until, settings.detection)
    events_handle.seek(0)
    return model


def present(evaluation: Any, table: str, write_report: Any, report_dir: Path | None) -> int:
    """Print an evaluation's table (and a warning for an incomplete horizon) and write its
    report; the exit status."""
    if not evaluation.metrics["run"]["horizon_complete"]:
        print(
            "churnwatch: warning: the events end before cutoff + horizon; "
            "the no-order label counts unobserved days as no order",
            file=sys.stderr,
        )
    print(table)
    if report_dir is not None:
        write_report(evaluation, report_dir)
        print(f"report: {report_dir / 'index.html'}", file=sys.stderr)
    return EXIT_OK


# What ``pip install 'churnwatch[eval]'`` adds; evaluate imports them.
EVAL_MODULES = ("numpy", "scipy", "matplotlib")


def _require_eval_extra(command: str) -> None:
    missing = [name for name in EVAL_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"{command} needs the 'eval' extra ({', '.join(missing)} not installed): "
            "pip install 'churnwatch[eval]'"
        )


def report_directory(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --report {value}: {exc.strerror}") from None
    if not path.is_dir():
        raise UsageError(f"--report {value} is not a directory")
    return path


def open_for_reading(path: str, stack: contextlib.ExitStack) -> Any:
    if Path(path).is_dir():
        raise UsageError(f"cannot read {path}: it is a directory")
    try:
        return stack.enter_context(open(path, "rb", buffering=1 << 20))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _parse_start(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--start {value!r} is not a date (YYYY-MM-DD)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _open_for_writing(path: str, stack: contextlib.ExitStack) -> Any:
    if path == "-":
        return sys.stdout.buffer
    try:
        return stack.enter_context(open(path, "wb", buffering=1 << 20))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
