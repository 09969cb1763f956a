"""Kill -9 to the first commit after it: how long a partition's output stops. Prints numbers.

Run: ``python -m bench.failover --broker HOST:PORT [--session-timeout S] [--customers N]
[--days D] [--partitions P]``. A worker backfills a simulated file (``clock = event``,
RocksDB); a fifth of the way through it is killed with SIGKILL and started again at once
on the same data directory (which it wipes: the stop was unclean). Printed, in seconds
after the kill, from the new worker's log and the group's committed offsets:

* ``joined``: the new worker joined the group (the coordinator first waits for the dead
  member's session to expire: ``session_timeout_seconds``);
* ``restored``: its table restored from the changelog;
* ``first commit``: the group's committed offsets moved again.
"""

from __future__ import annotations

import argparse
import signal
import time
from datetime import datetime
from pathlib import Path

import orjson

from config.settings import Settings
from tests.integration.harness import REPO, Deployment, Worker, simulate, wait_for

DEFAULT_SESSION_TIMEOUT: float = Settings.model_fields["session_timeout_seconds"].default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of a running broker")
    parser.add_argument("--session-timeout", type=float, default=DEFAULT_SESSION_TIMEOUT)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    events = simulate(args.workdir, args.customers, args.days)
    # Always set: the harness's own default (6 s, for its tests) is not the Settings' one.
    extra = {"SESSION_TIMEOUT_SECONDS": f"{args.session_timeout:g}"}
    d = Deployment(
        args.broker, args.workdir, partitions=args.partitions, store="rocksdb://", extra=extra
    )
    d.create_topics()
    try:
        d.produce(events, advance_to_end=True)
        worker = d.start_worker("failover")

        def a_fifth_done() -> tuple[int, int] | None:
            done, total = d.consumed()
            return (done, total) if done > total // 5 else None

        before, total = wait_for("a fifth of the input", a_fifth_done, 300, 0.1)
        killed = time.time()
        worker.stop(signal.SIGKILL)
        mark = worker.log.stat().st_size
        restarted = d.start_worker("failover")
        wait_for("a commit after the kill", lambda: d.consumed()[0] > before, 300, 0.1)
        committed = time.time() - killed
        joined = _logged_after(restarted, mark, "Joined group", killed)
        restored = _logged_after(restarted, mark, "Restore complete", killed)
        print(
            f"session {args.session_timeout:4g} s, {args.customers:,} customers, "
            f"{args.partitions} partitions: "
            f"kill -9 at {before:,} of {total:,} offsets; joined {joined:5.1f} s, "
            f"restored {restored:5.1f} s, first commit {committed:5.1f} s after the kill"
        )
    finally:
        d.close()


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
