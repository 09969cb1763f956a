"""A terminal progress bar (tqdm) with a rate and an ETA, drawn on stderr only on a terminal.

Callers report the running count of the current file (``update``), and the final count
before ``finish``. With a file of known size the bar advances by bytes read, which gives
the ETA; the event count and rate are shown beside it. From a pipe only the count moves.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from tqdm import tqdm


class Progress:
    """One bar per input file; counts accumulate across files."""

    def __init__(self, stream: IO[str] | None = None, unit: str = "events") -> None:
        self._stream = stream or sys.stderr
        self._unit = unit
        self._bar: Any = None  # tqdm
        self._handle: IO[bytes] | None = None
        self._by_size = False
        self._done_before = 0
        self._count = 0

    @classmethod
    def for_terminal(cls, unit: str = "events") -> Progress | None:
        """A progress bar when stderr is a terminal, else None (nothing drawn)."""
        return cls(unit=unit) if sys.stderr.isatty() else None

    def start_file(self, name: str, handle: IO[bytes]) -> None:
        self._close_bar()
        self._done_before += self._count
        self._count = 0
        self._handle = handle
        try:
            size = os.fstat(handle.fileno()).st_size
        except (OSError, ValueError, AttributeError):
            size = 0
        self._by_size = size > 0 and self._position() is not None
        columns, rows = _terminal_size(self._stream)
        self._bar = tqdm(
            desc=_short(name),
            total=size if self._by_size else None,
            unit="B" if self._by_size else f" {self._unit}",
            unit_scale=True,
            unit_divisor=1024 if self._by_size else 1000,
            file=self._stream,
            mininterval=0.2,
            ncols=columns,
            nrows=rows,
            leave=True,
        )

    def update(self, count: int) -> None:
        """``count``: events of the current file so far."""
        self._count = count
        bar = self._bar
        if bar is None:
            return
        done = self._done_before + count
        if self._by_size:
            position = self._position()
            rate = done / max(bar.format_dict["elapsed"], 1e-9)
            bar.set_postfix_str(f"{done:,} {self._unit}, {rate:,.0f} {self._unit}/s", False)
            if position is not None:
                bar.update(position - bar.n)
        else:
            bar.update(count - bar.n)

    def finish(self) -> None:
        """Draw the final state (the count last reported) and end the line."""
        self.update(self._count)
        if self._bar is not None and self._by_size and self._bar.total:
            self._bar.update(self._bar.total - self._bar.n)  # read through to the end
        self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.refresh()
            self._bar.close()
            self._bar = None

    def _position(self) -> int | None:
        if self._handle is None:
            return None
        try:
            return self._handle.tell()
        except (OSError, ValueError, AttributeError):
            return None


def _terminal_size(stream: IO[str]) -> tuple[int, int]:
    # A terminal that reports 0 columns or rows (some ptys) would hide the bar.
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 100, 24
    return size.columns if size.columns > 0 else 100, size.lines if size.lines > 0 else 24


def _short(name: str) -> str:
    """The file name without its directories, at most 30 characters."""
    base = os.path.basename(name) or name
    return base if len(base) <= 30 else "…" + base[-29:]
