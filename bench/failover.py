"""Kill -9 to the first commit after it: how long a partition's output stops. Prints numbers.

Run: ``python -m bench.failover --broker HOST:PORT [--session-timeout S] [--customers N]
[--days D] [--partitions P] [--preload N] [--standby]``. Workers backfill a simulated file
(``clock = event``, RocksDB), produced once the workers have processed ``--preload``
customers with one order each (so the table holds that many more customers); a fifth of
the way through the simulated file a worker is killed with SIGKILL.

* Without ``--standby``: one worker, started again at once on the same data directory
  (which it wipes: the stop was unclean), so its table is restored from the changelog.
* With ``--standby``: two workers (each the standby of the other's partitions, Faust's
  ``table_standby_replicas`` = 1); one is killed, and the survivor takes its partitions over.

Printed, in seconds after the kill, from the (new or surviving) worker's log and the group's
committed offsets:

* ``joined``: the worker joined the group again (the coordinator first waits for the dead
  member's session to expire: ``session_timeout_seconds``);
* ``restored``: its table recovery complete, with the changelog records it read;
* ``first commit``: every input partition's committed offset moved past where it was at
  the kill.
"""

from __future__ import annotations

import argparse
import re
import signal
import time
from datetime import datetime
from pathlib import Path

import orjson
from kafka import TopicPartition

from config.settings import Settings
from models.decisions import format_time
from tests.builders import order_json
from tests.integration.harness import REPO, Deployment, Worker, simulate, wait_for

DEFAULT_SESSION_TIMEOUT: float = Settings.model_fields["session_timeout_seconds"].default
RESTORED = re.compile(rb"restored: (\d+) changelog records")
DAY = 86_400.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of a running broker")
    parser.add_argument("--session-timeout", type=float, default=DEFAULT_SESSION_TIMEOUT)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--preload", type=int, default=0, help="customers with one order")
    parser.add_argument("--standby", action="store_true", help="two workers; kill one")
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    events = simulate(args.workdir, args.customers, args.days)
    extra = {
        # Always set: the harness's own default (6 s, for its tests) is not the Settings' one.
        "SESSION_TIMEOUT_SECONDS": f"{args.session_timeout:g}",
        # Produced while the workers run: days of event time may lie between a partition's
        # input topics (tests/integration/test_worker_recovery.py), so 30 days of lateness.
        "DETECTION__ALLOWED_LATENESS_SECONDS": "2592000",
        "TOPIC_IDLE_SECONDS": "10",
    }
    d = Deployment(
        args.broker, args.workdir, partitions=args.partitions, store="rocksdb://", extra=extra
    )
    d.create_topics()
    try:
        if args.preload:
            d.produce(preload(args.workdir, args.preload, events))
        names = ("survivor", "victim") if args.standby else ("failover",)
        workers = [d.start_worker(name) for name in names]
        wait_for("the workers in the group", lambda: d.group_members() == len(names), 120)
        d.wait_until_consumed(timeout=600)
        preloaded = d.consumed()[1]
        d.produce(events, advance_to_end=True)

        def a_fifth_done() -> tuple[int, int] | None:
            done, total = d.consumed()
            return (done, total) if done > preloaded + (total - preloaded) // 5 else None

        before, total = wait_for("a fifth of the input", a_fifth_done, 600, 0.1)
        at_kill = committed(d)
        victim = workers[-1]
        killed = time.time()
        victim.stop(signal.SIGKILL)
        watched = workers[0]
        mark = watched.log.stat().st_size
        if not args.standby:
            watched = d.start_worker("failover")

        def every_partition_moved() -> bool:
            now = committed(d)
            return all(now.get(p, 0) > offset for p, offset in at_kill.items())

        wait_for("a commit on every partition after the kill", every_partition_moved, 600, 0.1)
        first_commit = time.time() - killed
        joined = _logged_after(watched, mark, "Joined group", killed)
        restored = _logged_after(watched, mark, "Recovery complete", killed)
        records = sum(int(n) for n in RESTORED.findall(watched.log.read_bytes()[mark:]))
        setup = "standby, survivor takes over" if args.standby else "one worker, restarted"
        print(
            f"{setup}; session {args.session_timeout:g} s, {args.customers:,} customers "
            f"+ {args.preload:,} preloaded, {args.partitions} partitions: "
            f"kill -9 at {before:,} of {total:,} offsets; joined {joined:5.1f} s, "
            f"restored {restored:5.1f} s ({records:,} changelog records read), "
            f"first commit {first_commit:5.1f} s after the kill"
        )
    finally:
        d.close()


def preload(workdir: Path, customers: int, events: Path) -> Path:
    """One order per customer, a year before the simulated file's first event (so their
    at-risk and lost decisions all fall due at its first events, before the kill)."""
    path = workdir / f"preload-{customers}-a-year-before-{events.stem}.jsonl"
    if not path.exists():
        first = orjson.loads(events.open("rb").readline())["occurred_at"].replace("Z", "+00:00")
        start = datetime.fromisoformat(first).timestamp() - 365 * DAY
        with path.open("wb") as out:
            for i in range(customers):
                out.write(
                    orjson.dumps(
                        order_json(
                            customer_id=f"p{i:07d}",
                            event_id=f"p{i}",
                            order_id=f"p{i}",
                            occurred_at=format_time(start + i * 0.0005),
                        )
                    )
                    + b"\n"
                )
    return path


def committed(d: Deployment) -> dict[int, int]:
    """The group's committed offsets, summed over the input topics, per partition."""
    offsets = d._admin.list_group_offsets(d.prefix).get(d.prefix, {})
    per_partition: dict[int, int] = {}
    for topic in d.input_topics:
        for p in range(d.partitions):
            meta = offsets.get(TopicPartition(topic, p))
            per_partition[p] = per_partition.get(p, 0) + (meta.offset if meta else 0)
    return per_partition


def _logged_after(worker: Worker, offset: int, text: str, since: float) -> float:
    """Seconds after ``since`` of the first log line from ``offset`` on containing ``text``."""
    with worker.log.open("rb") as log:
        log.seek(offset)
        for line in log:
            if text.encode() in line:
                stamp = orjson.loads(line)["time"].replace("Z", "+00:00")
                return datetime.fromisoformat(stamp).timestamp() - since
    return float("nan")


if __name__ == "__main__":
    main()
