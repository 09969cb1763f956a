"""A terminal progress bar with a rate, drawn on stderr only when it is a terminal."""

from __future__ import annotations

import os
import sys
import time
from typing import IO


class Progress:
    """Redraws at most a few times a second; position comes from the file offset."""

    def __init__(self, stream: IO[str] | None = None, unit: str = "events") -> None:
        self._stream = stream or sys.stderr
        self._unit = unit
        self._name = ""
        self._handle: IO[bytes] | None = None
        self._total = 0
        self._started = time.perf_counter()
        self._drawn_at = 0.0
        self._done_before = 0
        self._count = 0

    @classmethod
    def for_terminal(cls, unit: str = "events") -> Progress | None:
        """A progress bar when stderr is a terminal, else None (nothing drawn)."""
        return cls(unit=unit) if sys.stderr.isatty() else None

    def start_file(self, name: str, handle: IO[bytes]) -> None:
        self._done_before += self._count
        self._count = 0
        self._name = name
        self._handle = handle
        try:
            self._total = os.fstat(handle.fileno()).st_size
        except (OSError, ValueError, AttributeError):
            self._total = 0

    def update(self, count: int) -> None:
        self._count = count
        now = time.perf_counter()
        if now - self._drawn_at < 0.2:
            return
        self._drawn_at = now
        done = self._done_before + count
        rate = done / max(now - self._started, 1e-9)
        fraction = self._fraction()
        if fraction is None:
            bar = ""
        else:
            filled = int(fraction * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} "
        self._stream.write(f"\r{self._name} {bar}{done:,} {self._unit} {rate:,.0f}/s ")
        self._stream.flush()

    def finish(self) -> None:
        self._drawn_at = 0.0
        self.update(self._count)
        self._stream.write("\n")
        self._stream.flush()

    def _fraction(self) -> float | None:
        if not self._total or self._handle is None:
            return None
        try:
            return min(self._handle.tell() / self._total, 1.0)
        except (OSError, ValueError):
            return None
