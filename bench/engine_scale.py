"""Engine scale: bytes of state per customer, and the cost of advancing time.

Prints numbers; asserts nothing about time. Usage::

    .venv/bin/python -m bench.engine_scale [--customers 1000000] [--small 10000]

State: each customer gets two orders 30 days apart and one email (a typical small
history). Bytes are reported three ways: the deep size of the Python objects (sampled),
the process's resident-memory growth divided by customers (dict, index and all), and
the serialized record the streaming worker stores in its table.

Advance: the same population is idle (next deadline ~day 70) except 100 customers on a
daily rhythm who fall due around day 32; advancing from day 30.5 to day 35 must cost the
same whether 10k or 1M customers are idle, because deadlines sit in a heap by due time.
The cyclic garbage collector is paused during that one call: a full collection walks
every live object, which is a property of CPython's heap, not of the deadline index.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from typing import Any

import orjson

from models.customer import CustomerState
from models.engine import Engine
from models.events import EmailRecorded, OrderRecorded
from models.policy import DAY
from streams.records import to_record

EPOCH = 1_735_689_600.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, CustomerState):
        size += sum(deep_size(getattr(obj, name), seen) for name in CustomerState.__slots__)
    elif isinstance(obj, list | tuple):
        size += sum(deep_size(item, seen) for item in obj)
    return size


def populate(engine: Engine, customers: int, due_soon: int = 100) -> None:
    """Idle customers (two orders 30 days apart), plus a few on a daily rhythm.

    Events are fed in time order, as a stream would deliver them.
    """

    def order(cid: str, n: int, at: float) -> None:
        engine.process(OrderRecorded(f"{cid}-{n}", cid, at, f"{cid}o{n}", 20.0, "EUR"))

    for i in range(customers):
        order(f"c{i:07d}", 1, EPOCH + (i % 1000))
    for i in range(customers):
        cid = f"c{i:07d}"
        engine.process(EmailRecorded(f"{cid}-m", cid, EPOCH + 5 * DAY + (i % 1000), "opened"))
    for d in range(21, 30):
        for i in range(due_soon):
            order(f"daily{i}", d, EPOCH + d * DAY + 2000 + i)
    for i in range(customers):
        order(f"c{i:07d}", 2, EPOCH + 30 * DAY + (i % 1000))
    for i in range(due_soon):
        order(f"daily{i}", 30, EPOCH + 30 * DAY + 2000 + i)


def measure_advance(customers: int, repeats: int = 5) -> dict[str, float]:
    """Median seconds to advance over the window where only the daily customers fall due."""
    timings, fired, examined = [], 0, 0
    for _ in range(repeats):
        engine = Engine()
        populate(engine, customers)
        engine.advance(EPOCH + 30.5 * DAY)
        gc.collect()
        gc.disable()  # a full GC pass scales with all live objects, not with the index
        before = engine.wakeups + engine.stale_wakeups
        started = time.perf_counter()
        decisions = engine.advance(EPOCH + 35 * DAY)
        timings.append(time.perf_counter() - started)
        gc.enable()
        fired = len(decisions)
        examined = engine.wakeups + engine.stale_wakeups - before
    return {
        "customers": customers,
        "seconds": statistics.median(timings),
        "decisions": fired,
        "examined": examined,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()

    gc.collect()
    before = rss_bytes()
    engine = Engine()
    started = time.perf_counter()
    populate(engine, args.customers)
    build = time.perf_counter() - started
    gc.collect()
    grown = rss_bytes() - before
    sample = list(engine.customers.values())[:: max(1, args.customers // 2000)]
    deep = statistics.mean(deep_size(state) for state in sample)
    record = statistics.mean(len(orjson.dumps(to_record(state))) for state in sample)
    events = 3 * args.customers + 1_000
    print(f"state: {args.customers:,} customers, {events:,} events in {build:.1f} s")
    print(f"  python objects per customer (deep size, sampled): {deep:,.0f} bytes")
    print(
        f"  resident memory growth per customer (all included): {grown / args.customers:,.0f} bytes"
    )
    print(f"  serialized table record per customer (orjson): {record:,.0f} bytes")
    del engine, sample
    gc.collect()

    small = measure_advance(args.small)
    large = measure_advance(args.customers, repeats=1)
    for row in (small, large):
        print(
            f"advance over 4.5 days with {row['customers']:>9,.0f} idle customers: "
            f"{row['seconds'] * 1e3:7.2f} ms, {row['examined']:.0f} index entries examined, "
            f"{row['decisions']:.0f} decisions"
        )
    print(f"  ratio large/small: {large['seconds'] / small['seconds']:.2f}")


if __name__ == "__main__":
    main()
