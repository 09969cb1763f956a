"""The worker's HTTP interface on Faust's web server (``schemas/lookup-api.openapi.yaml``).

* ``GET /healthz``: 200 while the event loop runs (liveness; independent of Kafka).
* ``GET /readyz``: 200 once the assignment's table recovery is complete and no rebalance
  is in progress, else 503 with the reason.
* ``GET /metrics``: the Prometheus exposition of the worker's registry.
* ``GET /customers/{customer_id}``: the customer's view, answered by the worker that owns
  the customer's partition.

Routing a lookup is Faust's ``table_route`` idea with our own forwarding. The owner comes
from Faust's router (``app.router.table_metadata``: which worker's canonical URL holds
which partition of the table's changelog, from the latest assignment), and the partition
from the key with Kafka's default partitioner (murmur2 of the UTF-8 customer id, the same
placement the inputs and the table use). Faust's own proxy (``Router.route_req``) is not
used because it drops the owner's response headers (``Retry-After``), answers 503
without one, and forwards again whatever it receives, so two workers with different views
of a changing assignment could pass a request back and forth. Here a forwarded request
carries :data:`FORWARDED_HEADER` and is never forwarded a second time; anything that
cannot be answered now is ``503`` with ``Retry-After``.

A request aiohttp cannot parse never reaches a view: a request line or a header longer
than its limit (8,190 bytes), or a malformed one, is answered ``400`` by aiohttp itself.
It would log each with an error-level traceback; :func:`web_application_options` gives
its server a logger that tells them in one info line instead (:class:`QuietClientErrors`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from aiokafka.partitioner import murmur2

from streams.kafka.operations.observe import WorkerObserver
from streams.kafka.runtime.partition import PartitionWorker
from streams.metrics import exposition

FORWARDED_HEADER = "Churnwatch-Forwarded"
RETRY_AFTER_SECONDS = 2
FORWARD_TIMEOUT_SECONDS = 5.0
MAX_CUSTOMER_ID = 128  # the input contract's limit
JSON = "application/json"


def key_partition(customer_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives the customer's key."""
    hashed: int = murmur2(customer_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions


def owner_of(metadata: Mapping[str, Mapping[str, Any]], topic: str, partition: int) -> str | None:
    """Canonical URL of the worker whose active partitions of ``topic`` include ``partition``."""
    for url, topics in metadata.items():
        if partition in topics.get(topic, ()):
            return url
    return None


def _same_worker(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class CustomerLookup:
    """Answers ``GET /customers/{customer_id}`` here or at the owning worker."""

    def __init__(
        self,
        app: Any,
        table: Any,
        workers: Mapping[int, PartitionWorker],
        restore: Callable[[int], PartitionWorker],
        observer: WorkerObserver,
        partitions: int,
    ) -> None:
        self._app = app
        self._table = table
        self._workers = workers
        self._restore = restore
        self._observer = observer
        self._partitions = partitions

    async def answer(self, web: Any, request: Any, customer_id: str) -> Any:
        result, response = await self._answer(web, request, customer_id)
        self._observer.metrics.count_lookup(result)
        return response

    async def _answer(self, web: Any, request: Any, customer_id: str) -> tuple[str, Any]:
        if not 0 < len(customer_id) <= MAX_CUSTOMER_ID:
            # Not a customer id the input contract allows: say so without echoing it.
            detail = f"a customer id is 1 to {MAX_CUSTOMER_ID} characters"
            return "unknown", _error(web, 404, "unknown_customer", detail, {})
        readiness = self._observer.readiness()
        if not readiness.ready:
            return "unavailable", _unavailable(web, readiness.reason)
        partition = key_partition(customer_id, self._partitions)
        changelog = self._table.changelog_topic.get_topic_name()
        owner = owner_of(self._app.router.table_metadata(self._table.name), changelog, partition)
        if owner is None:
            return "unavailable", _unavailable(web, f"no worker owns partition {partition} yet")
        if _same_worker(owner, str(self._app.conf.canonical_url)):
            return self._local(web, customer_id, partition)
        if request.headers.get(FORWARDED_HEADER):
            return "unavailable", _unavailable(web, "owners disagree while partitions move")
        return "forwarded", await self._forward(web, owner, customer_id)

    def _local(self, web: Any, customer_id: str, partition: int) -> tuple[str, Any]:
        worker = self._workers.get(partition)
        if worker is None:
            # Assigned and recovered, but no message yet since the assignment: build the
            # partition's worker from the table now, as the drain would on its first message.
            worker = self._restore(partition)
        view = worker.engine.view(customer_id)
        if view is None:
            return "unknown", _unknown(web, customer_id)
        return "found", web.bytes(orjson.dumps(view), content_type=JSON)

    async def _forward(self, web: Any, owner: str, customer_id: str) -> Any:
        url = f"{owner.rstrip('/')}/customers/{quote(customer_id, safe='')}"
        timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_SECONDS)
        try:
            async with self._app.http_client.get(
                url, headers={FORWARDED_HEADER: "1"}, timeout=timeout
            ) as response:
                body = await response.read()
                headers = {}
                if "Retry-After" in response.headers:
                    headers["Retry-After"] = response.headers["Retry-After"]
                return web.bytes(
                    body,
                    content_type=response.content_type,
                    status=response.status,
                    headers=headers,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _unavailable(web, f"owner {owner} did not answer ({type(exc).__name__})")


def _error(web: Any, status: int, code: str, detail: str, headers: dict[str, str]) -> Any:
    body = orjson.dumps({"error": code, "detail": detail})
    return web.bytes(body, content_type=JSON, status=status, headers=headers)


def _unknown(web: Any, customer_id: str) -> Any:
    return _error(web, 404, "unknown_customer", f"no customer {customer_id!r}", {})


def _unavailable(web: Any, reason: str) -> Any:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return _error(web, 503, "rebalancing", f"{reason}; retry later", headers)


class QuietClientErrors(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with the requests its HTTP parser refuses told in one line.

    aiohttp logs a request it could not parse with ``logger.exception``: an error-level
    traceback for the client's mistake, which alerts on errors would count. Such a
    refusal (a 4xx :class:`HttpProcessingError`) becomes one info line naming the error's
    type and status, without the request's bytes; every other record passes unchanged
    (an exception in a view keeps its traceback).
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        refused = _client_error(kwargs.get("exc_info"))
        if refused is None:
            super().log(level, msg, *args, **kwargs)
            return
        name, status = type(refused).__name__, refused.code
        self.logger.info(f"{msg}: %s, answered %d", *args, name, status)


def _client_error(exc_info: Any) -> HttpProcessingError | None:
    """The 4xx HTTP parsing error a log call reports, if it reports one."""
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
        return exc
    return None


def web_application_options() -> dict[str, Any]:
    """Faust's ``web_application_options``: the server logs refused requests quietly."""
    return {"handler_args": {"logger": QuietClientErrors(server_logger)}}


def install_web(app: Any, observer: WorkerObserver, lookup: CustomerLookup) -> None:
    """Add the views to ``app``'s web server."""
    registry = observer.metrics.registry

    async def healthz(view: Any, request: Any) -> Any:
        return view.bytes(b'{"status":"ok"}', content_type=JSON)

    async def readyz(view: Any, request: Any) -> Any:
        readiness = observer.readiness()
        if readiness.ready:
            return view.bytes(b'{"status":"ready"}', content_type=JSON)
        body = orjson.dumps({"status": "not_ready", "reason": readiness.reason})
        return view.bytes(body, content_type=JSON, status=503)

    async def metrics(view: Any, request: Any) -> Any:
        body, content_type = exposition(registry)
        return view.bytes(body, headers={"Content-Type": content_type})

    async def customer(view: Any, request: Any, customer_id: str) -> Any:
        return await lookup.answer(view, request, customer_id)

    app.page("/healthz", name="churnwatch_healthz")(healthz)
    app.page("/readyz", name="churnwatch_readyz")(readyz)
    app.page("/metrics", name="churnwatch_metrics")(metrics)
    app.page("/customers/{customer_id}", name="churnwatch_customer")(customer)
