"""Customer lookups: partition placement, the owner, and every answer but forwarding; and
what the worker's web server does with a request too long to parse (a real server).

Forwarding to another worker needs two real workers: tests/integration/test_worker_lookup.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.http_exceptions import LineTooLong
from kafka.partitioner.default import murmur2
from prometheus_client import CollectorRegistry

from config.settings import Settings
from models.policy import Policy
from streams.kafka.app import build_app
from streams.kafka.operations.observe import WorkerObserver
from streams.kafka.operations.web import (
    FORWARDED_HEADER,
    CustomerLookup,
    QuietClientErrors,
    install_web,
    key_partition,
    owner_of,
)
from streams.kafka.runtime.partition import PartitionWorker, Routes
from streams.metrics import create_metrics
from tests.builders import an_order, day

CHANGELOG = "app-customers-changelog"
ME, OTHER = "http://127.0.0.1:6066", "http://127.0.0.1:6067"
ROUTES = Routes(
    input_types={"orders": "order", "email-events": "email", "calls": "call"},
    decision_topics={"at_risk": "a", "lost": "l", "recovered": "r"},
    dead_letter_topic="dlq",
    tick_topic="ticks",
    source="urn:test",
)


@pytest.mark.parametrize("customer", ["c1", "c0000158", "kund-ä", "x" * 128])
def test_placement_is_kafkas_default_partitioner(customer: str) -> None:
    """Against kafka-python's murmur2, an implementation independent of aiokafka's."""
    expected = (murmur2(customer.encode()) & 0x7FFFFFFF) % 12
    assert key_partition(customer, 12) == expected


def test_the_owner_is_the_worker_with_the_active_changelog_partition() -> None:
    metadata = {ME: {CHANGELOG: [0, 2]}, OTHER: {CHANGELOG: [1], "other": [3]}}
    assert owner_of(metadata, CHANGELOG, 2) == ME
    assert owner_of(metadata, CHANGELOG, 1) == OTHER
    assert owner_of(metadata, CHANGELOG, 3) is None


# -- fakes -----------------------------------------------------------------------------------


@dataclass
class Answer:
    body: Any
    status: int
    headers: dict[str, str]
    content_type: str | None


class FakeWeb:
    def bytes(
        self,
        value: bytes,
        *,
        content_type: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        return Answer(orjson.loads(value), status, headers or {}, content_type)


@dataclass
class FakeRequest:
    headers: dict[str, str] = field(default_factory=dict)


class FakeTopic:
    def get_topic_name(self) -> str:
        return CHANGELOG


class FakeTable:
    name = "customers"
    changelog_topic = FakeTopic()


class FakeRouter:
    def __init__(self) -> None:
        self.metadata: dict[str, dict[str, list[int]]] = {}

    def table_metadata(self, name: str) -> dict[str, dict[str, list[int]]]:
        assert name == "customers"
        return self.metadata


@dataclass
class FakeConf:
    canonical_url: str = ME


class FakeApp:
    def __init__(self) -> None:
        self.conf = FakeConf()
        self.router = FakeRouter()


class Ready:
    """Stands in for the observer's readiness."""

    def __init__(self, observer: WorkerObserver, ready: bool) -> None:
        self.ready, self.reason = ready, "" if ready else "table recovery in progress"


class Fixture:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        metrics = create_metrics(self.registry, process_collectors=False)
        self.app = FakeApp()
        self.workers: dict[int, PartitionWorker] = {}
        self.observer = WorkerObserver(metrics, self.app, self.workers, self.restore, [])
        self.ready = True
        self.observer.readiness = lambda: Ready(self.observer, self.ready)  # type: ignore[assignment, method-assign, return-value]
        self.lookup = CustomerLookup(
            self.app, FakeTable(), self.workers, self.restore, self.observer, partitions=2
        )

    def restore(self, partition: int) -> PartitionWorker:
        worker = self.workers[partition] = PartitionWorker(partition, Policy(), ROUTES, False)
        return worker

    def ask(self, customer: str, **headers: str) -> Answer:
        answer: Answer = asyncio.run(self.lookup.answer(FakeWeb(), FakeRequest(headers), customer))
        return answer

    def counted(self, result: str) -> float | None:
        return self.registry.get_sample_value(
            "churnwatch_customer_lookups_total", {"result": result}
        )


@pytest.fixture
def f() -> Fixture:
    return Fixture()


def test_the_owner_answers_with_the_customers_view(f: Fixture) -> None:
    partition = key_partition("c1", 2)
    f.app.router.metadata = {ME: {CHANGELOG: [partition]}}
    worker = f.restore(partition)
    worker.engine.process(an_order("c1", day(1)))
    worker.engine.advance(day(2))

    answer = f.ask("c1")

    assert answer.status == 200 and answer.content_type == "application/json"
    assert answer.body == worker.engine.view("c1")
    assert answer.body["customer_id"] == "c1" and answer.body["order_count"] == 1
    assert f.counted("found") == 1


def test_a_partition_without_a_worker_yet_is_built_from_the_table(f: Fixture) -> None:
    f.app.router.metadata = {ME: {CHANGELOG: [0, 1]}}
    answer = f.ask("never-seen")
    assert answer.status == 404
    assert answer.body["error"] == "unknown_customer"
    assert key_partition("never-seen", 2) in f.workers
    assert f.counted("unknown") == 1


@pytest.mark.parametrize("customer", ["", "x" * 129, "y" * 8000])
def test_ids_outside_the_contract_are_unknown(f: Fixture, customer: str) -> None:
    answer = f.ask(customer)
    assert answer.status == 404
    assert answer.body["error"] == "unknown_customer"
    assert len(str(answer.body)) < 200  # the id is not echoed back


def test_not_ready_is_503_with_retry_after(f: Fixture) -> None:
    f.ready = False
    answer = f.ask("c1")
    assert answer.status == 503
    assert answer.body == {
        "error": "rebalancing",
        "detail": "table recovery in progress; retry later",
    }
    assert int(answer.headers["Retry-After"]) >= 1
    assert f.counted("unavailable") == 1


def test_no_owner_yet_is_503(f: Fixture) -> None:
    answer = f.ask("c1")
    assert answer.status == 503 and "Retry-After" in answer.headers


def test_a_forwarded_request_is_never_forwarded_again(f: Fixture) -> None:
    f.app.router.metadata = {OTHER: {CHANGELOG: [0, 1]}}
    answer = f.ask("c1", **{FORWARDED_HEADER: "1"})
    assert answer.status == 503 and "Retry-After" in answer.headers
    assert f.workers == {}


def test_the_openapi_description_lists_exactly_the_installed_views() -> None:
    class Pages:
        def __init__(self) -> None:
            self.paths: list[str] = []

        def page(self, path: str, name: str) -> Any:
            self.paths.append(path)
            return lambda handler: handler

    observer = Fixture().observer
    pages = Pages()
    install_web(pages, observer, lookup=None)  # type: ignore[arg-type]
    spec = (Path(__file__).resolve().parents[3] / "schemas" / "lookup-api.openapi.yaml").read_text()
    documented = re.findall(r"^  (/\S*):$", spec, flags=re.M)
    assert sorted(documented) == sorted(pages.paths)


# -- requests aiohttp refuses before any view --------------------------------------------------

LONG_PATH = b"GET /customers/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: w\r\n\r\n"
LONG_HEADER = b"GET /healthz HTTP/1.1\r\nHost: w\r\nX-Long: " + b"y" * 9000 + b"\r\n\r\n"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def _serve(tmp_path: Path, requests: list[bytes]) -> list[bytes]:
    """Start the worker app's own web server (no broker needed), send each request on its
    own connection, and return the raw responses."""
    port = _free_port()
    settings = Settings(web_port=port, store="memory://", data_dir=tmp_path / "data")
    web = build_app(settings).app.web

    async def run() -> list[bytes]:
        web.init_server()
        await web.start_server()
        try:
            return [await _exchange(port, request) for request in requests]
        finally:
            await web.stop_server()

    return asyncio.run(run())


@pytest.mark.parametrize("request_bytes", [LONG_PATH, LONG_HEADER], ids=["path", "header"])
def test_a_request_over_the_line_limit_is_a_400_logged_in_one_info_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    refused, healthy = _serve(tmp_path, [request_bytes, HEALTHZ])

    assert refused.startswith(b"HTTP/1.0 400 ")
    assert healthy.startswith(b"HTTP/1.1 200 ") and healthy.endswith(b'{"status":"ok"}')
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.exc_info) for r in server] == [(logging.INFO, None)]
    assert "LineTooLong, answered 400" in server[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_parse_error_being_handled_is_told_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    quiet = QuietClientErrors(logging.getLogger("aiohttp.server"))
    try:
        raise LineTooLong(b"GET /customers/xx...", 8190)
    except LineTooLong:
        quiet.exception("Error handling request from %s", "127.0.0.1")  # exc_info=True
    (record,) = caplog.records
    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert record.getMessage() == (
        "Error handling request from 127.0.0.1: LineTooLong, answered 400"
    )


def test_other_errors_keep_their_level_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    quiet = QuietClientErrors(logging.getLogger("aiohttp.server"))
    try:
        raise ValueError("a view failed")
    except ValueError as exc:
        quiet.exception("Error handling request from %s", "127.0.0.1", exc_info=exc)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is ValueError
