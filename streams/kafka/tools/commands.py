"""The Kafka subcommands of ``churnwatch``: ``topics create``, ``produce``, ``worker``, ``watch``.

Argument parsing and wiring only; the work is in :mod:`streams.kafka.topics`,
:mod:`streams.kafka.tools.produce`, :mod:`streams.kafka.run` and :mod:`streams.kafka.tools.watch`.
Exit status: 0 done, 1 the broker could not be used (the message says why), 2 bad
arguments, files or settings.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from config.settings import load_settings
from streams.errors import EXIT_FAILURE, EXIT_OK, UsageError
from streams.progress import Progress

# The Kafka and Faust client libraries are imported by the commands that use them, not
# here: every churnwatch command registers these, and importing those libraries costs
# about 0.2 s of start-up (python -X importtime) that replay and the others do not need.


def register(commands: Any) -> None:
    """Add the subcommands to the ``churnwatch`` argument parser's subparsers."""
    topics = commands.add_parser("topics", help="manage the Kafka topics Churnwatch uses")
    actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create the input, output, dead-letter and tick topics (idempotent)",
        description="Create every topic the worker needs with the configured partitions; "
        "existing topics are left alone (their partition count is checked).",
    )
    create.add_argument("--config", metavar="PATH", help="TOML settings file")
    create.set_defaults(run=run_topics_create)

    produce = commands.add_parser(
        "produce",
        help="send JSON Lines events to the input topics",
        description="Send contract events (JSON Lines) to the input topic of their "
        "event_type, keyed by customer_id; bad lines are reported and not sent.",
    )
    produce.add_argument("files", nargs="*", metavar="FILE", help="'-' or none reads stdin")
    produce.add_argument(
        "--advance-to-end",
        action="store_true",
        help="afterwards, tell every partition that event time reached the newest event "
        "(once it has processed these events), as replay does at the end of its input",
    )
    produce.add_argument("--config", metavar="PATH", help="TOML settings file")
    produce.set_defaults(run=run_produce)

    worker = commands.add_parser(
        "worker",
        help="run the streaming detector on Kafka",
        description="Consume the input topics, keep the customer table and publish churn "
        "decisions (settings: CHURNWATCH_* environment and/or --config; docs/worker.md).",
    )
    worker.add_argument("--config", metavar="PATH", help="TOML settings file")
    worker.set_defaults(run=run_worker_command)

    watch = commands.add_parser(
        "watch",
        help="print the churn events as they are published",
        description="Read the at-risk, lost and recovered topics (read_committed, no "
        "consumer group) and print one line per decision.",
    )
    watch.add_argument(
        "--new-only", action="store_true", help="only decisions published from now on"
    )
    watch.add_argument(
        "--idle-seconds",
        type=float,
        metavar="S",
        help="stop after S seconds without a decision (default: run until interrupted)",
    )
    watch.add_argument(
        "--output",
        metavar="PATH",
        help="also write every CloudEvent (JSON Lines); '-': CloudEvents to stdout, the "
        "summary lines to stderr",
    )
    watch.add_argument("--config", metavar="PATH", help="TOML settings file")
    watch.set_defaults(run=run_watch)


def quiet_client_logs() -> None:
    """Keep the Kafka clients' own log lines (raw "Unable connect to ..." through Python's
    last-resort handler) off the terminal: these commands say what went wrong themselves."""
    for name in ("aiokafka", "kafka"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def run_topics_create(args: argparse.Namespace) -> int:
    from streams.kafka.topics import BrokerError, create_topics

    settings = load_settings(args.config)
    quiet_client_logs()
    try:
        report = create_topics(settings)
    except BrokerError as exc:
        print(f"churnwatch topics create: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for name in report.created:
        print(f"created {name} ({settings.partitions} partitions)")
    for name in report.existing:
        print(f"exists  {name}")
    return EXIT_OK


def run_produce(args: argparse.Namespace) -> int:
    from streams.kafka.tools.produce import produce
    from streams.kafka.topics import BrokerError

    settings = load_settings(args.config)
    quiet_client_logs()
    names = args.files or ["-"]
    for name in names:
        if name != "-" and not Path(name).is_file():
            raise UsageError(f"cannot read {name}: no such file")
    try:
        for index, name in enumerate(names):
            advance = args.advance_to_end and index == len(names) - 1
            if name == "-":
                summary = produce(sys.stdin.buffer, settings, "<stdin>", advance_to_end=advance)
            else:
                with open(name, "rb", buffering=1 << 20) as handle:
                    progress = Progress.for_terminal()
                    if progress is not None:
                        progress.start_file(name, handle)
                    summary = produce(
                        handle, settings, name, progress=progress, advance_to_end=advance
                    )
            print(summary.render(), file=sys.stderr)
    except BrokerError as exc:
        print(f"churnwatch produce: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def run_worker_command(args: argparse.Namespace) -> int:
    from streams.kafka.run import run_worker
    from streams.model_file import load_model

    settings = load_settings(args.config)
    load_model(settings.model)  # an unusable model fails at once, before the broker is asked
    return run_worker(settings)


def run_watch(args: argparse.Namespace) -> int:
    from streams.kafka.tools.watch import watch
    from streams.kafka.topics import BrokerError

    settings = load_settings(args.config)
    quiet_client_logs()
    to_stdout = args.output == "-"
    output = Path("/dev/stdout") if to_stdout else Path(args.output) if args.output else None
    try:
        counts = watch(
            settings,
            sys.stderr if to_stdout else sys.stdout,
            from_beginning=not args.new_only,
            idle_seconds=args.idle_seconds,
            output=output,
        )
    except BrokerError as exc:
        print(f"churnwatch watch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    total = sum(counts.values())
    by_type = ", ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items()))
    print(f"{total:,} churn events ({by_type or 'none'})", file=sys.stderr)
    return EXIT_OK
