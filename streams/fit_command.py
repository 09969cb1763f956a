"""``churnwatch fit``: learn the population model from an event history.

Replays the events through the engine up to ``--until`` (default: the newest event), then
fits :class:`models.population.PopulationModel` to the customers' states
(:mod:`models.fitting`) and writes it as JSON. The model is what ``--model`` (replay,
evaluate) and the ``model`` setting (the worker) take, so every engine of a deployment
decides with the same population.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from config.settings import load_settings
from models.engine import Engine
from models.fitting import fit, fit_evidence, outcome_of
from models.policy import DAY, Policy
from models.population import PopulationModel
from streams.errors import EXIT_OK, UsageError
from streams.model_file import encode_model
from streams.progress import Progress
from streams.replay import InputFile, ReplaySummary, replay

# Outcomes that weigh the evidence: who ordered within this many days of being judged.
EVIDENCE_HORIZON_DAYS = 90.0


def register(commands: Any) -> None:
    """Add ``fit`` to the ``churnwatch`` parser."""
    command = commands.add_parser(
        "fit",
        help="learn the population model (rhythm, lifetime) from an event history",
        description="Replay input events through the engine up to --until, then fit the "
        "population model every decision leans on (docs/architecture.md) and write it as "
        "JSON for --model and the model setting.",
    )
    command.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines input ('-': stdin)")
    command.add_argument(
        "--until", metavar="TIME", help="RFC 3339: fit as of TIME (default: the newest event)"
    )
    command.add_argument(
        "--output", metavar="PATH", default="-", help="the model, JSON ('-': stdout, default)"
    )
    command.add_argument("--config", metavar="PATH", help="TOML settings file ([detection])")
    command.set_defaults(run=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from streams.cli import open_inputs, parse_until  # the CLI module registers this one

    settings = load_settings(args.config)
    policy = settings.detection
    until = parse_until(args.until)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        inputs = list(open_inputs(args.files, stack))
        model, summary = fit_events(inputs, until, policy, Progress.for_terminal())
    seconds = time.perf_counter() - started
    document = encode_model(model)
    if args.output == "-":
        sys.stdout.buffer.write(document)
    else:
        try:
            with open(args.output, "wb") as handle:
                handle.write(document)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
    print(
        f"fitted on {model.customers:,} buyers ({summary.applied:,} events) in {seconds:.0f} s: "
        f"typical interval {2.718281828459045**model.interval_mean:.1f} days, mean leaving "
        f"hazard {365 * model.mean_hazard_per_day:.3f} a year",
        file=sys.stderr,
    )
    return EXIT_OK


def fit_events(
    inputs: list[InputFile],
    until: float | None,
    policy: Policy,
    progress: Progress | None = None,
) -> tuple[PopulationModel, ReplaySummary]:
    """Replay ``inputs`` up to ``until`` (default: the newest event) and fit the model.

    The evidence weights are fitted on outcomes: a second replay stops ``evidence_horizon``
    before the end, and each customer's signals then are weighed against whether they
    ordered by the end (:func:`models.fitting.fit_evidence`). Inputs that cannot be read
    twice (stdin) keep the policy's weights.
    """
    engine = Engine(policy)
    summary = replay(inputs, engine, _ignore, _ignore, until, progress)
    end = until if until is not None else engine.newest_event_at
    if not engine.customers or end == float("-inf"):
        raise UsageError("no events to fit the population model to")
    model = fit(engine.customers.values(), end, policy)
    judged_at = end - EVIDENCE_HORIZON_DAYS * DAY
    first = min(
        (s.first_order_at for s in engine.customers.values() if s.first_order_at is not None),
        default=end,
    )
    if not all(f.handle.seekable() for f in inputs) or judged_at <= first:
        return model, summary
    for source in inputs:
        source.handle.seek(0)
    earlier = Engine(policy, model)
    replay(inputs, earlier, _ignore, _ignore, judged_at, None)
    outcomes = []
    for customer_id, state in earlier.customers.items():
        last = engine.customers[customer_id].last_order_at
        ordered = last is not None and last > judged_at
        outcome = outcome_of(state, judged_at, EVIDENCE_HORIZON_DAYS * DAY, ordered, model, policy)
        if outcome is not None:
            outcomes.append(outcome)
    return fit_evidence(outcomes, model, policy), summary


def _ignore(_: object) -> None:
    """Fitting needs the customers' states, not the decisions or the rejected lines."""
