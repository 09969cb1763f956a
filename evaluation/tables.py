"""Tables of text cells, for a terminal and for the HTML reports (every evaluation output)."""

from __future__ import annotations

import html
from collections.abc import Sequence


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Fixed-width lines: the first column left-aligned, the others right-aligned under
    ``headers`` (which name the columns after the first)."""
    width = max(len(h) for h in headers) + 2
    first = max(len(r[0]) for r in rows) + 2
    lines = [" " * first + "".join(h.rjust(width) for h in headers)]
    lines += [r[0].ljust(first) + "".join(c.rjust(width) for c in r[1:]) for r in rows]
    return lines


def table_html(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table, every cell escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
