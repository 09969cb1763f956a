"""GET /customers/{id} across two workers on a real broker: any worker gives the owner's answer.

Every partition decides with the same population model, so a partition's view of a
customer equals that of one replay of the whole file: each answer is compared with
``churnwatch replay --snapshot``. Both workers start before the feed, so
that each owns one partition from the start. Then one worker is frozen (SIGSTOP):
the other answers 503 with Retry-After while it cannot know the answer (its forward times
out, then the group rebalances), and the right answer again once it owns every partition.
"""

from __future__ import annotations

import http.client
import math
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from streams.kafka.operations.web import key_partition
from tests.integration.harness import Deployment, Worker, deployment, simulate, wait_for
from tests.schemas import validator

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# Fixed prior (views equal replay's); the feed is produced while the workers read it, so
# the allowed lateness covers the days of event time between the input topics it causes.
SETTINGS = {
    "DETECTION__ALLOWED_LATENESS_SECONDS": "2592000",
    "TOPIC_IDLE_SECONDS": "10",
}


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def get(worker: Worker, path: str) -> tuple[int, dict[str, str], Any]:
    status, headers, data = fetch(worker.web_port, path)
    return status, headers, orjson.loads(data) if data else None


def lookup(worker: Worker, customer_id: str) -> tuple[int, dict[str, str], Any]:
    return get(worker, f"/customers/{quote(customer_id, safe='')}")


def ready(worker: Worker) -> bool:
    try:
        return get(worker, "/readyz")[0] == 200
    except OSError:  # the web server is not listening yet
        return False


def metric(worker: Worker, series: str) -> float:
    """The value of one series (name and labels as exposed) of the worker's /metrics."""
    _, _, data = fetch(worker.web_port, "/metrics")
    for line in data.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    raise AssertionError(f"{series} not exposed")


def same_view(found: dict[str, Any], expected: dict[str, Any]) -> bool:
    if found.keys() != expected.keys():
        return False
    for key, value in expected.items():
        other = found[key]
        if isinstance(value, float) and isinstance(other, float | int):
            if not math.isclose(other, value, rel_tol=1e-6, abs_tol=1e-4):
                return False
        elif other != value:
            return False
    return True


def snapshot(d: Deployment, events: Path) -> dict[str, dict[str, Any]]:
    """Replay's view of every customer at the end of ``events`` (same settings)."""
    path = d.workdir / f"{d.prefix}-snapshot.jsonl"
    d.churnwatch("replay", str(events), "--output", "/dev/null", "--snapshot", str(path))
    views = map(orjson.loads, path.read_bytes().splitlines())
    return {view["customer_id"]: view for view in views}


def test_any_worker_answers_with_the_owners_view_and_503_while_partitions_move(
    kafka_broker: str, tmp_path: Path
) -> None:
    events = simulate(tmp_path, customers=60, days=120, seed=11)
    with deployment(kafka_broker, tmp_path, partitions=2, extra=SETTINGS) as d:
        first, second = d.start_worker("w1"), d.start_worker("w2")
        wait_for("a stable group of two", lambda: d.group_members() == 2, timeout=90)
        wait_for("both workers ready", lambda: ready(first) and ready(second), timeout=60)
        d.produce(events, advance_to_end=True)
        d.wait_until_consumed(timeout=120)
        expected = snapshot(d, events)
        assert len(expected) == 60
        by_partition = {
            p: [c for c in sorted(expected) if key_partition(c, 2) == p] for p in (0, 1)
        }
        assert by_partition[0] and by_partition[1]

        # Every customer, asked of both workers: the owner's answer, equal to replay's.
        view_schema = validator("customer-view")
        for customer, view in expected.items():
            for worker in (first, second):
                status, headers, body = lookup(worker, customer)
                assert status == 200, (customer, status, body)
                assert headers["Content-Type"].startswith("application/json")
                assert same_view(body, view), (customer, body, view)
                view_schema.validate(body)
        for worker in (first, second):
            status, _, body = lookup(worker, "never-seen")
            assert status == 404 and body["error"] == "unknown_customer"
        # A path over aiohttp's line limit: its own 400, and one info line in the log.
        assert fetch(first.web_port, "/customers/" + "x" * 9000)[0] == 400
        refusals = [
            orjson.loads(line)
            for line in first.log_text().splitlines()
            if "Error handling request" in line
        ]
        assert [(r["level"], "exception" in r) for r in refusals] == [("info", False)]
        assert refusals[0]["message"].endswith("LineTooLong, answered 400")
        for worker in (first, second):
            assert metric(worker, 'churnwatch_customer_lookups_total{result="forwarded"}') > 0
        # Each worker owns one partition and forwarded the other's customers.
        assert metric(first, "churnwatch_partitions_assigned") == 1
        assert metric(second, "churnwatch_partitions_assigned") == 1

        # Freeze the owner of one customer: the other worker cannot answer for a while
        # (the owner does not reply, then the group rebalances), then it owns both.
        customer = by_partition[0][0]
        owner_port = _owner_port(d, customer, (first, second))
        frozen, other = (first, second) if owner_port == first.web_port else (second, first)
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            status, headers, body = wait_for(
                "a 503 while the owner is frozen",
                lambda: _answered(other, customer, 503),
                timeout=60,
                every=0.1,
            )
            assert body["error"] == "rebalancing"
            assert int(headers["Retry-After"]) >= 1
            _, _, body = wait_for(
                "the answer once the other worker owns the partition",
                lambda: _answered(other, customer, 200),
                timeout=90,
                every=0.2,
            )
            assert same_view(body, expected[customer])
            assert metric(other, "churnwatch_partitions_assigned") == 2
        finally:
            frozen.process.kill()  # a stopped process ignores SIGTERM until continued
            frozen.process.wait(10)


def test_a_worker_that_joins_later_serves_its_partitions_from_the_changelog(
    kafka_broker: str, tmp_path: Path
) -> None:
    # The joining worker has never read the changelog: how far to restore it must come
    # from the broker (streams.kafka.runtime.restore asks it), or it starts empty.
    events = simulate(tmp_path, customers=60, days=120, seed=12)
    with deployment(kafka_broker, tmp_path, partitions=2, extra=SETTINGS) as d:
        first = d.start_worker("w1")
        wait_for("the first worker ready", lambda: ready(first), timeout=60)
        d.produce(events, advance_to_end=True)
        d.wait_until_consumed(timeout=120)
        expected = snapshot(d, events)
        second = d.start_worker("w2")
        wait_for("a stable group of two", lambda: d.group_members() == 2, timeout=90)
        wait_for(
            "both workers ready with a partition each",
            lambda: (
                ready(first)
                and ready(second)
                and metric(second, "churnwatch_partitions_assigned") == 1
            ),
            timeout=90,
        )
        for customer, view in expected.items():
            status, _, body = lookup(second, customer)
            assert status == 200, (customer, status, body)
            assert same_view(body, view), (customer, body, view)


def _answered(worker: Worker, customer: str, wanted: int) -> tuple[int, dict[str, str], Any] | None:
    answer = lookup(worker, customer)
    return answer if answer[0] == wanted else None


def _owner_port(d: Deployment, customer: str, workers: tuple[Worker, Worker]) -> int:
    """Web port of the worker that owns the customer's partition (Faust's /router view)."""
    status, _, routes = get(workers[0], "/router/")
    assert status == 200
    partition = key_partition(customer, 2)
    changelog = d.changelog_topic
    owners = [url for url, topics in routes.items() if partition in topics.get(changelog, [])]
    assert len(owners) == 1, routes
    return int(owners[0].rsplit(":", 1)[1])
