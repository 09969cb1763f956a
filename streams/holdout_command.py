"""``churnwatch evaluate`` without ``--truth``: the no-order label read from the events.

Arguments are those of ``evaluate`` (:mod:`streams.evaluation_commands`); the work is in
:mod:`evaluation.holdout`. Imports of the ``eval`` extra stay inside the function.
"""

from __future__ import annotations

import argparse
import contextlib

from streams.errors import UsageError
from streams.evaluation_commands import fit_model, open_for_reading, present, report_directory
from streams.progress import Progress


def run_evaluate_holdout(args: argparse.Namespace) -> int:
    from config.settings import load_settings
    from evaluation.evaluate import EvaluationSpec
    from evaluation.holdout import evaluate_holdout
    from evaluation.holdout_report import render_table, write_report
    from evaluation.inputs import InputError
    from models.parse import parse_time_argument
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
    report_dir = report_directory(args.report)
    model = load_model(args.model or settings.model)
    with contextlib.ExitStack() as stack:
        events_handle = open_for_reading(args.events, stack)
        if model is None:  # as with --truth: fit on the events up to --fit-until or the cutoff
            model = fit_model(args, settings, events_handle, cutoff)
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
    return present(evaluation, render_table(evaluation), write_report, report_dir)
