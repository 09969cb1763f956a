"""With the wall clock, an idle partition still fires its deadlines (ticks via a topic)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from models.decisions import format_time
from tests.builders import call_json
from tests.integration.harness import deployment, wait_for

pytestmark = pytest.mark.kafka


def test_a_deadline_fires_on_wall_clock_ticks_without_further_input(
    kafka_broker: str, tmp_path: Path
) -> None:
    with deployment(
        kafka_broker, tmp_path, partitions=2, clock="wall", extra={"TICK_INTERVAL_SECONDS": "0.5"}
    ) as d:
        worker = d.start_worker()
        # An unresolved complaint two days ago: the 24 h grace is over by wall-clock time,
        # but no later event will ever come to move event time.
        complained = format_time(time.time() - 2 * 86_400)
        producer = KafkaProducer(bootstrap_servers=kafka_broker)
        try:
            complaint = call_json(customer_id="quiet", occurred_at=complained)
            producer.send(d.topic("calls"), key=b"quiet", value=orjson.dumps(complaint)).get(30)
        finally:
            producer.close()
        decided = wait_for("the at-risk decision", d.decisions, timeout=60, every=1.0)
        assert [key[:3] for key in decided] == [("quiet", "churnwatch.customer.at_risk", 1)]
        ticks = d.read([d.topic("tick")])
        assert {record.partition for record in ticks} == {0, 1}  # every assigned partition
        assert worker.process.poll() is None
