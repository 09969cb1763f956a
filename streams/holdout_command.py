"""``churnwatch evaluate`` without ``--truth``: the no-order label read from the events.

Arguments are those of ``evaluate`` (:mod:`streams.evaluation_commands`); the work is in
:mod:`evaluation.holdout`. Imports of the ``eval`` extra stay inside the function.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from streams.errors import EXIT_OK, UsageError
from streams.evaluation_commands import _open_for_reading, _report_directory
from streams.progress import Progress


def run_evaluate_holdout(args: argparse.Namespace) -> int:
    from config.settings import load_settings
    from evaluation.evaluate import EvaluationSpec
    from evaluation.holdout import evaluate_holdout
    from evaluation.holdout_report import render_table, write_report
    from evaluation.inputs import InputError
    from models.parse import parse_time_argument
    from streams.cli import parse_until
    from streams.fit_command import fit_events
    from streams.model_file import load_model
    from streams.replay import InputFile

    settings = load_settings(args.config)
    try:
        cutoff = parse_time_argument(args.cutoff)
    except ValueError as exc:
        raise UsageError(f"--cutoff: {exc}") from None
    try:
        spec = EvaluationSpec(cutoff=cutoff, horizon_days=args.horizon)
    except ValueError as exc:
        raise UsageError(f"--horizon: {exc}") from None
    report_dir = _report_directory(args.report)
    model = load_model(args.model or settings.model)
    with contextlib.ExitStack() as stack:
        events_handle = _open_for_reading(args.events, stack)
        if model is None:  # as with --truth: fit on the events up to --fit-until or the cutoff
            fit_until = parse_until(args.fit_until) if args.fit_until else cutoff
            model, _ = fit_events(
                [InputFile(args.events, events_handle)], fit_until, settings.detection
            )
            events_handle.seek(0)
        try:
            evaluation = evaluate_holdout(
                [InputFile(args.events, events_handle)],
                spec,
                settings.detection,
                Progress.for_terminal(unit="lines"),
                model=model,
            )
        except InputError as exc:
            raise UsageError(str(exc)) from None
    if not evaluation.metrics["run"]["horizon_complete"]:
        print(
            "churnwatch: warning: the events end before cutoff + horizon; "
            "the no-order label counts unobserved days as no order",
            file=sys.stderr,
        )
    print(render_table(evaluation))
    if report_dir is not None:
        write_report(evaluation, report_dir)
        print(f"report: {report_dir / 'index.html'}", file=sys.stderr)
    return EXIT_OK
