"""Whole-process replay throughput against the orjson-and-a-dict floor, in the same run.

Usage::

    .venv/bin/python -m bench.replay_throughput [--events 1000000] [--runs 5]

Builds (once, cached in ``.cache/bench/``) a mixed event file of exactly ``--events`` lines
from ``churnwatch simulate`` (orders, emails, calls), then times, alternately, the whole
process ``churnwatch replay FILE --output /dev/null`` and the floor
``python -m bench.floor FILE``. Prints the median wall and CPU seconds of each, events/s,
and replay as a percentage of the floor. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"


def mixed_file(events: int) -> Path:
    """A time-ordered mixed file of exactly ``events`` lines from the simulator."""
    path = CACHE / f"mixed-{events}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    customers = max(1000, events // 60)  # the default population makes ~75 events/customer/yr
    full, truth = CACHE / "simulated.jsonl", CACHE / "simulated-truth.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "simulate",
            "--customers",
            str(customers),
            "--days",
            "365",
            "--seed",
            "1",
            "--output",
            str(full),
            "--truth",
            str(truth),
        ],
        check=True,
        cwd=ROOT,
    )
    with full.open("rb") as source, path.open("wb") as target:
        for number, line in enumerate(source):
            if number == events:
                break
            target.write(line)
    full.unlink()
    return path


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    path = mixed_file(args.events)
    replay = [sys.executable, "-m", "streams.cli", "replay", str(path), "--output", os.devnull]
    floor = [sys.executable, "-m", "bench.floor", str(path)]
    results: dict[str, list[tuple[float, float]]] = {"replay": [], "floor": []}
    timed(floor)  # warm the page cache
    for _ in range(args.runs):
        results["replay"].append(timed(replay))
        results["floor"].append(timed(floor))
    print(f"file: {path.name}, {args.events:,} events, {args.runs} runs each, alternating")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = wall
        rate = args.events / wall
        print(f"  {name:<7} wall {wall:7.2f} s  cpu {cpu:7.2f} s  {rate:>11,.0f} events/s")
    print(f"  replay = {100 * medians['floor'] / medians['replay']:.1f} % of the floor")


if __name__ == "__main__":
    main()
