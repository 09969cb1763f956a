"""End-to-end benchmark of the streaming worker on a real broker. Prints numbers, asserts none.

Run: ``python -m bench.worker_throughput [--broker HOST:PORT] [--customers N] [--days D]
[--partitions P] [--recovery-customers N] [--only NAME ...]`` (without ``--broker`` it starts
a broker with scripts/kafka-local in a temporary directory and stops it at the end).

What it measures, each on its own app id and topics:

* ``floor``: a raw aiokafka ``getmany`` loop decoding every value with orjson;
* ``naive-alo`` / ``naive-eos``: the naive Faust agent of :mod:`bench.worker_naive`;
* ``worker-eos`` / ``worker-alo``: ``churnwatch worker`` (clock = event);
  all on the same simulated file, produced before the consumer starts; events/s from the
  first to the last committed offset (the consumer group's commits, polled every 0.5 s);
* ``latency-eos`` / ``latency-alo``: p50/p99 from producing an event to a read_committed
  consumer receiving the decision it causes (probe customers: an unresolved complaint,
  then an email two days later that moves event time past the complaint's grace);
* ``recovery``: a worker with ``--recovery-customers`` customers in its table is stopped
  and restarted, cleanly (RocksDB kept) and after SIGKILL (RocksDB wiped, the table restored
  from the changelog): seconds from the restart to the first decision after it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from models.decisions import format_time
from tests.builders import EPOCH, call_json, email_json, order_json
from tests.integration.harness import REPO, Deployment, Worker, free_port, simulate, wait_for

DAY = 86_400.0
SYSTEMS = ("floor", "naive-alo", "naive-eos", "worker-eos", "worker-alo")
EXTRAS = ("latency-eos", "latency-alo", "recovery")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", help="host:port of a running broker (default: start one)")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--recovery-customers", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", choices=SYSTEMS + EXTRAS)
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    chosen = args.only or list(SYSTEMS + EXTRAS)
    with broker(args.broker, args.workdir) as address:
        events = simulate(args.workdir, args.customers, args.days)
        total = sum(1 for _ in events.open("rb"))
        print(f"workload: {events.name}, {total:,} events, {args.partitions} partitions")
        for name in chosen:
            if name in SYSTEMS:
                run_throughput(name, address, args, events, total)
            elif name.startswith("latency"):
                run_latency(name, address, args)
            else:
                run_recovery(address, args)


@contextmanager
def broker(address: str | None, workdir: Path) -> Iterator[str]:
    if address:
        yield address
        return
    home = Path(tempfile.mkdtemp(prefix="kafka-", dir=workdir))
    port = free_port()
    env = {**os.environ, "KAFKA_HOME_DIR": str(home), "KAFKA_PORT": str(port)}
    env["KAFKA_CONTROLLER_PORT"] = str(free_port())
    script = str(REPO / "scripts" / "kafka-local")
    subprocess.run([script, "start"], env=env, check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False)


def new_deployment(address: str, args: argparse.Namespace, **options: object) -> Deployment:
    d = Deployment(address, args.workdir, partitions=args.partitions, **options)  # type: ignore[arg-type]
    d.create_topics()
    return d


# -- throughput ----------------------------------------------------------------------------


def run_throughput(
    name: str, address: str, args: argparse.Namespace, events: Path, total: int
) -> None:
    guarantee = "exactly_once" if name.endswith("eos") else "at_least_once"
    d = new_deployment(address, args, guarantee=guarantee, store="rocksdb://")
    try:
        started = time.perf_counter()
        d.produce(events)
        produced = time.perf_counter() - started
        if name == "floor":
            cpu_before = time.process_time()
            rate = asyncio.run(floor(address, d.input_topics, d.partitions, total))
            cpu = (time.process_time() - cpu_before) / total * 1e6
        else:
            worker = start_naive(d, guarantee) if name.startswith("naive") else d.start_worker(name)
            rate, cpu = committed_rate(d, total, worker.process.pid)
        print(
            f"{name:<12} {rate:>10,.0f} events/s  {cpu:6.1f} CPU us/event"
            f"   (produce: {total / produced:,.0f}/s)"
        )
    finally:
        d.close()


def start_naive(d: Deployment, guarantee: str) -> Worker:
    log = d.workdir / f"{d.prefix}-naive.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.worker_naive",
                d.prefix,
                d.broker,
                str(d.partitions),
                guarantee,
                str(free_port()),
                str(d.workdir / f"{d.prefix}-naive-data"),
                *d.input_topics,
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(process, log, 0)
    d.workers.append(worker)
    return worker


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def committed_rate(d: Deployment, total: int, pid: int | None = None) -> tuple[float, float]:
    """Events/s between the group's first commit and its commit of the last offset, and
    the consumer's CPU microseconds per event over the same span (robust to other load)."""
    first: tuple[float, int, float] | None = None
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        try:
            done, _ = d.consumed()
        except KafkaError:  # a busy broker answers later
            done = 0
        now = time.perf_counter()
        cpu = cpu_seconds(pid) if pid else 0.0
        if done and first is None:
            first = (now, done, cpu)
        if done >= total and first is not None:
            events = done - first[1]
            return events / max(now - first[0], 1e-9), (cpu - first[2]) / events * 1e6
        time.sleep(0.5)
    raise TimeoutError("consumption did not finish")


async def floor(address: str, topics: list[str], partitions: int, total: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=address, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loads, count, started = orjson.loads, 0, None
        customers: dict[str, object] = {}
        while count < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for record in records:
                    event = loads(record.value)
                    customers[event["customer_id"]] = event
                count += sum(len(records) for records in batches.values())
        assert started is not None
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


# -- latency -------------------------------------------------------------------------------


class DecisionWatcher(threading.Thread):
    """Records when each decision becomes visible to a read_committed consumer."""

    def __init__(self, address: str, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(
            *topics,
            bootstrap_servers=address,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for records in self.consumer.poll(timeout_ms=50).values():
                now = time.time()
                for record in records:
                    self.seen.setdefault(orjson.loads(record.value)["subject"], now)
        self.consumer.close()


def send_probe(producer: KafkaProducer, d: Deployment, name: str, at: float) -> float:
    """A complaint at ``at``, then the email that makes it due; when the email was sent."""
    complaint = call_json(customer_id=name, event_id=f"{name}-c", occurred_at=format_time(at))
    producer.send(d.topic("calls"), key=name.encode(), value=orjson.dumps(complaint))
    trigger = email_json(
        customer_id=name, event_id=f"{name}-e", occurred_at=format_time(at + 2 * DAY)
    )
    producer.flush()
    sent = time.time()
    producer.send(d.topic("emails"), key=name.encode(), value=orjson.dumps(trigger))
    producer.flush()
    return sent


def run_latency(name: str, address: str, args: argparse.Namespace) -> None:
    guarantee = "exactly_once" if name.endswith("eos") else "at_least_once"
    d = new_deployment(address, args, guarantee=guarantee, store="rocksdb://")
    try:
        d.start_worker(name)
        wait_for("the worker to join", lambda: d.group_members() == 1, timeout=60)
        watcher = DecisionWatcher(address, d.decision_topics)
        watcher.start()
        producer = KafkaProducer(bootstrap_servers=address, linger_ms=0)
        sent: dict[str, float] = {}
        for i in range(200):
            sent[f"probe-{i}"] = send_probe(producer, d, f"probe-{i}", EPOCH + 3 * DAY * i)
            time.sleep(0.05)
        producer.close()
        wait_for("every probe's decision", lambda: len(watcher.seen) >= len(sent), 60)
        watcher.stopping.set()
        latencies = sorted(watcher.seen[k] - sent[k] for k in sent)
        p50 = statistics.median(latencies)
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        print(
            f"{name:<12} p50 {p50 * 1000:,.0f} ms   p99 {p99 * 1000:,.0f} ms"
            f"   ({len(latencies)} probes)"
        )
    finally:
        d.close()


# -- recovery ------------------------------------------------------------------------------


def run_recovery(address: str, args: argparse.Namespace) -> None:
    n = args.recovery_customers
    d = new_deployment(address, args, guarantee="exactly_once", store="rocksdb://")
    try:
        orders = args.workdir / f"orders-{n}.jsonl"
        if not orders.exists():
            with orders.open("wb") as out:
                for i in range(n):
                    order = order_json(
                        customer_id=f"r{i:07d}",
                        event_id=f"r{i}",
                        order_id=f"r{i}",
                        occurred_at=format_time(EPOCH + i * 0.01),
                    )
                    out.write(orjson.dumps(order) + b"\n")
        d.produce(orders)
        worker = d.start_worker("recovery")
        d.wait_until_consumed(timeout=1800)
        changelog = d.consumed()
        print(f"recovery     table of {n:,} customers built ({changelog[1]:,} inputs)")
        assert worker.stop(signal.SIGTERM) == 0
        producer = KafkaProducer(bootstrap_servers=address, linger_ms=0)
        later = EPOCH + 30 * DAY
        # The label says how the worker before the restart was stopped.
        for label, then in (("clean", signal.SIGKILL), ("sigkill", signal.SIGTERM)):
            started = time.time()
            worker = d.start_worker("recovery")
            seconds = time_to_decision(d, producer, f"after-{label}", later, started)
            print(f"recovery     after {label:<8} stop: restart to first decision {seconds:6.1f} s")
            later += 10 * DAY
            worker.stop(then)
        producer.close()
    finally:
        d.close()


def time_to_decision(
    d: Deployment, producer: KafkaProducer, name: str, at: float, started: float
) -> float:
    watcher = DecisionWatcher(d.broker, d.decision_topics)
    watcher.start()
    send_probe(producer, d, name, at)
    found: Callable[[], bool] = lambda: name in watcher.seen  # noqa: E731
    wait_for(f"the decision for {name}", found, timeout=1800, every=0.1)
    watcher.stopping.set()
    return watcher.seen[name] - started


if __name__ == "__main__":
    main()
