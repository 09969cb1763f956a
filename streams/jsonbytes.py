"""JSON bytes that are held: orjson's output copied to bytes of its own length.

orjson (3.12 and later) returns bytes whose allocation is its whole growth buffer, never
trimmed: 4 KiB and more behind a 300-byte customer record. Held by the thousand (the worker
queues every changed customer's record and every decision until the commit), each one
keeps that much memory and touches fresh pages: measured here, 8 KiB of resident memory
and two page faults per kept record, 13–16 µs a record instead of about 1 µs
(docs/performance.md, "Recovery at 1,000,000 customers"). A copy to the exact length costs
about 0.8 µs and frees the buffer at once, to be reused by the next call. Output written out
at once (replay, the CLI) needs none of this.
"""

from __future__ import annotations

from typing import Any

import orjson

_join = b"".join


def dumps_held(obj: Any) -> bytes:
    """``orjson.dumps(obj)`` as bytes that hold no more memory than their length."""
    return _join((orjson.dumps(obj), b""))
