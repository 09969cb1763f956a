"""What Churnwatch puts on the wire besides input events: keys, headers, ticks, table records.

* Input and output messages are keyed by the customer id as UTF-8.
* Decisions are CloudEvents in structured mode with header
  ``content-type: application/cloudevents+json``.
* Dead letters carry the original key, value and headers plus ``churnwatch.*`` headers
  saying why and where the message came from; a dead letter never exceeds the largest
  message the worker may produce: what does not fit is cut, and headers say what was cut
  and how big the message was (:func:`dead_letter`).
* Ticks (the internal tick topic) are small JSON objects: ``{"wall": t}`` from the timer,
  or ``{"advance_to": t, "after": {topic: offset}}`` to declare that event time reached ``t``
  once the listed input offsets of that partition have been processed.
* The customer table holds, per customer, ``orjson(to_record(state))`` under the customer
  key, and per partition one record under :func:`partition_key` (a key that can never be
  a customer's: 0xFF never occurs in UTF-8) with the partition's clock, and one under
  :func:`churn_rate_key` with the partition's churn accounting
  (:meth:`models.churn_rate.ChurnLedger.to_record`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from models.decisions import Decision
from models.parse import Rejected
from streams.cloudevents import to_cloudevent
from streams.jsonbytes import dumps_held
from streams.partition import KEY_MISMATCH as KEY_MISMATCH
from streams.partition import AdvanceTick as AdvanceTick
from streams.partition import PartitionClock as PartitionClock
from streams.partition import WallTick as WallTick

CLOUDEVENTS_CONTENT_TYPE = b"application/cloudevents+json"
Headers = list[tuple[str, bytes]]

# Rejections the worker adds to the contract's (models.parse.REJECTION_CODES): a key that is
# not the customer id (streams.partition.KEY_MISMATCH) and a tick it cannot read.
INVALID_TICK = "invalid_tick"

HEADER_REASON = "churnwatch.reason"
HEADER_CODE = "churnwatch.code"
HEADER_TOPIC = "churnwatch.topic"
HEADER_PARTITION = "churnwatch.partition"
HEADER_OFFSET = "churnwatch.offset"
HEADER_TRUNCATED = "churnwatch.truncated"
HEADER_ORIGINAL_SIZE = "churnwatch.original_size"

# A reason is cut to this many bytes (a detail may quote a huge value); so are a key and
# each original header value when the dead letter would not fit otherwise.
MAX_REASON_BYTES = 1024
MAX_PART_BYTES = 1024
# Original headers kept, in order, while they fit in this (when the dead letter would not
# fit otherwise).
MAX_HEADERS_BYTES = 4096

_PARTITION_PREFIX = b"\xffpartition/"


def decision_message(decision: Decision, source: str) -> tuple[bytes, bytes, Headers]:
    """Key, value and headers of a decision's output message."""
    value = dumps_held(to_cloudevent(decision, source))
    return decision.customer_id.encode(), value, [("content-type", CLOUDEVENTS_CONTENT_TYPE)]


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]],
    rejection: Rejected,
    topic: str,
    partition: int,
    offset: int,
) -> Headers:
    """The original headers followed by why and where the message was rejected."""
    reason = str(rejection).encode()
    headers = [
        *original,
        (HEADER_REASON, reason[:MAX_REASON_BYTES]),
        (HEADER_CODE, rejection.code.encode()),
        (HEADER_TOPIC, topic.encode()),
        (HEADER_PARTITION, str(partition).encode()),
        (HEADER_OFFSET, str(offset).encode()),
    ]
    if len(reason) > MAX_REASON_BYTES:
        headers.append((HEADER_TRUNCATED, b"reason"))
    return headers


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """A message's size as the producer measures it against its maximum request size."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
    return size


def dead_letter(
    key: bytes | None,
    value: bytes,
    original: Sequence[tuple[str, bytes]],
    rejection: Rejected,
    where: tuple[str, int, int],
    max_bytes: int,
) -> tuple[bytes | None, bytes, Headers]:
    """Key, value and headers of the dead letter of a refused message (``where``: its
    topic, partition and offset), at most ``max_bytes`` as the producer measures it.

    A dead letter must never be the message that stops the worker. The reason is always
    cut to :data:`MAX_REASON_BYTES`. If the whole would still not fit, a long key and the
    original headers are cut to their caps, then the value to what is left;
    ``churnwatch.truncated`` lists what was cut (``reason``, ``key``, ``headers``,
    ``value``) and ``churnwatch.original_size`` gives the original message's bytes (key,
    value, header names and values).
    """
    headers = dead_letter_headers(original, rejection, *where)
    if record_size(key, value, headers) <= max_bytes:
        return key, value, headers
    ours = headers[len(original) :]
    cut = [b"reason"] if ours[-1][0] == HEADER_TRUNCATED else []
    ours = [header for header in ours if header[0] != HEADER_TRUNCATED]
    original_size = (len(key) if key else 0) + len(value) + _headers_bytes(original)
    if key is not None and len(key) > MAX_PART_BYTES:
        key = key[:MAX_PART_BYTES]
        cut.append(b"key")
    kept = _cut_headers(original)
    if kept != list(original):
        cut.append(b"headers")
    size = (HEADER_ORIGINAL_SIZE, str(original_size).encode())
    headers = [*kept, *ours, (HEADER_TRUNCATED, b",".join([*cut, b"value"])), size]
    # The value's length is a varint of at most 5 bytes, counted once it is not empty.
    room = max(max_bytes - record_size(key, b"", headers) - 5, 0)
    if len(value) > room:
        value = value[:room]
    else:  # the key or the headers were the problem: the value stays whole
        headers[-2] = (HEADER_TRUNCATED, b",".join(cut))
    return key, value, headers


def _headers_bytes(headers: Sequence[tuple[str, bytes]]) -> int:
    return sum(len(name.encode()) + len(value or b"") for name, value in headers)


def _cut_headers(original: Sequence[tuple[str, bytes]]) -> Headers:
    """The original headers, each value at most :data:`MAX_PART_BYTES`, in order, while
    they fit in :data:`MAX_HEADERS_BYTES`."""
    kept: Headers = []
    total = 0
    for name, value in original:
        header = (name[:MAX_PART_BYTES], (value or b"")[:MAX_PART_BYTES])
        total += _headers_bytes([header])
        if total > MAX_HEADERS_BYTES:
            break
        kept.append(header)
    return kept


# -- ticks -------------------------------------------------------------------------------


Tick = WallTick | AdvanceTick


def encode_tick(tick: Tick) -> bytes:
    if isinstance(tick, WallTick):
        return orjson.dumps({"wall": tick.at})
    return orjson.dumps({"advance_to": tick.to, "after": tick.after})


def decode_tick(raw: bytes | None) -> Tick | Rejected:
    try:
        obj = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        return Rejected(INVALID_TICK, f"tick is not valid JSON ({exc})")
    if isinstance(obj, dict):
        wall, to, after = _time(obj.get("wall")), _time(obj.get("advance_to")), obj.get("after", {})
        if wall is not None:
            return WallTick(wall)
        if (
            to is not None
            and isinstance(after, dict)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in after.values())
        ):
            return AdvanceTick(to, dict(after))
    return Rejected(INVALID_TICK, "tick must be {'wall': t} or {'advance_to': t, 'after': {...}}")


def _time(value: Any) -> float | None:
    """``value`` as epoch seconds if it is a finite number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# -- table records -----------------------------------------------------------------------


def partition_key(partition: int) -> bytes:
    """Table key of a partition's clock record."""
    return _PARTITION_PREFIX + str(partition).encode()


def is_partition_key(key: bytes) -> bool:
    """A key of the partition's own records (its clock or churn accounting), no customer's."""
    return key.startswith(_PARTITION_PREFIX)


_CHURN_RATE_SUFFIX = b"/churn-rate"


def churn_rate_key(partition: int) -> bytes:
    """Table key of a partition's churn accounting record."""
    return partition_key(partition) + _CHURN_RATE_SUFFIX


def is_churn_rate_key(key: bytes) -> bool:
    return key.startswith(_PARTITION_PREFIX) and key.endswith(_CHURN_RATE_SUFFIX)


def encode_clock(clock: PartitionClock) -> bytes:
    advance = clock.advance
    return dumps_held(
        {
            "watermark": clock.watermark if math.isfinite(clock.watermark) else None,
            "newest": clock.newest,
            "offsets": clock.offsets,
            "advance": None if advance is None else {"to": advance.to, "after": advance.after},
        }
    )


def decode_clock(raw: bytes) -> PartitionClock:
    obj = orjson.loads(raw)
    watermark = obj["watermark"]
    advance = obj.get("advance")
    return PartitionClock(
        watermark=-math.inf if watermark is None else float(watermark),
        newest={k: float(v) for k, v in obj["newest"].items()},
        offsets={k: int(v) for k, v in obj["offsets"].items()},
        advance=None if advance is None else AdvanceTick(advance["to"], advance["after"]),
    )
