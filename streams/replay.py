"""File replay: drive the detector from JSON Lines files, exactly as a stream would.

The lines of the files, in order, form one in-memory topic of one partition, fed in
batches to the same partition logic the streaming worker runs
(:class:`streams.partition.Partition`, with its :class:`models.engine.Engine`): the same
clock, the same watermark, the same refusals. Bad lines become dead letters with their
original bytes and the replay carries on (a file has no record timestamps, so an event
dated too far after the newest one applied is what is refused as ``future_event``,
:mod:`streams.ahead`); decisions go to a sink as CloudEvents JSON lines.
"""

from __future__ import annotations

import base64
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from models.decisions import DECISION_TYPES, Decision
from models.engine import Engine
from models.parse import REJECTION_CODES, Rejected
from streams.cloudevents import to_cloudevent
from streams.partition import Inbound, Limits, Message, Partition
from streams.progress import Progress


@dataclass(frozen=True)
class InputFile:
    """One input stream: a display name and an open binary handle."""

    name: str
    handle: IO[bytes]


@dataclass
class ReplaySummary:
    """What a replay did, for the closing summary and for tests."""

    lines: int = 0
    blank: int = 0
    applied: int = 0
    duplicates: int = 0
    after_until: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    customers: int = 0
    seconds: float = 0.0

    def render(self) -> str:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        rows = [
            f"lines read      {self.lines:>12,}   ({rate:,.0f} lines/s)",
            f"events applied  {self.applied:>12,}",
            f"duplicates      {self.duplicates:>12,}   (ignored)",
            f"after --until   {self.after_until:>12,}   (not applied)",
            f"customers       {self.customers:>12,}",
            f"rejected        {sum(self.rejected.values()):>12,}",
        ]
        rows += [f"  {code:<18}{self.rejected[code]:>10,}" for code in REJECTION_CODES]
        rows.append(f"decisions       {sum(self.decisions.values()):>12,}")
        rows += [f"  {kind:<18}{self.decisions[kind]:>10,}" for kind in DECISION_TYPES]
        return "\n".join(rows)


def encode_decision(decision: Decision, source: str) -> bytes:
    """One CloudEvent JSON line."""
    return orjson.dumps(to_cloudevent(decision, source)) + b"\n"


def dead_letter_record(file: str, line: int, rejection: Rejected, raw: bytes) -> dict[str, Any]:
    """The dead-letter line for a rejected input: reason plus the original bytes."""
    record: dict[str, Any] = {
        "file": file,
        "line": line,
        "error": str(rejection),
        "code": rejection.code,
    }
    text = raw.rstrip(b"\r\n")
    try:
        record["raw"] = text.decode("utf-8")
    except UnicodeDecodeError:
        record["raw_base64"] = base64.b64encode(text).decode("ascii")
    return record


# The one in-memory topic replay's lines form, and how many lines go to the detector at once
# (its fetch; any size gives the same output).
REPLAY_TOPIC = "replay"
BATCH_LINES = 512


class _FilePartition(Partition):
    """The partition logic with a replay's sinks: decisions and dead letters to callbacks."""

    def __init__(
        self,
        engine: Engine,
        emit: Callable[[Decision], None],
        dead_letter: Callable[[dict[str, Any]], None],
        summary: ReplaySummary,
        until: float | None,
        max_jump: float | None,
    ) -> None:
        super().__init__(
            engine,
            {REPLAY_TOPIC: None},  # each line names its event type
            keyed=False,
            limits=Limits(max_jump_seconds=math.inf if max_jump is None else max_jump),
            until=math.inf if until is None else until,
        )
        self._emit = emit
        self._dead_letter = dead_letter
        self._summary = summary
        self.file = ""  # the file being read, and the offset just before its first line
        self.first_offset = 0

    def _publish(self, decisions: list[Decision]) -> None:
        counts, emit = self._summary.decisions, self._emit
        for decision in decisions:
            counts[decision.kind] += 1
            emit(decision)

    def _refuse(self, message: Message, rejection: Rejected) -> None:
        self._summary.rejected[rejection.code] += 1
        line = message.offset - self.first_offset
        self._dead_letter(dead_letter_record(self.file, line, rejection, message.value or b""))


def _no_highwater(_topic: str) -> None:
    """A file's end is not known ahead: the topic never holds the watermark."""
    return None


def replay(
    inputs: Iterable[InputFile],
    engine: Engine,
    emit: Callable[[Decision], None],
    dead_letter: Callable[[dict[str, Any]], None],
    until: float | None = None,
    progress: Progress | None = None,
    max_jump: float | None = None,
) -> ReplaySummary:
    """Run every line through the detector, then advance the clock to the end.

    ``until``: events dated after it are not applied, and the clock ends there (default:
    the newest event applied). ``max_jump``: an event dated more than this many seconds
    after the newest event applied so far is refused (``future_event``); None: no bound.
    """
    summary = ReplaySummary()
    started = time.perf_counter()
    detector = _FilePartition(engine, emit, dead_letter, summary, until, max_jump)
    handle = detector.handle_fetch
    lines_before = 0
    message = tuple.__new__  # Inbound(...) without its Python-level __new__: per line, it shows
    for source in inputs:
        if progress is not None:
            progress.start_file(source.name, source.handle)
        detector.file, detector.first_offset = source.name, lines_before
        batch: list[Message] = []
        number = reported = 0
        for number, line in enumerate(source.handle, 1):
            if line.isspace():
                summary.blank += 1  # blank lines are not events
                continue
            batch.append(
                message(Inbound, (REPLAY_TOPIC, 0, lines_before + number, None, line, (), -1))
            )
            if len(batch) == BATCH_LINES:
                handle({REPLAY_TOPIC: batch}, _no_highwater)
                batch = []
                if progress is not None and number - reported >= 0x10000:
                    progress.update(number)
                    reported = number
        if batch:
            handle({REPLAY_TOPIC: batch}, _no_highwater)
        if progress is not None:
            progress.update(number)  # the file's true count, not the last periodic one
        summary.lines += number
        lines_before += number
    detector.advance_to(until if until is not None else engine.newest_event_at)
    summary.after_until = detector.after_until
    summary.duplicates = engine.duplicates
    summary.applied = (
        summary.lines
        - summary.blank
        - sum(summary.rejected.values())
        - summary.after_until
        - summary.duplicates
    )
    summary.customers = len(engine.customers)
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress.finish()
    return summary
