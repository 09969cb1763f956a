"""Replay: files through the shared partition logic, line by line in effect.

Replay hands its lines to :class:`streams.partition.Partition` in batches (its fetches);
the output must not depend on the batch size, every refused line must be dead-lettered
with its file and line number, and the summary must account for every line.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.churn_rate import ChurnLedger
from models.engine import Engine
from models.policy import DAY, Policy
from streams import replay as replay_module
from streams.cloudevents import to_cloudevent
from streams.replay import InputFile, ReplaySummary, replay
from tests.builders import EPOCH, email_json, line, order_json
from tests.unit.streams.test_partition_worker import iso

POLICY = Policy()


def run(
    files: list[tuple[str, list[bytes]]], **options: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], ReplaySummary, Engine]:
    engine = Engine(POLICY)
    engine.ledger = ChurnLedger(POLICY)
    decisions: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    summary = replay(
        [
            InputFile(name, io.BytesIO(b"".join(x.rstrip(b"\n") + b"\n" for x in lines)))
            for name, lines in files
        ],
        engine,
        emit=lambda d: decisions.append(to_cloudevent(d, "test")),
        dead_letter=dead.append,
        **options,
    )
    return decisions, dead, summary, engine


def _lines() -> st.SearchStrategy[list[bytes]]:
    """Days of orders and mails of a few customers, with bad, blank, late and far lines."""
    good = st.tuples(
        st.sampled_from(["order", "order", "email"]),
        st.integers(0, 4),
        st.floats(0, 300, allow_nan=False),
    )
    bad = st.sampled_from([b"", b"  ", b"{not json", b"[1]", b'{"event_type":"order"}'])

    def build(items: list[tuple[str, int, float] | bytes]) -> list[bytes]:
        out: list[bytes] = []
        newest = 0.0
        for n, item in enumerate(items):
            if isinstance(item, bytes):
                out.append(item)
                continue
            kind, customer, at = item
            if n % 7 == 3:
                at = newest - 2  # days behind the newest: late
            if n % 23 == 5:
                at = newest + 5_000  # years ahead: refused under a jump bound
            newest = max(newest, at)
            common = {"customer_id": f"c{customer}", "occurred_at": iso(at), "event_id": f"e{n}"}
            if kind == "order":
                out.append(line(order_json(**common, order_id=f"o{n}")))
            else:
                out.append(line(email_json(**common, action="sent")))
        later = {"customer_id": "c9", "occurred_at": iso(newest + 300), "event_id": "end"}
        out.append(line(email_json(**later, action="sent")))  # time for silences to count
        return sorted(out[: len(out) // 2]) + out[len(out) // 2 :]  # some disorder too

    return st.lists(st.one_of(good, good, good, bad), min_size=1, max_size=80).map(build)


@settings(max_examples=60, deadline=None)
@given(lines=_lines(), batch=st.integers(1, 40), jump=st.sampled_from([None, 365 * DAY]))
def test_the_output_does_not_depend_on_the_batch_size(
    lines: list[bytes], batch: int, jump: float | None
) -> None:
    expected = run([("a.jsonl", lines)], max_jump=jump)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "BATCH_LINES", batch)
        found = run([("a.jsonl", lines)], max_jump=jump)
    assert found[:2] == expected[:2]
    found[2].seconds = expected[2].seconds = 0.0
    assert found[2] == expected[2]
    assert found[3].customers.keys() == expected[3].customers.keys()
    assert found[3].ledger is not None and expected[3].ledger is not None
    assert found[3].ledger.rows() == expected[3].ledger.rows()


@settings(max_examples=40, deadline=None)
@given(lines=_lines(), jump=st.sampled_from([None, 365 * DAY]))
def test_the_summary_accounts_for_every_line(lines: list[bytes], jump: float | None) -> None:
    decisions, dead, summary, engine = run([("a.jsonl", lines)], max_jump=jump)
    assert summary.lines == len(lines)
    assert summary.blank == sum(1 for x in lines if not x.strip())
    assert sum(summary.rejected.values()) == len(dead)
    assert sum(summary.decisions.values()) == len(decisions)
    assert (
        summary.applied + summary.blank + len(dead) + summary.duplicates + summary.after_until
        == summary.lines
    )
    assert summary.customers == len(engine.customers)


def test_dead_letters_name_their_file_and_line_across_files() -> None:
    good = line(order_json(occurred_at=iso(1)))
    _, dead, summary, _ = run(
        [("a.jsonl", [good, b"{not json", b""]), ("b.jsonl", [b"", b"[1]", good])]
    )
    assert [(d["file"], d["line"], d["code"]) for d in dead] == [
        ("a.jsonl", 2, "invalid_json"),
        ("b.jsonl", 2, "not_an_object"),
    ]
    assert dead[0]["raw"] == "{not json"
    assert summary.lines == 6 and summary.blank == 2


def test_a_line_that_is_not_utf8_keeps_its_bytes_in_base64() -> None:
    _, dead, _, _ = run([("a.jsonl", [b"\xff\xfe{"])])
    (letter,) = dead
    assert letter["raw_base64"] == "//57"


def test_until_holds_back_later_events_and_ends_the_clock_there() -> None:
    lines = [
        line(order_json(event_id=f"e{n}", order_id=f"o{n}", occurred_at=iso(n)))
        for n in (0, 10, 400)
    ]
    until = EPOCH + 200 * DAY
    _, dead, summary, engine = run([("a.jsonl", lines)], until=until)
    assert summary.after_until == 1 and dead == []
    assert engine.watermark == until
    assert engine.newest_event_at == EPOCH + 10 * DAY
    view = engine.view("c1")
    assert view is not None and view["order_count"] == 2


def test_replay_moves_time_on_the_engine_only_through_the_partition() -> None:
    engine = Engine(POLICY)
    replay([InputFile("a", io.BytesIO(line(order_json(occurred_at=iso(3)))))], engine, print, print)
    assert engine.external_watermark
    assert engine.watermark == EPOCH + 3 * DAY  # the end of the replay advanced it there


def test_an_empty_input_decides_nothing() -> None:
    decisions, dead, summary, engine = run([("a.jsonl", [])])
    assert (decisions, dead, summary.lines, len(engine.customers)) == ([], [], 0, 0)
