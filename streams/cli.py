"""The ``churnwatch`` command line: argument parsing and wiring, nothing else.

Each subcommand loads the settings once, opens its files, and hands over to the module
that does the work (:mod:`streams.replay`, ...). Exit status: 0 when the input was read
through (rejected lines included), 2 for unusable arguments, files or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

import orjson

from config.settings import ConfigError, Settings, load_settings
from models.churn_rate import ChurnLedger
from models.decisions import Decision
from models.engine import Engine
from models.parse import parse_time_argument
from streams import churn_table, config_commands, evaluation_commands, fit_command, importer
from streams.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from streams.kafka.tools import commands as kafka_commands
from streams.model_file import load_model
from streams.progress import Progress
from streams.replay import InputFile, encode_decision, replay

# Modules that add subcommands: each has ``register(commands)`` taking the subparsers.
COMMAND_MODULES: tuple[Callable[[Any], None], ...] = (
    evaluation_commands.register,
    fit_command.register,
    importer.register,
    kafka_commands.register,
    config_commands.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, ConfigError) as exc:
        print(f"churnwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print("churnwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="churnwatch",
        description="Streaming churn detector: at-risk, lost and recovered customers.",
    )
    parser.add_argument("--version", action="version", version=f"churnwatch {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay_cmd = commands.add_parser(
        "replay",
        help="run the detector over JSON Lines event files (no broker)",
        description="Replay input events (JSON Lines, the input contract) through the engine "
        "in file order and write the decisions as CloudEvents JSON lines.",
    )
    replay_cmd.add_argument(
        "files", nargs="*", metavar="FILE", help="JSON Lines input; '-' or none reads stdin"
    )
    replay_cmd.add_argument(
        "--until",
        metavar="TIME",
        help="RFC 3339: ignore events after TIME, then advance the clock to TIME "
        "(default: the clock ends at the latest event time)",
    )
    replay_cmd.add_argument(
        "--output", metavar="PATH", help="decisions, one CloudEvent per line (default stdout)"
    )
    replay_cmd.add_argument(
        "--snapshot",
        metavar="PATH",
        help="after the run, one JSON line per customer (and the churn-rate table on stderr)",
    )
    replay_cmd.add_argument(
        "--dead-letter", metavar="PATH", help="one JSON line per rejected input line"
    )
    replay_cmd.add_argument(
        "--churn-rate",
        metavar="PATH",
        help="after the run, one JSON line per month and segment: the churn and recovery "
        "rates and their counts (the table also goes to stderr)",
    )
    replay_cmd.add_argument("--config", metavar="PATH", help="TOML settings file")
    replay_cmd.add_argument(
        "--model", metavar="PATH", help="fitted population model (churnwatch fit; default: setting)"
    )
    replay_cmd.set_defaults(run=run_replay)
    for register in COMMAND_MODULES:
        register(commands)
    return parser


def _version() -> str:
    try:
        return version("churnwatch")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def run_replay(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    until = parse_until(args.until)
    engine = Engine(settings.detection, load_model(args.model or settings.model))
    if args.churn_rate or args.snapshot:
        # The end-of-run report (--snapshot) includes the churn-rate table (on stderr).
        engine.ledger = ChurnLedger(settings.detection)
    with contextlib.ExitStack() as stack:
        inputs = list(open_inputs(args.files, stack))
        churn_rate = _open_output(args.churn_rate, stack, default=None)
        output = _open_output(args.output, stack, default=sys.stdout.buffer)
        dead = _open_output(args.dead_letter, stack, default=None)
        write_decision = _decision_writer(output, settings)

        def write_dead_letter(record: dict[str, Any]) -> None:
            if dead is not None:
                dead.write(orjson.dumps(record) + b"\n")

        summary = replay(
            inputs,
            engine,
            emit=write_decision,
            dead_letter=write_dead_letter,
            until=until,
            progress=Progress.for_terminal(),
            max_jump=settings.replay_max_event_jump_seconds,
        )
        output.flush()
        if args.snapshot:
            snapshot = _open_output(args.snapshot, stack, default=None)
            assert snapshot is not None
            for view in engine.views():
                snapshot.write(orjson.dumps(view) + b"\n")
        if churn_rate is not None and engine.ledger is not None:
            rows = engine.ledger.rows(totals=True)
            for row in churn_table.as_json(rows):
                churn_rate.write(orjson.dumps(row) + b"\n")
            churn_rate.flush()
    print(summary.render(), file=sys.stderr)
    if engine.ledger is not None:
        print(churn_table.render(engine.ledger.rows(totals=True)), file=sys.stderr)
    return EXIT_OK


def _decision_writer(output: IO[bytes], settings: Settings) -> Any:
    source = settings.source

    def write(decision: Decision) -> None:
        output.write(encode_decision(decision, source))

    return write


def parse_until(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_time_argument(value)
    except ValueError as exc:
        raise UsageError(f"--until: {exc}") from None


def open_inputs(names: list[str], stack: contextlib.ExitStack) -> Iterator[InputFile]:
    for name in names or ["-"]:
        if name == "-":
            yield InputFile("<stdin>", sys.stdin.buffer)
            continue
        try:
            handle = stack.enter_context(open(name, "rb", buffering=1 << 20))  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror}") from None
        if Path(name).is_dir():
            raise UsageError(f"cannot read {name}: it is a directory")
        yield InputFile(name, handle)


def _open_output(
    name: str | None, stack: contextlib.ExitStack, default: IO[bytes] | None
) -> IO[bytes] | Any:
    if name is None or name == "-":
        return default if name is None else sys.stdout.buffer
    try:
        return stack.enter_context(open(name, "wb", buffering=1 << 20))
    except OSError as exc:
        raise UsageError(f"cannot write {name}: {exc.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
