"""Messages the worker cannot use land in the dead-letter topic, and the worker carries on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from streams.kafka import wire
from tests.builders import EPOCH, call_json, email_json, order_json
from tests.integration.harness import REPO, deployment

pytestmark = pytest.mark.kafka


def test_bad_messages_are_dead_lettered_with_reason_and_origin(
    kafka_broker: str, tmp_path: Path
) -> None:
    with deployment(kafka_broker, tmp_path, partitions=1) as d:
        worker = d.start_worker()
        bad = [
            (d.topic("orders"), b"c1", b'{"event_type": "order", "customer_id": "c1"'),
            (d.topic("calls"), b"c2", orjson.dumps(call_json(customer_id="c2", outcome="maybe"))),
            (d.topic("orders"), b"someone-else", orjson.dumps(order_json(customer_id="c3"))),
            (d.topic("emails"), None, orjson.dumps(email_json(customer_id="c3"))),
        ]
        good = call_json(customer_id="c4", event_id="complaint", occurred_at="2025-01-01T00:00:00Z")
        producer = KafkaProducer(bootstrap_servers=kafka_broker)
        try:
            sent = [
                producer.send(topic, key=key, value=value, headers=[("trace", b"t-1")]).get(30)
                for topic, key, value in bad
            ]
            last = producer.send(d.topic("calls"), key=b"c4", value=orjson.dumps(good)).get(30)
            tick = wire.AdvanceTick(EPOCH + 3 * 86_400, {d.topic("calls"): last.offset})
            producer.send(d.topic("tick"), value=wire.encode_tick(tick), partition=0).get(30)
        finally:
            producer.close()

        d.wait_until_consumed(timeout=90)
        assert worker.process.poll() is None, worker.log_text()[-3000:]
        dead = sorted(d.read([d.topic("dead_letter")]), key=lambda r: r.headers["churnwatch.topic"])
        assert len(dead) == len(bad)
        by_origin = {
            (r.headers["churnwatch.topic"].decode(), int(r.headers["churnwatch.offset"])): r
            for r in dead
        }
        for (topic, key, value), meta in zip(bad, sent, strict=True):
            record = by_origin[(topic, meta.offset)]
            assert record.value == value and record.key == key
            assert record.headers["churnwatch.partition"] == b"0"
            assert record.headers["trace"] == b"t-1"
        codes = {
            (r.headers["churnwatch.topic"].decode(), r.headers["churnwatch.code"]) for r in dead
        }
        assert codes == {
            (d.topic("orders"), b"invalid_json"),
            (d.topic("calls"), b"invalid_field"),
            (d.topic("orders"), b"key_mismatch"),
            (d.topic("emails"), b"key_mismatch"),
        }
        assert all(r.headers["churnwatch.reason"] for r in dead)
        # The good event after the bad ones was processed: its customer was decided on.
        assert [key[:3] for key in d.decisions()] == [("c4", "churnwatch.customer.at_risk", 1)]
        (decision,) = d.read([d.topic("at_risk")])
        assert decision.key == b"c4"
        assert decision.headers["content-type"] == b"application/cloudevents+json"

        # What a subscriber sees: `churnwatch watch` prints that decision, and saves it whole.
        seen = tmp_path / "seen.jsonl"
        watched = subprocess.run(
            [sys.executable, "-m", "streams.cli", "watch", "--idle-seconds=3", f"--output={seen}"],
            cwd=REPO,
            env=d.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert watched.returncode == 0, watched.stderr
        (line,) = watched.stdout.splitlines()
        assert "at_risk" in line and "c4" in line and "complaint_unresolved" in line
        assert "1 churn events (at_risk 1)" in watched.stderr
        assert [orjson.loads(raw)["id"] for raw in seen.read_bytes().splitlines()] == [
            orjson.loads(decision.value or b"{}")["id"]
        ]
