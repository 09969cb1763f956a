"""The table restore: a changelog partition read in batches into the store, to the highwater.

A small fake consumer stands in for aiokafka: a partition is a list of offsets, some of them
transaction markers (an offset with no record, as read_committed consumers see them).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from config.settings import Settings
from streams.kafka.app import build_app
from streams.kafka.runtime.restore import ChangelogRestore, Restored, last_offset, start_offset

CHANGELOG = "cw-customers-changelog"
MARKER = None  # an offset that holds a transaction marker
Entry = tuple[bytes, bytes | None] | None


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class FakeConsumer:
    """One changelog topic; ``logs[p][offset]`` is (key, value) or MARKER."""

    logs: dict[int, list[Entry]]
    batch: int = 3
    started: int = 0
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        pass

    def assign(self, tps: list[TopicPartition]) -> None:
        self.positions = dict.fromkeys(tps, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, *tps: TopicPartition, timeout_ms: int) -> dict[TopicPartition, Any]:
        fetched = {}
        for tp in tps:
            log, start = self.logs[tp.partition], self.positions[tp]
            end = min(len(log), start + self.batch)
            records = [
                Record(offset, *entry)
                for offset, entry in enumerate(log[start:end], start)
                if entry is not MARKER
            ]
            self.positions[tp] = end  # past markers too, as aiokafka's position moves
            if records:
                fetched[tp] = records
        return fetched

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp.partition]) for tp in tps}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    settings = Settings(store="memory://", data_dir=tmp_path / "data")
    return build_app(settings).table.data


def restorer(store: Any, consumer: FakeConsumer) -> ChangelogRestore:
    return ChangelogRestore(store, lambda: cast(AIOKafkaConsumer, consumer), idle_seconds=0.0)


def run_restore(
    store: Any, consumer: FakeConsumer, offsets: dict[TP, int], highwaters: dict[TP, int]
) -> list[Restored]:
    return asyncio.run(restorer(store, consumer).restore(list(highwaters), offsets, highwaters))


def test_reads_every_record_up_to_the_highwater_past_transaction_markers(store: Any) -> None:
    tp = TP(CHANGELOG, 0)
    log: list[Entry] = [(b"a", b"1"), (b"b", b"1"), MARKER, (b"a", b"2"), (b"c", b"1"), MARKER]
    consumer = FakeConsumer({0: log})
    offsets = {tp: -1}
    (restored,) = run_restore(store, consumer, offsets, {tp: last_offset(len(log))})
    assert dict(store.data) == {b"a": b"2", b"b": b"1", b"c": b"1"}
    # The last offset is the marker: reached, though no record has it.
    assert offsets[tp] == 5
    assert (restored.first, restored.reached, restored.records) == (0, 5, 4)
    assert "restored: 4 changelog records, offsets 0..5" in restored.describe()


def test_starts_after_what_the_store_holds_and_stops_at_the_highwater(store: Any) -> None:
    tp = TP(CHANGELOG, 1)
    log: list[Entry] = [
        (b"a", b"1"),
        MARKER,
        (b"b", b"1"),
        MARKER,
        (b"c", b"1"),
        MARKER,
        (b"d", b"1"),
    ]
    consumer = FakeConsumer({1: log}, batch=100)
    offsets = {tp: 1}  # the store holds offsets 0..1
    (restored,) = run_restore(store, consumer, offsets, {tp: 5})
    assert dict(store.data) == {b"b": b"1", b"c": b"1"}  # not a (held), not d (beyond)
    assert offsets[tp] == 5
    assert store._key_partition == {b"b": 1, b"c": 1}
    assert restored.records == 2


def test_a_deletion_in_the_changelog_removes_the_key(store: Any) -> None:
    tp = TP(CHANGELOG, 0)
    log: list[Entry] = [(b"a", b"1"), (b"b", b"1"), (b"a", None), MARKER]
    run_restore(store, FakeConsumer({0: log}), {tp: -1}, {tp: 3})
    assert dict(store.data) == {b"b": b"1"}


def test_a_partition_already_up_to_date_is_not_read(store: Any) -> None:
    tp = TP(CHANGELOG, 0)
    consumer = FakeConsumer({0: [(b"a", b"1"), MARKER]})
    offsets = {tp: 1}
    (restored,) = run_restore(store, consumer, offsets, {tp: 1})
    assert consumer.started == 0
    assert offsets[tp] == 1
    assert restored.describe().endswith("local store up to date (offset 1)")


def test_without_progress_the_rest_is_left_to_faust(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tp = TP(CHANGELOG, 0)
    consumer = FakeConsumer({0: [(b"a", b"1")]})
    offsets = {tp: -1}
    with caplog.at_level(logging.WARNING):
        # The highwater says 5, the partition ends at 1: nothing more ever arrives.
        (restored,) = run_restore(store, consumer, offsets, {tp: 5})
    assert offsets[tp] == 0  # as far as it got; Faust's loop reads on from there
    assert restored.records == 1
    assert "made no progress" in caplog.text


def test_offsets_from_the_broker() -> None:
    consumer = FakeConsumer({0: [(b"a", b"1"), MARKER], 1: []})
    restore = restorer(None, consumer)
    tps = [TP(CHANGELOG, 0), TP(CHANGELOG, 1)]
    ends = asyncio.run(restore.end_offsets(tps))
    assert {tp: last_offset(end) for tp, end in ends.items()} == {tps[0]: 1, tps[1]: -1}
    assert asyncio.run(restore.beginning_offsets(tps)) == dict.fromkeys(tps, 0)


@pytest.mark.parametrize(
    ("stored", "earliest", "start"),
    [
        (None, None, -1),  # nothing stored, nothing known: from the beginning
        (None, 0, -1),
        (None, 40, 39),  # compacted up to 40: nothing before it to read
        (12, None, 12),
        (12, 5, 12),  # the store holds more than was compacted away
        (12, 40, 39),
    ],
)
def test_start_offset_is_fausts_rule(stored: int | None, earliest: int | None, start: int) -> None:
    assert start_offset(stored, earliest) == start


def test_last_offset_is_one_before_the_end() -> None:
    assert last_offset(10) == 9
    assert last_offset(0) == -1
    assert last_offset(None) == -1
