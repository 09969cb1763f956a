"""``churnwatch simulate`` (and later ``evaluate``): the analyst's commands, wired to files.

The work itself lives in :mod:`evaluation`; this module only parses arguments, opens files
and prints summaries.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import UTC, datetime
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
    simulate.add_argument("--output", required=True, metavar="PATH", help="events (JSON Lines)")
    simulate.add_argument(
        "--truth", required=True, metavar="PATH", help="one ground-truth line per customer"
    )
    simulate.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from evaluation.simulator import SimulationSpec, simulate

    try:
        spec = SimulationSpec(
            customers=args.customers, days=args.days, seed=args.seed, start=_parse_start(args.start)
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        events = _open_for_writing(args.output, stack)
        truth = _open_for_writing(args.truth, stack)
        progress = Progress.for_terminal(unit="events")
        if progress is not None:
            progress.start_file(args.output, events)
        summary = simulate(spec, events, truth, progress.update if progress else None)
        if progress is not None:
            progress.finish()
    causes = ", ".join(f"{cause} {count:,}" for cause, count in summary.by_cause.items())
    print(
        f"simulated {summary.customers:,} customers over {args.days} days: "
        f"{summary.events:,} events, {summary.churned:,} churned ({causes})",
        file=sys.stderr,
    )
    return EXIT_OK


def _parse_start(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--start {value!r} is not a date (YYYY-MM-DD)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _open_for_writing(path: str, stack: contextlib.ExitStack) -> Any:
    try:
        return stack.enter_context(open(path, "wb", buffering=1 << 20))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
