"""Running real workers against a real broker: the worker tests' harness.

The worker benchmarks (``bench/worker_throughput.py``, ``bench/failover.py``) use it too;
they run from the checkout (``python -m bench.NAME``), where ``tests`` is importable.

A :class:`Deployment` is one isolated Churnwatch installation on a broker: its own app id
(consumer group, transactional ids, changelog) and topic names under a unique prefix, so
tests sharing a broker never see each other's messages. It starts ``churnwatch worker``
processes, produces files, and reads topics back; every wait polls against a deadline.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from models.churn_rate import ALL_SEGMENTS, MEASURES, VALUE_MEASURES
from models.engine import Engine
from models.policy import Policy
from streams.kafka.wire import is_partition_key
from streams.metrics import CHURN_RATE_GAUGES
from streams.records import FIELDS, to_record
from streams.replay import InputFile, replay

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``.

    Kafka errors from ``check`` count as "not yet" (a new broker's group coordinator, for
    one, is unavailable for a moment).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except KafkaError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class StalledError(Exception):
    """The workers stopped committing progress although input remains."""


# (customer, CloudEvent type, episode, CloudEvent id). An episode holds at most one decision
# of each type, so the first three identify a decision; the id is compared too, as
# subscribers deduplicate by it.
DecisionKey = tuple[str, str, int, str]


def decision_key(event: dict[str, Any]) -> DecisionKey:
    return event["subject"], event["type"], event["data"]["episode"], event["id"]


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    def decision(self) -> DecisionKey:
        """What identifies a decision record (see :data:`DecisionKey`)."""
        return decision_key(orjson.loads(self.value or b""))


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    web_port: int

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Deployment:
    broker: str  # host:port
    workdir: Path
    partitions: int = 1
    clock: str = "event"
    guarantee: str = "exactly_once"
    store: str = "memory://"
    extra: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"cw{uuid.uuid4().hex[:8]}")
    workers: list[Worker] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        p = self.prefix
        return {
            "ORDERS_TOPIC": f"{p}.orders",
            "EMAILS_TOPIC": f"{p}.email-events",
            "CALLS_TOPIC": f"{p}.calls",
            "AT_RISK_TOPIC": f"{p}.churn.at-risk",
            "LOST_TOPIC": f"{p}.churn.lost",
            "RECOVERED_TOPIC": f"{p}.churn.recovered",
            "DEAD_LETTER_TOPIC": f"{p}.dead-letters",
            "TICK_TOPIC": f"{p}.ticks",
        }

    def topic(self, name: str) -> str:
        return self.topics[f"{name.upper()}_TOPIC"]

    @property
    def decision_topics(self) -> list[str]:
        return [self.topic("at_risk"), self.topic("lost"), self.topic("recovered")]

    @property
    def input_topics(self) -> list[str]:
        return [self.topic("orders"), self.topic("emails"), self.topic("calls")]

    @property
    def changelog_topic(self) -> str:
        return f"{self.prefix}-customers-changelog"

    def env(self, **overrides: str) -> dict[str, str]:
        values = {
            "BROKER": f"kafka://{self.broker}",
            "BROKER_TIMEOUT_SECONDS": "20",
            "APP_ID": self.prefix,
            "PARTITIONS": str(self.partitions),
            "CLOCK": self.clock,
            "PROCESSING_GUARANTEE": self.guarantee,
            "STORE": self.store,
            "LOG_LEVEL": "info",
            "SESSION_TIMEOUT_SECONDS": "6",
            **self.topics,
            **self.extra,
            **overrides,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNWATCH_")}
        env.update({f"CHURNWATCH_{key}": value for key, value in values.items()})
        return env

    def churnwatch(self, *args: str, timeout: float = 300.0, **env: str) -> str:
        """Run a churnwatch command to completion; its stdout (fails on non-zero exit)."""
        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", *args],
            cwd=REPO,
            env=self.env(**env),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"churnwatch {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}"
            )
        return done.stdout.decode()

    def create_topics(self) -> None:
        self.churnwatch("topics", "create")

    def produce(self, path: Path, advance_to_end: bool = False) -> None:
        args = ["produce", str(path)] + (["--advance-to-end"] if advance_to_end else [])
        self.churnwatch(*args)

    def start_worker(self, name: str = "w1", **env: str) -> Worker:
        port = free_port()
        log = self.workdir / f"{self.prefix}-{name}.log"
        data = self.workdir / f"{self.prefix}-{name}-data"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                cwd=REPO,
                env=self.env(WEB_PORT=str(port), DATA_DIR=str(data), **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log, port)
        self.workers.append(worker)
        return worker

    # -- reading back --------------------------------------------------------------------

    def read(self, topics: Iterable[str], committed_only: bool = True) -> list[Record]:
        """Everything currently in ``topics`` (read_committed by default)."""
        topics = list(topics)
        consumer = KafkaConsumer(
            bootstrap_servers=self.broker,
            enable_auto_commit=False,
            isolation_level="read_committed" if committed_only else "read_uncommitted",
        )
        try:
            tps = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)  # the last stable offset with read_committed
            records: list[Record] = []
            deadline = time.monotonic() + 30
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not read {topics} to the end")
                for batch in consumer.poll(timeout_ms=200).values():
                    records.extend(
                        Record(
                            r.topic, r.partition, r.offset, r.key, r.value, dict(r.headers or [])
                        )
                        for r in batch
                    )
            return records
        finally:
            consumer.close()

    def decisions(self) -> list[DecisionKey]:
        return [record.decision() for record in self.read(self.decision_topics)]

    def wait_until_consumed(self, timeout: float, stall_seconds: float | None = None) -> None:
        """Until the workers have committed every input and tick message written so far.

        A commit includes the output and table changes of what it covers, so after this
        the output and the changelog are final. With ``stall_seconds``, raises
        :class:`StalledError` when the committed offsets do not move for that long.
        """
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while True:
            try:
                done, total = self.consumed()
            except KafkaError:
                done, total = last, last + 1
            if done == total:
                return
            now = time.monotonic()
            if done != last:
                last, since = done, now
            elif stall_seconds is not None and now - since > stall_seconds:
                raise StalledError(
                    f"committed offsets stuck at {done} of {total} for {stall_seconds:g} s"
                )
            if now > deadline:
                raise TimeoutError(f"after {timeout:g} s the workers committed {done} of {total}")
            time.sleep(0.5)

    def table(self) -> dict[bytes, bytes]:
        """The changelog compacted by hand: latest committed value per key."""
        latest: dict[bytes, bytes] = {}
        for record in self.read([self.changelog_topic]):
            if record.key is not None and record.value is not None:
                latest[record.key] = record.value
        return latest

    # Polling clients are made once: a new kafka-python client costs ~0.1 s of CPU, which
    # on two cores is taken from the worker being measured.
    @cached_property
    def _admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.broker)

    @cached_property
    def _offsets(self) -> KafkaConsumer:
        return KafkaConsumer(bootstrap_servers=self.broker, isolation_level="read_committed")

    def consumed(self) -> tuple[int, int]:
        """(offsets committed by the worker group, end offsets) summed over inputs and ticks."""
        committed = self._admin.list_group_offsets(self.prefix).get(self.prefix, {})
        topics = [*self.input_topics, self.topic("tick")]
        tps = [TopicPartition(t, p) for t in topics for p in range(self.partitions)]
        ends = self._offsets.end_offsets(tps)
        done = sum(committed[tp].offset for tp in tps if tp in committed)
        return done, sum(ends.values())

    def group_members(self) -> int:
        group = self._admin.describe_groups([self.prefix])[self.prefix]
        return len(group["members"]) if group["group_state"] == "Stable" else 0

    def close(self) -> None:
        """Stop every worker still running, and the polling clients."""
        for worker in self.workers:
            worker.stop()
        for name in ("_admin", "_offsets"):
            client = self.__dict__.pop(name, None)
            if client is not None:
                client.close()


def replay_decisions(deployment: Deployment, path: Path) -> list[DecisionKey]:
    """The decisions of ``churnwatch replay`` on ``path`` with the same settings."""
    output = deployment.workdir / f"{deployment.prefix}-replay.jsonl"
    deployment.churnwatch("replay", str(path), "--output", str(output))
    return [decision_key(event) for event in map(orjson.loads, output.read_bytes().splitlines())]


def replay_states(path: Path, policy: Policy) -> dict[bytes, list[Any]]:
    """Every customer's final state (``to_record``) after replaying ``path`` in-process."""
    engine = Engine(policy)
    with path.open("rb") as handle:
        replay([InputFile(path.name, handle)], engine, emit=lambda d: None, dead_letter=print)
    return {cid.encode(): to_record(state) for cid, state in engine.customers.items()}


def state_differences(table: dict[bytes, bytes], expected: dict[bytes, list[Any]]) -> list[str]:
    """Where the worker's table and replay's states differ (customers only).

    ``recent_ids`` is left out: it remembers event ids in arrival order, and the worker
    receives a customer's orders, emails and calls interleaved differently than the file.
    Floats are compared to 1e-6 relative (partitions sum the population in another order).
    """
    skip = FIELDS.index("recent_ids")
    found = {k: orjson.loads(v) for k, v in table.items() if not is_partition_key(k)}
    problems = []
    if set(found) != set(expected):
        problems.append(f"customers differ: {len(found)} in the table, {len(expected)} expected")
    for key in sorted(set(found) & set(expected)):
        for index, (a, b) in enumerate(zip(found[key], expected[key], strict=True)):
            same = (
                math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
                if isinstance(a, float) and isinstance(b, float)
                else a == b
            )
            if index != skip and not same:
                name = FIELDS[index]
                problems.append(f"{key.decode()}.{name}: table {a!r}, replay {b!r}")
    return problems


# (month, segment, measure) -> count, or value flagged (measures of VALUE_MEASURES)
ChurnTable = dict[tuple[str, str, str], float]


def replay_churn_rate(d: Deployment, events: Path) -> ChurnTable:
    """``churnwatch replay --churn-rate`` with the deployment's settings, per segment."""
    path = d.workdir / f"{d.prefix}-churn-rate.jsonl"
    d.churnwatch("replay", str(events), "--output", os.devnull, "--churn-rate", str(path))
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return {
        (row["month"], row["segment"], measure): float(row[measure])
        for row in rows
        if row["segment"] != ALL_SEGMENTS
        for measure in (*MEASURES, *VALUE_MEASURES)
    }


def served_churn_rate(port: int) -> ChurnTable:
    """The worker's churn-rate gauges, from its ``/metrics`` page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    measure_of = {f"churnwatch_{name}": m for m, (name, _) in CHURN_RATE_GAUGES.items()}
    table: ChurnTable = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in measure_of:
                measure = measure_of[sample.name]
            elif sample.name == "churnwatch_value_flagged_in_month":
                measure = f"{sample.labels['status']}_value"
            else:
                continue
            table[sample.labels["month"], sample.labels["segment"], measure] = sample.value
    return table


def same_churn_table(served: ChurnTable, replayed: ChurnTable) -> bool:
    """Counts equal; values flagged equal to the cent (replay rounds its sums to cents, the
    gauges add up partitions' sums)."""
    if served.keys() != replayed.keys():
        return False
    return all(
        abs(served[key] - value) <= 0.011 if key[2] in VALUE_MEASURES else served[key] == value
        for key, value in replayed.items()
    )


def assert_churn_rate_served(d: Deployment, events: Path, worker: Worker) -> None:
    """The churn-rate gauges ``worker`` serves (every partition of the deployment) are the
    table ``churnwatch replay --churn-rate`` writes for ``events`` (polled for 30 s: the
    gauges follow the commits)."""
    table = replay_churn_rate(d, events)
    assert sum(n for (_, _, measure), n in table.items() if measure == "lost") > 10
    assert sum(n for (_, _, measure), n in table.items() if measure == "recovered") > 0
    served: list[ChurnTable] = [{}]

    def gauges_match() -> bool:
        served[0] = served_churn_rate(worker.web_port)
        return same_churn_table(served[0], table)

    with contextlib.suppress(TimeoutError):  # the assertion below shows the difference
        wait_for("the churn-rate gauges to show replay's table", gauges_match, timeout=30)
    assert same_churn_table(served[0], table), (served[0], table)
    assert sum(v for (_, _, measure), v in table.items() if measure == "lost_value") > 0


def simulate(workdir: Path, customers: int, days: int, seed: int = 7) -> Path:
    """A simulated event file (cached by its parameters)."""
    path = workdir / f"sim-{customers}-{days}-{seed}.jsonl"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "simulate",
                "--customers",
                str(customers),
                "--days",
                str(days),
                "--seed",
                str(seed),
                "--output",
                str(path),
                "--truth",
                str(workdir / f"{path.stem}.truth"),
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    return path


@contextmanager
def deployment(broker: str, workdir: Path, **options: Any) -> Iterator[Deployment]:
    """A deployment whose workers are all stopped on exit (logs kept in ``workdir``)."""
    d = Deployment(broker, workdir, **options)
    d.create_topics()
    try:
        yield d
    finally:
        d.close()
