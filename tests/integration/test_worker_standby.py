"""Failover from a standby replica: the owner of a partition is killed, the survivor takes
over from its warm copy of the table, on a real broker.

Two workers share two partitions (one each) with the RocksDB store, so each keeps a
standby copy of the other's table partition (``table_standby_replicas``, Faust's default
1). One is killed with SIGKILL in the middle of the input; the survivor must restore only
the changelog tail its standby had not read, not the partition from its start (the restore
logs where each partition's local store started and how many records it read), and every
decision must be published exactly once, as replay makes them. The survivor's own
partition keeps its engine through the rebalance (nobody else wrote its changelog); the
one it takes over is built from the table (streams/kafka/runtime/kept.py).
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from models.policy import Policy
from tests.integration.harness import deployment, simulate, wait_for
from tests.integration.test_worker_recovery import LATENESS_30_DAYS, assert_same_as_replay

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RESTORED = re.compile(
    r"table partition (?P<topic>\S+)\[(?P<partition>\d+)\] restored: (?P<records>\d+) "
    r"changelog records, offsets (?P<first>\d+)\.\.(?P<reached>\d+)"
)
ENGINE = re.compile(r"partition (?P<partition>\d+): engine of \d+ customers (?P<how>kept|rebuilt)")
UP_TO_DATE = re.compile(
    r"table partition (?P<topic>\S+)\[(?P<partition>\d+)\]: local store up to date"
)


def test_the_survivor_takes_over_from_its_standby_without_a_full_restore(
    kafka_broker: str, tmp_path: Path
) -> None:
    events = simulate(tmp_path, customers=1000, days=365)
    lines = events.read_bytes().splitlines(keepends=True)
    first_half, second_half = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first_half.write_bytes(b"".join(lines[: len(lines) // 2]))
    second_half.write_bytes(b"".join(lines[len(lines) // 2 :]))
    with deployment(
        kafka_broker, tmp_path, partitions=2, store="rocksdb://", extra=LATENESS_30_DAYS
    ) as d:
        a, b = d.start_worker("a"), d.start_worker("b")
        wait_for("two workers in the group", lambda: d.group_members() == 2, timeout=60)
        d.produce(first_half)
        d.wait_until_consumed(timeout=120, stall_seconds=45)
        halfway, _ = d.consumed()

        d.produce(second_half, advance_to_end=True)

        def some_of_the_second_half() -> bool:
            done, total = d.consumed()
            return done > halfway + (total - halfway) // 10

        wait_for("the workers into the second half", some_of_the_second_half, 60, 0.1)
        mark = a.log.stat().st_size
        b.stop(signal.SIGKILL)
        done, total = d.consumed()
        assert done < total, "the stream ended before the kill; use a longer one"

        d.wait_until_consumed(timeout=180, stall_seconds=45)
        assert a.process.poll() is None, a.log_text()[-3000:]
        decided = d.decisions()
        assert_same_as_replay(d, events, decided, Policy(allowed_lateness_seconds=2_592_000))

        after_kill = a.log.read_bytes()[mark:].decode(errors="replace")
        restored = {
            int(m["partition"]): (int(m["first"]), int(m["records"]))
            for m in RESTORED.finditer(after_kill)
            if m["topic"] == d.changelog_topic
        }
        current = {
            int(m["partition"])
            for m in UP_TO_DATE.finditer(after_kill)
            if m["topic"] == d.changelog_topic
        }
        # The survivor restored both partitions (its own and the one it took over) ...
        assert set(restored) | current == {0, 1}, after_kill[-3000:]
        changelog_size = len(d.read([d.changelog_topic]))
        for partition, (first, records) in restored.items():
            # ... each from the offset its local store had reached, never from the start:
            assert first > 0, f"partition {partition} restored from offset 0"
            # and only a tail of what the changelog holds.
            assert records < changelog_size // 10, (partition, records, changelog_size)
        # The survivor went on with its own partition's engine and built the other's.
        engines: dict[int, str] = {}
        for m in ENGINE.finditer(after_kill):  # the first build of each after the kill
            engines.setdefault(int(m["partition"]), m["how"])
        assert sorted(engines.values()) == ["kept", "rebuilt"], engines
