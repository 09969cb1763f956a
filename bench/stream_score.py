"""Cost of one call of ``evaluation.stream.score``, the stream scoring model tuning loops call.

Prints numbers; asserts nothing about time. Usage::

    .venv/bin/python -m bench.stream_score [--customers 20000] [--decisions 100000] [--calls 5]

Random data of the default population's size: each customer 1-39 orders over two years, half
of them churning at a uniform time, decisions at uniform times and customers, half ``lost``;
the window is the second year up to day 640, the horizon 90 days.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evaluation.alerts import Alerts
from evaluation.inputs import DAY
from evaluation.stream import OrderHistory, StreamTruth, Window, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, m = args.customers, args.decisions
    counts = rng.integers(1, 40, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    times = np.concatenate([np.sort(rng.uniform(0, 730 * DAY, c)) for c in counts])
    orders = OrderHistory(times, offsets)
    churned_at = np.where(rng.random(n) < 0.5, rng.uniform(0, 730 * DAY, n), np.inf)
    truth = StreamTruth(churned_at, rng.uniform(7, 120, n))
    decisions = Alerts(
        rng.integers(0, n, m).astype(np.int64), rng.uniform(0, 640 * DAY, m), rng.random(m) < 0.5
    )
    window = Window(365 * DAY, 640 * DAY)
    score(decisions, truth, orders, window, 90.0)  # warm-up
    started = time.perf_counter()
    for _ in range(args.calls):
        score(decisions, truth, orders, window, 90.0)
    seconds = (time.perf_counter() - started) / args.calls
    print(
        f"score(): {seconds * 1000:.0f} ms per call, {m:,} decisions, {times.size:,} orders, "
        f"{n:,} customers (mean of {args.calls} calls)"
    )


if __name__ == "__main__":
    main()
