"""The Faust work-arounds that can be checked without a broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka.producer.transaction_manager import TransactionManager, TransactionState

from streams.kafka.runtime.fixes import begin_only_outside_transactions


@dataclass
class FakeTransactionalProducer:
    """What the fix reads of an aiokafka producer: its transaction manager."""

    _txn_manager: TransactionManager


@dataclass
class FakeFaustProducer:
    """Faust's producer: transactional producers by id, and the begin it makes."""

    _transaction_producers: dict[str, Any] = field(default_factory=dict)
    begun: list[str] = field(default_factory=list)

    async def begin_transaction(self, transactional_id: str) -> None:
        self.begun.append(transactional_id)

    async def maybe_begin_transaction(self, transactional_id: str) -> None:
        await self.begin_transaction(transactional_id)


def manager(state: TransactionState) -> TransactionManager:
    txn = TransactionManager("t", 60_000)  # needs a running event loop
    txn.state = state
    return txn


def test_only_producers_not_in_a_transaction_are_begun() -> None:
    async def rebalance() -> list[str]:
        producer = FakeFaustProducer(
            {
                "open": FakeTransactionalProducer(manager(TransactionState.IN_TRANSACTION)),
                "ready": FakeTransactionalProducer(manager(TransactionState.READY)),
            }
        )
        begin_only_outside_transactions(producer)
        for tid in ("open", "ready", "new"):
            await producer.maybe_begin_transaction(tid)
        return producer.begun

    assert asyncio.run(rebalance()) == ["ready", "new"]
