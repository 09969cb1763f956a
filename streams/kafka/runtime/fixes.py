"""Work-arounds for faust-streaming behaviour that breaks exactly-once, in one place.

Each was found by an integration test on a real broker (tests/integration/
test_worker_recovery.py, test_worker_rebalance.py) and patches one consumer, or the
producer its transactions use, when the app creates the consumer
(``_DetectorApp._new_consumer``); each says what goes wrong without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.types import TP


def install_fixes(
    consumer: Any, exactly_once: bool, transactional_id: Callable[[int], str], group_topic: str
) -> None:
    """Apply every fix below that the processing guarantee needs to ``consumer``."""
    consumer._new_offset = deduplicated_acks(consumer, consumer._new_offset)
    short_fetch_wait(consumer)
    if exactly_once:
        stop_producers_of_standbys(consumer, transactional_id, group_topic)
        begin_only_outside_transactions(consumer.transactions.producer)


# How long the broker may hold a fetch that has nothing to return (Faust: 1.5 s, fixed).
FETCH_WAIT_MS = 100


def short_fetch_wait(consumer: Any, wait_ms: int = FETCH_WAIT_MS) -> None:
    """Create the consumer's aiokafka consumer with ``fetch_max_wait_ms`` = ``wait_ms``.

    Faust creates it with 1500 ms and no setting to change that. aiokafka keeps one fetch in
    flight per broker, and partitions resumed while it waits are fetched only when it
    returns: after a failover (the partitions taken over are resumed once their table is
    recovered) their first records came up to 1.5 s late, while the broker held a fetch of
    caught-up partitions. A fetch with records to return is answered at once either way; an
    idle worker now asks ten times a second instead of once in 1.5 s.
    """
    thread = consumer._thread
    create: Callable[[Any], Any] = thread._create_worker_consumer

    def create_worker_consumer(transport: Any) -> Any:
        client = create(transport)
        client._fetch_max_wait_ms = wait_ms  # read when the consumer starts its fetcher
        return client

    thread._create_worker_consumer = create_worker_consumer


def deduplicated_acks(consumer: Any, new_offset: Callable[[TP], int | None]) -> Any:
    """Faust's next-offset computation, fed only acks at or above the committed offset.

    After a restart or rebalance Faust can deliver some prefetched messages twice; their
    second ack lands in its ack list again (or below the committed offset), and its search
    for a contiguous run of acks then stops at the duplicate on every commit, so that
    partition's offsets are never committed again. The partition workers skip the
    duplicates (by offset); this removes them from the bookkeeping.
    """

    def deduplicated(tp: TP) -> int | None:
        acked = consumer._acked[tp]
        committed = consumer._committed_offset.get(tp)
        if acked and committed is not None:
            clean = sorted({offset for offset in acked if offset >= committed})
            if len(clean) != len(acked):
                acked[:] = clean
                consumer._acked_index[tp] = set(clean)
        return new_offset(tp)

    return deduplicated


def stop_producers_of_standbys(
    consumer: Any, transactional_id: Callable[[int], str], group_topic: str
) -> None:
    """Stop the transactional producer of every revoked partition, standbys included.

    Faust stops the producers of revoked partitions only if they did not become this
    worker's standby replicas. But the worker that now owns such a partition starts a
    producer with the same transactional id, which fences ours: when the partition comes
    back, Faust reuses the fenced producer and the first send fails ("Can't send messages
    while not in transaction"), crashing the worker. Stopped, it is created afresh.
    """
    transactions = consumer.transactions
    original = transactions.on_rebalance
    producer = transactions.producer

    async def on_rebalance(assigned: set[TP], revoked: set[TP], newly: set[TP]) -> None:
        for tp in revoked:
            if tp.topic == group_topic:  # one topic of the group: once per partition
                await producer.stop_transaction(transactional_id(tp.partition))
        await original(assigned, revoked, newly)

    transactions.on_rebalance = on_rebalance


def begin_only_outside_transactions(producer: Any) -> None:
    """Begin a partition's transaction only if its producer is not in one already.

    On every rebalance Faust calls ``maybe_begin_transaction`` for each assigned partition,
    kept ones included, and despite its name it always begins one. But the producer of a
    kept partition is in a transaction already: Faust begins the next one right after each
    commit, and the worker commits before it lets partitions go. aiokafka refuses
    ("Invalid state transition IN_TRANSACTION -> IN_TRANSACTION") and Faust logs
    "Exception in begin_transaction" as a warning, for every kept partition at every
    rebalance. The open transaction carries on, so nothing is lost; but the warning is
    noise that would hide a real one. A producer that is new, or not in a transaction
    (after an abort, or fenced and stopped), is begun as before.
    """
    begin = producer.begin_transaction

    async def maybe_begin_transaction(transactional_id: str) -> None:
        existing = producer._transaction_producers.get(transactional_id)
        manager = None if existing is None else existing._txn_manager
        if manager is not None and manager.is_in_transaction():
            return
        await begin(transactional_id)

    producer.maybe_begin_transaction = maybe_begin_transaction
