"""File replay: drive the engine from JSON Lines files, exactly as a stream would.

Lines are applied in file order. Bad lines become dead letters with their original bytes
and the replay carries on (an event dated too far after the newest one applied is refused
as ``future_event``, :mod:`streams.ahead`); decisions go to a sink as CloudEvents JSON
lines. The same :class:`models.engine.Engine` runs inside the streaming worker.
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
from models.events import Event
from models.parse import REJECTION_CODES, Rejected, parse_event
from streams.ahead import too_far_ahead
from streams.cloudevents import to_cloudevent
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


def replay(
    inputs: Iterable[InputFile],
    engine: Engine,
    emit: Callable[[Decision], None],
    dead_letter: Callable[[dict[str, Any]], None],
    until: float | None = None,
    progress: Progress | None = None,
    max_jump: float | None = None,
) -> ReplaySummary:
    """Run every line through the engine, then advance the clock to the end.

    ``max_jump``: an event dated more than this many seconds after the newest event
    applied so far is refused (``future_event``); None: no bound.
    """
    summary = ReplaySummary()
    started = time.perf_counter()
    process = engine.process
    jump = math.inf if max_jump is None else max_jump
    newest_applied = "the newest event applied"
    for source in inputs:
        if progress is not None:
            progress.start_file(source.name, source.handle)
        number = 0
        for number, line in enumerate(source.handle, 1):
            parsed = parse_event(line)
            if isinstance(parsed, Rejected):
                if not line.strip():
                    summary.blank += 1  # blank lines are not events
                    continue
                summary.rejected[parsed.code] += 1
                dead_letter(dead_letter_record(source.name, number, parsed, line))
                continue
            event: Event = parsed
            if until is not None and event.at > until:
                summary.after_until += 1
                continue
            rejection = None
            if event.at - engine.newest_event_at > jump:
                rejection = too_far_ahead(event.at, engine.newest_event_at, jump, newest_applied)
            outcome = process(event) if rejection is None else rejection
            if isinstance(outcome, Rejected):
                summary.rejected[outcome.code] += 1
                dead_letter(dead_letter_record(source.name, number, outcome, line))
                continue
            for decision in outcome:
                summary.decisions[decision.kind] += 1
                emit(decision)
            if progress is not None and number & 0xFFFF == 0:
                progress.update(number)
        if progress is not None:
            progress.update(number)  # the file's true count, not the last periodic one
        summary.lines += number
    end = until if until is not None else engine.newest_event_at
    for decision in engine.advance(end):
        summary.decisions[decision.kind] += 1
        emit(decision)
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
